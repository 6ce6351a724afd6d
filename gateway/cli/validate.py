"""``xgw validate``: validate message files, packages and directories of them, on all cores.

Exit codes are part of the interface (scripts and CI jobs of the authorities depend on them): 0 when every
message is valid, 1 when any is invalid, 2 for a usage or setup error such as a missing schema bundle.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from gateway.cli.progress import Progress, human_bytes, progress_option
from gateway.config import Settings
from gateway.xoev.schemas.registry import SchemaBundleError, SchemaRegistry
from gateway.xoev.validation.validate import Validator

MESSAGE_SUFFIXES = (".xml", ".zip", ".xdomea")

_worker_validator: Validator | None = None


def collect_inputs(paths: Sequence[Path]) -> list[Path]:
    """Files as given; directories searched recursively for .xml, .zip and .xdomea, in a stable order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = [
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in MESSAGE_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ]
            out.extend(sorted(found))
        else:
            out.append(path)
    return out


def _init_worker(settings_json: str) -> None:
    global _worker_validator
    _worker_validator = Validator(settings=Settings.model_validate_json(settings_json))


def _validate_one(path: str) -> dict[str, Any]:
    assert _worker_validator is not None
    return _worker_validator.validate_path(Path(path)).report.to_json()


@contextmanager
def _run_parallel(inputs: list[Path], settings: Settings, jobs: int) -> Iterator[Iterator[dict[str, Any]]]:
    """The reports in input order, from worker processes that are all started when this is entered.

    Starting them up front (``map`` submits every chunk at once) means the forks happen before the
    progress ticker thread exists: a fork while another thread holds a lock (stderr's, say) can hang the child.
    """
    chunk = max(1, min(64, len(inputs) // (jobs * 8) or 1))
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_init_worker,
        initargs=(settings.model_dump_json(),),
    ) as pool:
        yield pool.map(_validate_one, [str(p) for p in inputs], chunksize=chunk)


def _label(inputs: list[Path]) -> str:
    """What the status line says while the reports come in: one large package can take seconds."""
    if len(inputs) > 1:
        return "validating"
    try:
        size = f" ({human_bytes(inputs[0].stat().st_size)})"
    except OSError:
        size = ""
    return f"validating {inputs[0].name}{size}"


def _text(report: dict[str, Any]) -> str:
    meta = ", ".join(
        f"{label} {report[key]}"
        for label, key in (("xdomea", "version"), ("type", "message_type"), ("ProzessID", "process_id"))
        if report.get(key)
    )
    lines = [f"{'VALID' if report['valid'] else 'INVALID'}  {report['path']}" + (f"  ({meta})" if meta else "")]
    for severity, items in (("ERROR", report["errors"]), ("WARNING", report["warnings"])):
        for item in items:
            loc = item["location"]
            where = " ".join(
                str(part)
                for part in (
                    f"[{loc['entry']}]" if loc.get("entry") else None,
                    f"line {loc['line']}" if loc.get("line") else None,
                    loc.get("xpath"),
                )
                if part
            )
            lines.append(f"  {severity:7} {item['rule']}  {where or '-'}: {item['message']}")
    return "\n".join(lines)


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with one report per input.")
@click.option(
    "-j", "--jobs", type=click.IntRange(min=0), default=None, help="Parallel processes (default: one per core)."
)
@progress_option
def validate_command(paths: tuple[Path, ...], as_json: bool, jobs: int | None, progress: bool | None) -> None:
    """Validate xdomea messages: XML files, ZIP packages, or directories of them (recursively)."""
    settings = Settings()  # read afresh: a CLI call must see the environment it was started with
    try:
        registry = SchemaRegistry.from_settings(settings)
    except SchemaBundleError as exc:
        click.echo(f"xgw: {exc}", err=True)
        sys.exit(2)
    inputs = collect_inputs(paths)
    if not inputs:
        click.echo("xgw: no message files (.xml, .zip, .xdomea) found in the given paths", err=True)
        sys.exit(2)
    jobs = jobs or settings.workers or os.cpu_count() or 1
    jobs = min(jobs, len(inputs))
    reports: list[dict[str, Any]] = []
    with ExitStack() as stack:
        if jobs > 1:
            results = stack.enter_context(_run_parallel(inputs, settings, jobs))
        else:
            validator = Validator(registry, settings)
            results = (validator.validate_path(p).report.to_json() for p in inputs)
        with Progress(_label(inputs), len(inputs) if len(inputs) > 1 else None, enabled=progress) as bar:
            for report in results:
                reports.append(report)
                bar.advance(1)
                if not as_json:
                    bar.echo(_text(report))
    invalid = sum(1 for r in reports if not r["valid"])
    if as_json:
        click.echo(json.dumps(reports, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{len(reports)} checked: {len(reports) - invalid} valid, {invalid} invalid", err=True)
    sys.exit(1 if invalid else 0)
