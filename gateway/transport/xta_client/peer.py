"""Who the client talks to and how it trusts them: a peer's URL, pinned CA and client certificate.

The participant directory says *where* a remote participant is (its route's ``endpoint_url``, the base
URL of the peer's ``XTAService``); the settings say *how to trust* that URL (``[[xta_client.peers]]``
with ``ca_bundle``) and *who we are* (``xta_client.client_cert``/``client_key``, overridable per peer).
Credentials stay out of the directory on purpose: the directory is data that is imported, exported and
shown through the admin API, while key files belong to the machine's configuration.

An https peer without a pinned CA is refused rather than checked against the public CA bundle, unless
the operator says ``use_system_ca`` for that peer: XTA peers are a closed group of authorities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.config import XtaClient


class PeerNotConfigured(Exception):
    """The settings do not say how to reach or trust this URL; the message says what to add."""


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


@dataclass(frozen=True, slots=True)
class Peer:
    """A resolved peer: base URL, TLS verification (CA bundle path, or True for the system store), client cert."""

    url: str
    verify: str | bool = True
    client_cert: tuple[str, str] | None = None

    def port_url(self, port: str) -> str:
        return f"{self.url}/{port}"

    @property
    def is_https(self) -> bool:
        return self.url.lower().startswith("https://")


def _client_cert(cert: Path | None, key: Path | None, where: str) -> tuple[str, str] | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise PeerNotConfigured(f"{where}: client_cert and client_key go together")
    for path in (cert, key):
        if not path.is_file():
            raise PeerNotConfigured(f"{where}: {path} does not exist")
    return (str(cert), str(key))


def make_peer(
    url: str,
    *,
    ca_bundle: Path | None = None,
    use_system_ca: bool = False,
    client_cert: Path | None = None,
    client_key: Path | None = None,
) -> Peer:
    """A peer from explicit values (the ``xgw xta`` options); same trust rules as :func:`resolve_peer`."""
    base = normalise_url(url)
    if not base.lower().startswith(("http://", "https://")):
        raise PeerNotConfigured(f"{url!r} is not an http(s) URL")
    verify: str | bool = True
    if base.lower().startswith("https://"):
        if ca_bundle is not None:
            if not ca_bundle.is_file():
                raise PeerNotConfigured(f"CA bundle {ca_bundle} does not exist")
            verify = str(ca_bundle)
        elif not use_system_ca:
            raise PeerNotConfigured(
                f"no CA is pinned for {base}: give its ca_bundle (or use_system_ca to trust the public CAs)"
            )
    return Peer(base, verify, _client_cert(client_cert, client_key, base))


def resolve_peer(config: XtaClient, url: str) -> Peer:
    """The peer for a participant's ``endpoint_url``, with the trust configured for it in ``config``."""
    base = normalise_url(url)
    entry = next((p for p in config.peers if normalise_url(p.url) == base), None)
    if entry is None:
        if base.lower().startswith("https://"):
            raise PeerNotConfigured(
                f"no [[xta_client.peers]] entry with url = {base!r}: add one naming the peer's ca_bundle"
            )
        return make_peer(base, client_cert=config.client_cert, client_key=config.client_key)
    own = entry.client_cert is not None or entry.client_key is not None
    return make_peer(
        base,
        ca_bundle=entry.ca_bundle,
        use_system_ca=entry.use_system_ca,
        client_cert=entry.client_cert if own else config.client_cert,
        client_key=entry.client_key if own else config.client_key,
    )
