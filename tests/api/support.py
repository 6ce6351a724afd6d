"""A real gateway API on loopback for the tests: uvicorn in a thread, a fresh database, a small directory.

Each test module gets one server per database backend (SQLite always, PostgreSQL when
``XGW_TEST_POSTGRES_URL`` is set), with its own data directory. The directory holds the generator's
sender (Landratsamt Gotha) and archive, a second authority (Altenburger Land) for isolation tests, the
toolkit samples' placeholder identities, and an operator; each has tokens of every useful scope.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlmodel import Session, func, select

from gateway.config import Settings
from gateway.participants.directory import upsert
from gateway.participants.spec import ParticipantSpec
from gateway.participants.tokens import Scope, create_token
from gateway.pipeline.context import PipelineContext
from gateway.samples.generate import generate_message, generate_to
from gateway.store.models import Message, MessageEvent
from gateway.wiring import build_context, create_app
from gateway.xoev.build import build
from gateway.xoev.model import Party
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.store.conftest import empty_database

SHARED = Path(__file__).resolve().parents[3] / "shared" / "xoev"
SAMPLES = SHARED / "samples"

GOTHA = "psw:16067000"  # the generator's sender
ARCHIVE = "psw:16000001"  # the generator's recipient (Landesarchiv Thüringen)
ALTENBURG = "psw:16077000"
SAMPLE_SENDER = "AbsBehoerdenkennungPraefixCode:LATh"
SAMPLE_RECIPIENT = "EmpBehoerdenkennungPraefixCode:LATh"
OPERATOR = "xgw:operator"
MAX_SUBMIT = 2 * 1024 * 1024

ALTENBURG_PARTY = Party(
    institution="Landratsamt Altenburger Land",
    institution_short="LRA ABG",
    authority_prefix="psw",
    authority_id="16077000",
)


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """An empty database of its own (see tests/store/conftest.py)."""
    with empty_database(backend, folder, prefix="xgw_api") as url:
        yield url


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Gateway:
    """A running API with its context and the tokens of the test directory."""

    url: str
    ctx: PipelineContext
    backend: str
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def token(self, participant: str, *scopes: Scope) -> str:
        key = f"{participant}|{','.join(sorted(s.value for s in scopes))}"
        if key not in self.tokens:
            with Session(self.ctx.engine) as session:
                created = create_token(session, participant, scopes)
                session.commit()
            self.tokens[key] = created.secret
        return self.tokens[key]

    def counts(self) -> tuple[int, int]:
        with Session(self.ctx.engine) as session:
            messages = session.exec(select(func.count()).select_from(Message)).one()
            events = session.exec(select(func.count()).select_from(MessageEvent)).one()
        return int(messages), int(events)

    def stored_files(self) -> set[str]:
        """Every file below the payload store (content addresses and anything left in its staging area)."""
        root = self.ctx.payloads.root
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()

    @contextmanager
    def no_trace(self) -> Iterator[None]:
        """Assert that the block leaves no message row, no event and no payload file behind."""
        before = (self.counts(), self.stored_files())
        yield
        assert (self.counts(), self.stored_files()) == before

    def finished(self, method: str, route: str, status: int | None = None) -> float:
        """How many requests to ``route`` (with ``status``) the server has finished, from its own metrics."""
        registry = self.app.state.xgw.metrics.registry
        total = 0.0
        for metric in registry.collect():
            for sample in metric.samples:
                labels = sample.labels
                if (
                    sample.name == "xgw_http_requests_total"
                    and (labels.get("route"), labels.get("method")) == (route, method)
                    and (status is None or labels.get("status") == str(status))
                ):
                    total += sample.value
        return total

    def wait_finished(self, method: str, route: str, more_than: float, status: int | None = None) -> None:
        """Wait (boundedly) until the server has finished a request the client could not see the end of."""
        deadline = time.monotonic() + 30
        while self.finished(method, route, status) <= more_than:
            assert time.monotonic() < deadline, f"the server never finished the {method} {route} request"
            time.sleep(0.02)


def directory(ctx: PipelineContext) -> None:
    entries = [
        {"id": GOTHA, "name": "Landratsamt Gotha", "signature_policy": "accept"},
        {"id": ALTENBURG, "name": "Landratsamt Altenburger Land", "signature_policy": "accept"},
        # the gateway makes the archive's technical receipts (a mailbox's own system answers by default)
        {
            "id": ARCHIVE,
            "name": "Landesarchiv Thüringen",
            "signature_policy": "accept",
            "receipts": {"technical": "gateway"},
        },
        {"id": SAMPLE_SENDER, "name": "Toolkit sample sender", "signature_policy": "accept"},
        {"id": SAMPLE_RECIPIENT, "name": "Toolkit sample recipient", "signature_policy": "accept"},
        {"id": OPERATOR, "name": "Gateway operator", "signature_policy": "reject"},
    ]
    versions = ["2.3.0", "2.4.0", "3.0.0", "3.1.0", "4.0.0"]
    with Session(ctx.engine) as session:
        for entry in entries:
            upsert(session, ParticipantSpec.model_validate({**entry, "accepted_versions": versions}))
        session.commit()


@contextmanager
def running_gateway(
    backend: str, folder: Path, base: Settings, registry: SchemaRegistry, **overrides: Any
) -> Iterator[Gateway]:
    with database(backend, folder) as url:
        settings = base.model_copy(
            update={
                "data_dir": folder / "data",
                "database_url": url,
                "pipeline": base.pipeline.model_copy(update={"max_submit_bytes": MAX_SUBMIT}),
                **overrides,
            }
        )
        ctx = build_context(settings, registry=registry)
        try:
            directory(ctx)
            app = create_app(ctx)
            with serve(app) as address:
                yield Gateway(address, ctx, backend, app)
        finally:
            ctx.engine.dispose()


# -- messages ---------------------------------------------------------------------------------------------


def offer(seed: int, *, version: str = "3.0.0", sender: Party | None = None) -> tuple[str, bytes]:
    """A 0501 Anbieteverzeichnis to the archive, from Gotha or from ``sender``; unique per seed."""
    generated = generate_message(version, "0501", documents=1, size=0, seed=seed)
    message = generated.message
    if sender is not None:
        message = dataclasses.replace(message, kopf=dataclasses.replace(message.kopf, sender=sender))
    built = build(message)
    return f"{built.stem}.xml", built.to_bytes()


def package(folder: Path, seed: int, *, version: str = "3.0.0", registry: SchemaRegistry | None = None) -> Path:
    """A 0503 Aussonderung package with primary files, from Gotha to the archive."""
    return generate_to(
        folder, version=version, message_type="0503", documents=2, size=4096, seed=seed, registry=registry
    )


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["type"] == f"urn:xoev-gateway:problem:{slug}", body
    assert body["status"] == status
    assert body["title"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return dict(body)
