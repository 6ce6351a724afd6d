"""``xgw serve``: the REST API, the XTA 2 ports and (unless ``--no-worker``) a pipeline worker in one process.

Start-up upgrades the database to this gateway's schema, or refuses with the reason (a database written
by a newer gateway, a foreign database); a missing or altered schema bundle is refused too. With no
configuration at all it serves from ``./var`` (SQLite database, payloads) on 127.0.0.1:8080.

The port is bound first, before the database is touched or the worker started, so that a port in use
is the one error an operator sees; ``--demo`` prepares the demo (gateway/demo/setup.py) and prints one
block saying where to sign in and what to try (gateway/demo/banner.py).

With ``--tls-cert``/``--tls-key`` it serves HTTPS; ``--tls-client-ca`` makes it ask every client for a
certificate signed by that CA and hand the verified certificate to the XTA ports, where it is bound to
the account (mutual TLS without a proxy, see gateway/cli/serve_tls.py).
"""

from __future__ import annotations

import errno
import gc
import logging
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway.cli.serve_http import HttpServer, allow_plain_http_option, check_exposure
from gateway.cli.serve_tls import ClientAuth, TlsOptions
from gateway.config import Settings

if TYPE_CHECKING:
    from gateway.pipeline.context import PipelineContext

log = logging.getLogger("gateway.serve")


def _bind(host: str, port: int) -> list[socket.socket]:
    """Listen on ``host``:``port`` before anything else happens, or refuse with one clear error.

    A port in use must be the first and only thing the operator sees, not a traceback after the worker
    and the database migration already ran; and "serving on" must only be logged once it is true. The
    sockets are handed to uvicorn, which serves on them as they are (port 0 picks a free port).
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"refusing to start: cannot listen on {host!r}: {exc.strerror}") from None
    listeners: list[socket.socket] = []
    chosen = port
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, proto)
            listeners.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart past TIME_WAIT
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], chosen, *address[2:]))
            sock.listen(2048)
            chosen = sock.getsockname()[1]  # the other addresses of the name share the port port 0 chose
    except OSError as exc:
        for sock in listeners:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is already in use (is another `xgw serve` running?); choose another with --port"
        elif exc.errno == errno.EACCES:
            reason = "permission denied (ports below 1024 need privileges); choose another with --port"
        else:
            reason = exc.strerror or str(exc)
        raise click.ClickException(f"refusing to start: cannot listen on {host}:{port}: {reason}") from None
    return listeners


def _base_url(scheme: str, host: str, port: int) -> str:
    """The URL to print: a wildcard address is not one to open, so show the loopback address instead."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 - shown, not bound
    return f"{scheme}://[{shown}]:{port}" if ":" in shown else f"{scheme}://{shown}:{port}"


def freeze_start_up_heap() -> None:
    """Keep the objects that live as long as the server out of the garbage collector's full passes.

    After start-up the process holds some 200,000 objects that never become garbage (schemas, the
    SQLAlchemy and FastAPI set-up, code lists); each full collection traversed all of them (0.49 s
    measured at load 10 on the 2 shared cores) in whatever request happened to trigger it, a large
    upload's included (issue 11). Collected once and frozen, they are skipped from then on; everything
    made later is collected as before.
    """
    gc.collect()
    gc.freeze()


def _start_alerts(ctx: PipelineContext, stop: threading.Event) -> threading.Thread | None:
    """Alert runs every ``alerts.interval_seconds`` in a daemon thread when ``alerts.enabled`` is set."""
    if not ctx.settings.alerts.enabled:
        return None
    from gateway.alerts.run import start_thread

    return start_thread(ctx.engine, ctx.settings, stop, lambda: open_circuits(ctx))


def open_circuits(ctx: PipelineContext) -> list[str]:
    """Peers whose circuit breaker is open in this process (the XTA transport's health snapshots)."""
    from gateway.store.models import RouteKind

    health = getattr(ctx.transports.get(RouteKind.XTA), "health", None)
    if health is None:
        return []
    return [s.peer for s in health() if str(getattr(s, "state", "")) == "open"]


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
    help="Run the demo: the five members and the Land Thüringen with signing keys, transfer directories, "
    "a console admin and fresh API tokens (printed at start-up).",
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
    from gateway.api.logs import configure_logging

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
    # exposure first (plain HTTP off loopback is refused), then the port: nothing else starts before both
    check_exposure(Settings(), host, bool(tls), allow_plain_http)  # limits and proxies: gateway/cli/serve_http.py
    listeners = _bind(host, port)
    try:
        _serve(listeners, host, demo, no_worker, tls, tls_client_auth if tls_client_ca else None)
    finally:
        for sock in listeners:
            sock.close()


def _serve(
    listeners: list[socket.socket],
    host: str,
    demo: bool,
    no_worker: bool,
    tls: dict[str, Any],
    client_auth: str | None,
) -> None:
    import uvicorn

    from gateway.store.migrate import DatabaseVersionError
    from gateway.wiring import build_context, create_app
    from gateway.xoev.schemas.registry import SchemaBundleError

    settings = Settings()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        ctx = build_context(settings)
    except DatabaseVersionError as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
    except SchemaBundleError as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
    ctx.payloads.prepare()  # the payload store's folders, made now rather than by the first upload
    port = listeners[0].getsockname()[1]
    base_url = _base_url("https" if tls else "http", host, port)
    block = None
    if demo:
        from gateway.demo.banner import start_up_block
        from gateway.demo.setup import prepare_demo

        block = start_up_block(prepare_demo(ctx, base_url), base_url, settings.data_dir.resolve())
    app = create_app(ctx)
    stop = threading.Event()
    worker = None if no_worker else _start_worker(ctx, stop)
    alerts = _start_alerts(ctx, stop)
    log.info(
        "serving on %s (data in %s, worker %s%s)",
        base_url,
        settings.data_dir.resolve(),
        "in-process" if worker else "none",
        f", client certificates {client_auth}" if client_auth else "",
    )
    if block is not None:
        click.echo(block)
    try:
        http = HttpServer(settings)
        config = uvicorn.Config(
            http.app(app),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            **http.uvicorn_kwargs(tls),
        )
        freeze_start_up_heap()  # last, once everything that lives as long as the server exists
        uvicorn.Server(config).run(sockets=listeners)
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
        if alerts is not None:
            alerts.join(timeout=30)
        ctx.engine.dispose()
