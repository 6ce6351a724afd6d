"""The server's defences in-process: body guard, upload slots, proxy trust by real peer, WSDL cache, exposure.

The end-to-end proofs against a real ``xgw serve`` are in tests/e2e/test_server_hardening.py; these pin
the pieces' contracts where a socket would add nothing but time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import click
import httpx
import pytest
import trustme
from starlette.types import Message, Receive, Scope, Send

from gateway.api.middleware import BodyGuard, BodyTimeout
from gateway.api.problems import ApiProblem
from gateway.api.upload import UploadSlots
from gateway.cli.serve_http import HttpServer, check_exposure, wrap_app
from gateway.cli.serve_tls import TlsHttpToolsProtocol
from gateway.config import Server, Settings, XtaServer
from gateway.participants.tokens import Principal
from gateway.participants.tokens import Scope as TokenScope
from gateway.transport.xta.errors import PermissionDenied
from gateway.transport.xta.identity import REAL_PEER, identify
from gateway.transport.xta.schemas import bundle_dir
from gateway.transport.xta.server import WSDL_CACHE_SIZE, _Wsdl
from gateway.wiring import build_context, create_app

# -- body guard ------------------------------------------------------------------------------------------


async def _read_body(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if not message.get("more_body", False):
            break
    await receive()  # after the body: waits for the disconnect, which must not time out
    scope["done"] = True


def _receiver(chunks: list[tuple[float, bytes]], then_wait: float = 0.0) -> Receive:
    """A client sending ``chunks`` (delay, bytes), the last with more_body False unless it stalls."""
    queue = list(chunks)

    async def receive() -> Message:
        if not queue:
            await anyio.sleep(then_wait)
            return {"type": "http.disconnect"}
        delay, data = queue.pop(0)
        await anyio.sleep(delay)
        if data == b"STALL":
            await anyio.sleep(3600)
        return {"type": "http.request", "body": data, "more_body": bool(queue)}

    return receive


async def _noop_send(message: Message) -> None:
    return None


def test_a_stalled_body_times_out_after_the_idle_time() -> None:
    guard = BodyGuard(_read_body, idle=0.2, min_rate=0)
    scope: dict[str, Any] = {"type": "http"}

    async def run() -> float:
        started = anyio.current_time()
        with pytest.raises(BodyTimeout, match=r"no bytes of the request body for 0\.2 s"):
            await guard(scope, _receiver([(0.0, b"x" * 10), (0.0, b"STALL")]), _noop_send)
        return anyio.current_time() - started

    assert anyio.run(run) < 1.0


def test_a_trickle_below_the_minimum_rate_times_out() -> None:
    guard = BodyGuard(_read_body, idle=0.3, min_rate=1000)
    trickle = [(0.1, b"x" * 10)] * 30  # 100 bytes/s, never idle for 0.3 s
    with pytest.raises(BodyTimeout, match="below the minimum of 1000 bytes/s"):
        anyio.run(guard, {"type": "http"}, _receiver(trickle), _noop_send)


def test_a_complete_body_then_waits_for_the_disconnect_without_a_deadline() -> None:
    guard = BodyGuard(_read_body, idle=0.1, min_rate=1000)
    scope: dict[str, Any] = {"type": "http"}
    anyio.run(guard, scope, _receiver([(0.0, b"x" * 100)], then_wait=0.4), _noop_send)
    assert scope["done"]


def test_time_the_app_spends_between_reads_is_not_held_against_the_client() -> None:
    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if not message.get("more_body", False):
                break
            await anyio.sleep(0.3)  # the server is busy with the chunk (longer than idle)
        scope["done"] = True

    guard = BodyGuard(slow_app, idle=0.2, min_rate=1_000_000)
    scope: dict[str, Any] = {"type": "http"}
    anyio.run(guard, scope, _receiver([(0.0, b"x" * 10)] * 4), _noop_send)
    assert scope["done"]


# -- upload slots ----------------------------------------------------------------------------------------


def _principal(token: int) -> Principal:
    return Principal(token, f"t{token}", "psw:16077000", frozenset({TokenScope.SUBMIT}))


def test_upload_slots_refuse_per_token_with_429_and_in_total_with_503() -> None:
    slots = UploadSlots(total=3, per_token=2)
    with slots.claim(_principal(1)), slots.claim(_principal(1)):
        with pytest.raises(ApiProblem) as per_token, slots.claim(_principal(1)):
            pass
        assert per_token.value.kind.status == 429
        assert per_token.value.headers["Retry-After"].isdigit()
        with slots.claim(_principal(2)):
            with pytest.raises(ApiProblem) as total, slots.claim(_principal(3)):
                pass
            assert total.value.kind.status == 503
    assert slots.active == 0 and not slots.by_token
    with slots.claim(_principal(1)):
        assert slots.active == 1


# -- proxy trust -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pem() -> str:
    return trustme.CA().issue_cert("district.example").cert_chain_pems[0].bytes().decode()


def _config(proxies: list[str]) -> XtaServer:
    return XtaServer(client_cert_header="X-SSL-Client-Cert", trusted_proxies=proxies)


def test_a_forwarded_client_address_does_not_make_a_trusted_proxy(pem: str) -> None:
    # what uvicorn's ProxyHeadersMiddleware leaves behind for "X-Forwarded-For: 192.0.2.10" from loopback
    scope = {"client": ("192.0.2.10", 0), REAL_PEER: ("127.0.0.1", 50000)}
    with pytest.raises(PermissionDenied):
        identify(scope, {"x-ssl-client-cert": quote(pem)}, _config(["192.0.2.10"]))


def test_the_real_proxy_is_trusted_also_by_network(pem: str) -> None:
    scope = {"client": ("198.51.100.7", 0), REAL_PEER: ("10.1.2.3", 50000)}
    identity = identify(scope, {"x-ssl-client-cert": quote(pem)}, _config(["10.1.0.0/16"]))
    assert identity.source == "proxy"
    assert identity.peer == "10.1.2.3"


def _capture_scope(seen: list[Scope]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    return app


def _scope_through(settings: Settings, headers: list[tuple[bytes, bytes]]) -> Scope:
    seen: list[Scope] = []
    app = wrap_app(_capture_scope(seen), settings)
    scope = {"type": "http", "client": ("127.0.0.1", 50000), "headers": headers, "scheme": "http"}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(app(scope, receive, _noop_send))  # type: ignore[arg-type]
    return seen[0]


def test_forwarded_headers_are_ignored_unless_configured() -> None:
    forged = [(b"x-forwarded-for", b"192.0.2.10")]
    plain = _scope_through(Settings(), forged)
    assert plain["client"] == ("127.0.0.1", 50000)
    proxied = _scope_through(Settings(server=Server(forwarded_allow_ips=["127.0.0.1"])), forged)
    assert proxied["client"][0] == "192.0.2.10"
    assert proxied[REAL_PEER] == ("127.0.0.1", 50000)


def test_uvicorn_gets_no_proxy_headers_and_a_guarded_protocol() -> None:
    kwargs = HttpServer(Settings()).uvicorn_kwargs({"http": TlsHttpToolsProtocol, "ssl_certfile": "c"})
    assert kwargs["proxy_headers"] is False
    assert kwargs["forwarded_allow_ips"] == []
    assert issubclass(kwargs["http"], TlsHttpToolsProtocol)
    assert kwargs["ssl_certfile"] == "c"


# -- WSDL ------------------------------------------------------------------------------------------------


def test_the_wsdl_cache_keeps_a_bounded_number_of_hosts() -> None:
    wsdl = _Wsdl(bundle_dir(Settings().schema_dir))
    for i in range(100):
        assert f"http://host-{i}.example/x/ManagementPort".encode() in wsdl.render(f"http://host-{i}.example/x")
    assert len(wsdl._cache) <= WSDL_CACHE_SIZE


# -- exposure --------------------------------------------------------------------------------------------


def test_plain_http_beyond_loopback_needs_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(click.UsageError, match="--allow-plain-http"):
        check_exposure(Settings(), "0.0.0.0", tls=False, allow_plain_http=False)
    check_exposure(Settings(), "0.0.0.0", tls=False, allow_plain_http=True)
    assert "WARNING: serving plain HTTP on 0.0.0.0" in capsys.readouterr().err
    for host in ("127.0.0.1", "::1", "localhost"):
        check_exposure(Settings(), host, tls=False, allow_plain_http=False)
    check_exposure(Settings(), "0.0.0.0", tls=True, allow_plain_http=False)
    assert capsys.readouterr().err == ""


def test_trusting_loopback_is_announced(capsys: pytest.CaptureFixture[str]) -> None:
    check_exposure(
        Settings(xta_server=XtaServer(dev_trust_loopback=True)), "127.0.0.1", tls=True, allow_plain_http=False
    )
    assert "WARNING: xta_server.dev_trust_loopback is on" in capsys.readouterr().err


# -- probes ----------------------------------------------------------------------------------------------


def test_health_and_readiness_answer_while_the_shared_thread_pool_is_full(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'gateway.db'}")
    settings.data_dir.mkdir()
    ctx = build_context(settings)
    app = create_app(ctx)

    async def probe() -> tuple[int, int]:
        pool = anyio.to_thread.current_default_thread_limiter()
        borrowers = [object() for _ in range(int(pool.total_tokens))]
        for borrower in borrowers:  # every thread of the shared pool is taken (as 40 stalled uploads once did)
            pool.acquire_on_behalf_of_nowait(borrower)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                with anyio.fail_after(20):
                    health = await client.get("/healthz")
                    ready = await client.get("/readyz")
        finally:
            for borrower in borrowers:
                pool.release_on_behalf_of(borrower)
        return health.status_code, ready.status_code

    try:
        assert anyio.run(probe) == (200, 200)
    finally:
        ctx.engine.dispose()
