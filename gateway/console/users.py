"""Console users: add, list, remove, change role or password, end sessions, and check a sign-in (throttled).

A session names its user by ``uid`` (random, never reused) and by the user's ``session_generation``:
every change that must end the user's sessions -- sign-out, a new role or password -- raises the
generation in the same transaction, and removing the user removes the uid. :func:`session_account`
checks both in one query on every request, so a cookie outlives neither.

The sign-in throttle counts failed sign-ins in the audit log (shared by every process of the gateway,
bounded by the table, nothing kept in memory): per user name *and* client address, and per client
address over all names. There is deliberately no lock per user name alone: it would let anybody lock an
administrator out from one address. Guessing from many addresses is slowed by Argon2id and the
12-character minimum instead.

Directory users (``source = "ldap"``, :mod:`gateway.console.directory`) get a record on their first
sign-in so that audit, sessions and alerts work as for local users, but never a password: their
``password_hash`` is a marker no password verifies, and a local sign-in never accepts them. The
directory is asked again every ``console_ldap.recheck_seconds`` while they are signed in
(:func:`current_account`); gone, out of every mapped group, or given another role, their sessions end.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.config import Settings
from gateway.console import audit
from gateway.console.passwords import hash_password, verify_password
from gateway.store.models import AuditEntry, ConsoleRole, ConsoleUser
from gateway.store.types import utcnow

log = logging.getLogger("gateway.console.users")

THROTTLE_WINDOW = timedelta(minutes=15)
LOCAL = "local"
DIRECTORY = "ldap"
#: the password hash of a directory user: not an Argon2 hash, so no password ever verifies against it
NO_PASSWORD = "!directory"  # noqa: S105  (a marker, not a password)


class UserError(ValueError):
    """A user cannot be added or removed as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class ConsoleAccount:
    """Who is signed in: what the pages and queries need, without the password hash."""

    id: int
    name: str
    role: ConsoleRole
    participant: str | None
    uid: uuid.UUID | None = None
    generation: int = 0
    source: str = LOCAL
    checked_at: datetime | None = None

    @property
    def is_gateway_admin(self) -> bool:
        return self.role is ConsoleRole.GATEWAY_ADMIN

    @property
    def can_act(self) -> bool:
        """Retry, requeue, cancel, dead-letter: admins of the gateway, and of a participant for its messages."""
        return self.role is not ConsoleRole.READ_ONLY


def account(user: ConsoleUser) -> ConsoleAccount:
    assert user.id is not None
    return ConsoleAccount(
        user.id,
        user.name,
        user.role,
        user.participant,
        user.uid,
        user.session_generation,
        user.source,
        user.directory_checked_at,
    )


def _check_role(role: ConsoleRole, participant: str | None) -> None:
    if role is ConsoleRole.PARTICIPANT_ADMIN and not participant:
        raise UserError("a participant admin needs --participant (the authority's XÖV identifier)")
    if role is not ConsoleRole.PARTICIPANT_ADMIN and participant:
        raise UserError("only a participant admin is bound to a participant")


def add_user(
    engine: Engine, name: str, password: str, role: ConsoleRole, participant: str | None = None
) -> ConsoleAccount:
    _check_role(role, participant)
    if not name or len(name) > 128 or any(c.isspace() for c in name):
        raise UserError("a user name is 1 to 128 characters without spaces")
    hashed = hash_password(password)
    with Session(engine, expire_on_commit=False) as session:
        if session.exec(select(ConsoleUser).where(col(ConsoleUser.name) == name)).first() is not None:
            raise UserError(f"a console user named {name} exists already")
        user = ConsoleUser(name=name, password_hash=hashed, role=role, participant=participant)
        session.add(user)
        session.commit()
        return account(user)


def list_users(engine: Engine) -> list[ConsoleUser]:
    with Session(engine) as session:
        return list(session.exec(select(ConsoleUser).order_by(col(ConsoleUser.name))).all())


def remove_user(engine: Engine, name: str) -> None:
    with Session(engine) as session:
        user = session.exec(select(ConsoleUser).where(col(ConsoleUser.name) == name)).first()
        if user is None:
            raise UserError(f"no console user named {name}")
        session.delete(user)
        session.commit()


def _change(engine: Engine, name: str, change: Callable[[ConsoleUser], None]) -> ConsoleAccount:
    """Apply ``change`` to the named user and raise its session generation in the same transaction."""
    with Session(engine, expire_on_commit=False) as session:
        user = session.exec(select(ConsoleUser).where(col(ConsoleUser.name) == name).with_for_update()).first()
        if user is None:
            raise UserError(f"no console user named {name}")
        change(user)
        user.session_generation += 1
        session.add(user)
        session.commit()
        return account(user)


def set_role(engine: Engine, name: str, role: ConsoleRole, participant: str | None = None) -> ConsoleAccount:
    """A new role (and participant) for a user; the user's sessions end, so the next page asks for a sign-in."""
    _check_role(role, participant)

    def change(user: ConsoleUser) -> None:
        user.role = role
        user.participant = participant

    return _change(engine, name, change)


def set_password(engine: Engine, name: str, password: str) -> ConsoleAccount:
    """A new password for a user; every session of the user ends (also the one of whoever knew the old one)."""
    hashed = hash_password(password)

    def change(user: ConsoleUser) -> None:
        if user.source != LOCAL:
            raise UserError(f"{name} signs in with the directory; its password is changed there")
        user.password_hash = hashed

    return _change(engine, name, change)


def set_email(engine: Engine, name: str, email: str | None) -> None:
    """Where the user's alerts go; None: nowhere. Sessions are not touched (nothing they may do changes)."""
    email = (email or "").strip() or None
    if email is not None and (len(email) > 320 or "@" not in email or any(c.isspace() for c in email)):
        raise UserError(f"{email!r} is not an e-mail address")
    with Session(engine) as session:
        user = session.exec(select(ConsoleUser).where(col(ConsoleUser.name) == name)).first()
        if user is None:
            raise UserError(f"no console user named {name}")
        user.email = email
        session.add(user)
        session.commit()


def end_sessions(engine: Engine, name: str) -> ConsoleAccount:
    """End every session of a user (sign-out, or an operator's ``xgw console-users sign-out``)."""
    return _change(engine, name, lambda user: None)


def end_session_of(engine: Engine, uid: uuid.UUID, generation: int) -> None:
    """Sign-out: raise the generation unless another sign-out did already (idempotent for one cookie)."""
    with Session(engine) as session:
        session.execute(
            sa.update(ConsoleUser)
            .where(col(ConsoleUser.uid) == uid, col(ConsoleUser.session_generation) == generation)
            .values(session_generation=col(ConsoleUser.session_generation) + 1)
        )
        session.commit()


_USERS = ConsoleUser.__table__  # type: ignore[attr-defined]
_SESSION_QUERY = sa.select(
    _USERS.c.id,
    _USERS.c.name,
    _USERS.c.role,
    _USERS.c.participant,
    _USERS.c.uid,
    _USERS.c.session_generation,
    _USERS.c.source,
    _USERS.c.directory_checked_at,
).where(
    _USERS.c.uid == sa.bindparam("uid"),
    _USERS.c.session_generation == sa.bindparam("generation"),
    _USERS.c.disabled_at.is_(None),
)


def session_account(engine: Engine, uid: uuid.UUID, generation: int) -> ConsoleAccount | None:
    """The signed-in account when the cookie's uid and generation are still the user's; None otherwise.

    Runs on every console request, so it is one Core query on the unique ``uid`` index without an ORM
    session (about 4x cheaper than loading the row as an object, which the numeric-id lookup did)."""
    with engine.connect() as connection:
        row = connection.execute(_SESSION_QUERY, {"uid": uid, "generation": generation}).first()
    if row is None:
        return None
    return ConsoleAccount(
        row.id,
        row.name,
        ConsoleRole(row.role),
        row.participant,
        row.uid,
        row.session_generation,
        row.source,
        row.directory_checked_at,
    )


@dataclass(frozen=True, slots=True)
class Failures:
    """Failed sign-ins within :data:`THROTTLE_WINDOW` from one client address: of one name, of all names."""

    of_name: int
    of_address: int


def recent_failures(engine: Engine, name: str, client: str | None) -> Failures:
    """Counted from the audit log (index ``client, at``); refused tries are not counted, so a lock lifts
    :data:`THROTTLE_WINDOW` after the last real guess however long the refused ones go on."""
    since = utcnow() - THROTTLE_WINDOW
    entries = AuditEntry.__table__  # type: ignore[attr-defined]
    address = entries.c.client == client if client is not None else entries.c.client.is_(None)
    query = sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((entries.c.actor == name[:128], 1), else_=0)), 0)
    ).where(address, entries.c.at >= since, entries.c.action == "sign-in", entries.c.result == audit.FAILED)
    with engine.connect() as connection:
        total, of_name = connection.execute(query).one()
    return Failures(of_name=int(of_name), of_address=int(total))


def check_sign_in(engine: Engine, name: str, password: str) -> ConsoleAccount | None:
    """The account when name and password match an enabled user; None otherwise (same work either way)."""
    with Session(engine) as session:
        user = session.exec(select(ConsoleUser).where(col(ConsoleUser.name) == name)).first()
    local = user is not None and user.disabled_at is None and user.source == LOCAL
    stored = user.password_hash if user is not None and local else None
    if not verify_password(stored, password) or user is None:
        return None
    return account(user)


def is_local_user(engine: Engine, name: str) -> bool:
    """Whether ``name`` is a user the console keeps the password of (the directory never signs one in)."""
    with engine.connect() as connection:
        source = connection.execute(sa.select(_USERS.c.source).where(_USERS.c.name == name)).scalar()
    return source == LOCAL


def directory_sign_in(
    engine: Engine, name: str, role: ConsoleRole, participant: str | None, email: str | None
) -> ConsoleAccount | None:
    """The console record of a directory user the directory just admitted: made on first sign-in, brought up
    to date after (role, participant, e-mail; a new role ends the user's older sessions). None when a local
    user has that name: a directory account never takes over a local one."""
    _check_role(role, participant)
    try:
        return _directory_record(engine, name, role, participant, email)
    except sa.exc.IntegrityError:  # a first sign-in of the same user in another request made the record
        return _directory_record(engine, name, role, participant, email)


def _directory_record(
    engine: Engine, name: str, role: ConsoleRole, participant: str | None, email: str | None
) -> ConsoleAccount | None:
    with Session(engine, expire_on_commit=False) as session:
        user = session.exec(select(ConsoleUser).where(col(ConsoleUser.name) == name).with_for_update()).first()
        if user is None:
            user = ConsoleUser(
                name=name, password_hash=NO_PASSWORD, role=role, participant=participant, source=DIRECTORY
            )
        elif user.source != DIRECTORY:
            return None
        elif (user.role, user.participant) != (role, participant) or user.disabled_at is not None:
            user.session_generation += 1
        user.role, user.participant, user.email = role, participant, email
        user.disabled_at = None
        user.directory_checked_at = utcnow()
        session.add(user)
        session.commit()
        return account(user)


def directory_confirmed(engine: Engine, uid: uuid.UUID) -> None:
    with engine.begin() as connection:
        connection.execute(sa.update(_USERS).where(_USERS.c.uid == uid).values(directory_checked_at=utcnow()))


def directory_revoked(engine: Engine, uid: uuid.UUID) -> None:
    """The directory no longer admits the user (or gives another role): every session of it ends now."""
    with engine.begin() as connection:
        connection.execute(
            sa.update(_USERS)
            .where(_USERS.c.uid == uid)
            .values(disabled_at=utcnow(), session_generation=_USERS.c.session_generation + 1)
        )


def current_account(engine: Engine, settings: Settings, uid: uuid.UUID, generation: int) -> ConsoleAccount | None:
    """:func:`session_account`, and for a directory user a fresh word of the directory when the last is older
    than ``console_ldap.recheck_seconds``. A directory that cannot be asked refuses the request (the session
    itself lives on and works again once the directory answers); one that says no ends the user's sessions."""
    user = session_account(engine, uid, generation)
    if user is None or user.source != DIRECTORY:
        return user
    config = settings.console_ldap
    if not config.enabled:
        return None
    if not config.bind_dn:
        return user  # nothing to ask the directory with: the sign-in's word lasts the session
    checked = user.checked_at
    if checked is not None and (utcnow() - checked).total_seconds() < config.recheck_seconds:
        return user
    from gateway.console.directory import Directory, DirectoryError

    try:
        verdict = Directory(config).lookup(user.name)
    except DirectoryError as exc:
        log.warning("directory re-check of %s not possible: %s", user.name, exc)
        return None
    fresh = verdict.user
    if fresh is None or (fresh.role, fresh.participant) != (user.role, user.participant):
        directory_revoked(engine, uid)
        audit.record(
            engine,
            user.name,
            "session",
            result=audit.REFUSED,
            detail=f"directory: {verdict.reason}" if fresh is None else "directory: role changed",
        )
        return None
    directory_confirmed(engine, uid)
    return user
