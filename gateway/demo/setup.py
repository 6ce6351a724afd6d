"""Everything ``xgw serve --demo`` prepares before it serves, so that the demo works from one command.

A newcomer should see the whole way of a message -- signed for its sender, verified for its recipient,
delivered into a transfer directory, answered -- without reading the operator's manual first. So the
demo prepares what an operator would otherwise do by hand, and prepares it idempotently (a second start
reuses what the first made):

* the participant directory (:data:`gateway.demo.DEMO_DIRECTORY`), with relative adapter paths taken
  below the data directory, and every folder those adapters read or write created;
* a signing key for every participant that has none on this gateway (made once, mode 0600 under
  ``<data_dir>/keys``) and its self-signed certificate pinned, so that the demo can require signatures;
* a console administrator ``demo-admin`` whose password is new at every start (printed once; the old
  one stops working), and fresh API tokens for every participant (the previous demo tokens are revoked),
  also written as shell variables to ``<data_dir>/demo/tokens.env`` (mode 0600) for copy-paste.

Secrets are returned to the caller for printing and written only into that 0600 file; nothing is
logged. A production gateway never runs with ``--demo``.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from gateway.config import Settings
from gateway.console.passwords import hash_password
from gateway.demo import DEMO_DIRECTORY
from gateway.participants.directory import import_entries, read_directory_file
from gateway.participants.spec import ParticipantSpec
from gateway.participants.tokens import Scope, create_token, list_tokens, revoke_token
from gateway.pipeline import directory
from gateway.pipeline.context import PipelineContext
from gateway.store.models import Certificate, CertificateUsage, ConsoleRole, ConsoleUser, Participant
from gateway.xoev.signatures.keys import (
    KeyAlgorithm,
    certificate_pem,
    generate_key,
    self_signed_certificate,
    subject_name,
)
from gateway.xoev.signatures.signature import certificate_fingerprint

DEMO_TOKEN_NAME = "demo (xgw serve --demo)"  # noqa: S105 - the tokens' label, not a secret
DEMO_ADMIN = "demo-admin"
#: the district the walkthrough starts with, and the archive it offers its records to
DEMO_DISTRICT = "psw:16077000"
DEMO_ARCHIVE = "lth:16000100"
#: where the demo keeps its own files (transfer directories, tokens.env) below the data directory
DEMO_DATA = "demo"
TOKENS_FILE = "tokens.env"
#: demo certificates are valid this long; a demo data directory older than that gets new ones on start
CERTIFICATE_DAYS = 730
_PASSWORD_BYTES = 15  # 20 characters of URL-safe base64: well above the console's minimum of 12


@dataclass(frozen=True, slots=True)
class DemoToken:
    participant: str
    name: str
    secret: str


@dataclass
class DemoSetup:
    """What the start-up block shows: who can sign in where, with which secret."""

    admin_name: str
    admin_password: str
    tokens: list[DemoToken]
    tokens_file: Path
    folders: list[Path] = field(default_factory=list)
    keys_created: list[str] = field(default_factory=list)

    def token_of(self, participant: str) -> str:
        return next(t.secret for t in self.tokens if t.participant == participant)


def demo_specs(settings: Settings) -> list[ParticipantSpec]:
    """The demo directory, its relative adapter paths made absolute below the data directory."""
    specs = read_directory_file(DEMO_DIRECTORY)
    data_dir = settings.data_dir.resolve()
    for spec in specs:
        path = spec.adapter.get("path")
        if isinstance(path, str) and not Path(path).is_absolute():
            spec.adapter = {**spec.adapter, "path": str(data_dir / path)}
    return specs


#: x-man's answer folders in each transfer directory and the gateway's staging folder beside them, when the
#: archive's entry leaves them at their defaults (``preset = "xman"``, docs/adapters.md)
XMAN_ANSWER_FOLDERS = ("0502", "0504", "0506", "0507")
XMAN_STAGING = ".xgw-staging"


def _adapter_folders(config: dict[str, Any]) -> list[Path]:
    """The local folders a hotfolder adapter needs, which a demo must create because nobody else will.

    A plain transfer directory: its inbox and outbox. An x-man one (``preset = "xman"``): one directory per
    district with x-man's answer folders, and the staging folder beside them -- that adapter never creates
    a transfer directory itself, since x-man would not read one it was not configured with.
    """
    path = config.get("path")
    if config.get("kind") != "hotfolder" or not isinstance(path, str):
        return []
    root = Path(path)
    if config.get("preset") != "xman":
        return [root, root / str(config.get("inbox", "in")), root / str(config.get("outbox", "out"))]
    answers = config.get("answer_dirs") or dict.fromkeys(XMAN_ANSWER_FOLDERS, "")
    answer_folders = [str(folder or code) for code, folder in dict(answers).items()]
    folders = [root, root / str(config.get("staging", XMAN_STAGING))]
    for directory_name in dict(config.get("transfer_dirs") or {}).values():
        folders.append(root / str(directory_name))
        folders.extend(root / str(directory_name) / answer for answer in answer_folders)
    return folders


def _ensure_signing_key(ctx: PipelineContext, session: Session, participant: Participant) -> bool:
    """Make and pin a signing key unless the participant has a usable one here; True when one was made.

    ECDSA P-256 rather than the RSA 3072 of ``xgw keys create``: seven RSA keys would delay the first start
    by seconds on a small machine, and the demo's point is that messages are signed and verified at all.
    """
    if directory.signing_credentials(session, ctx.keys, participant.xoev_id) is not None:
        return False
    key = generate_key(KeyAlgorithm.EC)
    certificate = self_signed_certificate(
        key,
        subject_name(participant.display_name, participant.display_name, participant.xoev_id),
        days=CERTIFICATE_DAYS,
    )
    ctx.keys.save(key)
    assert participant.id is not None
    session.add(
        Certificate(
            participant_id=participant.id,
            pem=certificate_pem([certificate]),
            fingerprint_sha256=certificate_fingerprint(certificate),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            usage=CertificateUsage.SIGNING,
        )
    )
    return True


def _reset_admin(session: Session) -> str:
    """Create ``demo-admin`` or give it a new password; returns the password (shown once)."""
    password = secrets.token_urlsafe(_PASSWORD_BYTES)
    user = session.exec(select(ConsoleUser).where(col(ConsoleUser.name) == DEMO_ADMIN)).first()
    if user is None:
        user = ConsoleUser(name=DEMO_ADMIN, password_hash="", role=ConsoleRole.GATEWAY_ADMIN)
    user.password_hash = hash_password(password)
    user.role = ConsoleRole.GATEWAY_ADMIN
    user.disabled_at = None
    session.add(user)
    return password


def _variable(participant: str) -> str:
    return "TOKEN_" + re.sub(r"[^A-Za-z0-9]", "_", participant).upper()


def _write_tokens(path: Path, base_url: str, tokens: list[DemoToken]) -> None:
    """Shell variables for the walkthrough, written 0600 (the file holds the API tokens)."""
    lines = [
        f"# xgw serve --demo, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: the demo participants' API tokens.",
        "# Revoked at the next `xgw serve --demo` start. Use: source this file",
        f"export XGW_URL={base_url}",
    ]
    for token in tokens:
        lines.append(f"export {_variable(token.participant)}={token.secret}  # {token.name}")
    district = next(t for t in tokens if t.participant == DEMO_DISTRICT)
    archive = next(t for t in tokens if t.participant == DEMO_ARCHIVE)
    lines.append(f"export DISTRICT_TOKEN={district.secret}  # {district.name}")
    lines.append(f"export ARCHIVE_TOKEN={archive.secret}  # {archive.name}")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(temporary, path)


def prepare_demo(ctx: PipelineContext, base_url: str) -> DemoSetup:
    """Load the demo directory and make what it needs (see the module docstring); one transaction."""
    settings = ctx.settings
    specs = demo_specs(settings)
    folders = [folder for spec in specs for folder in _adapter_folders(spec.adapter)]
    for folder in folders:
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    tokens: list[DemoToken] = []
    keys_created: list[str] = []
    with Session(ctx.engine) as session:
        import_entries(session, specs)
        session.flush()
        for spec in specs:
            participant = session.exec(select(Participant).where(col(Participant.xoev_id) == spec.id)).one()
            if _ensure_signing_key(ctx, session, participant):
                keys_created.append(spec.id)
        for info in list_tokens(session):
            if info.name == DEMO_TOKEN_NAME and info.revoked_at is None:
                revoke_token(session, info.id)
        for spec in specs:
            token = create_token(session, spec.id, (Scope.SUBMIT, Scope.READ), name=DEMO_TOKEN_NAME)
            tokens.append(DemoToken(spec.id, spec.name, token.secret))
        password = _reset_admin(session)
        session.commit()
    tokens_file = settings.data_dir.resolve() / DEMO_DATA / TOKENS_FILE
    _write_tokens(tokens_file, base_url, tokens)
    return DemoSetup(DEMO_ADMIN, password, tokens, tokens_file, folders, keys_created)
