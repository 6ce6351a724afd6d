"""``xgw serve --tls-client-ca``: the verified client certificate reaches the XTA ports without a proxy.

One real gateway process (A of the pair) with loopback trust off (the default): Greiz's client
certificate opens Greiz's account and no other; a client without a certificate, or with one from
another CA, does not get past the TLS handshake.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from gateway.transport.xta_client.errors import PermanentFault, TransientError
from tests.e2e.support import ARCHIVE, DISTRICT, GREIZ, Issued, Node, Pair, make_pair, party


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    made = make_pair(tmp_path_factory.mktemp("mtls"))
    made.a.start()
    try:
        yield made
    finally:
        made.stop()


def refusal(node: Node, cert: Issued, account: str) -> str | None:
    with node.xta(cert) as client, pytest.raises(PermanentFault) as caught:
        client.check_account_active(party(account))
    return caught.value.code


def test_the_certificate_opens_its_own_account_only(pair: Pair) -> None:
    a = pair.a
    with a.xta(pair.greiz_client) as client:
        client.check_account_active(party(GREIZ))
        assert client.create_message_id(party(GREIZ))
    assert refusal(a, pair.greiz_client, DISTRICT) == "9014"  # another member's account
    assert refusal(a, pair.greiz_client, "psw:99999999") == "9012"  # no such account
    # gateway B's certificate speaks for the archive (routed to B), not for A's members
    with a.xta(pair.b.identity) as client:
        client.check_account_active(party(ARCHIVE))
    assert refusal(a, pair.b.identity, DISTRICT) == "9014"
    # a certificate of the right CA that is pinned for nobody
    assert refusal(a, a.pki_client, GREIZ) == "9014"


def test_the_rest_api_is_reachable_over_the_same_tls(pair: Pair) -> None:
    with pair.a.http() as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/v1/messages").status_code == 401  # TLS is not an API token


def _handshake_refused(node: Node, cert: Issued | None) -> None:
    with (
        httpx.Client(base_url=node.url, verify=node.tls(cert), timeout=10) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get("/readyz")


def test_no_certificate_or_a_foreign_one_is_refused_at_tls(pair: Pair, tmp_path: Path) -> None:
    _handshake_refused(pair.a, None)
    stranger = trustme.CA().issue_cert("127.0.0.1", common_name="stranger")
    cert, key = tmp_path / "stranger.pem", tmp_path / "stranger.key"
    stranger.cert_chain_pems[0].write_to_path(str(cert))
    stranger.private_key_pem.write_to_path(str(key))
    _handshake_refused(pair.a, Issued(cert, key))
    # the XTA client sees it as a failed connection (TLS 1.3 reports the refusal after the handshake)
    with pair.a.xta(Issued(cert, key)) as client, pytest.raises(TransientError):
        client.check_account_active(party(GREIZ))
    # and the server is still there for the right certificate
    with pair.a.xta(pair.greiz_client) as client:
        client.check_account_active(party(GREIZ))


def test_the_server_certificate_is_checked_by_clients(pair: Pair) -> None:
    """The other direction: a client trusting another CA does not talk to the gateway at all."""
    other = trustme.CA()
    context = ssl.create_default_context()
    other.configure_trust(context)
    context.load_cert_chain(*pair.greiz_client.pair)
    with (
        httpx.Client(base_url=pair.a.url, verify=context, timeout=10) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get("/readyz")
