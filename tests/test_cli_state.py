"""The commands that read gateway state, as an operator meets them: from the wrong folder they refuse instead of
creating an empty database; lists have headers, say when they are empty, and ``--json`` is one document;
a message is found by an id prefix, and its payload can be downloaded without knowing the payload store."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlmodel import Session

from gateway.cli.main import cli
from gateway.cli.queue import shorten
from gateway.config import Settings
from gateway.pipeline.context import PipelineContext
from gateway.store.models import Message
from gateway.wiring import build_context
from tests.pipeline import factories
from tests.store.conftest import database_url

__all__ = ["database_url"]

Xgw = Callable[..., Result]

READERS = [
    ("queue", "ls"),
    ("queue", "ls", "--json"),
    ("queue", "show", "0123abcd"),
    ("queue", "payload", "0123abcd"),
    ("queue", "retry", "0123abcd"),
    ("stats",),
    ("participants", "list"),
    ("participants", "show", "psw:16077000"),
    ("tokens", "list"),
    ("tokens", "revoke", "1"),
    ("console-users", "list"),
    ("console-users", "remove", "someone"),
    ("console-users", "sign-out", "someone"),
    ("console-users", "set-email", "someone", "someone@example.org"),
    ("alerts", "run"),
    ("keys", "list"),
    ("keys", "export", "psw:16077000"),
]


def _runner(env: Mapping[str, str | None], cwd: Path) -> Xgw:
    def run(*args: str) -> Result:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(cwd)
            return CliRunner().invoke(cli, list(args), env=env)

    return run


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_reading_commands_refuse_where_there_is_no_gateway_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    for key in ("XGW_DATA_DIR", "XGW_DATABASE_URL", "XGW_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    elsewhere = tmp_path / "some folder"
    elsewhere.mkdir()
    result = _runner({"XGW_DATA_DIR": None, "XGW_DATABASE_URL": None}, elsewhere)(*args)
    assert result.exit_code == 2, result.output
    expected = f"no gateway data in {elsewhere / 'var'} (XGW_DATA_DIR); start the gateway with `xgw serve` first"
    assert expected in result.output
    assert "Traceback" not in result.output
    assert list(elsewhere.iterdir()) == [], "a reading command created files"


def test_an_empty_database_is_no_gateway_either(tmp_path: Path, database_url: str) -> None:
    """A PostgreSQL database (or SQLite file) without the gateway's tables is refused, and stays untouched."""
    import sqlalchemy as sa

    from gateway.store.db import create_engine

    engine = create_engine(database_url)
    try:
        env = {"XGW_DATA_DIR": str(tmp_path / "var"), "XGW_DATABASE_URL": database_url}
        result = _runner(env, tmp_path)("queue", "ls")
        assert result.exit_code == 2, result.output
        assert "no gateway data in the database" in result.output
        assert "(XGW_DATABASE_URL)" in result.output
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_commands_that_create_state_still_do(tmp_path: Path) -> None:
    env = {"XGW_DATA_DIR": str(tmp_path / "var"), "XGW_CONSOLE_PASSWORD": "correct horse battery"}
    xgw = _runner(env, tmp_path)
    assert xgw("console-users", "list").exit_code == 2
    added = xgw("console-users", "add", "admin", "--role", "gateway-admin")
    assert added.exit_code == 0, added.output
    assert (tmp_path / "var" / "gateway.db").is_file()
    listed = xgw("console-users", "list")
    assert listed.stdout.splitlines()[0].split() == ["NAME", "ROLE", "PARTICIPANT", "SOURCE", "EMAIL"]
    assert "admin" in listed.stdout
    assert json.loads(xgw("console-users", "list", "--json").stdout) == [
        {"name": "admin", "role": "gateway-admin", "participant": None, "source": "local", "email": None}
    ]
    empty = xgw("participants", "list")
    assert empty.exit_code == 0
    assert empty.stdout.startswith("no participants in ")
    assert json.loads(xgw("participants", "list", "--json").stdout) == []
    assert xgw("tokens", "list").stdout.startswith("no tokens in ")
    assert json.loads(xgw("tokens", "list", "--json").stdout) == []


@pytest.fixture
def gateway(tmp_path: Path, database_url: str) -> Iterator[tuple[PipelineContext, Xgw]]:
    """A gateway's data with a few submitted messages, and ``xgw`` pointed at it from another folder."""
    data = tmp_path / "var"
    settings = Settings(data_dir=data, database_url=database_url, schema_cache_dir=tmp_path / "cache")
    ctx = build_context(settings)
    factories.directory(ctx)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"XGW_DATA_DIR": str(data), "XGW_DATABASE_URL": database_url, "XGW_SCHEMA_CACHE_DIR": str(tmp_path)}
    try:
        yield ctx, _runner(env, elsewhere)
    finally:
        ctx.engine.dispose()


def _submit(ctx: PipelineContext, seed: int) -> tuple[Message, bytes]:
    name, data = factories.offer(seed)
    result = factories.submit_bytes(ctx, data, filename=name)
    assert result.created
    return result.message, data


def test_queue_ls_has_a_header_and_json_is_one_list(gateway: tuple[PipelineContext, Xgw]) -> None:
    ctx, xgw = gateway
    empty = xgw("queue", "ls", "--state", "failed")
    assert empty.exit_code == 0
    assert empty.stdout.startswith("no messages matching state=failed in ")
    assert json.loads(xgw("queue", "ls", "--json").stdout) == []
    first, _ = _submit(ctx, 1)
    second, _ = _submit(ctx, 2)
    table = xgw("queue", "ls")
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "CREATED", "(UTC)", "STATE"]
    assert {str(first.id), str(second.id)} == {line.split()[0] for line in lines[1:]}
    assert "2 message(s) in " in table.stderr
    listed = json.loads(xgw("queue", "ls", "--json").stdout)
    assert isinstance(listed, list)
    assert {m["id"] for m in listed} == {str(first.id), str(second.id)}
    assert {m["sender"] for m in listed} == {factories.GOTHA}


def test_queue_show_takes_a_prefix_and_refuses_an_ambiguous_one(gateway: tuple[PipelineContext, Xgw]) -> None:
    ctx, xgw = gateway
    message, _ = _submit(ctx, 3)
    text = str(message.id)
    for prefix in (text[:8], text[:13], text.replace("-", "")[:10].upper(), text):
        shown = xgw("queue", "show", prefix)
        assert shown.exit_code == 0, (prefix, shown.output)
        assert shown.stdout.startswith(text)
        assert f"xgw queue payload {text[:8]}" in shown.stdout
    assert json.loads(xgw("queue", "show", text[:8], "--json").stdout)["id"] == text
    # a second message whose id shares the first eight digits: the short prefix is now ambiguous
    twin_id = uuid.UUID(text[:8] + "-0000-4000-8000-000000000000")
    with Session(ctx.engine) as session:
        twin = session.get(Message, message.id)
        assert twin is not None
        session.expunge(twin)
        clone = Message(**{**twin.model_dump(), "id": twin_id, "process_id": str(uuid.uuid4())})
        session.add(clone)
        session.commit()
    ambiguous = xgw("queue", "show", text[:8])
    assert ambiguous.exit_code == 2
    assert "ambiguous" in ambiguous.output
    assert text in ambiguous.output
    assert str(twin_id) in ambiguous.output
    assert xgw("queue", "show", text[:13]).exit_code == 0
    absent = xgw("queue", "show", "ffffffff")
    assert absent.exit_code == 4
    assert "no message ffffffff in " in absent.output
    assert xgw("queue", "show", "abc").exit_code == 2
    assert "at least 4 hex digits" in xgw("queue", "show", "xyz!").output


def test_queue_payload_writes_the_bytes_by_id_prefix(gateway: tuple[PipelineContext, Xgw], tmp_path: Path) -> None:
    ctx, xgw = gateway
    message, data = _submit(ctx, 4)
    prefix = str(message.id)[:8]
    default = xgw("queue", "payload", prefix)
    assert default.exit_code == 0, default.output
    written = Path(default.stdout.strip())
    assert written.parent == tmp_path / "elsewhere"
    assert written.name == message.filename
    assert written.read_bytes() == data
    assert hashlib.sha256(data).hexdigest() in default.stderr
    again = xgw("queue", "payload", prefix)
    assert again.exit_code == 1
    assert "exists" in again.output
    assert xgw("queue", "payload", prefix, "--force").exit_code == 0
    target = tmp_path / "out" / "offer.xml"
    assert xgw("queue", "payload", prefix, "-o", str(target)).exit_code == 0
    assert target.read_bytes() == data
    folder = tmp_path / "folder"
    folder.mkdir()
    assert xgw("queue", "payload", prefix, "-o", str(folder)).exit_code == 0
    assert (folder / str(message.filename)).read_bytes() == data
    piped = xgw("queue", "payload", prefix, "-o", "-")
    assert piped.stdout_bytes == data
    # a damaged store is refused, and no file takes the target's name
    ctx.payloads.path_of(message.sha256).chmod(0o600)
    ctx.payloads.path_of(message.sha256).write_bytes(data[:-1] + b"!")
    damaged = xgw("queue", "payload", prefix, "-o", str(tmp_path / "damaged.xml"))
    assert damaged.exit_code == 1
    assert "damaged" in damaged.output
    assert not (tmp_path / "damaged.xml").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".damaged")] == []


def test_errors_are_cut_at_a_word_not_mid_word() -> None:
    text = "the recipient psw:16077000 refused the message because its signature certificate expired"
    cut = shorten(text, 40)
    assert len(cut) <= 40
    assert cut.endswith(" …")
    assert text.startswith(cut[:-2])
    assert text[len(cut) - 2] == " "
    assert shorten("short", 40) == "short"
    assert shorten("x" * 50, 10) == "x" * 9 + "…"
    assert shorten("line one\nline two", 40) == "line one line two"


def test_every_json_listing_is_one_document(gateway: tuple[PipelineContext, Xgw]) -> None:
    ctx, xgw = gateway
    message, _ = _submit(ctx, 5)
    for args in (
        ("queue", "ls", "--json"),
        ("participants", "list", "--json"),
        ("tokens", "list", "--json"),
        ("console-users", "list", "--json"),
        ("keys", "list", "--json"),
    ):
        result = xgw(*args)
        assert result.exit_code == 0, (args, result.output)
        assert isinstance(json.loads(result.stdout), list), args
    for args in (("stats", "--json"), ("queue", "show", str(message.id), "--json")):
        assert isinstance(json.loads(xgw(*args).stdout), dict), args
    listed = xgw("participants", "list")
    assert listed.stdout.splitlines()[0].split()[:3] == ["ID", "NAME", "XDOMEA"]
    lines = listed.stdout.splitlines()
    # the columns line up even where five accepted versions make a long cell
    assert "2.3.0,2.4.0,3.0.0,3.1.0,4.0.0" in listed.stdout
    assert {line.index("mailbox") for line in lines[1:]} == {lines[0].index("ROUTE")}
    assert "participant(s) in " in listed.stderr
