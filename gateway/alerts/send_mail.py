"""Send one digest mail over SMTP: STARTTLS (or implicit TLS) against ``alerts.smtp_ca_file``, AUTH if set.

Plain SMTP (``smtp_tls = "none"``) only to a relay on this machine. Errors come back as
:class:`SendError` naming server and recipient, never the password.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from gateway.config import Alerts

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class SendError(Exception):
    """A digest could not be delivered; the message says where and why, without secrets."""


def tls_context(ca_file: object) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def send_mail(config: Alerts, to: str, subject: str, body: str) -> None:
    if not config.smtp_host:
        raise SendError("alerts.smtp_host is not set: no mail can be sent")
    where = f"{config.smtp_host}:{config.smtp_port}"
    if config.smtp_tls == "none" and config.smtp_host not in LOOPBACK:
        raise SendError(f"refusing plain SMTP to {where}: alerts.smtp_tls = none is for a relay on this machine")
    message = EmailMessage()
    message["From"] = config.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.smtp_from.rpartition("@")[2] or None)
    message.set_content(body)
    context = tls_context(config.smtp_ca_file)
    try:
        smtp: smtplib.SMTP
        if config.smtp_tls == "tls":
            smtp = smtplib.SMTP_SSL(
                config.smtp_host, config.smtp_port, timeout=config.smtp_timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.smtp_timeout_seconds)
        with smtp:
            smtp.ehlo()
            if config.smtp_tls == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.smtp_user:
                password = config.smtp_password.get_secret_value() if config.smtp_password else ""
                smtp.login(config.smtp_user, password)
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"mail to {to} via {where} failed: {type(exc).__name__}: {exc}") from None
