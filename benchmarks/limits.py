"""What this machine can do at best, measured in the same run as a benchmark's figures (issue 11).

Every benchmark reports its figures beside these limits, because the development and CI machines are shared
(2 cores) and their absolute speed varies by a factor of two from minute to minute: a figure means something
only as a ratio to what the same machine did in the same minutes. Each function measures one thing the
gateway cannot do faster than, with the libraries and settings the gateway itself uses:

* :func:`xsd_validation` -- raw libxml2 XSD validation (``lxml.etree.XMLSchema.validate``) of a generated
  ~100 KB 0503 (3.0.0) with the gateway's compiled schema, pre-parsed; the parse alone beside it.
* :func:`rsa_signature` -- one RSA-3072 PKCS#1 v1.5 SHA-256 signature and one verification (``cryptography``,
  the gateway's default key), over 32 bytes (a SignedInfo digest's worth).
* :func:`fsync` -- writing 4 KiB to a new file and ``os.fsync`` it, in the folder given (put it on the file
  system of the data directory).
* :func:`grouped_commit` -- N small INSERTs in one transaction and one commit, through the gateway's own
  engine set-up (:func:`gateway.store.db.create_engine`: SQLite WAL with ``synchronous=FULL``; PostgreSQL at
  a URL), and one single-row commit beside it.
* :func:`trivial_post` -- calls/s of a trivial FastAPI POST (answers the body length) on uvicorn in its own
  process, over plain HTTP or with the gateway's TLS/client-certificate options, one call after the other
  over one kept-alive connection.
* :func:`sha256_file` -- one SHA-256 pass over a file (hashlib, 1 MiB chunks); with the page cache warm it
  is the least any upload or package check of that file can cost.

:func:`measure` runs the cheap ones together and returns a JSON-ready dict that benchmarks store under
``"limits"`` next to their figures; :func:`ratio` turns a figure into "how many times the limit". Each result
carries its unit in its key (``_ms``, ``_per_s``, ``_seconds``). Minimum over repeats is used for CPU-bound
measurements (the least noisy estimate on a shared machine), the median for I/O (fsync, commits), whose
distribution is the point.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = [
    "ALL",
    "TlsSetup",
    "fsync",
    "grouped_commit",
    "measure",
    "ratio",
    "rsa_signature",
    "sha256_file",
    "trivial_post",
    "trivial_server",
    "trivial_upload",
    "xsd_validation",
]

ALL = ("xsd", "rsa", "fsync", "commit", "post")
"""The parts :func:`measure` runs by default (``post`` needs a uvicorn process, about 2 s)."""


def _best(fn: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Seconds per call: the minimum over repeats."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def ratio(value: float, limit: float) -> float:
    """``value`` as a multiple of ``limit`` (both in the same unit, time per item), rounded for reports."""
    return round(value / limit, 2) if limit > 0 else float("nan")


# -- XML ------------------------------------------------------------------------------------------------------


def xsd_validation(*, quick: bool = False, version: str = "3.0.0") -> dict[str, Any]:
    """Raw libxml2 XSD validation of a generated 0503 of ~100 KB, pre-parsed, with the gateway's schema."""
    from lxml import etree

    from gateway.config import Settings
    from gateway.samples.generate import generate_message
    from gateway.xoev.build import build
    from gateway.xoev.schemas.registry import SchemaRegistry

    settings = Settings()
    registry = SchemaRegistry.from_settings(settings)
    documents = 6 if quick else 60
    data = build(generate_message(version, "0503", documents=documents, size=0).message, registry=registry).to_bytes()
    tree = etree.fromstring(data).getroottree()
    compiled = registry.schema_for(version, etree.QName(tree.getroot()).localname)
    assert compiled is not None
    schema = compiled.lxml_schema
    assert schema.validate(tree), schema.error_log
    number = 5 if quick else 200
    validate = _best(lambda: schema.validate(tree), number)
    parse = _best(lambda: etree.fromstring(data), number)
    return {
        "version": version,
        "xml_bytes": len(data),
        "xsd_validate_ms": round(validate * 1000, 4),
        "parse_ms": round(parse * 1000, 4),
    }


# -- crypto ---------------------------------------------------------------------------------------------------


def rsa_signature(*, quick: bool = False) -> dict[str, Any]:
    """One RSA-3072 PKCS#1 v1.5 SHA-256 signature and one verification with ``cryptography``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    public = key.public_key()
    data = os.urandom(32)
    signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    number = 5 if quick else 100
    sign = _best(lambda: key.sign(data, padding.PKCS1v15(), hashes.SHA256()), number, repeat=5)
    verify = _best(lambda: public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256()), number * 4, repeat=5)
    return {"key": "RSA-3072", "sign_ms": round(sign * 1000, 4), "verify_ms": round(verify * 1000, 4)}


# -- disk -----------------------------------------------------------------------------------------------------


def fsync(folder: Path, *, quick: bool = False) -> dict[str, Any]:
    """Write 4 KiB to a new file in ``folder`` and fsync it (median and 90th percentile over the runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(4096)
    count = 10 if quick else 100
    times = []
    for i in range(count):
        path = folder / f".limits-fsync-{os.getpid()}-{i}"
        start = time.perf_counter()
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            os.write(fd, block)
            os.fsync(fd)
        finally:
            os.close(fd)
        times.append(time.perf_counter() - start)
        path.unlink()
    times.sort()
    return {
        "fsync_4k_ms": round(statistics.median(times) * 1000, 4),
        "fsync_4k_p90_ms": round(times[int(len(times) * 0.9) - 1] * 1000, 4),
        "folder": str(folder),
    }


def sha256_file(path: Path) -> float:
    """Seconds for one SHA-256 pass over ``path`` (hashlib, 1 MiB chunks)."""
    start = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return time.perf_counter() - start


def sha256_memory(*, quick: bool = False) -> dict[str, Any]:
    """SHA-256 throughput over data already in memory (the CPU side of any hashing pass)."""
    data = os.urandom((4 if quick else 64) << 20)
    seconds = _best(lambda: hashlib.sha256(data).digest(), 1, repeat=3)
    return {"sha256_mib_per_s": round(len(data) / (1 << 20) / seconds, 1)}


# -- database -------------------------------------------------------------------------------------------------


def grouped_commit(url: str, *, rows: int = 50, quick: bool = False) -> dict[str, Any]:
    """N small INSERTs (one statement each) in one transaction and its commit, and a single-row commit.

    Uses the gateway's engine set-up, so SQLite runs in WAL with ``synchronous=FULL`` like the gateway's
    own database. A throw-away table is created and dropped again.
    """
    import sqlalchemy as sa

    from gateway.store.db import create_engine

    engine = create_engine(url)
    table_name = f"xgw_limits_{uuid.uuid4().hex[:12]}"
    metadata = sa.MetaData()
    table = sa.Table(
        table_name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("body", sa.String(200), nullable=False),
    )
    metadata.create_all(engine)
    insert = table.insert()
    body = "x" * 120
    repeat = 5 if quick else 30
    try:
        grouped, single = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            with engine.begin() as connection:
                for _ in range(rows):
                    connection.execute(insert, {"body": body})
            grouped.append(time.perf_counter() - start)
            start = time.perf_counter()
            with engine.begin() as connection:
                connection.execute(insert, {"body": body})
            single.append(time.perf_counter() - start)
    finally:
        metadata.drop_all(engine)
        engine.dispose()
    grouped_s = statistics.median(grouped)
    return {
        "backend": sa.make_url(url).get_backend_name(),
        "rows": rows,
        "grouped_commit_ms": round(grouped_s * 1000, 4),
        "per_row_in_group_ms": round(grouped_s / rows * 1000, 4),
        "single_row_commit_ms": round(statistics.median(single) * 1000, 4),
    }


# -- HTTP -----------------------------------------------------------------------------------------------------

_TRIVIAL_APP = """
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/echo")
async def echo(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


@app.post("/sink")
async def sink(request: Request) -> dict[str, int]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
    return {"received": received}


port = int(sys.argv[1])
options = {}
if len(sys.argv) > 2:
    from gateway.cli.serve_tls import TlsOptions

    options = TlsOptions(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])).uvicorn_kwargs()
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **options)
"""


@dataclasses.dataclass(frozen=True)
class TlsSetup:
    """The server's certificate and key, the CA its clients are checked against, and a client's pair."""

    server_cert: Path
    server_key: Path
    ca: Path
    client_cert: Path
    client_key: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def trivial_server(tls: TlsSetup | None = None) -> Iterator[str]:
    """A trivial FastAPI app on uvicorn in its own process; yields its ``/echo`` URL."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="xgw-limits-") as folder:
        script = Path(folder) / "trivial_app.py"
        script.write_text(_TRIVIAL_APP, encoding="utf-8")
        argv = [sys.executable, str(script), str(port)]
        if tls is not None:
            argv += [str(tls.server_cert), str(tls.server_key), str(tls.ca)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        process = subprocess.Popen(argv, cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the trivial uvicorn server did not come up") from None
                    time.sleep(0.1)
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/echo"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def trivial_post(
    *, tls: TlsSetup | None = None, body_bytes: int = 4096, count: int | None = None, quick: bool = False
) -> dict[str, Any]:
    """Calls/s of a trivial FastAPI POST on uvicorn (plain HTTP, or with the gateway's TLS options)."""
    import requests

    count = count or (20 if quick else 500)
    body = os.urandom(body_bytes)
    with trivial_server(tls) as url, requests.Session() as session:
        session.trust_env = False
        if tls is not None:
            session.verify = str(tls.ca)
            session.cert = (str(tls.client_cert), str(tls.client_key))
        deadline = time.monotonic() + 60
        while True:
            try:
                session.post(url, data=b"x", timeout=5).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        for _ in range(10):
            session.post(url, data=body, timeout=30).raise_for_status()
        start = time.perf_counter()
        for _ in range(count):
            session.post(url, data=body, timeout=30).raise_for_status()
        seconds = time.perf_counter() - start
    return {
        "tls": tls is not None,
        "body_bytes": body_bytes,
        "calls": count,
        "per_s": round(count / seconds, 1),
        "call_ms": round(seconds / count * 1000, 4),
    }


def trivial_upload(path: Path, *, tls: TlsSetup | None = None) -> dict[str, Any]:
    """Seconds to POST ``path`` (streamed, with Content-Length) to a trivial endpoint that only counts it.

    The HTTP transport's own cost for a large body on this uvicorn set-up: what any upload endpoint pays
    before it hashes, stores or checks a byte.
    """
    import httpx

    size = path.stat().st_size

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    verify: Any = str(tls.ca) if tls else True
    cert = (str(tls.client_cert), str(tls.client_key)) if tls else None
    with trivial_server(tls) as url, httpx.Client(timeout=600.0, verify=verify, cert=cert) as client:
        sink = url.rsplit("/", 1)[0] + "/sink"
        deadline = time.monotonic() + 60
        while True:
            try:
                client.post(sink, content=b"x").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        start = time.perf_counter()
        response = client.post(sink, content=chunks(), headers={"Content-Length": str(size)})
        seconds = time.perf_counter() - start
        response.raise_for_status()
        assert response.json()["received"] == size
    return {"tls": tls is not None, "bytes": size, "seconds": round(seconds, 3)}


# -- all together ---------------------------------------------------------------------------------------------


def measure(
    folder: Path,
    *,
    quick: bool = False,
    parts: tuple[str, ...] | list[str] | set[str] = ALL,
    postgres_url: str | None = None,
    tls: TlsSetup | None = None,
    commit_rows: int = 50,
) -> dict[str, Any]:
    """The limits named in ``parts`` (see :data:`ALL`), as a JSON-ready dict for a result file's ``limits``.

    ``folder`` is where the fsync and the SQLite commit are measured (use the benchmark's data directory's
    file system). PostgreSQL is measured when ``postgres_url`` is given; the trivial POST uses ``tls``
    when given (then plain HTTP is measured too).
    """
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    if "xsd" in parts:
        out["xsd"] = xsd_validation(quick=quick)
    if "rsa" in parts:
        out["rsa"] = rsa_signature(quick=quick)
    if "sha256" in parts or "fsync" in parts:
        out["sha256"] = sha256_memory(quick=quick)
    if "fsync" in parts:
        out["fsync"] = fsync(folder, quick=quick)
    if "commit" in parts:
        sqlite_file = folder / f"limits-{uuid.uuid4().hex[:8]}.db"
        try:
            out["commit_sqlite"] = grouped_commit(f"sqlite:///{sqlite_file}", rows=commit_rows, quick=quick)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
        if postgres_url:
            out["commit_postgresql"] = grouped_commit(postgres_url, rows=commit_rows, quick=quick)
    if "post" in parts:
        out["post_http"] = trivial_post(quick=quick)
        if tls is not None:
            out["post_tls"] = trivial_post(tls=tls, quick=quick)
    return out


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=[*ALL, "sha256"], action="append")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xgw-limits-") as tmp:
        found = measure(
            Path(tmp), quick=args.quick, parts=args.only or ALL, postgres_url=os.environ.get("XGW_TEST_POSTGRES_URL")
        )
    print(json.dumps(found, indent=2))
