"""XTA 2 transport benchmarks for issue 4, each measured as a ratio to a baseline in the same run.

Both parts run two real gateways (``xgw serve`` processes A and B, as in tests/e2e: own data
directories, SQLite, keys and directories, HTTPS with client certificates from a throw-away CA).

1. ``roundtrip``: sendMessage round trips per second with small messages (generated 0501 offers of
   ~5 KB, distinct) from the district's account (gateway A's client certificate) to gateway B, one
   call after the other over one kept-alive connection, with the gateway's own XTA client. Baseline: a
   trivial FastAPI endpoint (POST, answers the body length as JSON) on the same kind of server --
   uvicorn with the same TLS and client-certificate settings, in its own process -- called with a
   body of the same size over requests with the same certificate. ``ratio`` = baseline calls/s over
   sendMessage calls/s (how many times a sendMessage costs a trivial request).
2. ``transfer``: a 500 MiB 0503 package submitted at A through REST, sent over XTA to B and delivered
   into the archive's MsgBox there; the time from the start of the upload to ``delivered`` at B, as a
   ratio to SHA-256-hashing the same file once, and the peak RSS (``VmHWM``) of both server processes.

Run: ``.venv/bin/python benchmarks/bench_xta.py [--quick] [--json results.json] [--only roundtrip]``.
``--quick`` shrinks every size so the script can be smoke-tested; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import limits as machine_limits  # noqa: E402

from gateway.config import Settings  # noqa: E402
from gateway.store.models import Direction  # noqa: E402
from gateway.transport.xta.backend import Content, ContentInfo, KeyCode, MessageMeta, PartyId  # noqa: E402
from gateway.xoev.build import write_package  # noqa: E402
from gateway.xoev.generate import generate_message  # noqa: E402
from gateway.xoev.schemas.registry import SchemaRegistry  # noqa: E402
from tests.e2e.support import (  # noqa: E402
    ARCHIVE,
    DISTRICT,
    DISTRICT_PARTY,
    Issued,
    Pair,
    free_port,
    make_pair,
    offer,
    wait_for,
)

SERVICE = "urn:xoev-de:xdomea:schema:3.0.0"
BENCH_CLIENT = {"xta_client": {"read_timeout": 600.0, "operation_timeout": 600.0}}

BASELINE_APP = """
import sys
import uvicorn
from fastapi import FastAPI, Request
from pathlib import Path
from gateway.cli.serve_tls import TlsOptions

app = FastAPI()


@app.post("/echo")
async def echo(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


cert, key, ca, port = sys.argv[1:5]
options = TlsOptions(Path(cert), Path(key), Path(ca)).uvicorn_kwargs()
uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False, **options)
"""


def _vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc (not Linux?)")


def _sha256_seconds(path: Path) -> float:
    start = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return time.perf_counter() - start


def _meta(message_id: str, message_type: str = "0501") -> MessageMeta:
    return MessageMeta(
        message_id=message_id,
        author=PartyId(DISTRICT, "xoev"),
        reader=PartyId(ARCHIVE, "xoev"),
        service=SERVICE,
        business_scenario=KeyCode("XDOMEAGAD_DATA", "urn:de:dataport:codeliste:business.scenario", "1"),
        message_type=KeyCode(message_type, "urn:de:payloadschema:elementname", "1.0"),
        payload_schema=SERVICE,
    )


class Baseline:
    """The trivial endpoint in its own uvicorn process, with the gateways' TLS settings."""

    def __init__(self, folder: Path, server: Issued, ca: Path) -> None:
        script = folder / "baseline_app.py"
        script.write_text(BASELINE_APP, encoding="utf-8")
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(server.cert), str(server.key), str(ca), str(self.port)],
            cwd=ROOT,
        )

    def session(self, client: Issued, ca: Path) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the CA, as in the gateway's client
        session.verify = str(ca)
        session.cert = client.pair
        url = f"https://127.0.0.1:{self.port}/echo"

        def up() -> bool:
            try:
                return session.post(url, data=b"x", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for("the baseline server", up, seconds=60)
        return session

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def bench_roundtrip(pair: Pair, folder: Path, quick: bool) -> dict[str, Any]:
    count = 20 if quick else 300
    messages = []
    for i in range(count + 5):
        _, name, data = offer(seed=90_000 + i, documents=1)
        path = folder / name
        path.write_bytes(data)
        messages.append(Content(ContentInfo("application/xml", filename=name), path, len(data)))
    size = messages[0].size
    client = pair.b.xta(pair.a.identity)
    try:
        for content in messages[:5]:  # warm-up: connection, schemas, caches
            client.send_message(_meta(client.create_message_id(PartyId(DISTRICT, "xoev"))), content)
        ids = [client.create_message_id(PartyId(DISTRICT, "xoev")) for _ in range(count)]
        start = time.perf_counter()
        for message_id, content in zip(ids, messages[5:], strict=True):
            client.send_message(_meta(message_id), content)
        xta_seconds = time.perf_counter() - start
    finally:
        client.close()
    baseline = Baseline(folder, pair.b.identity, pair.a.pki.ca_file)
    try:
        session = baseline.session(pair.a.identity, pair.a.pki.ca_file)
        body = messages[0].path.read_bytes()
        url = f"https://127.0.0.1:{baseline.port}/echo"
        for _ in range(5):
            session.post(url, data=body, timeout=30).raise_for_status()
        start = time.perf_counter()
        for _ in range(count):
            session.post(url, data=body, timeout=30).raise_for_status()
        base_seconds = time.perf_counter() - start
        session.close()
    finally:
        baseline.stop()
    return {
        "calls": count,
        "message_bytes": size,
        "send_message_per_s": round(count / xta_seconds, 1),
        "baseline_per_s": round(count / base_seconds, 1),
        "ratio": round(xta_seconds / base_seconds, 2),
    }


def _package(folder: Path, size: int, documents: int, registry: SchemaRegistry) -> tuple[Path, str]:
    generated = generate_message("3.0.0", "0503", documents=documents, size=size, seed=4242)
    message = dataclasses.replace(
        generated.message, kopf=dataclasses.replace(generated.message.kopf, sender=DISTRICT_PARTY)
    )
    built = write_package(message, folder, generated.files, registry=registry, compresslevel=1)
    return built.path, message.kopf.process_id


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk


def bench_transfer(pair: Pair, folder: Path, quick: bool) -> dict[str, Any]:
    size = (8 << 20) if quick else (500 << 20)
    documents = 20 if quick else 500
    registry = SchemaRegistry.from_settings(Settings())
    path, process_id = _package(folder, size, documents, registry)
    hashing = min(_sha256_seconds(path) for _ in range(2))
    a, b = pair.a, pair.b
    assert a.process is not None
    assert b.process is not None
    before = {"a": _vm_hwm_mib(a.process.pid), "b": _vm_hwm_mib(b.process.pid)}
    start = time.perf_counter()
    with a.http(pair.tokens["district"]) as http:
        response = http.post(
            "/api/v1/messages",
            content=_chunks(path),
            headers={"X-Filename": path.name, "Content-Length": str(path.stat().st_size)},
            timeout=600,
        )
    response.raise_for_status()
    uploaded = time.perf_counter() - start

    def delivered() -> bool:
        found = b.messages(process_id=process_id, message_type="0503", direction=Direction.INBOUND)
        return bool(found) and found[0].state.value in ("delivered", "confirmed")

    wait_for("the package at B", delivered, seconds=3600, every=0.5)
    seconds = time.perf_counter() - start
    return {
        "package_bytes": path.stat().st_size,
        "documents": documents,
        "upload_seconds": round(uploaded, 2),
        "seconds_to_delivered_at_b": round(seconds, 2),
        "sha256_seconds": round(hashing, 3),
        "ratio": round(seconds / hashing, 1),
        "peak_rss_mib_a": round(_vm_hwm_mib(a.process.pid), 1),
        "peak_rss_mib_b": round(_vm_hwm_mib(b.process.pid), 1),
        "rss_mib_before": {k: round(v, 1) for k, v in before.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests only")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--only", choices=["roundtrip", "transfer"], action="append")
    args = parser.parse_args()
    parts = args.only or ["roundtrip", "transfer"]
    results: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-xta-"))
    try:
        for part in parts:  # a fresh pair per part: the transfer's peak RSS is its own
            pair = make_pair(tmp / part, a_extra=BENCH_CLIENT)
            pair.start()
            try:
                work = tmp / part / "work"
                work.mkdir()
                if "limits" not in results:  # the machine's own limits, with the gateways' TLS set-up
                    tls = machine_limits.TlsSetup(
                        server_cert=pair.b.identity.cert,
                        server_key=pair.b.identity.key,
                        ca=pair.a.pki.ca_file,
                        client_cert=pair.a.identity.cert,
                        client_key=pair.a.identity.key,
                    )
                    results["limits"] = machine_limits.measure(
                        work / "limits", quick=args.quick, parts=("xsd", "rsa", "fsync", "commit", "post"), tls=tls
                    )
                if part == "roundtrip":
                    results["roundtrip"] = bench_roundtrip(pair, work, args.quick)
                else:
                    results["transfer"] = bench_transfer(pair, work, args.quick)
            finally:
                pair.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
