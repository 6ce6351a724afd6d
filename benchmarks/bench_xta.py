"""XTA 2 transport benchmarks for issue 4, each measured as a ratio to a baseline in the same run.

Both parts run two real gateways (``xgw serve`` processes A and B, as in tests/e2e: own data
directories, SQLite, keys and directories, HTTPS with client certificates from a throw-away CA).

1. ``roundtrip``: sendMessage round trips per second with small messages (generated 0501 offers of
   ~5 KB, distinct) from the district's account (gateway A's client certificate) to gateway B, one
   call after the other over one kept-alive connection. Two clients: the gateway's own XTA client (zeep
   builds each request: client CPU counts) and a raw one that posts requests framed beforehand over
   ``requests``, exactly as the baseline is called (the server's own rate). Baseline: a trivial FastAPI
   endpoint (POST, answers the body length as JSON) on the same kind of server -- uvicorn with the same
   TLS and client-certificate settings, in its own process -- called with a body of the same size over
   ``requests`` with the same certificate. The kinds alternate in rounds (best round counts), first
   with B's in-process worker (``xgw serve``'s default: every accepted message is then signed-checked,
   delivered and answered by the same process), then with ``--no-worker``. The machine's own limits
   are measured in the same run, in B's data directory: one 4 KiB write + fsync and one SQLite commit
   (WAL, ``synchronous=FULL``, as the gateway's). ``ratio`` = sendMessage time over the trivial POST's;
   ``floor_ms`` = trivial POST + one fsync + one commit, what a durable intake cannot go below, and
   ``ratio_to_floor`` = sendMessage time over that floor.
2. ``transfer``: a 500 MiB 0503 package submitted at A through REST, sent over XTA to B and delivered
   into the archive's MsgBox there; the time from the start of the upload to ``delivered`` at B, as a
   ratio to SHA-256-hashing the same file once, and the peak RSS (``VmHWM``) of both server processes.

Run: ``.venv/bin/python benchmarks/bench_xta.py [--quick] [--json results.json] [--only roundtrip]``
(``--no-shared-limits`` skips :mod:`limits`' measurements when only the round trips matter).
``--quick`` shrinks every size so the script can be smoke-tested; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import limits as shared_limits  # noqa: E402

from gateway.config import Settings  # noqa: E402
from gateway.samples.generate import generate_message  # noqa: E402
from gateway.store.models import Direction  # noqa: E402
from gateway.transport.xta.backend import Content, ContentInfo, KeyCode, MessageMeta, PartyId  # noqa: E402
from gateway.xoev.build import write_package  # noqa: E402
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
from tests.xta import cxf  # noqa: E402
from tests.xta.support import ACTIONS, meta_xml  # noqa: E402
from tests.xta.support import envelope as xta_envelope  # noqa: E402
from tests.xta.test_cxf_client import container_xml  # noqa: E402

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


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def machine_limits(folder: Path, count: int) -> dict[str, float]:
    """One 4 KiB write + fsync and one SQLite commit (WAL, synchronous=FULL) in ``folder``: medians in ms."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench-fsync"
    fsyncs = []
    with path.open("wb") as handle:
        for _ in range(count):
            start = time.perf_counter()
            handle.write(b"x" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
            fsyncs.append(time.perf_counter() - start)
    path.unlink()
    database = folder / "bench-commit.db"
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)")
    commits = []
    for i in range(count):
        start = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute("INSERT INTO t (payload) VALUES (?)", (f"row {i}" * 20,))
        connection.execute("COMMIT")
        commits.append(time.perf_counter() - start)
    connection.close()
    for leftover in folder.glob("bench-commit.db*"):
        leftover.unlink()
    return {"fsync_ms": _median_ms(fsyncs), "commit_ms": _median_ms(commits)}


def _raw_request(url: str, message_id: str, name: str, data: bytes) -> tuple[dict[str, str], bytes]:
    """A sendMessage framed as CXF clients frame it (tests/xta/cxf.py), ready to post."""
    part = cxf.Part(cxf.new_cid(), data)
    district, archive = PartyId(DISTRICT, "xoev"), PartyId(ARCHIVE, "xoev")
    soap = xta_envelope(
        ACTIONS["sendMessage"],
        url,
        meta_xml(message_id, author=district, reader=archive),
        container_xml([("Message", part.content_id, name)]),
        message_id=f"urn:uuid:{uuid.uuid4()}",
    )
    framed = cxf.frame(ACTIONS["sendMessage"], soap, [part])
    return dict(framed.headers), framed.body()


class _Messages:
    """Distinct small 0501 offers, handed out once each."""

    def __init__(self, folder: Path, first_seed: int) -> None:
        self.folder = folder
        self.seed = first_seed

    def next(self) -> Content:
        self.seed += 1
        _, name, data = offer(seed=self.seed, documents=1)
        path = self.folder / name
        path.write_bytes(data)
        return Content(ContentInfo("application/xml", filename=name), path, len(data))


def _time_calls(calls: list[Any]) -> float:
    start = time.perf_counter()
    for call in calls:
        call()
    return time.perf_counter() - start


def _roundtrip_phase(
    pair: Pair, messages: _Messages, base: requests.Session, base_url: str, count: int, rounds: int
) -> dict[str, Any]:
    """Alternating rounds of the three kinds of call; the best round of each, in calls per second."""
    author = PartyId(DISTRICT, "xoev")
    client = pair.b.xta(pair.a.identity)
    url = pair.b.xta_url + "/SendXtaPort"
    raw = requests.Session()
    raw.trust_env = False
    raw.verify = str(pair.a.pki.ca_file)
    raw.cert = pair.a.identity.pair
    best: dict[str, float] = {}
    try:
        for content in [messages.next() for _ in range(5)]:  # warm-up: connection, schemas, caches
            client.send_message(_meta(client.create_message_id(author)), content)
            headers, body = _raw_request(
                url, client.create_message_id(author), content.path.name, content.path.read_bytes()
            )
            raw.post(url, data=body, headers=headers, timeout=60).raise_for_status()
        sample = messages.next()
        body_size = sample.size
        echo = sample.path.read_bytes()
        for _ in range(rounds):
            gateway_calls = []
            for _ in range(count):
                content, message_id = messages.next(), client.create_message_id(author)
                gateway_calls.append(lambda c=content, m=message_id: client.send_message(_meta(m), c))
            raw_calls = []
            for _ in range(count):
                content = messages.next()
                headers, body = _raw_request(
                    url, client.create_message_id(author), content.path.name, content.path.read_bytes()
                )
                raw_calls.append(
                    lambda h=headers, b=body: raw.post(url, data=b, headers=h, timeout=60).raise_for_status()
                )
            base_calls = [lambda e=echo: base.post(base_url, data=e, timeout=30).raise_for_status()] * count
            for kind, calls in (("baseline", base_calls), ("raw", raw_calls), ("client", gateway_calls)):
                seconds = _time_calls(calls)
                best[kind] = max(best.get(kind, 0.0), count / seconds)
    finally:
        client.close()
        raw.close()
    return {"message_bytes": body_size, **{f"{k}_per_s": round(v, 1) for k, v in best.items()}, "_best": best}


def bench_roundtrip(pair: Pair, folder: Path, quick: bool, calls: int = 100, rounds: int = 3) -> dict[str, Any]:
    count = 10 if quick else calls
    rounds = 1 if quick else rounds
    messages = _Messages(folder, 90_000)
    baseline = Baseline(folder, pair.b.identity, pair.a.pki.ca_file)
    results: dict[str, Any] = {"calls_per_round": count, "rounds": rounds}
    try:
        base = baseline.session(pair.a.identity, pair.a.pki.ca_file)
        base_url = f"https://127.0.0.1:{baseline.port}/echo"
        limits = machine_limits(pair.b.folder / "var", 50 if quick else 200)
        for phase in ("worker", "no_worker"):
            if phase == "no_worker":
                pair.b.stop()
                pair.b.start("--no-worker")
            found = _roundtrip_phase(pair, messages, base, base_url, count, rounds)
            best = found.pop("_best")
            trivial_ms = 1000 / best["baseline"]
            floor_ms = trivial_ms + limits["fsync_ms"] + limits["commit_ms"]
            for kind in ("raw", "client"):
                found[f"{kind}_ratio"] = round(best["baseline"] / best[kind], 2)
                found[f"{kind}_ratio_to_floor"] = round((1000 / best[kind]) / floor_ms, 2)
            found["floor_ms"] = round(floor_ms, 2)
            results[phase] = found
        results["limits"] = {**limits, "trivial_post_ms": round(1000 / results["no_worker"]["baseline_per_s"], 3)}
        base.close()
    finally:
        baseline.stop()
    return results


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
    parser.add_argument("--calls", type=int, default=100, help="roundtrip: calls of each kind per round")
    parser.add_argument("--rounds", type=int, default=3, help="roundtrip: alternating rounds (the best counts)")
    parser.add_argument(
        "--no-shared-limits",
        action="store_true",
        help="skip limits.py (XSD, RSA, fsync, commit, trivial POST); the roundtrip's own baseline (trivial POST "
        "beside each round, fsync and commit in B's folder) is still measured",
    )
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
                if "limits" not in results and not args.no_shared_limits:  # the machine's own limits, same TLS
                    tls = shared_limits.TlsSetup(
                        server_cert=pair.b.identity.cert,
                        server_key=pair.b.identity.key,
                        ca=pair.a.pki.ca_file,
                        client_cert=pair.a.identity.cert,
                        client_key=pair.a.identity.key,
                    )
                    results["limits"] = shared_limits.measure(
                        work / "limits", quick=args.quick, parts=("xsd", "rsa", "fsync", "commit", "post"), tls=tls
                    )
                if part == "roundtrip":
                    results["roundtrip"] = bench_roundtrip(pair, work, args.quick, args.calls, args.rounds)
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
