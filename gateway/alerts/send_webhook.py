"""POST one digest as JSON to the webhook over HTTPS, signed with HMAC-SHA256 when a secret is set.

The signature is ``X-XGW-Signature: sha256=<hex>`` over the exact body bytes, keyed with
``alerts.webhook_secret`` (the body carries ``generated_at``, so a replay is visible). Any answer
but 2xx is a failure. Errors name only the webhook's scheme and host: its path may hold a token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.alerts.send_mail import SendError, tls_context
from gateway.config import Alerts

SIGNATURE_HEADER = "X-XGW-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(config: Alerts, url: str, payload: dict[str, Any]) -> None:
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname}"
    if parts.scheme != "https":
        raise SendError(f"refusing webhook {where}: only https:// is allowed")
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "xoev-gateway-alerts"}
    if config.webhook_secret:
        headers[SIGNATURE_HEADER] = signature(config.webhook_secret.get_secret_value(), body)
    try:
        with httpx.Client(verify=tls_context(config.webhook_ca_file), timeout=config.webhook_timeout_seconds) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SendError(f"webhook {where} failed: {type(exc).__name__}") from None
    if not response.is_success:
        raise SendError(f"webhook {where} answered {response.status_code}")
