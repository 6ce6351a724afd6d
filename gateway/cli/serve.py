"""``xgw serve``: the REST API, the XTA 2 ports and (unless ``--no-worker``) a pipeline worker in one process.

Start-up upgrades the database to this gateway's schema, or refuses with the reason (a database written
by a newer gateway, a foreign database); a missing or altered schema bundle is refused too. With no
configuration at all it serves from ``./var`` (SQLite database, payloads) on 127.0.0.1:8080.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import click

from gateway.config import Settings

if TYPE_CHECKING:
    from gateway.pipeline.context import PipelineContext

log = logging.getLogger("gateway.serve")


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
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def serve_command(host: str, port: int, no_worker: bool, log_level: str) -> None:
    """Serve the REST API (/api/v1), health and metrics, and the XTA 2 ports."""
    import uvicorn

    from gateway.api.app import create_app
    from gateway.api.logs import configure_logging
    from gateway.pipeline.context import context_from_settings
    from gateway.store.migrate import DatabaseVersionError
    from gateway.xoev.registry import SchemaBundleError

    configure_logging(log_level)
    settings = Settings()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        ctx = context_from_settings(settings)
    except DatabaseVersionError as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
    except SchemaBundleError as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
    app = create_app(ctx)
    stop = threading.Event()
    worker = None if no_worker else _start_worker(ctx, stop)
    log.info(
        "serving on http://%s:%d (data in %s, worker %s)",
        host,
        port,
        settings.data_dir.resolve(),
        "in-process" if worker else "none",
    )
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, server_header=False)
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
        ctx.engine.dispose()
