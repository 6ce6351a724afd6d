"""Adapter benchmark for issue 5: documents per second imported into the hotfolder adapter (local, WebDAV) and
the CMIS adapter (into the CMIS Browser Binding test server), and how the time splits between the adapter
itself and waiting on the DMS side, as ratios in one run.

For each target, ``--packages`` generated 0503 packages (``--documents`` Dokumente each, PDF/TIFF/XML/text
primary files) are imported one after another with ``HotfolderAdapter.import_message``. Every call into the
storage (file system or WebDAV round trips) is timed as *DMS time*; the rest is the adapter's own time,
split further into re-validating the package (the largest part by design: a DMS must never get half a
package) and everything else (ledger, naming, bookkeeping). The WebDAV server (WsgiDAV on cheroot) runs in
its own process on loopback, so its CPU does not hide inside the adapter's process; on a 2-core machine it
still competes for the cores, which makes the WebDAV figures pessimistic.

For CMIS the DMS time is every call of the adapter's CMIS session (HTTP round trips including cmislib's
request encoding); the test server (tests/adapters_cmis/cmis_server.py, in-memory) runs in its own process.

Run: ``.venv/bin/python benchmarks/bench_adapters.py [--quick] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import adapters.cmis.adapter as cmis_module  # noqa: E402
import adapters.hotfolder.adapter as hotfolder_module  # noqa: E402
import adapters.mayan.adapter as mayan_module  # noqa: E402
from adapters.base import AdapterContext, ImportStatus  # noqa: E402
from adapters.cmis import CmisAdapter  # noqa: E402
from adapters.cmis.client import CmisSession  # noqa: E402
from adapters.hotfolder import HotfolderAdapter  # noqa: E402
from adapters.hotfolder.local import LocalStorage  # noqa: E402
from adapters.hotfolder.storage import Storage  # noqa: E402
from adapters.hotfolder.webdav import WebDavStorage  # noqa: E402
from adapters.mayan import MayanAdapter, MayanClient  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.samples.generate import generate_message  # noqa: E402
from gateway.xoev.build import write_package  # noqa: E402

USER, PASSWORD = "bench", "bench-secret"
TIMED = ("list", "ensure_dir", "exists", "download", "upload_temp", "rename", "remove")


class Stopwatch:
    def __init__(self) -> None:
        self.total = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.total += time.perf_counter() - start


def timed_storage(storage: Storage, watch: Stopwatch) -> Storage:
    """The same storage object, with each of its operations counted as time spent on the DMS side."""
    for name in TIMED:
        original: Callable[..., Any] = getattr(storage, name)

        def wrapper(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with watch.timing():
                return _original(*args, **kwargs)

        setattr(storage, name, wrapper)
    return storage


SERVER = textwrap.dedent(
    """
    import sys
    from cheroot import wsgi
    from wsgidav.wsgidav_app import WsgiDAVApp
    root, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    app = WsgiDAVApp({
        "host": "127.0.0.1", "port": port, "provider_mapping": {"/dav": root},
        "http_authenticator": {"accept_basic": True, "accept_digest": False, "default_to_digest": False},
        "simple_dc": {"user_mapping": {"*": {user: {"password": password}}}},
        "verbose": 0, "logging": {"enable_loggers": []},
    })
    server = wsgi.Server(("127.0.0.1", port), app, numthreads=4)
    server.safe_start()
    """
)


@contextmanager
def webdav_server(root: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(root), str(port), USER, PASSWORD])
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/dav/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


CMIS_SERVER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from adapters.cmis.properties import CMIS_DEFAULT, metadata_property_ids
    from tests.adapters_cmis.cmis_server import CmisServer
    types = {"xdomea:metadata": metadata_property_ids(CMIS_DEFAULT)}
    server = CmisServer({sys.argv[2]: sys.argv[3]}, secondary_types=types)
    server.start()
    print(server.url, flush=True)
    while True:
        time.sleep(3600)
    """
)
CMIS_TIMED = (
    "info", "type_definition", "by_path", "get", "children", "versions", "query", "download", "create_folder",
    "create_document", "check_out", "check_in", "cancel_check_out", "update", "move", "delete", "delete_tree",
)  # fmt: skip


@contextmanager
def cmis_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CMIS_SERVER, str(ROOT), USER, PASSWORD], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_cmis(url: str, packages: list[Path], documents: int, state: Path, settings: Settings) -> dict[str, Any]:
    dms = Stopwatch()
    validation = Stopwatch()
    original_read = cmis_module.read_inbound

    def timed_read(*args: Any, **kwargs: Any) -> Any:
        with validation.timing():
            return original_read(*args, **kwargs)

    cmis_module.read_inbound = timed_read  # type: ignore[assignment]
    context = AdapterContext("psw:bench", state, settings, env={"XGW_BENCH_CMIS": PASSWORD})
    config = {"kind": "cmis", "url": url, "username": USER, "password_env": "XGW_BENCH_CMIS"}
    adapter = CmisAdapter.from_config(config, context)
    session: CmisSession = adapter.session
    for name in CMIS_TIMED:
        original: Callable[..., Any] = getattr(session, name)

        def wrapper(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with dms.timing():
                return _original(*args, **kwargs)

        setattr(session, name, wrapper)
    try:
        adapter.health()  # connection, type look-ups and folders once, outside the measurement
        dms.total = 0.0
        start = time.perf_counter()
        for path in packages:
            result = adapter.import_message(path)
            if result.status is not ImportStatus.IMPORTED:
                raise SystemExit(f"cmis: {path.name} was not imported: {result.reason}")
        total = time.perf_counter() - start
    finally:
        cmis_module.read_inbound = original_read
        adapter.close()
    return _figures("cmis", packages, documents, total, dms.total, validation.total)


def run_mayan(packages: list[Path], documents: int, base: Path, settings: Settings) -> dict[str, Any]:
    """Mayan EDMS (gunicorn in its own processes, installed and cached as for the tests): every HTTP round
    trip, including the waits Mayan's rate limit (20 requests/s per user) asks for, is DMS time."""
    from tests.adapters_mayan.server import ADMIN, ADMIN_PASSWORD, provide

    server = provide(base / "mayan")
    dms = Stopwatch()
    validation = Stopwatch()
    original_read = mayan_module.read_inbound
    original_send = MayanClient._send

    def timed_read(*args: Any, **kwargs: Any) -> Any:
        with validation.timing():
            return original_read(*args, **kwargs)

    def timed_send(self: MayanClient, *args: Any, **kwargs: Any) -> Any:
        with dms.timing():
            return original_send(self, *args, **kwargs)

    mayan_module.read_inbound = timed_read  # type: ignore[assignment]
    MayanClient._send = timed_send  # type: ignore[method-assign]
    context = AdapterContext("psw:bench", base / "state-mayan", settings, env={"XGW_BENCH_MAYAN": ADMIN_PASSWORD})
    config = {
        "kind": "mayan",
        "url": server.url,
        "username": ADMIN,
        "password_env": "XGW_BENCH_MAYAN",
        "sender_name": "Benchmark-Behörde",
        "recipient": "psw:16000001",
        "recipient_name": "Benchmark-Archiv",
    }
    adapter = MayanAdapter.from_config(config, context)
    try:
        adapter.health()  # login, document type, metadata types and cabinets once, outside the measurement
        dms.total = 0.0
        start = time.perf_counter()
        for path in packages:
            result = adapter.import_message(path)
            if result.status is not ImportStatus.IMPORTED:
                raise SystemExit(f"mayan: {path.name} was not imported: {result.reason}")
        total = time.perf_counter() - start
    finally:
        mayan_module.read_inbound = original_read
        MayanClient._send = original_send  # type: ignore[method-assign]
        adapter.close()
        server.stop()
    return _figures("mayan", packages, documents, total, dms.total, validation.total)


def _figures(
    target: str, packages: list[Path], documents: int, total: float, dms: float, validation: float
) -> dict[str, Any]:
    docs = documents * len(packages)
    own = total - dms
    return {
        "target": target,
        "packages": len(packages),
        "documents": docs,
        "seconds": round(total, 3),
        "documents_per_second": round(docs / total, 1),
        "dms_share": round(dms / total, 3),
        "adapter_share": round(own / total, 3),
        "adapter_validation_share": round(validation / total, 3),
        "adapter_other_share": round((own - validation) / total, 3),
        "adapter_to_dms_ratio": round(own / dms, 2) if dms else None,
    }


def make_packages(out: Path, count: int, documents: int, size: int, settings: Settings) -> list[Path]:
    paths = []
    for seed in range(count):
        generated = generate_message("3.0.0", "0503", documents=documents, size=size, seed=1000 + seed)
        built = write_package(generated.message, out / str(seed), generated.files, settings=settings, compresslevel=1)
        paths.append(built.path)
    return paths


def run(
    target: str, storage: Storage, packages: list[Path], documents: int, state: Path, settings: Settings
) -> dict[str, Any]:
    dms = Stopwatch()
    validation = Stopwatch()
    storage = timed_storage(storage, dms)
    original_read = hotfolder_module.read_inbound

    def timed_read(*args: Any, **kwargs: Any) -> Any:
        with validation.timing():
            return original_read(*args, **kwargs)

    hotfolder_module.read_inbound = timed_read  # type: ignore[assignment]
    config = hotfolder_module.HotfolderConfig(path=Path("/unused"), poll_interval=0)
    adapter = HotfolderAdapter(storage, config, AdapterContext("psw:bench", state, settings))
    try:
        start = time.perf_counter()
        for path in packages:
            result = adapter.import_message(path)
            if result.status is not ImportStatus.IMPORTED:
                raise SystemExit(f"{target}: {path.name} was not imported: {result.reason}")
        total = time.perf_counter() - start
    finally:
        hotfolder_module.read_inbound = original_read
        adapter.close()
    return _figures(target, packages, documents, total, dms.total, validation.total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the script works")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--packages", type=int, default=20)
    parser.add_argument("--documents", type=int, default=50)
    parser.add_argument("--size", type=int, default=2_000_000, help="bytes of primary files per package")
    parser.add_argument(
        "--mayan", action="store_true", help="also import into Mayan EDMS (installed on first use, ~3 min)"
    )
    parser.add_argument("--mayan-packages", type=int, default=4, help="packages for the (slow) Mayan run")
    args = parser.parse_args()
    if args.quick:
        args.packages, args.documents, args.size = 2, 5, 20_000
    settings = Settings()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    with tempfile.TemporaryDirectory(prefix="xgw-bench-adapters-") as tmp:
        base = Path(tmp)
        packages = make_packages(base / "packages", args.packages, args.documents, args.size, settings)
        results["package_bytes"] = sum(p.stat().st_size for p in packages)
        (base / "local").mkdir()
        local = run("local", LocalStorage(base / "local"), packages, args.documents, base / "state-local", settings)
        (base / "dav").mkdir()
        with webdav_server(base / "dav") as url:
            dav = WebDavStorage(url, username=USER, password=PASSWORD, limits=settings.limits)
            webdav = run("webdav", dav, packages, args.documents, base / "state-webdav", settings)
        with cmis_server() as url:
            cmis = run_cmis(url, packages, args.documents, base / "state-cmis", settings)
        results["runs"] = [local, webdav, cmis]
        if args.mayan:
            results["runs"].append(run_mayan(packages[: args.mayan_packages], args.documents, base, settings))
    for r in results["runs"]:
        print(
            f"{r['target']:7} {r['documents']:5} docs in {r['seconds']:7.2f} s "
            f"= {r['documents_per_second']:7.1f} docs/s; "
            f"DMS side {r['dms_share']:.0%}, adapter {r['adapter_share']:.0%} "
            f"(validation {r['adapter_validation_share']:.0%}, other {r['adapter_other_share']:.0%})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
