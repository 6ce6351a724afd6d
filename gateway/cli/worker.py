"""``xgw worker``: run the pipeline's steps for queued messages until stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import logging

import click

from gateway.config import Settings
from gateway.observability.logs import configure_json_logging
from gateway.store.migrate import DatabaseVersionError


@click.command("worker")
@click.option("--once", is_flag=True, help="Process what is due now, then exit.")
@click.option("--id", "name", help="A name for this worker in logs and message histories (made unique).")
@click.option("--verbose", "-v", is_flag=True, help="Log every step (level DEBUG).")
def worker_command(once: bool, name: str | None, verbose: bool) -> None:
    """Sign, route, deliver and answer messages; any number of workers can run side by side."""
    from gateway.wiring import build_context, build_worker  # the whole gateway only when a worker runs

    configure_json_logging(logging.DEBUG if verbose else logging.INFO)
    settings = Settings()
    try:
        ctx = build_context(settings)
    except DatabaseVersionError as exc:
        raise click.ClickException(str(exc)) from None
    worker = build_worker(ctx, name)
    worker.install_signal_handlers()
    alerts = None
    if settings.alerts.enabled and not once:  # alert runs beside the loop, stopped with it
        from gateway.alerts.run import start_thread
        from gateway.cli.serve import open_circuits

        alerts = start_thread(ctx.engine, settings, worker.stopping, lambda: open_circuits(ctx))
    try:
        worker.run(once=once)
    finally:
        if alerts is not None:
            alerts.join(timeout=30)
        ctx.engine.dispose()
