"""Large content crosses the server with memory that does not grow with it (peak RSS of the server process).

The server runs in its own process so that its peak resident set (``VmHWM``) measures the server alone.
After a warm-up exchange the peak is reset (``clear_refs``), a few hundred MiB go up by MTOM sendMessage
and come back down by MTOM getMessage, and the new peak must stay far below the content size. The data
is checked end to end by SHA-256. The 500 MiB variant runs with ``XGW_SLOW_TESTS=1``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from python_multipart.multipart import MultipartParser

from gateway.transport.xta.mtom import bare_content_id, parse_content_type

from . import cxf
from .support import ACTIONS, READER, author_header, envelope, meta_xml
from .test_cxf_client import container_xml

MIB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]
ALLOWED_GROWTH = 96 * MIB


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[str, int]]:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc to read the server's peak RSS")
    process = subprocess.Popen([sys.executable, "-m", "tests.xta.memserver", str(tmp_path)], cwd=REPO)
    try:
        for _ in range(3000):
            if (tmp_path / "port").exists() or process.poll() is not None:
                break
            time.sleep(0.01)
        assert (tmp_path / "port").exists(), "the server process did not start"
        yield f"http://127.0.0.1:{(tmp_path / 'port').read_text()}/services/XTAService", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def sparse_file(path: Path, size: int) -> str:
    """A file of ``size`` bytes with a varying head and tail; returns its SHA-256."""
    with path.open("wb") as handle:
        handle.write(os.urandom(MIB))
        handle.truncate(size - MIB)
        handle.seek(size - MIB)
        handle.write(os.urandom(MIB))
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()


def send(base: str, message_id: str, content: Path) -> None:
    url = base + "/SendXtaPort"
    part = cxf.Part(cxf.new_cid(), content)
    soap = envelope(
        ACTIONS["sendMessage"], url, meta_xml(message_id), container_xml([("Message", part.content_id, "big.zip")])
    )
    response = cxf.post(url, cxf.frame(ACTIONS["sendMessage"], soap, [part]), timeout=600)
    assert response.status_code == 200, response.text


def fetch(base: str, message_id: str) -> dict[str, tuple[int, str]]:
    """getMessage streamed: (size, SHA-256) of every non-root part, by Content-ID."""
    url = base + "/MsgBoxPort"
    body = (
        '<osci:MsgBoxFetchRequest xmlns:osci="http://www.osci.eu/ws/2008/05/transport"><osci:MsgSelector>'
        f'<wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/addressing">{message_id}</wsa:MessageID>'
        "</osci:MsgSelector></osci:MsgBoxFetchRequest>"
    )
    framed = cxf.frame(ACTIONS["getMessage"], envelope(ACTIONS["getMessage"], url, author_header(READER), body))
    results: dict[str, tuple[int, str]] = {}
    state: dict[str, object] = {}

    def header_field(data: bytes, start: int, end: int) -> None:
        state["field"] = bytes(state.get("field", b"")) + data[start:end]  # type: ignore[arg-type]

    def header_value(data: bytes, start: int, end: int) -> None:
        state["value"] = bytes(state.get("value", b"")) + data[start:end]  # type: ignore[arg-type]

    def header_end() -> None:
        if bytes(state.pop("field", b"")).lower() == b"content-id":  # type: ignore[arg-type]
            state["cid"] = bare_content_id(bytes(state["value"]).decode())  # type: ignore[arg-type]
        state.pop("value", None)

    def part_begin() -> None:
        state["hash"], state["size"] = hashlib.sha256(), 0

    def part_data(data: bytes, start: int, end: int) -> None:
        state["hash"].update(data[start:end])  # type: ignore[attr-defined]
        state["size"] = int(state["size"]) + end - start  # type: ignore[call-overload]

    def part_end() -> None:
        results[str(state["cid"])] = (int(state["size"]), state["hash"].hexdigest())  # type: ignore[call-overload,attr-defined]

    with (
        httpx.Client(timeout=600) as client,
        client.stream("POST", url, content=framed.body(), headers=framed.headers) as r,
    ):
        assert r.status_code == 200
        _, params = parse_content_type(r.headers["content-type"])
        parser = MultipartParser(
            params["boundary"],
            {  # type: ignore[arg-type]
                "on_part_begin": part_begin,
                "on_header_field": header_field,
                "on_header_value": header_value,
                "on_header_end": header_end,
                "on_part_data": part_data,
                "on_part_end": part_end,
            },
        )
        for chunk in r.iter_raw():
            parser.write(chunk)
    return results


def through_the_server(tmp_path: Path, server: tuple[str, int], size: int) -> None:
    base, pid = server
    small = tmp_path / "small.bin"
    sparse_file(small, 2 * MIB)
    send(base, "urn:test:warm-up", small)
    fetch(base, "urn:test:warm-up")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak RSS to the current RSS
    before = status_kib(pid, "VmHWM") * 1024

    content = tmp_path / "big.bin"
    digest = sparse_file(content, size)
    send(base, "urn:test:big", content)
    after_send = status_kib(pid, "VmHWM") * 1024
    parts = fetch(base, "urn:test:big")
    after_fetch = status_kib(pid, "VmHWM") * 1024

    assert list(parts.values()).count((size, digest)) == 1
    assert after_send - before < ALLOWED_GROWTH, f"sendMessage grew the server by {(after_send - before) // MIB} MiB"
    assert after_fetch - before < ALLOWED_GROWTH, f"getMessage grew the server by {(after_fetch - before) // MIB} MiB"


def test_300_mib_through_the_server_in_bounded_memory(tmp_path: Path, server_process: tuple[str, int]) -> None:
    through_the_server(tmp_path, server_process, 300 * MIB)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("XGW_SLOW_TESTS") != "1", reason="set XGW_SLOW_TESTS=1 for the 500 MiB run")
def test_500_mib_through_the_server_in_bounded_memory(tmp_path: Path, server_process: tuple[str, int]) -> None:
    through_the_server(tmp_path, server_process, 500 * MIB)
