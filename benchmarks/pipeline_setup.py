"""What the pipeline benchmark needs before it can measure: databases, a directory with keys, a corpus.

Kept apart from ``bench_pipeline.py`` so that the worker processes it spawns import only this and the
gateway, and so that the measuring code reads as measuring code.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from gateway.config import Settings
from gateway.participants.tokens import Scope, create_token
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.worker import Worker
from gateway.samples.generate import ARCHIVE, SENDER, generate_to
from gateway.store.db import normalise_url
from gateway.store.models import Certificate, CertificateUsage, Participant, RouteKind, SignaturePolicy
from gateway.wiring import build_context
from gateway.xoev.signatures.keys import (
    KeyAlgorithm,
    certificate_pem,
    generate_key,
    self_signed_certificate,
    subject_name,
)
from gateway.xoev.signatures.signature import certificate_fingerprint

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ENV = "XGW_TEST_POSTGRES_URL"
SENDER_ID = f"{SENDER.authority_prefix}:{SENDER.authority_id}"
ARCHIVE_ID = f"{ARCHIVE.authority_prefix}:{ARCHIVE.authority_id}"
VERSIONS = ("3.0.0", "3.1.0", "4.0.0")


def register_parties(ctx: PipelineContext, *, keys: bool = True) -> None:
    """The generator's sender and archive, each with a mailbox here and (with ``keys``) an RSA signing key.

    RSA is the gateway's default algorithm, so the ``signed`` step costs what it costs in production.
    """
    with ctx.session() as session:
        for xoev_id in (SENDER_ID, ARCHIVE_ID):
            row = Participant(
                xoev_id=xoev_id,
                display_name=xoev_id,
                accepted_versions=list(VERSIONS),
                route_kind=RouteKind.MAILBOX,
                signature_policy=SignaturePolicy.REQUIRE if keys else SignaturePolicy.ACCEPT,
                # the whole exchange measured includes the gateway's technical receipts; since issue 9 a
                # mailbox's own system answers by default (docs/receipts.md), so the benchmark says so
                receipt_policy={"technical": "gateway"},
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            if not keys:
                continue
            key = generate_key(KeyAlgorithm.RSA)
            ctx.keys.save(key)
            certificate = self_signed_certificate(key, subject_name(xoev_id, serial=xoev_id), days=30)
            session.add(
                Certificate(
                    participant_id=row.id,
                    pem=certificate_pem([certificate]),
                    fingerprint_sha256=certificate_fingerprint(certificate),
                    not_before=certificate.not_valid_before_utc,
                    not_after=certificate.not_valid_after_utc,
                    usage=CertificateUsage.SIGNING,
                )
            )
        session.commit()


def submit_token(engine: sa.Engine) -> str:
    """A fresh API token for the sender with scope submit (the secret exists only in this process)."""
    with Session(engine) as session:
        token = create_token(session, SENDER_ID, [Scope.SUBMIT, Scope.READ], name="bench_pipeline")
        session.commit()
    return token.secret


def make_corpus(out: Path, count: int, package_bytes: int) -> list[Path]:
    """Half 0501 offers (XML, signed by the pipeline), half small 0503 packages (unsigned by design).

    Sizes follow what Thuringian authorities send day to day: an offer lists a dozen Akten, a small
    Aussonderung carries a few scanned documents.
    """
    paths = []
    for i in range(count):
        version = VERSIONS[(i // 2) % len(VERSIONS)]
        if i % 2 == 0:
            paths.append(generate_to(out, version=version, message_type="0501", documents=12, size=0, seed=i))
        else:
            paths.append(
                generate_to(out, version=version, message_type="0503", documents=6, size=package_bytes, seed=i)
            )
    return paths


def postgres_available() -> bool:
    return subprocess.run([str(ROOT / "scripts" / "postgres"), "available"], check=False).returncode == 0


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """The server named by XGW_TEST_POSTGRES_URL, or a throw-away cluster started here, or None."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        yield url
        return
    if not postgres_available():
        yield None
        return
    out = subprocess.run(
        [str(ROOT / "scripts" / "postgres"), "start"], check=True, capture_output=True, text=True
    ).stdout
    values = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)
    directory = values["XGW_PG_DIR"].strip("'")
    try:
        yield values[POSTGRES_ENV].strip("'")
    finally:
        subprocess.run([str(ROOT / "scripts" / "postgres"), "stop", directory], check=False)


@contextmanager
def fresh_database(backend: str, data_dir: Path, postgres_url: str | None) -> Iterator[str]:
    """An empty database of its own: an SQLite file in ``data_dir``, or a new PostgreSQL database dropped after."""
    if backend == "sqlite":
        data_dir.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{data_dir / 'gateway.db'}"
        return
    assert postgres_url is not None
    server = normalise_url(postgres_url)
    name = f"xgw_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def worker_process(settings: Settings, warm: list[Path], ready: Queue[int], go: Event, done: Queue[int]) -> None:
    """One ``xgw worker`` as the command runs it, except that it warms up first and starts on ``go``.

    Warming up (schemas compiled, the first message of each kind validated) happens before the clock
    starts, so the figure is the steady state of a long-running worker, not its start-up. SIGTERM
    stops it after its current step, as it stops ``xgw worker``.
    """
    logging.basicConfig(level=logging.WARNING)
    ctx = build_context(settings, migrate=False)
    for path in warm:
        ctx.validator.validate_path(path)
    worker = Worker(ctx)
    worker.install_signal_handlers()
    ready.put(os.getpid())
    go.wait()
    try:
        stats = worker.run()
    finally:
        ctx.engine.dispose()
    done.put(stats.processed)
