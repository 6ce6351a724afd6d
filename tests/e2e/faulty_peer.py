"""A misbehaving front for gateway B: a loopback TCP port that A's directory routes the archive to.

``pass`` forwards the bytes (TLS stays end to end between A and B); ``slow`` does the same after a
pause, longer than A's read timeout; ``garbage`` and the two fault modes terminate TLS with B's own
certificate and answer every request with an HTML page, or with a SOAP 1.2 fault rendered by the
gateway's XTA fault writer (9030 technical problem, or 9014 permission denied). Each mode counts the
connections it served, so tests can wait for "A tried at least once" without sleeping.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections import Counter
from enum import StrEnum

from gateway.transport.xta.errors import ErrorCode, PermissionDenied, TechnicalProblem, XtaError
from gateway.transport.xta.faults import fault_envelope
from tests.e2e.support import Issued, free_port

MAX_REQUEST = 64 * 1024 * 1024


class Mode(StrEnum):
    PASS = "pass"
    SLOW = "slow"
    GARBAGE = "garbage"
    TECHNICAL_FAULT = "technical-fault"
    PERMISSION_FAULT = "permission-fault"


class FaultyPeer:
    def __init__(self, target_port: int, server: Issued, ca_file: str, *, pause: float = 3.0) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.pause = pause
        self._mode = Mode.PASS
        self._open: set[socket.socket] = set()
        self.served: Counter[Mode] = Counter()
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(*server.pair)
        self._tls.load_verify_locations(ca_file)
        self._tls.verify_mode = ssl.CERT_OPTIONAL
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="faulty-peer", daemon=True)
        self._thread.start()

    @property
    def xta_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/services/XTAService"

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        """Switch, and cut the connections of the old mode: a client's kept-alive connection must not
        carry on as before."""
        with self._lock:
            self._mode = mode
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def count(self, mode: Mode) -> int:
        with self._lock:
            return self.served[mode]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                mode = self._mode
                self.served[mode] += 1
                self._open.add(conn)
            threading.Thread(target=self._serve, args=(conn, mode), daemon=True).start()

    def _serve(self, conn: socket.socket, mode: Mode) -> None:
        try:
            if mode in (Mode.PASS, Mode.SLOW):
                if mode is Mode.SLOW:
                    time.sleep(self.pause)
                self._forward(conn)
            else:
                self._answer(conn, mode)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def _forward(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        done = threading.Event()

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while chunk := source.recv(256 * 1024):
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                done.set()

        back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
        back.start()
        pump(conn, upstream)
        done.wait(timeout=60)
        upstream.close()
        back.join(timeout=5)

    def _answer(self, conn: socket.socket, mode: Mode) -> None:
        conn.settimeout(10)
        with self._tls.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = min(int(value.strip()), MAX_REQUEST)
            received = len(body)
            while received < length:
                chunk = tls.recv(256 * 1024)
                if not chunk:
                    break
                received += len(chunk)
            if mode is Mode.GARBAGE:
                status, kind, reply = "200 OK", "text/html", b"<html><body>Wartungsarbeiten</body></html>"
            else:
                error: XtaError = (
                    TechnicalProblem(ErrorCode.INTERNAL_ERROR, "backend unavailable")
                    if mode is Mode.TECHNICAL_FAULT
                    else PermissionDenied(ErrorCode.IDENTITY_MISMATCH, "certificate not accepted")
                )
                status, kind, reply = "500 Internal Server Error", "application/soap+xml; charset=utf-8", b""
                reply = fault_envelope(error, None, None)
            tls.sendall(
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(reply)}\r\n"
                f"Connection: close\r\n\r\n".encode("ascii")
                + reply
            )
