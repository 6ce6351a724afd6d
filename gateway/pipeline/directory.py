"""What the pipeline needs from the participant directory: routes, pinned trust and signing keys.

Reads the store's tables directly (the directory's management lives in :mod:`gateway.participants`).
An exchange asks for the same few participants about fifteen times and used to parse their pinned
certificates five times, so what is read is kept in a process-wide cache (issue 11), per database engine
and participant:

* **In this process** every write to the ``participant`` or ``certificate`` table is seen by an SQLAlchemy
  listener on all engines (ORM and Core alike: an ``INSERT``/``UPDATE``/``DELETE``/``DROP`` naming either
  table), which drops the whole cache when the statement runs, again when its transaction commits or rolls
  back, and again when the connection goes back to the pool (after the commit has happened). The console,
  the admin API and ``xgw serve``'s in-process workers therefore see a change with their next message.
* **Other processes** (``xgw worker`` processes, a CLI ``xgw keys expire``, a second server on the same
  database) cannot be heard, so an entry is also dropped :data:`CACHE_SECONDS` after it was read. That is the
  bound: a certificate retired or removed in another process stops being trusted, and a changed route is
  used, at most :data:`CACHE_SECONDS` (2 s) after the commit. A version counter in the database would make
  this immediate at the price of one query per look-up and a migration; 2 s is far below the time an
  operator needs to retire a certificate after hearing it leaked, and the hot path then costs no query at all.

The XTA ports ask the same cache who holds a TLS client certificate (:func:`tls_pin`, one prebuilt query
on a miss) and how a participant is reached (:func:`route`): an authorised sendMessage costs no directory
query while the cache is fresh, and a pin removed or replaced stops being trusted within the same bounds.

Parsed certificates are cached by their PEM text (content-addressed, so never stale). What the functions
return are copies: a caller may change them without changing the cache.
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from gateway.store.models import Certificate, CertificateUsage, Participant, RouteKind
from gateway.store.types import utcnow
from gateway.xoev.signatures.keys import KeyFileError, KeyStore, SigningKey, load_certificates
from gateway.xoev.signatures.signature import public_key_fingerprint
from gateway.xoev.signatures.verifying import PinnedCertificate, SignaturePolicy, TrustDirectory, TrustedParticipant

CACHE_SECONDS = 2.0
"""How long a directory entry read from the database is used before it is read again (see the module doc)."""

_TABLES = ("participant", "certificate")
_WRITES = ("insert", "update", "delete", "drop", "alter", "truncate", "replace")
_DIRTY = "xgw_directory_written"


@dataclass(frozen=True, slots=True)
class _Pin:
    fingerprint: str
    not_before: datetime
    not_after: datetime
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class _Entry:
    """One participant as read from the database at ``loaded`` (monotonic), or its absence (``values`` None)."""

    generation: int
    loaded: float
    values: dict[str, Any] | None
    pins: tuple[_Pin, ...]
    trusted: TrustedParticipant | None
    route: Route | None


@dataclass(frozen=True, slots=True)
class Route:
    """How a participant is reached, and what it accepts: the directory as the XTA ports ask it.

    An immutable view of the cached entry, handed out as it is (no copy, no query).
    """

    xoev_id: str
    route_kind: RouteKind
    endpoint_url: str | None
    accepted_versions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TlsPin:
    """A certificate pinned with usage ``tls`` (the XTA client certificate of ``holder``), by its fingerprint."""

    fingerprint: str
    not_before: datetime
    not_after: datetime
    holder: Route


@dataclass(frozen=True, slots=True)
class _TlsEntry:
    generation: int
    loaded: float
    pin: TlsPin | None


_Loaded = TypeVar("_Loaded", _Entry, _TlsEntry)


class _Cache:
    """Entries per engine; a global generation number drops them all at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0
        self.by_engine: weakref.WeakKeyDictionary[Engine, dict[str, _Entry | _TlsEntry]] = weakref.WeakKeyDictionary()

    def invalidate(self) -> None:
        with self.lock:
            self.generation += 1
            self.by_engine.clear()


_CACHE = _Cache()


def invalidate() -> None:
    """Forget every cached directory entry (also done automatically on every directory write in this process)."""
    _CACHE.invalidate()


def _writes_directory(statement: str) -> bool:
    head = statement.lstrip()[:48].lower()
    return head.startswith(_WRITES) and any(table in head for table in _TABLES)


@sa.event.listens_for(Engine, "after_cursor_execute")
def _seen_statement(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    if _writes_directory(statement):
        conn.info[_DIRTY] = True
        _CACHE.invalidate()


@sa.event.listens_for(Engine, "commit")
def _seen_commit(conn: Connection) -> None:
    if conn.info.get(_DIRTY):
        _CACHE.invalidate()


@sa.event.listens_for(Engine, "rollback")
def _seen_rollback(conn: Connection) -> None:
    if conn.info.get(_DIRTY):
        _CACHE.invalidate()


@sa.event.listens_for(sa.pool.Pool, "checkin")
def _seen_checkin(_dbapi_connection: Any, record: Any) -> None:
    # the transaction has ended by now (committed or rolled back): a reader that reloaded between the
    # commit event and the database's commit cannot keep what it read
    if record is not None and record.info.pop(_DIRTY, False):
        _CACHE.invalidate()


@lru_cache(maxsize=1024)
def _parse_pem(pem: str) -> x509.Certificate:
    return load_certificates(pem.encode("ascii"))[0]


def _engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def _load(session: Session, xoev_id: str, generation: int) -> _Entry:
    row = session.exec(select(Participant).where(col(Participant.xoev_id) == xoev_id)).first()
    if row is None or row.id is None:
        return _Entry(generation, time.monotonic(), None, (), None, None)
    values = {column.name: getattr(row, column.name) for column in Participant.__table__.columns}  # type: ignore[attr-defined]
    cert_rows = session.exec(
        select(Certificate).where(
            col(Certificate.participant_id) == row.id, col(Certificate.usage) == CertificateUsage.SIGNING
        )
    ).all()
    pins = tuple(_Pin(c.fingerprint_sha256, c.not_before, c.not_after, _parse_pem(c.pem)) for c in cert_rows)
    trusted = TrustedParticipant(
        xoev_id,
        tuple(PinnedCertificate(p.certificate, pinned_until=p.not_after) for p in pins),
        SignaturePolicy(row.signature_policy.value),
    )
    route = Route(row.xoev_id, row.route_kind, row.endpoint_url, tuple(row.accepted_versions))
    return _Entry(generation, time.monotonic(), values, pins, trusted, route)


def _pending_directory_change(session: Session) -> bool:
    """Whether ``session`` holds unflushed directory rows; its other pending rows (a worker's deferred
    history entries, a mailbox copy) say nothing about the directory and must not bypass the cache."""
    return any(
        isinstance(row, Participant | Certificate)
        for pending in (session.new, session.dirty, session.deleted)
        for row in pending
    )


def _cached(session: Session, key: str, load: Callable[[int], _Loaded]) -> _Loaded:
    """The cache's entry under ``key`` for this session's engine, loaded (and kept) when missing or old."""
    engine = _engine_of(session)
    if _pending_directory_change(session):
        # unflushed changes of this session would not be in a cached copy
        return load(-1)
    with _CACHE.lock:
        generation = _CACHE.generation
        entries = _CACHE.by_engine.get(engine)
        found = entries.get(key) if entries is not None else None
    if found is not None and found.generation == generation and time.monotonic() - found.loaded < CACHE_SECONDS:
        return cast(_Loaded, found)
    loaded = load(generation)
    if session.connection().info.get(_DIRTY):
        return loaded  # this transaction wrote to the directory: what it reads is not committed yet
    with _CACHE.lock:
        if _CACHE.generation == generation:  # nothing was written while we read
            _CACHE.by_engine.setdefault(engine, {})[key] = loaded
    return loaded


def _entry(session: Session, xoev_id: str) -> _Entry:
    return _cached(session, xoev_id, lambda generation: _load(session, xoev_id, generation))


def participant(session: Session, xoev_id: str) -> Participant | None:
    """The directory entry of ``xoev_id`` (a detached copy), or None when there is none."""
    found = _entry(session, xoev_id)
    if found.values is None:
        return None
    return Participant(**copy.deepcopy(found.values))


def route(session: Session, xoev_id: str) -> Route | None:
    """How ``xoev_id`` is reached (None when it is not in the directory); no query while cached."""
    return _entry(session, xoev_id).route


_P = Participant.__table__  # type: ignore[attr-defined]
_C = Certificate.__table__  # type: ignore[attr-defined]
_TLS_PIN = (
    sa.select(_C.c.not_before, _C.c.not_after, _P.c.xoev_id, _P.c.route_kind, _P.c.endpoint_url, _P.c.accepted_versions)
    .join_from(_C, _P, _C.c.participant_id == _P.c.id)
    .where(_C.c.fingerprint_sha256 == sa.bindparam("fingerprint"), _C.c.usage == CertificateUsage.TLS)
)
"""One prebuilt statement: the TLS pin of a fingerprint with its holder (the fingerprint is unique)."""


def _load_tls(session: Session, fingerprint: str, generation: int) -> _TlsEntry:
    row = session.connection().execute(_TLS_PIN, {"fingerprint": fingerprint}).first()
    pin = None
    if row is not None:
        holder = Route(row.xoev_id, row.route_kind, row.endpoint_url, tuple(row.accepted_versions or ()))
        pin = TlsPin(fingerprint, row.not_before, row.not_after, holder)
    return _TlsEntry(generation, time.monotonic(), pin)


def tls_pin(session: Session, fingerprint: str) -> TlsPin | None:
    """The certificate pinned for TLS under this SHA-256 fingerprint, with its holder, or None.

    Cached like the entries (see the module doc): a pin removed, replaced or re-dated in this process is
    seen at once, from another process within :data:`CACHE_SECONDS`.
    """
    key = "\0tls:" + fingerprint  # no XÖV identifier starts with NUL: one namespace per engine suffices
    return _cached(session, key, lambda generation: _load_tls(session, fingerprint, generation)).pin


def trust_directory(session: Session, xoev_ids: Iterable[str]) -> TrustDirectory:
    """The verifier's view of these participants: their signature policy and pinned certificates.

    A participant missing from the directory gets the strictest policy (a signature is required and no
    certificate is trusted), so an unknown sender can never pass as unsigned.
    """
    entries: list[TrustedParticipant] = []
    for xoev_id in set(xoev_ids):
        trusted = _entry(session, xoev_id).trusted
        if trusted is not None:
            entries.append(trusted)
    return TrustDirectory(entries)


@dataclass(frozen=True, slots=True)
class SigningCredentials:
    key: SigningKey
    chain: tuple[x509.Certificate, ...]
    fingerprint: str


def signing_credentials(
    session: Session, keys: KeyStore, xoev_id: str, *, now: datetime | None = None
) -> SigningCredentials | None:
    """The participant's newest pinned, currently valid certificate whose private key this gateway holds."""
    found = _entry(session, xoev_id)
    if found.values is None:
        return None
    now = now or utcnow()
    usable = [
        pin
        for pin in found.pins
        if pin.not_before <= now <= pin.not_after
        and pin.certificate.not_valid_before_utc <= now <= pin.certificate.not_valid_after_utc
    ]
    for pin in sorted(usable, key=lambda p: p.not_after, reverse=True):
        key_id = public_key_fingerprint(pin.certificate.public_key())
        if not keys.has(key_id):
            continue
        try:
            key = keys.load(key_id)
        except KeyFileError:
            continue
        return SigningCredentials(key, (pin.certificate,), pin.fingerprint)
    return None
