"""``xgw adapter list|check|setup|send|export|import``: the participants' DMS adapters, by hand.

For the operator who connects an authority's DMS: which participants have an adapter and whether it
works (``list``, ``check``; both only look), making in the DMS what the adapter needs (``setup``, which
says what it made), handing a record to the adapter's outbox where the DMS's own interface cannot
(``send``, Mayan), what the DMS offers right now and taking it in (``export``), and putting a message
file into a DMS without the pipeline (``import``, e.g. to replay a message the DMS lost).
Output is readable text, or JSON with ``--json``. Exit status: 0 done, 1 refused or unhealthy,
75 (EX_TEMPFAIL) the DMS could not be reached.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from gateway.config import Settings

EX_TEMPFAIL = 75


@dataclass(frozen=True, slots=True)
class Target:
    """A participant's adapter as the commands use it: the pipeline context and the checked spec."""

    ctx: Any  # PipelineContext; imported lazily so that ``xgw --help`` stays fast
    spec: Any  # AdapterSpec


@contextmanager
def _context() -> Iterator[Any]:
    from gateway.store.migrate import DatabaseVersionError
    from gateway.wiring import build_context

    try:
        ctx = build_context(Settings())
    except DatabaseVersionError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield ctx
    finally:
        ctx.adapters.close()
        ctx.engine.dispose()


def _configs(ctx: Any) -> dict[str, dict[str, Any]]:
    from gateway.pipeline.dms_export import adapter_participants

    return dict(adapter_participants(ctx))


@contextmanager
def _target(participant: str) -> Iterator[Target]:
    from adapters.base import ConfigError
    from gateway.pipeline.dms import adapter_spec

    with _context() as ctx:
        configs = _configs(ctx)
        if participant not in configs:
            known = ", ".join(sorted(configs)) or "none"
            raise click.ClickException(
                f"{participant} has no DMS adapter in the directory (participants with one: {known})"
            )
        try:
            spec = adapter_spec(participant, configs[participant])
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        assert spec is not None
        yield Target(ctx, spec)


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=1) if as_json else text)


def _health(ctx: Any, participant: str, config: dict[str, Any]) -> dict[str, Any]:
    """Configuration and health of one adapter as plain data; never raises for a broken adapter."""
    from adapters.base import AdapterError
    from gateway.pipeline.dms import adapter_spec

    entry: dict[str, Any] = {"participant": participant, "kind": config.get("kind"), "ok": False, "checks": []}
    try:
        spec = adapter_spec(participant, config)
        assert spec is not None
        entry["export_interval"] = spec.options.export_interval
        entry["confirm_imports"] = spec.options.confirm_imports
        with ctx.adapters.use(ctx.settings, spec) as adapter:
            health = adapter.health()
    except AdapterError as exc:
        entry["checks"] = [{"name": "configuration", "ok": False, "detail": str(exc)}]
        return entry
    entry["ok"] = health.ok
    entry["checks"] = [{"name": "configuration", "ok": True, "detail": "valid"}] + [
        {"name": c.name, "ok": c.ok, "detail": c.detail} for c in health.checks
    ]
    return entry


@click.group("adapter")
def adapter_group() -> None:
    """See the participants' DMS adapters and their health, export from and import into a DMS by hand."""


@adapter_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> None:
    """Every participant with a DMS adapter: its kind, export interval and health."""
    with _context() as ctx:
        entries = [_health(ctx, participant, config) for participant, config in _configs(ctx).items()]
    lines = [
        f"{e['participant']:<24} {e['kind'] or '?':<12} "
        + (f"export every {e['export_interval']:g} s  " if e.get("export_interval") else "export on demand  ")
        + ("ok" if e["ok"] else "FAILED: " + "; ".join(c["detail"] for c in e["checks"] if not c["ok"]))
        for e in entries
    ]
    _emit(as_json, entries, "\n".join(lines) or "no participant has a DMS adapter")
    if not all(e["ok"] for e in entries):
        raise SystemExit(1)


@adapter_group.command("check")
@click.argument("participant")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check_command(participant: str, as_json: bool) -> None:
    """Validate PARTICIPANT's adapter configuration and try its DMS; exit 1 when anything fails."""
    with _context() as ctx:
        configs = _configs(ctx)
        if participant not in configs:
            raise click.ClickException(f"{participant} has no DMS adapter in the directory")
        entry = _health(ctx, participant, configs[participant])
    lines = [f"{participant} ({entry['kind']}): {'ok' if entry['ok'] else 'FAILED'}"] + [
        f"  {c['name']}: {'ok' if c['ok'] else 'FAILED'} ({c['detail']})" for c in entry["checks"]
    ]
    _emit(as_json, entry, "\n".join(lines))
    if not entry["ok"]:
        raise SystemExit(1)


@adapter_group.command("setup")
@click.argument("participant")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def setup_command(participant: str, as_json: bool) -> None:
    """Make in PARTICIPANT's DMS what its adapter needs (types, folders/cabinets) and list what was made."""
    from adapters.base import AdapterError, Unavailable

    with _target(participant) as target:
        ctx, spec = target.ctx, target.spec
        try:
            with ctx.adapters.use(ctx.settings, spec) as adapter:
                made = adapter.setup()
                health = adapter.health()
        except Unavailable as exc:
            click.echo(f"the DMS of {participant} cannot be reached: {exc}", err=True)
            raise SystemExit(EX_TEMPFAIL) from None
        except AdapterError as exc:
            raise click.ClickException(str(exc)) from None
    data = {
        "participant": participant,
        "made": made,
        "ok": health.ok,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in health.checks],
    }
    lines = [f"made: {m}" for m in made] or [f"the DMS of {participant} had everything already; nothing made"]
    lines += [f"  {c.name}: {'ok' if c.ok else 'FAILED'} ({c.detail})" for c in health.checks]
    _emit(as_json, data, "\n".join(lines))
    if not health.ok:
        raise SystemExit(1)


@adapter_group.command("send")
@click.argument("participant")
@click.option("--cabinet", "cabinet", required=True, help="The record's cabinet: its id, label or full path.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def send_command(participant: str, cabinet: str, as_json: bool) -> None:
    """Hand a record in PARTICIPANT's DMS to the gateway: move its cabinet under the outbox cabinet.

    The next export (the adapter's export interval, or ``xgw adapter export PARTICIPANT --submit``) sends
    everything in the outbox as one message. For DMS kinds whose users can file into the outbox themselves
    (a hotfolder) there is nothing to do here.
    """
    from adapters.base import AdapterError, Unavailable

    with _target(participant) as target:
        ctx, spec = target.ctx, target.spec
        try:
            with ctx.adapters.use(ctx.settings, spec) as adapter:
                send = getattr(adapter, "send_cabinet", None)
                if send is None:
                    raise click.ClickException(
                        f"the {spec.kind} adapter of {participant} has no send command: "
                        "put the record into its outbox with the DMS itself"
                    )
                done = send(cabinet)
        except Unavailable as exc:
            click.echo(f"the DMS of {participant} cannot be reached: {exc}", err=True)
            raise SystemExit(EX_TEMPFAIL) from None
        except AdapterError as exc:
            raise click.ClickException(str(exc)) from None
        interval = spec.options.export_interval
    when = f"within {interval:g} s" if interval else f"with `xgw adapter export {participant} --submit`"
    _emit(as_json, {"participant": participant, "cabinet": cabinet, "done": done}, f"{done}; it leaves {when}")


def _settle(spec: Any, wait: float | None) -> float:
    """How long a file must stay unchanged before the adapter offers it (a hotfolder's poll_interval)."""
    if wait is not None:
        return wait
    configured = spec.config.get("poll_interval")
    return float(configured) if isinstance(configured, int | float) else 0.0


@adapter_group.command("export")
@click.argument("participant")
@click.option("--submit", is_flag=True, help="Take the offered files in as messages (else: only show them).")
@click.option(
    "--wait",
    type=float,
    default=None,
    help="Seconds between the two polls that tell a complete file (default: the adapter's poll_interval).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def export_command(participant: str, submit: bool, wait: float | None, as_json: bool) -> None:
    """Export what PARTICIPANT's DMS offers now; with --submit, submit it as PARTICIPANT's messages."""
    from adapters.base import Acknowledgement, AdapterError, ExportedFile, Unavailable
    from gateway.pipeline.dms_export import export_round

    with _target(participant) as target:
        ctx, spec = target.ctx, target.spec
        settle = _settle(spec, wait)
        try:
            if not submit:
                entries = _preview(ctx, spec, settle)
            else:
                verdicts: list[dict[str, Any]] = []

                def observe(file: ExportedFile, ack: Acknowledgement) -> None:
                    verdicts.append(
                        {
                            "file": file.name,
                            "sha256": file.sha256,
                            "taken": ack.accepted,
                            "duplicate": ack.duplicate,
                            "message_id": ack.reference,
                            "reason": ack.reason or None,
                        }
                    )

                export_round(ctx, spec, observe=observe)  # the first poll only notes what is there
                time.sleep(settle)
                if export_round(ctx, spec, observe=observe) is None:
                    raise click.ClickException(f"another process is exporting for {participant} right now; try again")
                entries = verdicts
        except Unavailable as exc:
            click.echo(f"the DMS of {participant} cannot be reached: {exc}", err=True)
            raise SystemExit(EX_TEMPFAIL) from None
        except AdapterError as exc:
            raise click.ClickException(str(exc)) from None
    lines = [_export_line(e, submit) for e in entries] or [f"the DMS of {participant} offers nothing right now"]
    _emit(as_json, entries, "\n".join(lines))
    if submit and not all(e["taken"] for e in entries):
        raise SystemExit(1)


def _export_line(entry: dict[str, Any], submitted: bool) -> str:
    if not submitted:
        return f"{entry['file']}  {entry['size']} bytes  " + (
            "valid" if entry["valid"] else f"INVALID: {entry['problem']}"
        )
    if not entry["taken"]:
        return f"{entry['file']}  REFUSED: {entry['reason']}"
    return (
        f"{entry['file']}  "
        + ("duplicate of " if entry["duplicate"] else "submitted as ")
        + f"message {entry['message_id']}"
    )


def _preview(ctx: Any, spec: Any, settle: float) -> list[dict[str, Any]]:
    """What the DMS offers, validated, without acknowledging anything: the files stay where they are."""
    import tempfile

    with ctx.adapters.use(ctx.settings, spec) as adapter:
        list(adapter.export())
        time.sleep(settle)
        entries = []
        for file in adapter.export():
            with tempfile.TemporaryDirectory(prefix="xgw-export-") as tmp:
                copy = Path(tmp) / Path(file.name).name
                with file.open() as source, copy.open("wb") as target:
                    while chunk := source.read(1 << 20):
                        target.write(chunk)
                report = ctx.validator.validate_path(copy).report
            first = report.errors[0] if report.errors else None
            entries.append(
                {
                    "file": file.name,
                    "size": file.size,
                    "sha256": file.sha256,
                    "valid": report.valid,
                    "problem": f"{first.rule} {first.message}" if first else None,
                }
            )
    return entries


@adapter_group.command("import")
@click.argument("participant")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def import_command(participant: str, file: Path, as_json: bool) -> None:
    """Import the message or package FILE into PARTICIPANT's DMS, printing what became of each object.

    Exactly once in effect, as a delivery by the pipeline: a message imported before is reported as a
    duplicate and changes nothing. The gateway's message store is not touched.
    """
    from adapters.base import AdapterError, Unavailable

    with _target(participant) as target:
        ctx, spec = target.ctx, target.spec
        try:
            with ctx.adapters.use(ctx.settings, spec) as adapter:
                result = adapter.import_message(file, filename=file.name)
        except Unavailable as exc:
            click.echo(f"the DMS of {participant} cannot be reached: {exc}", err=True)
            raise SystemExit(EX_TEMPFAIL) from None
        except AdapterError as exc:
            raise click.ClickException(str(exc)) from None
    data = {
        "participant": participant,
        "file": str(file),
        "status": result.status.value,
        "key": str(result.key) if result.key else None,
        "location": result.location,
        "reason": result.reason,
        "objects": [
            {
                "id": o.id,
                "kind": str(o.kind),
                "parent": o.parent,
                "status": o.status.value,
                "dms_id": o.dms_id,
                "reason": o.reason,
            }
            for o in result.objects
        ],
    }
    head = f"{file.name}: {result.status.value}" + (f" as {result.location}" if result.location else "")
    if result.reason:
        head += f" ({result.reason})"
    lines = [head] + [
        f"  {o['kind']:<11} {o['id']}  {o['status']}"
        + (f"  -> {o['dms_id']}" if o["dms_id"] else "")
        + (f"  ({o['reason']})" if o["reason"] and o["status"] not in ("imported", "duplicate", "found") else "")
        for o in data["objects"]
    ]
    _emit(as_json, data, "\n".join(lines))
    if not result.ok:
        raise SystemExit(1)
