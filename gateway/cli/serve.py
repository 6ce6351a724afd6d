"""``xgw serve``: the REST API, the XTA 2 ports and (unless ``--no-worker``) a pipeline worker in one process.

Start-up upgrades the database to this gateway's schema, or refuses with the reason (a database written
by a newer gateway, a foreign database); a missing or altered schema bundle is refused too. With no
configuration at all it serves from ``./var`` (SQLite database, payloads) on 127.0.0.1:8080.

With ``--tls-cert``/``--tls-key`` it serves HTTPS; ``--tls-client-ca`` makes it ask every client for a
certificate signed by that CA and hand the verified certificate to the XTA ports, where it is bound to
the account (mutual TLS without a proxy, see gateway/cli/serve_tls.py).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway.cli.serve_http import HttpServer, allow_plain_http_option, check_exposure
from gateway.cli.serve_tls import ClientAuth, TlsOptions
from gateway.config import Settings
from gateway.demo import DEMO_DIRECTORY

if TYPE_CHECKING:
    from gateway.pipeline.context import PipelineContext

log = logging.getLogger("gateway.serve")


DEMO_TOKEN_NAME = "demo (xgw serve --demo)"  # noqa: S105 - the tokens' label, not a secret


def _load_demo(ctx: PipelineContext) -> list[tuple[str, str]]:
    """Import the demo directory and issue fresh demo tokens, revoking the previous ones.

    A demo must work from one command, so the tokens are printed; they are revoked on the next ``--demo``
    start, and a production gateway never runs with ``--demo``.
    """
    from sqlmodel import Session

    from gateway.participants.directory import import_entries, read_directory_file
    from gateway.participants.tokens import Scope, create_token, list_tokens, revoke_token

    specs = read_directory_file(DEMO_DIRECTORY)
    issued: list[tuple[str, str]] = []
    with Session(ctx.engine) as session:
        import_entries(session, specs)
        for info in list_tokens(session):
            if info.name == DEMO_TOKEN_NAME and info.revoked_at is None:
                revoke_token(session, info.id)
        member, archive = specs[0].id, next(s.id for s in specs if "archiv" in s.name.lower())
        for participant, scopes in ((member, (Scope.SUBMIT, Scope.READ)), (archive, (Scope.SUBMIT, Scope.READ))):
            token = create_token(session, participant, scopes, name=DEMO_TOKEN_NAME)
            issued.append((participant, token.secret))
        session.commit()
    return issued


def _start_worker(ctx: PipelineContext, stop: threading.Event) -> threading.Thread:
    """The pipeline worker in a daemon thread; it stops when ``stop`` is set (signals stay with uvicorn)."""
    from gateway.pipeline.worker import run_in_thread

    thread = threading.Thread(target=run_in_thread, args=(ctx, stop), name="xgw-worker", daemon=True)
    thread.start()
    return thread


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port.")
@click.option("--no-worker", is_flag=True, help="Serve only; run the pipeline with separate `xgw worker` processes.")
@click.option(
    "--demo",
    is_flag=True,
    help="Import the demo directory and print fresh tokens for a member and the state archive.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Server certificate (PEM, with intermediates) -- serve HTTPS.",
)
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), help="Private key of --tls-cert (PEM).")
@click.option(
    "--tls-client-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CA certificate(s) (PEM) that client certificates must be signed by: mutual TLS for the XTA accounts.",
)
@click.option(
    "--tls-client-auth",
    type=click.Choice([a.value for a in ClientAuth]),
    default=ClientAuth.REQUIRED.value,
    show_default=True,
    help="required: refuse connections without a client certificate; optional: let REST clients in without one "
    "(the XTA ports still refuse them).",
)
@allow_plain_http_option
def serve_command(
    host: str,
    port: int,
    no_worker: bool,
    demo: bool,
    log_level: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    tls_client_auth: str,
    allow_plain_http: bool,
) -> None:
    """Serve the REST API (/api/v1), health and metrics, and the XTA 2 ports."""
    import uvicorn

    from gateway.api.app import create_app
    from gateway.api.logs import configure_logging
    from gateway.pipeline.context import context_from_settings
    from gateway.store.migrate import DatabaseVersionError
    from gateway.xoev.schemas.registry import SchemaBundleError

    configure_logging(log_level)
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls_client_ca is not None and tls_cert is None:
        raise click.UsageError("--tls-client-ca needs --tls-cert and --tls-key")
    tls: dict[str, Any] = {}
    if tls_cert is not None and tls_key is not None:
        try:
            tls = TlsOptions(tls_cert, tls_key, tls_client_ca, ClientAuth(tls_client_auth)).uvicorn_kwargs()
        except FileNotFoundError as exc:
            raise click.ClickException(f"refusing to start: {exc}") from None
    settings = Settings()
    check_exposure(settings, host, bool(tls), allow_plain_http)  # limits and proxies: gateway/cli/serve_http.py
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        ctx = context_from_settings(settings)
    except DatabaseVersionError as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
    except SchemaBundleError as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
    if demo:
        for participant, secret in _load_demo(ctx):
            click.echo(f"demo token for {participant} (submit, read): {secret}")
    app = create_app(ctx)
    stop = threading.Event()
    worker = None if no_worker else _start_worker(ctx, stop)
    log.info(
        "serving on %s://%s:%d (data in %s, worker %s%s)",
        "https" if tls else "http",
        host,
        port,
        settings.data_dir.resolve(),
        "in-process" if worker else "none",
        f", client certificates {tls_client_auth}" if tls_client_ca else "",
    )
    try:
        http = HttpServer(settings)
        uvicorn.run(
            http.app(app),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            **http.uvicorn_kwargs(tls),
        )
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
        ctx.engine.dispose()
