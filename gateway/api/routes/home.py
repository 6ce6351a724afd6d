"""What a person finds without a token: a landing page at ``/``, the API's documentation at ``/docs``.

Somebody who opens the gateway's address in a browser should learn where to go (the console, the API
documentation, the health checks) instead of reading a 404 problem document. The OpenAPI document and
its Swagger UI are public because they describe the API and hold no data: every operation they list
still needs a token, and the UI's "Authorize" button takes one.

Swagger UI's files are served from this gateway (the copies shipped in the ``fastapi-offline`` wheel),
not from a CDN: an authority's browser may not reach the internet, and a page of the gateway should
not make it load code from a third party. Only the three files the page needs are served, by name.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from gateway import __version__
from gateway.api.problems import NOT_FOUND, ApiProblem

router = APIRouter(include_in_schema=False)

DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"
ASSETS_PATH = f"{DOCS_PATH}/assets"
#: the files of the Swagger UI page; nothing else from the wheel's folder is served
_ASSET_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_PAGE_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _swagger_page() -> tuple[str, str]:
    """The Swagger UI page and its Content-Security-Policy, which admits its one inline script by hash."""
    page_bytes = get_swagger_ui_html(
        openapi_url=OPENAPI_PATH,
        title="xoev-gateway API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters={"persistAuthorization": False, "displayRequestDuration": True},
    ).body
    page = bytes(page_bytes).decode("utf-8")
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode('utf-8')).digest()).decode('ascii')}'"
        for script in _SCRIPT.findall(page)
    )
    policy = (
        "default-src 'none'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self' {hashes}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return page, policy


_SWAGGER_PAGE, _SWAGGER_POLICY = _swagger_page()


def _landing(console: bool) -> str:
    links = [
        ("/console", "Verwaltungskonsole", "admin console: messages, queues, participants") if console else None,
        (DOCS_PATH, "API-Dokumentation", "REST API, Swagger UI (every operation needs a token)"),
        (OPENAPI_PATH, "OpenAPI-Dokument", "OpenAPI document (JSON)"),
        ("/readyz", "Betriebsbereitschaft", "readiness: database, schema bundles"),
        ("/healthz", "Lebenszeichen", "liveness"),
    ]
    items = "\n".join(
        f'    <li><a href="{href}">{html.escape(german)}</a> <span lang="en">({html.escape(english)})</span></li>'
        for href, german, english in (link for link in links if link is not None)
    )
    return f"""<!doctype html>
<html lang="de">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>xoev-gateway</title>
</head>
<body>
  <h1>xoev-gateway</h1>
  <p>XÖV-Gateway für den Austausch von xdomea-Nachrichten (Version {html.escape(__version__)}).</p>
  <ul>
{items}
  </ul>
  <p>XTA-2-Dienst / XTA 2 service: <code>/services/XTAService</code> (SOAP, client certificates).</p>
</body>
</html>
"""


@router.get("/")
def landing(request: Request) -> HTMLResponse:
    console = bool(getattr(request.app.state, "xgw_console", None))
    headers = {**_PAGE_HEADERS, "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"}
    return HTMLResponse(_landing(console), headers=headers)


@router.get(DOCS_PATH)
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_SWAGGER_PAGE, headers={**_PAGE_HEADERS, "Content-Security-Policy": _SWAGGER_POLICY})


@router.get(f"{ASSETS_PATH}/{{name}}")
def swagger_asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise ApiProblem(NOT_FOUND, f"no documentation asset named {name!r}")
    return FileResponse(
        _ASSET_DIR / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get(OPENAPI_PATH)
def openapi_document(request: Request) -> JSONResponse:
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document)
