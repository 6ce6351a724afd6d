"""Alerts (issue 12) against a real SMTP server (aiosmtpd, STARTTLS and AUTH required) and a real HTTPS webhook.

Each test has its own database (SQLite, and PostgreSQL when available) with console users of every role;
failures are written as the pipeline writes them (a message row and its event into ``failed`` or
``dead_lettered``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage as Mail
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.alerts.run import run_alerts
from gateway.config import Alerts, Settings
from gateway.console.users import add_user, set_email
from gateway.store.db import create_engine
from gateway.store.models import (
    Certificate,
    CertificateUsage,
    ConsoleRole,
    DeliveryAttempt,
    DeliveryOutcome,
    Direction,
    Message,
    MessageEvent,
    MessageState,
    Participant,
    RouteKind,
)
from gateway.store.types import utcnow
from tests.alerts.servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    DemoCa,
    Mailbox,
    Webhook,
    free_port,
    make_ca,
    smtp_server,
    webhook_receiver,
)

GOTHA = "psw:16067000"
ALTENBURG = "psw:16077000"
ARCHIVE = "psw:16000001"
OPS = "ops@example.org"
ROOT = "root@example.org"
GOTHA_ADMIN = "gotha-admin@example.org"
ALTENBURG_ADMIN = "abg-admin@example.org"
VIEWER = "viewer@example.org"
WEBHOOK_SECRET = "webhook-hmac-key"
USER_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DemoCa:
    return make_ca(tmp_path_factory.mktemp("alerts-ca"))


@pytest.fixture
def mailbox(ca: DemoCa) -> Iterator[Mailbox]:
    with smtp_server(ca) as box:
        yield box


@pytest.fixture
def webhook(ca: DemoCa) -> Iterator[Webhook]:
    with webhook_receiver(ca) as hook:
        yield hook


def alert_settings(base: Settings, tmp_path: Path, ca: DemoCa, port: int, webhook: Webhook | None) -> Settings:
    alerts = Alerts(
        recipients=[OPS],
        smtp_host="localhost",
        smtp_port=port,
        smtp_tls="starttls",
        smtp_ca_file=ca.ca_file,
        smtp_user=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        smtp_from="gateway@example.org",
        smtp_timeout_seconds=5,
        webhook_url=webhook.url if webhook else None,
        webhook_secret=WEBHOOK_SECRET,
        webhook_ca_file=ca.ca_file,
        examples=10,
    )
    pipeline = base.pipeline.model_copy(update={"step_deadline_hours": {"default": 1.0}})
    return base.model_copy(update={"data_dir": tmp_path / "data", "alerts": alerts, "pipeline": pipeline})


@pytest.fixture
def users(engine: Engine) -> Engine:
    for name, role, participant, address in (
        ("root", ConsoleRole.GATEWAY_ADMIN, None, ROOT),
        ("gotha", ConsoleRole.PARTICIPANT_ADMIN, GOTHA, GOTHA_ADMIN),
        ("abg", ConsoleRole.PARTICIPANT_ADMIN, ALTENBURG, ALTENBURG_ADMIN),
        ("viewer", ConsoleRole.READ_ONLY, None, VIEWER),
        ("nomail", ConsoleRole.GATEWAY_ADMIN, None, None),
    ):
        add_user(engine, name, USER_PASSWORD, role, participant)
        set_email(engine, name, address)
    return engine


def add_message(
    engine: Engine,
    *,
    sender: str = GOTHA,
    recipient: str = ARCHIVE,
    state: MessageState = MessageState.FAILED,
    message_type: str = "0501",
    created_at: datetime | None = None,
    error: str = "XtaRefused: peer answered 503 Service Unavailable",
) -> uuid.UUID:
    with Session(engine) as session:
        message = Message(
            direction=Direction.OUTBOUND,
            process_id=str(uuid.uuid4()),
            message_type=message_type,
            xdomea_version="3.0.0",
            sender_id=sender,
            recipient_id=recipient,
            state=state,
            size=1,
            sha256="0" * 64,
            payload_ref="0" * 64,
            content_hash=uuid.uuid4().hex,
            created_at=created_at or utcnow(),
        )
        session.add(message)
        session.flush()
        session.add(
            MessageEvent(
                message_id=message.id,
                from_state=MessageState.QUEUED,
                to_state=state,
                actor="w",
                reason="x",
                error=error,
            )
        )
        session.commit()
        return message.id


def bodies(mails: list[Mail]) -> list[str]:
    return [str(m.get_content()).replace("\r\n", "\n") for m in mails]


def test_fifty_failures_are_one_mail_per_recipient_and_one_webhook_call(
    users: Engine, settings: Settings, tmp_path: Path, ca: DemoCa, mailbox: Mailbox, webhook: Webhook
) -> None:
    config = alert_settings(settings, tmp_path, ca, mailbox.port, webhook)
    for _ in range(50):
        add_message(users)
    add_message(users, sender=ALTENBURG, state=MessageState.DEAD_LETTERED, error="gave up after 8 tries")
    report = run_alerts(users, config)
    assert report.ran
    assert report.new_items == 51
    assert report.failed == []
    assert all(mailbox.starttls_used)
    assert len(mailbox.mails) == 4  # ops, root, the two participant admins; neither the viewer nor nomail
    assert mailbox.to(VIEWER) == []
    (ops,) = mailbox.to(OPS)
    text = bodies([ops])[0]
    assert "Fehlgeschlagene Nachrichten: 50" in text
    assert "Endgültig gescheiterte Nachrichten (Dead Letter): 1" in text
    assert "... und 40 weitere" in text
    assert text.count("XtaRefused") == 10
    assert "50 Fehlgeschlagene Nachrichten" in str(ops["Subject"])
    (gotha,) = bodies(mailbox.to(GOTHA_ADMIN))
    assert "Fehlgeschlagene Nachrichten: 50" in gotha
    assert "Dead Letter" not in gotha and ALTENBURG not in gotha
    (abg,) = bodies(mailbox.to(ALTENBURG_ADMIN))
    assert "Dead Letter): 1" in abg and "Fehlgeschlagene Nachrichten:" not in abg
    (root,) = bodies(mailbox.to(ROOT))
    assert "Fehlgeschlagene Nachrichten: 50" in root and "Dead Letter): 1" in root

    (call,) = webhook.received
    headers, body = call
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-xgw-signature"], expected)
    payload = json.loads(body)
    assert payload["counts"] == {"dead-lettered": 1, "failed": 50}
    assert len(payload["examples"]["failed"]) == 10


def test_nothing_is_repeated_after_a_restart_and_new_failures_follow(
    users: Engine, database_url: str, settings: Settings, tmp_path: Path, ca: DemoCa, mailbox: Mailbox, webhook: Webhook
) -> None:
    config = alert_settings(settings, tmp_path, ca, mailbox.port, webhook)
    for _ in range(3):
        add_message(users)
    assert run_alerts(users, config).new_items == 3
    sent = len(mailbox.mails)
    assert sent == 3  # ops, root, gotha
    assert run_alerts(users, config).new_items == 0
    restarted = create_engine(database_url)  # another process, the same database
    try:
        assert run_alerts(restarted, config, owner="another-node").new_items == 0
        assert len(mailbox.mails) == sent
        assert len(webhook.received) == 1
        add_message(users)
        assert run_alerts(restarted, config, owner="another-node").new_items == 1
    finally:
        restarted.dispose()
    assert len(mailbox.mails) == sent + 3
    assert "Fehlgeschlagene Nachrichten: 1\n" in bodies(mailbox.to(OPS))[-1]
    assert len(webhook.received) == 2


def test_a_passed_process_deadline_is_alerted_once(
    users: Engine, settings: Settings, tmp_path: Path, ca: DemoCa, mailbox: Mailbox
) -> None:
    config = alert_settings(settings, tmp_path, ca, mailbox.port, None)
    # a 0501 Anbietung waits for the archive's 0502 (deadline: 1 hour here); one is late, one is not
    late = add_message(users, state=MessageState.SENT, created_at=utcnow() - timedelta(hours=2))
    add_message(users, state=MessageState.SENT, created_at=utcnow() - timedelta(minutes=10))
    with Session(users) as session:
        late_process = session.get(Message, late).process_id  # type: ignore[union-attr]
    report = run_alerts(users, config)
    assert report.new_items == 1
    (gotha,) = bodies(mailbox.to(GOTHA_ADMIN))
    assert "Überschrittene Prozessfristen: 1" in gotha
    assert late_process in gotha and "0501 wartet seit" in gotha and "auf 0502, Frist" in gotha
    assert mailbox.to(ALTENBURG_ADMIN) == []
    assert run_alerts(users, config).new_items == 0  # alerted once while it lasts
    assert len(mailbox.to(GOTHA_ADMIN)) == 1


def test_a_certificate_ten_days_from_expiry_and_a_peer_down(
    users: Engine, settings: Settings, tmp_path: Path, ca: DemoCa, mailbox: Mailbox
) -> None:
    config = alert_settings(settings, tmp_path, ca, mailbox.port, None)
    now = utcnow()
    with Session(users) as session:
        gotha = Participant(xoev_id=GOTHA, display_name="Gotha", route_kind=RouteKind.MAILBOX)
        session.add(gotha)
        session.flush()
        assert gotha.id is not None
        for days, fingerprint in ((10, "a" * 64), (60, "b" * 64)):
            session.add(
                Certificate(
                    participant_id=gotha.id,
                    pem="-",
                    fingerprint_sha256=fingerprint,
                    not_before=now - timedelta(days=300),
                    not_after=now + timedelta(days=days, minutes=5),
                    usage=CertificateUsage.SIGNING,
                )
            )
        session.commit()
    message = add_message(users, state=MessageState.QUEUED)

    def attempts(peer: str, outcome: DeliveryOutcome, count: int = 1) -> None:
        with Session(users) as session:
            for _ in range(count):
                session.add(
                    DeliveryAttempt(
                        message_id=message,
                        peer=peer,
                        finished_at=now,
                        outcome=outcome,
                        error=None if outcome is DeliveryOutcome.SUCCEEDED else "ConnectError: connection refused",
                    )
                )
            session.commit()

    attempts("https://xta.archiv.example/", DeliveryOutcome.FAILED, 3)
    attempts(f"adapter:hotfolder:{GOTHA}", DeliveryOutcome.FAILED, 3)
    attempts("https://xta.other.example/", DeliveryOutcome.FAILED, 2)  # two are not yet "down"
    assert run_alerts(users, config).new_items == 3
    (ops,) = bodies(mailbox.to(OPS))
    assert "Ablaufende Zertifikate: 1" in ops
    assert "a" * 64 in ops and "läuft in 10 Tagen ab" in ops and "b" * 64 not in ops
    assert "Nicht erreichbare XTA-Gegenstellen: 1" in ops and "https://xta.archiv.example/" in ops
    (gotha_mail,) = bodies(mailbox.to(GOTHA_ADMIN))
    assert "Ablaufende Zertifikate: 1" in gotha_mail
    assert "XTA-Gegenstellen" not in gotha_mail  # a peer is the gateway's, not a participant's
    assert "Gestörte DMS-Adapter: 1" in gotha_mail and "hotfolder" in gotha_mail
    assert "xta.other.example" not in ops
    assert run_alerts(users, config).new_items == 0
    # the peer comes back: the condition ends; down again later, it is alerted again
    attempts("https://xta.archiv.example/", DeliveryOutcome.SUCCEEDED)
    assert run_alerts(users, config).new_items == 0
    attempts("https://xta.archiv.example/", DeliveryOutcome.FAILED, 3)
    assert run_alerts(users, config).new_items == 1
    assert "Nicht erreichbare XTA-Gegenstellen: 1" in bodies(mailbox.to(OPS))[-1]


def test_a_mail_server_that_is_down_gets_everything_at_the_next_run(
    users: Engine, settings: Settings, tmp_path: Path, ca: DemoCa, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens here yet
    config = alert_settings(settings, tmp_path, ca, port, webhook)
    for _ in range(2):
        add_message(users)
    with caplog.at_level(logging.INFO, logger="gateway.alerts"):
        report = run_alerts(users, config)
    assert sorted(report.failed) == sorted([OPS, ROOT, GOTHA_ADMIN])
    assert report.sent == ["webhook"]  # the webhook was up: it is not told twice
    assert "not delivered, retried next run" in caplog.text
    assert SMTP_PASSWORD not in caplog.text
    assert "webhook-token-never-logged" not in caplog.text
    add_message(users)
    with smtp_server(ca, port) as mailbox:
        report = run_alerts(users, config)
        assert report.failed == []
        assert len(mailbox.mails) == 3
        assert "Fehlgeschlagene Nachrichten: 3" in bodies(mailbox.to(OPS))[0]  # the two before and the new one
        assert run_alerts(users, config).sent == []
    assert [json.loads(body)["counts"] for _, body in webhook.received] == [{"failed": 2}, {"failed": 1}]


def test_xgw_alerts_run(
    users: Engine,
    database_url: str,
    settings: Settings,
    tmp_path: Path,
    ca: DemoCa,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.cli.main import cli

    env: dict[str, Any] = {
        "XGW_DATABASE_URL": database_url,
        "XGW_DATA_DIR": str(tmp_path / "data"),
        "XGW_ALERTS__RECIPIENTS": json.dumps([OPS]),
        "XGW_ALERTS__SMTP_HOST": "localhost",
        "XGW_ALERTS__SMTP_PORT": str(mailbox.port),
        "XGW_ALERTS__SMTP_CA_FILE": str(ca.ca_file),
        "XGW_ALERTS__SMTP_USER": SMTP_USER,
        "XGW_ALERTS__SMTP_PASSWORD": SMTP_PASSWORD,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    assert runner.invoke(cli, ["console-users", "set-email", "root", "not an address"]).exit_code == 1
    changed = runner.invoke(cli, ["console-users", "set-email", "root", "boss@example.org"])
    assert changed.exit_code == 0, changed.output
    assert runner.invoke(cli, ["console-users", "set-email", "gotha"]).exit_code == 0  # no more alerts for gotha
    add_message(users)
    result = runner.invoke(cli, ["alerts", "run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["new_items"] == 1
    assert len(mailbox.to(OPS)) == 1
    assert len(mailbox.to("boss@example.org")) == 1
    assert mailbox.to(ROOT) == [] and mailbox.to(GOTHA_ADMIN) == []
