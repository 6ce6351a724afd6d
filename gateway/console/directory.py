"""Directory sign-in (LDAP / Active Directory): who a directory user is and which console role the groups give.

Uses ldap3 (pure Python, no libldap to build, typed stubs). Two ways to find a user:

- ``user_dn_template`` (``uid={username},ou=people,...``): bind as the user directly; groups and mail are
  then read with the user's own rights.
- otherwise a search with the service account ``bind_dn`` (Active Directory: sAMAccountName or
  userPrincipalName in ``user_filter``), then a bind as the DN found with the password given.

Everything the user typed is escaped before it reaches the directory: RFC 4515 in search filters, RFC 4514
in a DN. An empty password is refused here, before the directory sees it: LDAP takes a bind with a DN and
no password as an *anonymous* bind and answers success. The connection is TLS (``ldaps://``, or
``ldap://`` with StartTLS) against ``ca_file`` with the host name checked; plain LDAP only with
``allow_plain``. Secrets (the passwords) never reach a log or an error message.

A user's role is the first entry of ``groups`` whose DN is among the user's groups (``memberOf``, or a
group search); a user in none of them is treated like a wrong password, so a directory account alone
opens nothing.
"""

from __future__ import annotations

import contextlib
import logging
import math
import ssl
from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from gateway.config import ConsoleLdap
from gateway.store.models import ConsoleRole

log = logging.getLogger("gateway.console.directory")

MAX_NAME = 128


class DirectoryError(Exception):
    """The directory could not be asked (unreachable, TLS refused, misconfigured); the message holds no secret."""


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A directory user the mapping admits: its DN, the console role and, for a participant admin, the authority."""

    name: str
    dn: str
    role: ConsoleRole
    participant: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the directory said about a sign-in: the user, or why not (for the audit log, never shown as such)."""

    user: DirectoryUser | None
    reason: str


def normalise_dn(dn: str) -> str:
    """DNs compared as the directory would for the usual cases: case and spaces around separators ignored."""
    parts = [part.strip() for part in dn.split(",")]
    return ",".join("=".join(side.strip() for side in part.split("=", 1)) for part in parts).casefold()


class Directory:
    """One configured directory; every call opens its own connection (sign-ins are rare, connections cheap)."""

    def __init__(self, config: ConsoleLdap) -> None:
        self.config = config
        url = config.url.strip()
        self.ldaps = url.lower().startswith("ldaps://")
        if not self.ldaps and not url.lower().startswith("ldap://"):
            raise DirectoryError(f"console_ldap.url must start with ldaps:// or ldap://, not {url!r}")
        if not self.ldaps and not config.start_tls and not config.allow_plain:
            raise DirectoryError(
                "console_ldap.url is ldap:// without start_tls: passwords would cross the network readable "
                "(set console_ldap.allow_plain only for a directory on this machine)"
            )
        self.tls = not (not self.ldaps and not config.start_tls)
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            version=ssl.PROTOCOL_TLS_CLIENT,
            ca_certs_file=str(config.ca_file) if config.ca_file else None,
        )
        self.server = ldap3.Server(
            url,
            use_ssl=self.ldaps,
            tls=tls if self.tls else None,
            connect_timeout=config.timeout_seconds,
            get_info=ldap3.NONE,
        )

    # -- connections --

    def _connect(self, user: str | None, password: str | None) -> ldap3.Connection:
        """An open connection, TLS started; bound as ``user`` when given. Raises DirectoryError when unreachable."""
        connection = ldap3.Connection(
            self.server,
            user=user,
            password=password,
            auto_bind=ldap3.AUTO_BIND_NONE,
            receive_timeout=max(1, math.ceil(self.config.timeout_seconds)),  # ldap3 wants whole seconds
            read_only=True,
            raise_exceptions=False,
        )
        try:
            connection.open()
            started = self.ldaps or not self.config.start_tls or connection.start_tls()
        except (LDAPException, OSError) as exc:
            _close(connection)
            raise DirectoryError(f"directory {self.config.url} unreachable: {type(exc).__name__}: {exc}") from None
        if not started:
            _close(connection)
            raise DirectoryError(f"StartTLS refused by {self.config.url}: {connection.result.get('description')}")
        return connection

    def _service(self) -> ldap3.Connection:
        password = self.config.bind_password.get_secret_value() if self.config.bind_password else None
        connection = self._connect(self.config.bind_dn, password)
        try:
            bound = connection.bind()
        except LDAPException as exc:
            _close(connection)
            raise DirectoryError(f"directory {self.config.url}: service bind failed: {type(exc).__name__}") from None
        if not bound:
            _close(connection)
            raise DirectoryError(
                f"directory {self.config.url}: the service account {self.config.bind_dn} was refused "
                f"({connection.result.get('description')})"
            )
        return connection

    # -- finding users --

    def _find(self, connection: ldap3.Connection, username: str) -> tuple[str, dict[str, Any]] | None:
        query = self.config.user_filter.replace("{username}", escape_filter_chars(username))
        attributes = [self.config.mail_attribute]
        if self.config.group_attribute:
            attributes.append(self.config.group_attribute)
        try:
            connection.search(self.config.user_search_base, query, ldap3.SUBTREE, attributes=attributes, size_limit=2)
        except LDAPException as exc:
            raise DirectoryError(f"directory {self.config.url}: user search failed: {type(exc).__name__}") from None
        found = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
        if len(found) != 1:  # none, or an ambiguous name: nobody signs in as one of two people
            return None
        return str(found[0]["dn"]), dict(found[0].get("attributes") or {})

    def _read_self(self, connection: ldap3.Connection, dn: str) -> dict[str, Any]:
        attributes = [self.config.mail_attribute]
        if self.config.group_attribute:
            attributes.append(self.config.group_attribute)
        try:
            connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes)
        except LDAPException as exc:
            raise DirectoryError(f"directory {self.config.url}: reading failed: {type(exc).__name__}") from None
        found = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
        return dict(found[0].get("attributes") or {}) if found else {}

    def _groups(self, connection: ldap3.Connection, dn: str, attributes: dict[str, Any]) -> set[str]:
        if self.config.group_attribute:
            values = attributes.get(self.config.group_attribute) or []
            return {normalise_dn(str(v)) for v in ([values] if isinstance(values, str) else values)}
        query = self.config.group_filter.replace("{user_dn}", escape_filter_chars(dn))
        try:
            connection.search(self.config.group_search_base, query, ldap3.SUBTREE, attributes=[])
        except LDAPException as exc:
            raise DirectoryError(f"directory {self.config.url}: group search failed: {type(exc).__name__}") from None
        return {normalise_dn(str(e["dn"])) for e in connection.response or [] if e.get("type") == "searchResEntry"}

    def _admit(self, name: str, dn: str, groups: set[str], attributes: dict[str, Any]) -> Verdict:
        for mapping in self.config.groups:
            if normalise_dn(mapping.group) in groups:
                mail = attributes.get(self.config.mail_attribute)
                if isinstance(mail, list):
                    mail = mail[0] if mail else None
                role = ConsoleRole(mapping.role)
                participant = mapping.participant if role is ConsoleRole.PARTICIPANT_ADMIN else None
                return Verdict(DirectoryUser(name, dn, role, participant, str(mail) if mail else None), "ok")
        return Verdict(None, "in no mapped directory group")

    # -- what the console asks --

    def authenticate(self, username: str, password: str) -> Verdict:
        """Check name and password against the directory; raises DirectoryError only when it cannot be asked."""
        if not username or len(username) > MAX_NAME or not password:
            return Verdict(None, "wrong name or password")
        if self.config.user_dn_template:
            dn = self.config.user_dn_template.replace("{username}", escape_rdn(username))
            connection = self._connect(dn, password)
            try:
                if not connection.bind():
                    return Verdict(None, "wrong name or password")
                attributes = self._read_self(connection, dn)
                return self._admit(username, dn, self._groups(connection, dn, attributes), attributes)
            finally:
                _close(connection)
        service = self._service()
        try:
            found = self._find(service, username)
            if found is None:
                return Verdict(None, "wrong name or password")
            dn, attributes = found
            groups = self._groups(service, dn, attributes)
        finally:
            _close(service)
        user = self._connect(dn, password)
        try:
            if not user.bind():
                return Verdict(None, "wrong name or password")
        finally:
            _close(user)
        return self._admit(username, dn, groups, attributes)

    def lookup(self, username: str) -> Verdict:
        """The user as the directory has it now (service account), without a password: for the re-check."""
        service = self._service()
        try:
            found = self._find(service, username)
            if found is None:
                return Verdict(None, "no longer in the directory")
            dn, attributes = found
            return self._admit(username, dn, self._groups(service, dn, attributes), attributes)
        finally:
            _close(service)


def _close(connection: ldap3.Connection) -> None:
    """Unbind, whatever state the connection is in (a failed TLS handshake leaves a dead socket)."""
    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()
