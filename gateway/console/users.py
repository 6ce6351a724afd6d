"""Console users: add, list, remove, and check a sign-in (with a throttle on repeated failures)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from gateway.console.passwords import hash_password, verify_password
from gateway.store.models import AuditEntry, ConsoleRole, ConsoleUser
from gateway.store.types import utcnow

THROTTLE_WINDOW = timedelta(minutes=15)


class UserError(ValueError):
    """A user cannot be added or removed as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class ConsoleAccount:
    """Who is signed in: what the pages and queries need, without the password hash."""

    id: int
    name: str
    role: ConsoleRole
    participant: str | None

    @property
    def is_gateway_admin(self) -> bool:
        return self.role is ConsoleRole.GATEWAY_ADMIN

    @property
    def can_act(self) -> bool:
        """Retry, requeue, cancel, dead-letter: admins of the gateway, and of a participant for its messages."""
        return self.role is not ConsoleRole.READ_ONLY


def account(user: ConsoleUser) -> ConsoleAccount:
    assert user.id is not None
    return ConsoleAccount(user.id, user.name, user.role, user.participant)


def add_user(
    engine: Engine, name: str, password: str, role: ConsoleRole, participant: str | None = None
) -> ConsoleAccount:
    if role is ConsoleRole.PARTICIPANT_ADMIN and not participant:
        raise UserError("a participant admin needs --participant (the authority's XÖV identifier)")
    if role is not ConsoleRole.PARTICIPANT_ADMIN and participant:
        raise UserError("only a participant admin is bound to a participant")
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


def get_account(engine: Engine, user_id: int) -> ConsoleAccount | None:
    with Session(engine) as session:
        user = session.get(ConsoleUser, user_id)
        if user is None or user.disabled_at is not None:
            return None
        return account(user)


def recent_failures(engine: Engine, name: str) -> int:
    since = utcnow() - THROTTLE_WINDOW
    with Session(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    col(AuditEntry.actor) == name[:128],
                    col(AuditEntry.action) == "sign-in",
                    col(AuditEntry.result) != "ok",
                    col(AuditEntry.at) >= since,
                )
            ).one()
        )


def check_sign_in(engine: Engine, name: str, password: str) -> ConsoleAccount | None:
    """The account when name and password match an enabled user; None otherwise (same work either way)."""
    with Session(engine) as session:
        user = session.exec(select(ConsoleUser).where(col(ConsoleUser.name) == name)).first()
    stored = user.password_hash if user is not None and user.disabled_at is None else None
    if not verify_password(stored, password) or user is None:
        return None
    return account(user)
