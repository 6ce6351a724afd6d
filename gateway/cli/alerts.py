"""``xgw alerts run``: one alert run now (collect, then one digest per recipient), e.g. from cron or a test.

``xgw serve`` and ``xgw worker`` run alerts by themselves every ``alerts.interval_seconds`` when
``alerts.enabled`` is set; this command does one run whatever that setting says, and exits 1 when a
digest could not be delivered (it is sent again at the next run).
"""

from __future__ import annotations

import json

import click

from gateway.cli.state import open_engine
from gateway.config import Settings


@click.group("alerts")
def alerts_group() -> None:
    """E-mail and webhook alerts: failures, passed deadlines, peers and adapters down, expiring certificates."""


@alerts_group.command("run")
@click.option("--json", "as_json", is_flag=True, help="Print what the run did as JSON.")
def alerts_run(as_json: bool) -> None:
    """Collect what happened since the last run and send the digests."""
    from gateway.alerts.run import run_alerts

    settings = Settings()
    engine = open_engine(settings, create=False)
    try:
        report = run_alerts(engine, settings)
    finally:
        engine.dispose()
    if as_json:
        payload = {"ran": report.ran, "new_items": report.new_items, "sent": report.sent, "failed": report.failed}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    elif not report.ran:
        click.echo("another process is running alerts right now; nothing done")
    else:
        click.echo(
            f"{report.new_items} new alert item(s); digests sent: {len(report.sent)}, failed: {len(report.failed)}"
        )
        for failed in report.failed:
            click.echo(f"not delivered (retried next run): {failed}", err=True)
    if report.failed:
        raise SystemExit(1)
