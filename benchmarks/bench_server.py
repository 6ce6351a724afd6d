"""What the HTTP server's defences cost (issue 10, items 2-4): the same app with and without them, same run.

Two server processes on loopback, plain HTTP, one data directory (SQLite, the demo directory, one token):

* ``guarded``: ``xgw serve --no-worker`` -- the head guard (size and time), the body guard (idle and
  minimum rate), the real-peer wrapper, forwarded headers off (gateway/cli/serve_http.py).
* ``unguarded``: the same application from :func:`gateway.wiring.create_app`, run by ``uvicorn.run`` with
  the arguments ``xgw serve`` used before the defences (uvicorn's defaults: httptools, no head or body
  limits, forwarded headers believed from loopback).

Parts:

1. ``requests``: ``GET /healthz`` requests per second over one kept-alive connection, and over 4
   connections in parallel threads; best of 3 rounds, the two servers alternating.
2. ``upload``: a 100 MiB body POSTed to ``/api/v1/validate`` (streamed from a file with Content-Length;
   the gateway stages it to disk and refuses it as no message); MiB/s to the answer, best of 3 alternating.
3. ``memory``: the server's peak RSS growth while 20 connections, one after the other, each send a 20 MB
   header line; and (guarded only: the cache is the application's, the same in both) after 2,000 WSDL
   requests with distinct Host headers.

Run: ``.venv/bin/python benchmarks/bench_server.py [--quick] [--json results.json] [--only upload]``.
``--quick`` shrinks every size so the script can be smoke-tested; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import limits as machine_limits  # noqa: E402

from tests.e2e.support import XGW, free_port, wait_for  # noqa: E402

UNGUARDED_APP = """
import uvicorn
from gateway.api.logs import configure_logging
from gateway.config import Settings
from gateway.wiring import build_context, create_app
import sys

configure_logging("info")  # as xgw serve does: one access line per request in both servers
app = create_app(build_context(Settings()))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, server_header=False)
"""


class Server:
    def __init__(self, name: str, folder: Path, command: list[str]) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
        env["XGW_CONFIG"] = str(folder / "xgw.toml")
        log = (folder / f"{name}.log").open("wb")
        args = [a.replace("{port}", str(self.port)) for a in command]
        self.process = subprocess.Popen(args, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(f"{name} to serve", self._ready, seconds=120)

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def prepare(folder: Path) -> str:
    """Data directory, demo participants, one submit token."""
    (folder / "xgw.toml").write_text(
        f'data_dir = "{folder / "var"}"\nschema_cache_dir = "{folder / "schema-cache"}"\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
    env["XGW_CONFIG"] = str(folder / "xgw.toml")
    demo = ROOT / "gateway" / "demo" / "participants.toml"
    for args in (["participants", "import", str(demo)],):
        subprocess.run([XGW, *args], cwd=folder, env=env, check=True, capture_output=True, timeout=300)
    done = subprocess.run(
        [XGW, "tokens", "create", "psw:16077000", "--scope", "submit,read"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return done.stdout.decode().strip()


def requests_per_second(server: Server, count: int, connections: int) -> float:
    per_connection = count // connections

    def run() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(per_connection):
                assert client.get("/healthz").status_code == 200

    threads = [threading.Thread(target=run) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_connection * connections / (time.perf_counter() - started)


def upload_mib_per_second(server: Server, token: str, body: Path, tries: int) -> float:
    best = float("inf")
    size = body.stat().st_size
    for _ in range(tries):
        with body.open("rb") as stream, httpx.Client(timeout=600) as client:
            started = time.perf_counter()
            response = client.post(
                f"{server.url}/api/v1/validate",
                content=iter(lambda: stream.read(1024 * 1024), b""),
                headers={"Authorization": f"Bearer {token}", "Content-Length": str(size)},
            )
            elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:500]
        best = min(best, elapsed)
    return size / (1024 * 1024) / best


def huge_headers(server: Server, connections: int, megabytes: int) -> float:
    """RSS growth in MiB after ``connections`` header lines of ``megabytes`` MB, sent one connection at a time."""
    before = server.rss_mib()
    chunk = b"a" * (1024 * 1024)
    peak = before
    for _ in range(connections):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ")
                for _ in range(megabytes):
                    sock.sendall(chunk)
                sock.sendall(b"\r\n\r\n")
                sock.recv(1024)
            except OSError:
                pass
        peak = max(peak, server.rss_mib())
    return peak - before


def wsdl_hosts(server: Server, count: int) -> float:
    before = server.rss_mib()
    url = f"{server.url}/services/XTAService/ManagementPort?wsdl"
    with httpx.Client(timeout=30) as client:
        for i in range(count):
            assert client.get(url, headers={"Host": f"host-{i}.example"}).status_code == 200
    return server.rss_mib() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", choices=["requests", "upload", "memory"])
    args = parser.parse_args()
    quick = args.quick
    results: dict[str, Any] = {"quick": quick}
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        folder = Path(tmp)
        results["limits"] = machine_limits.measure(folder / "limits", quick=quick, parts=("fsync", "post"))
        token = prepare(folder)
        servers = {
            "guarded": Server("guarded", folder, [XGW, "serve", "--no-worker", "--port", "{port}"]),
            "unguarded": Server("unguarded", folder, [sys.executable, "-c", UNGUARDED_APP, "{port}"]),
        }
        try:
            rounds = 1 if quick else 3  # alternated, best of each: the machine is shared and noisy
            if args.only in (None, "requests"):
                count = 200 if quick else 3000
                part: dict[str, Any] = {"requests": count, "rounds": rounds}
                for connections in (1, 4):
                    best = dict.fromkeys(servers, 0.0)
                    for server in servers.values():
                        requests_per_second(server, count // 10, connections)  # warm-up
                    for _ in range(rounds):
                        for name, server in servers.items():
                            best[name] = max(best[name], requests_per_second(server, count, connections))
                    for name in servers:
                        part[f"{name}_rps_{connections}conn"] = round(best[name])
                    part[f"ratio_{connections}conn"] = round(best["unguarded"] / best["guarded"], 3)
                results["requests"] = part
                print("requests", part, flush=True)
            if args.only in (None, "upload"):
                body = folder / "body.bin"
                size = (4 if quick else 100) * 1024 * 1024
                with body.open("wb") as out:
                    block = os.urandom(1024 * 1024)
                    for _ in range(size // len(block)):
                        out.write(block)
                part = {"mib": size // (1024 * 1024), "rounds": rounds}
                fastest = dict.fromkeys(servers, 0.0)
                for _ in range(rounds):
                    for name, server in servers.items():
                        fastest[name] = max(fastest[name], upload_mib_per_second(server, token, body, 1))
                for name in servers:
                    part[f"{name}_mib_s"] = round(fastest[name], 1)
                part["ratio"] = round(fastest["unguarded"] / fastest["guarded"], 3)
                results["upload"] = part
                print("upload", part, flush=True)
            if args.only in (None, "memory"):
                connections, megabytes = (2, 2) if quick else (20, 20)
                hosts = 100 if quick else 2000
                part = {"header_connections": connections, "header_mb": megabytes, "wsdl_hosts": hosts}
                for name, server in servers.items():
                    part[f"{name}_rss_start_mib"] = round(server.rss_mib(), 1)
                    part[f"{name}_headers_peak_growth_mib"] = round(huge_headers(server, connections, megabytes), 1)
                # the WSDL cache is the application's, the same in both servers: measured once
                part["guarded_wsdl_growth_mib"] = round(wsdl_hosts(servers["guarded"], hosts), 1)
                results["memory"] = part
                print("memory", part, flush=True)
        finally:
            for server in servers.values():
                server.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
