"""The demo (``xgw serve --demo``) tells the mission's story: the five members and the Land, signed, answered.

The first tests prepare the demo in-process against a real SQLite database and check what it leaves
behind (directory, folders, keys, tokens, console user) and that a second start reuses keys but renews
secrets. The process tests start ``xgw serve --demo`` as a newcomer would -- a real process in an
unrelated, empty working directory, on a port the gateway picks -- read its start-up block, and drive the
first steps of an Aussonderung over HTTP: the district offers (0501) with its token, the archive finds
the offer in its mailbox signed and verified, answers with its own token (0502), the district finds the
answers in its transfer directory. The last test checks that a port in use is refused first and clearly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from gateway.config import Settings
from gateway.console.users import check_sign_in
from gateway.demo.banner import start_up_block
from gateway.demo.setup import DEMO_ADMIN, DEMO_ARCHIVE, DEMO_DISTRICT, DemoSetup, prepare_demo
from gateway.participants.tokens import authenticate
from gateway.pipeline import directory
from gateway.pipeline.context import PipelineContext
from gateway.samples.generate import generate_message
from gateway.store.models import Certificate, Participant
from gateway.wiring import build_context
from gateway.xoev.build import build
from gateway.xoev.model import Party
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.store.conftest import available_backends, empty_database

MEMBERS = {
    "psw:16077000": "Landratsamt Altenburger Land",
    "psw:16067000": "Landratsamt Gotha",
    "psw:16075000": "Landratsamt Saale-Orla-Kreis",
    "psw:16071000": "Landratsamt Weimarer Land",
    "psw:16055000": "Stadtverwaltung Weimar",
}
LAND = {"lth:16000100": "Landesarchiv Thüringen", "lth:16000200": "Thüringer Landesverwaltungsamt"}
DISTRICT_PARTY = Party(institution="Landratsamt Altenburger Land", authority_prefix="psw", authority_id="16077000")
ARCHIVE_PARTY = Party(institution="Landesarchiv Thüringen", authority_prefix="lth", authority_id="16000100")
XGW = str(Path(sys.executable).parent / "xgw")
SLOW = 120.0  # seconds: an upper bound on a loaded 2-core machine, never a sleep


# -- in-process: what the demo prepares ------------------------------------------------------------------


@pytest.fixture(params=available_backends())
def demo_ctx(
    request: pytest.FixtureRequest, tmp_path: Path, settings: Settings, registry: SchemaRegistry
) -> Iterator[PipelineContext]:
    data = tmp_path / "data"
    data.mkdir()
    with empty_database(request.param, data, prefix="xgw_demo") as url:
        ctx = build_context(settings.model_copy(update={"data_dir": data, "database_url": url}), registry=registry)
        try:
            yield ctx
        finally:
            ctx.engine.dispose()


def test_the_demo_prepares_members_keys_folders_tokens_and_an_admin(demo_ctx: PipelineContext) -> None:
    setup = prepare_demo(demo_ctx, "http://127.0.0.1:8080")
    data = demo_ctx.settings.data_dir.resolve()
    assert {t.participant: t.name for t in setup.tokens} == {**MEMBERS, **LAND}
    with Session(demo_ctx.engine) as session:
        participants = {p.xoev_id: p for p in session.exec(select(Participant)).all()}
        assert set(participants) == set(MEMBERS) | set(LAND)
        for xoev_id in MEMBERS:  # the district's DMS: a transfer directory below the data directory
            folder = Path(participants[xoev_id].adapter_config["path"])
            assert folder.is_relative_to(data / "demo")
            assert (folder / "in").is_dir() and (folder / "out").is_dir()
        assert participants[DEMO_ARCHIVE].route_kind.value == "mailbox"
        for xoev_id in participants:  # every participant signs, and its signatures can be verified
            assert participants[xoev_id].signature_policy.value == "require"
            credentials = directory.signing_credentials(session, demo_ctx.keys, xoev_id)
            assert credentials is not None, f"{xoev_id} cannot sign"
        for key_file in (data / "keys").iterdir():
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        for token in setup.tokens:
            principal = authenticate(session, token.secret)
            assert principal is not None and principal.participant == token.participant
    assert sorted(setup.keys_created) == sorted(participants)
    assert check_sign_in(demo_ctx.engine, DEMO_ADMIN, setup.admin_password) is not None
    assert stat.S_IMODE(setup.tokens_file.stat().st_mode) == 0o600
    shell = setup.tokens_file.read_text(encoding="utf-8")
    assert f"export DISTRICT_TOKEN={setup.token_of(DEMO_DISTRICT)}" in shell
    assert f"export ARCHIVE_TOKEN={setup.token_of(DEMO_ARCHIVE)}" in shell
    assert "export XGW_URL=http://127.0.0.1:8080" in shell


def test_a_second_start_reuses_the_keys_and_renews_every_secret(demo_ctx: PipelineContext) -> None:
    first = prepare_demo(demo_ctx, "http://127.0.0.1:8080")
    with Session(demo_ctx.engine) as session:
        pins = sorted(session.exec(select(Certificate.fingerprint_sha256)).all())
    second = prepare_demo(demo_ctx, "http://127.0.0.1:8080")
    assert second.keys_created == []
    with Session(demo_ctx.engine) as session:
        assert sorted(session.exec(select(Certificate.fingerprint_sha256)).all()) == pins
        for old, new in zip(first.tokens, second.tokens, strict=True):
            assert authenticate(session, old.secret) is None  # revoked
            assert authenticate(session, new.secret) is not None
    assert check_sign_in(demo_ctx.engine, DEMO_ADMIN, first.admin_password) is None
    assert check_sign_in(demo_ctx.engine, DEMO_ADMIN, second.admin_password) is not None
    assert second.token_of(DEMO_DISTRICT) in second.tokens_file.read_text(encoding="utf-8")


def test_the_start_up_block_names_every_authority_and_the_next_step(tmp_path: Path) -> None:
    from gateway.demo.setup import DemoToken

    tokens = [DemoToken(i, n, f"xgw_secret_{i}") for i, n in {**MEMBERS, **LAND}.items()]
    setup = DemoSetup("demo-admin", "pass-word-1234", tokens, tmp_path / "var" / "demo" / "tokens.env")
    block = start_up_block(setup, "http://127.0.0.1:8080", tmp_path / "var", xgw="xgw")
    assert "http://127.0.0.1:8080/console" in block and "demo-admin / pass-word-1234" in block
    assert "http://127.0.0.1:8080/docs" in block and "http://127.0.0.1:8080/api/v1" in block
    for token in tokens:
        assert re.search(rf"^ {{4}}{re.escape(token.name)} +{token.participant} +{token.secret}$", block, re.M)
    assert "xgw generate --type 0501" in block and "$DISTRICT_TOKEN" in block


def test_an_xman_archive_gets_a_transfer_directory_per_district_with_its_answer_folders(tmp_path: Path) -> None:
    """What the archive's entry needs when it is reached through x-man's transfer directories."""
    from gateway.demo.setup import _adapter_folders

    root = tmp_path / "demo" / "landesarchiv"
    config = {
        "kind": "hotfolder",
        "preset": "xman",
        "path": str(root),
        "transfer_dirs": {"psw:16077000": "altenburger-land", "psw:16067000": "gotha"},
    }
    folders = set(_adapter_folders(config))
    assert {root, root / ".xgw-staging", root / "altenburger-land", root / "gotha"} <= folders
    for district in ("altenburger-land", "gotha"):
        assert {root / district / code for code in ("0502", "0504", "0506", "0507")} <= folders
    plain = {"kind": "hotfolder", "path": str(root)}
    assert _adapter_folders(plain) == [root, root / "in", root / "out"]
    assert _adapter_folders({"kind": "mayan", "url": "https://dms.example"}) == []


def test_the_next_command_names_the_checkouts_script_when_xgw_is_not_on_path(tmp_path: Path) -> None:
    from gateway.demo.banner import command_name

    checkout = tmp_path / "xoev-gateway"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / "scripts").mkdir()
    (checkout / "scripts" / "xgw").write_text("#!/bin/sh\n", encoding="utf-8")
    assert command_name(str(checkout / ".venv" / "bin" / "xgw")) == str(checkout / "scripts" / "xgw")
    assert command_name(str(tmp_path / "elsewhere" / "xgw")) == str(tmp_path / "elsewhere" / "xgw")
    assert command_name("python") == "xgw"


# -- a real `xgw serve --demo` process ----------------------------------------------------------------------


@dataclass
class Demo:
    """A running ``xgw serve --demo``: what its start-up block said, and its log lines as they come."""

    process: subprocess.Popen[str]
    work: Path
    url: str = ""
    admin_password: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    block: list[str] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)

    def client(self, participant: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[participant]}"} if participant else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def problems(self) -> list[dict[str, Any]]:
        return [entry for entry in self.log if entry.get("level") in ("warning", "error", "critical")]


def _newcomer_env(tmp_path: Path) -> dict[str, str]:
    """The test's environment without any gateway setting: the demo must need none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


def _read_block(demo: Demo) -> None:
    """Read standard output up to the end of the start-up block (bounded by the process ending)."""
    assert demo.process.stdout is not None
    token_line = re.compile(r"^ {4}\S.*? {2,}([a-z]+:\d+) +(xgw_\S+)$")
    while True:
        line = demo.process.stdout.readline()
        assert line, f"xgw serve --demo ended before its start-up block: {demo.block}"
        line = line.rstrip("\n")
        demo.block.append(line)
        if found := re.match(r"^xoev-gateway demo: (\S+)/$", line):
            demo.url = found.group(1)
        elif found := re.search(r"sign in as \S+ / (\S+)", line):
            demo.admin_password = found.group(1)
        elif found := token_line.match(line):
            demo.tokens[found.group(1)] = found.group(2)
        elif line.startswith("  The whole Aussonderung"):
            return


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    work = tmp_path / "somewhere-else"  # an unrelated directory, as the README's walkthrough says
    work.mkdir()
    process = subprocess.Popen(
        [XGW, "serve", "--demo", "--port", "0"],
        cwd=work,
        env=_newcomer_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Demo(process, work)

    def collect() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            try:
                running.log.append(json.loads(line))
            except json.JSONDecodeError:
                running.log.append({"level": "error", "msg": line.rstrip()})

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    timer = threading.Timer(SLOW, process.kill)  # a hung start-up must not hang the suite
    timer.start()
    try:
        _read_block(running)
        timer.cancel()
        yield running
    finally:
        timer.cancel()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=10)


def _wait_for(what: str, probe: Any, timeout: float = SLOW) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def _listed(client: httpx.Client, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/messages", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _xgw(work: Path, *args: str) -> str:
    result = subprocess.run(
        [XGW, *args], cwd=work, env=_newcomer_env(work), capture_output=True, text=True, timeout=SLOW, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _offer() -> tuple[str, bytes]:
    """A 0501 of Altenburger Land to the Landesarchiv, as `xgw generate --type 0501` makes it for the demo."""
    generated = generate_message("3.1.0", "0501", documents=3, size=0, seed=501).message
    message = dataclasses.replace(
        generated, kopf=dataclasses.replace(generated.kopf, sender=DISTRICT_PARTY, recipient=ARCHIVE_PARTY)
    )
    built = build(message)
    return f"{built.stem}.xml", built.to_bytes()


def test_serve_demo_tells_the_story_from_one_command(demo: Demo) -> None:
    # the start-up block: where to go, with what
    assert demo.url.startswith("http://127.0.0.1:")
    assert set(demo.tokens) == set(MEMBERS) | set(LAND)
    for name in (*MEMBERS.values(), *LAND.values()):
        assert any(name in line for line in demo.block), f"{name} is not in the start-up block"
    text = "\n".join(demo.block)
    assert f"{demo.url}/console" in text and f"{demo.url}/docs" in text
    assert "generate --type 0501" in text

    # no token needed to find one's way; every operation still needs one
    with demo.client() as anonymous:
        landing = anonymous.get("/")
        assert landing.status_code == 200 and 'href="/docs"' in landing.text and 'href="/console"' in landing.text
        assert anonymous.get("/docs").status_code == 200
        document = anonymous.get("/openapi.json").json()
        secured = [op for item in document["paths"].values() for op in item.values() if op.get("security")]
        assert len(secured) >= 12
        assert anonymous.get("/api/v1/messages").status_code == 401
        form = anonymous.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed_in = anonymous.post(
            "/console/login",
            data={"csrf": csrf.group(1), "username": DEMO_ADMIN, "password": demo.admin_password},
        )
        assert signed_in.status_code == 303, signed_in.text

    # The Aussonderung as README.md walks it: the district offers (0501) with its token and hands over
    # (0503) through its transfer directory; the archive answers everything by hand with its own token
    # and `xgw demo answer`; the gateway answers the district's receipt (0505) for it.
    work = demo.work
    district_in = work / "var" / "demo" / "altenburger-land" / "in"
    district_out = district_in.parent / "out"
    name, offer = _offer()
    (work / "district").mkdir()
    (work / "district" / name).write_bytes(offer)
    with demo.client(DEMO_DISTRICT) as district, demo.client(DEMO_ARCHIVE) as archive:
        submitted = district.post("/api/v1/messages", content=offer, headers={"X-Filename": name})
        assert submitted.status_code == 201, submitted.text
        process_id = submitted.json()["process_id"]

        def fetch(code: str) -> Path:
            """The archive downloads what reached its mailbox (signed for the district, verified for it)."""
            arrived = _wait_for(
                f"the {code} in the archive's mailbox",
                lambda: [
                    m
                    for m in _listed(archive, direction="in", type=code, process=process_id)
                    if m["state"] in ("delivered", "confirmed")
                ],
            )[0]
            if code == "0501":
                detail = archive.get(f"/api/v1/messages/{arrived['id']}").json()
                assert detail["signature"]["status"] == "verified", detail["signature"]
            payload = archive.get(f"/api/v1/messages/{arrived['id']}/payload")
            assert payload.status_code == 200
            target = work / "archive" / arrived["filename"]
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(payload.content)
            return target

        def archive_answers(received: Path, code: str) -> int:
            written = Path(_xgw(work, "demo", "answer", str(received), "--type", code, "--out", "archive"))
            answer = archive.post(
                "/api/v1/messages", content=(work / written).read_bytes(), headers={"X-Filename": written.name}
            )
            assert answer.status_code in (201, 409), answer.text
            return answer.status_code

        def in_district_inbox(code: str) -> Path:
            found = _wait_for(
                f"the {code} in the district's transfer directory",
                lambda: [p for p in district_in.iterdir() if p.name.startswith(process_id) and f".{code}." in p.name],
            )
            return Path(found[0])

        received_offer = fetch("0501")
        # the receipt is the archive's to give; until the archive's entry says so (receipts = recipient),
        # the gateway gives it on the archive's behalf and the archive's own copy is a 409 naming it
        archive_answers(received_offer, "0504")
        assert archive_answers(received_offer, "0502") == 201
        in_district_inbox("0504")
        appraisal = in_district_inbox("0502")
        fetch("0505")  # the district's DMS gives no receipts: the gateway answers the 0502 for it

        package = Path(_xgw(work, "demo", "answer", str(appraisal), "--type", "0503", "--out", "district"))
        staged = district_out / f".{package.name}.part"  # the DMS writes, then renames: no half file is taken
        staged.write_bytes((work / package).read_bytes())
        staged.rename(district_out / package.name)

        handed_over = fetch("0503")
        archive_answers(handed_over, "0507")
        assert archive_answers(handed_over, "0506") == 201
        in_district_inbox("0507")
        in_district_inbox("0506")

        thread = _wait_for(
            "the process to be complete",
            lambda: (t := district.get(f"/api/v1/processes/{process_id}").json())["thread"]["complete"] and t,
        )
        codes = sorted({m["message_type"] for m in thread["messages"]})
        assert codes == ["0501", "0502", "0503", "0504", "0505", "0506", "0507"]
        assert (district_out / "processed" / package.name).is_file()  # the DMS sees its file was taken

    assert demo.problems() == [], demo.problems()
    assert any("serving on" in entry.get("msg", "") for entry in demo.log)


def test_a_fresh_demo_logs_no_warning(demo: Demo) -> None:
    """The worker's first rounds (DMS exports of every transfer directory, housekeeping) find all in place."""
    with demo.client() as anonymous:
        _wait_for("readiness", lambda: anonymous.get("/readyz").status_code == 200)
    exported = _wait_for(
        "the first export round",
        lambda: [e for e in demo.log if "worker started" in e.get("msg", "")],
    )
    assert exported
    time.sleep(3)  # the first export round runs right after the worker starts; give it time to complain
    assert demo.problems() == [], demo.problems()


def test_the_start_up_log_has_no_library_chatter(demo: Demo) -> None:
    """The first lines a newcomer reads are the gateway's own: migrations, then the worker and the server."""
    _wait_for("the server", lambda: [e for e in demo.log if "serving on" in e.get("msg", "")])
    chatter = [e["msg"] for e in demo.log if e.get("logger") == "alembic.runtime.plugins"]
    assert chatter == []
    assert any(e.get("logger") == "alembic.runtime.migration" for e in demo.log)  # what changed is still told


def test_a_port_in_use_is_the_first_and_only_error(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [XGW, "serve", "--demo", "--port", str(port)],
            cwd=work,
            env=_newcomer_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=SLOW,
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        f"Error: refusing to start: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(is another `xgw serve` running?); choose another with --port"
    ]
    assert not (work / "var").exists()  # nothing was migrated, created or started before the refusal
