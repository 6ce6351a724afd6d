"""The gateway's configuration: one pydantic-settings class, read from ``XGW_*`` variables and a TOML file.

Every knob lives here so that an operator finds all of them in one place (docs/configuration.md lists
them). Precedence, highest first: explicit keyword arguments, environment variables ``XGW_*``, the TOML
file named by ``XGW_CONFIG`` (or ``xgw.toml`` in the working directory), then the defaults below.
Nested groups use ``__`` in environment variables, e.g. ``XGW_LIMITS__MAX_XML_BYTES=1000000``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# the standard's safety limits are a section of the settings; ``from gateway.config import Limits`` keeps working
from gateway.xoev.limits import Limits

#: the installed package (data files the gateway reads at run time live inside it)
PACKAGE_ROOT = Path(__file__).resolve().parent
#: the checkout, when running from one (only used to find ../shared/xoev beside it)
REPO_ROOT = PACKAGE_ROOT.parent


def default_schema_dir() -> Path:
    """Find the XÖV bundle beside a checkout (``../shared/xoev``) so that tests and CI need no setup."""
    for candidate in (REPO_ROOT.parent / "shared" / "xoev", Path.cwd().parent / "shared" / "xoev"):
        if candidate.is_dir():
            return candidate
    return REPO_ROOT.parent / "shared" / "xoev"


def _int_from_text(value: object) -> object:
    """Environment variables arrive as text; an integer Literal does not coerce it by itself."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


class XtaServer(BaseModel):
    """The XTA 2 server's knobs: where it listens, how much it accepts, and whom it trusts for identity."""

    base_path: str = Field("/services/XTAService", description="URL path under which the three XTA ports live.")
    public_url: str | None = Field(
        None, description="External base URL (scheme://host[:port]) written into the WSDL; default: the request's."
    )
    max_envelope_bytes: int = Field(
        10 * 1024 * 1024, description="Largest SOAP envelope (the XML part of a request), in bytes."
    )
    max_request_bytes: int = Field(
        4 * 1024 * 1024 * 1024, description="Largest request body including all MTOM attachments, in bytes."
    )
    max_parts: int = Field(1000, description="Most MIME parts accepted in one MTOM request.")
    spool_dir: Path | None = Field(
        None, description="Where incoming attachments are streamed to; default: <data_dir>/xta-spool."
    )
    dev_trust_loopback: bool = Field(
        False, description="Development only: trust callers on 127.0.0.0/8 and ::1 without a client certificate."
    )
    client_cert_header: str | None = Field(
        None, description="Header carrying the URL-encoded PEM client certificate from a TLS-terminating proxy."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxy addresses or networks (CIDR) whose client_cert_header is believed; nobody else's. "
        "Judged by the TCP peer, never by X-Forwarded-For.",
    )
    server_identity: str = Field("xoev-gateway", description="XTAServerIdentity written into transport reports.")
    sender_fault_status: Annotated[Literal[400, 500], BeforeValidator(_int_from_text)] = Field(
        400,
        description=(
            "HTTP status of a fault the caller caused (env:Sender): 400 per the SOAP 1.2 HTTP binding; 500 for "
            "Apache CXF clients that do not set org.apache.cxf.transport.process_fault_on_http_400."
        ),
    )


class XtaPeer(BaseModel):
    """A remote XTA 2 server: matched by the participant route's ``endpoint_url``, with the TLS trust for it."""

    url: str = Field(description="Base URL of the peer's XTA service, equal to the participants' endpoint_url.")
    ca_bundle: Path | None = Field(
        None, description="PEM file with the CA certificate(s) that may sign this peer's server certificate."
    )
    use_system_ca: bool = Field(
        False, description="Trust the public CA bundle for this peer instead of ca_bundle (not recommended)."
    )
    client_cert: Path | None = Field(None, description="Client certificate (PEM) for this peer; default: the group's.")
    client_key: Path | None = Field(None, description="Private key (PEM) for client_cert; default: the group's.")


class XtaClient(BaseModel):
    """The XTA 2 client's knobs: timeouts, retries, circuit breaker, limits, and the peers with their TLS trust."""

    client_cert: Path | None = Field(None, description="The gateway's TLS client certificate (PEM) for all peers.")
    client_key: Path | None = Field(None, description="Private key (PEM) of client_cert.")
    peers: list[XtaPeer] = Field(default_factory=list, description="Remote XTA servers and how to trust them.")
    connect_timeout: float = Field(5.0, description="Seconds to wait for a TCP/TLS connection to a peer.")
    read_timeout: float = Field(30.0, description="Seconds to wait for the next bytes of a reply.")
    operation_timeout: float = Field(60.0, description="Seconds one whole operation (request and reply) may take.")
    seconds_per_mib: float = Field(
        1.0, description="Seconds added to operation_timeout per MiB of content sent or received."
    )
    max_attempts: int = Field(4, description="Tries of one operation before a transient error is given up.")
    backoff_base_seconds: float = Field(0.5, description="Back-off before the second try; grows exponentially.")
    backoff_max_seconds: float = Field(30.0, description="Longest back-off between two tries (random jitter below).")
    breaker_threshold: int = Field(5, description="Consecutive failures after which a peer's circuit opens.")
    breaker_cooldown_seconds: float = Field(
        60.0, description="How long an open circuit refuses calls before one trial call is let through."
    )
    max_envelope_bytes: int = Field(10 * 1024 * 1024, description="Largest SOAP envelope accepted in a reply.")
    max_reply_bytes: int = Field(
        8 * 1024 * 1024 * 1024, description="Largest reply including MTOM attachments, in bytes."
    )
    max_parts: int = Field(1000, description="Most MIME parts accepted in one MTOM reply.")
    inline_max_bytes: int = Field(
        0, description="Content up to this size is sent inline as base64; larger content as MTOM (0: always MTOM)."
    )
    party_type: str = Field("xoev", description="The PartyIdentifier type written for XÖV identifiers.")
    spool_dir: Path | None = Field(
        None, description="Where fetched content is streamed to; default: <data_dir>/xta-client-spool."
    )


class Api(BaseModel):
    """The REST API's knobs; upload sizes are the ``limits`` (XML or package, decided by the first bytes)."""

    metrics_public: bool = Field(
        False,
        description="Serve /metrics without a token. Off: a token with the admin scope is required. Turn on only "
        "when the port is reachable by the monitoring system alone.",
    )
    max_page_size: int = Field(200, description="Most items one list request returns.")
    spool_dir: Path | None = Field(
        None, description="Where uploads are streamed to before intake; default: <data_dir>/api-spool."
    )


class Console(BaseModel):
    """The admin console under /console and the gateway's tracing."""

    enabled: bool = Field(True, description="Serve the admin console under /console.")
    secret_key_file: Path | None = Field(
        None,
        description="File holding the key that signs session cookies (made with mode 0600 when missing); "
        "default: <data_dir>/console-secret. Every process of one gateway must use the same key.",
    )
    session_seconds: int = Field(8 * 3600, description="How long a console sign-in lasts without a new sign-in.")
    max_failed_logins: int = Field(
        5,
        description="Failed sign-ins of one user name from one client address within 15 minutes after which "
        "that address's further tries for that name are refused (others can still sign in as that user).",
    )
    max_failed_logins_per_address: int = Field(
        20,
        ge=1,
        description="Failed sign-ins from one client address (any user name) within 15 minutes after which "
        "further tries from that address are refused.",
    )
    max_form_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest body of a console form POST, enforced while it is received (413 beyond); "
        "only application/x-www-form-urlencoded bodies are accepted (415 otherwise).",
    )
    tracing: bool = Field(
        False,
        description="Record OpenTelemetry traces of HTTP requests and of each message's pipeline steps, "
        "handed to the globally set tracer provider (an SDK TracerProvider with the operator's exporter).",
    )


class Pipeline(BaseModel):
    """The message pipeline's knobs: upload size, leases, retries, receipts and process deadlines."""

    max_submit_bytes: int = Field(
        8 * 1024 * 1024 * 1024, description="Largest message (XML or ZIP package) accepted by intake, in bytes."
    )
    lease_seconds: float = Field(
        60.0, description="How long a worker owns a message it claimed; a killed worker's messages wait this long."
    )
    poll_seconds: float = Field(1.0, description="How long an idle worker waits before looking for work again.")
    max_attempts: int = Field(8, description="Tries of a message before it is dead-lettered with the last error.")
    retry_base_seconds: float = Field(5.0, description="Back-off after the first failed try; doubles per try.")
    retry_max_seconds: float = Field(3600.0, description="Longest back-off between two tries.")
    payload_grace_seconds: float = Field(
        3600.0, description="Unreferenced payloads younger than this are kept (an intake may be in progress)."
    )
    auto_receipts: bool = Field(
        True,
        description="Off switch for every technical receipt (Empfangsbestaetigung) the gateway makes; when on, a "
        "recipient's receipts policy decides (docs/receipts.md).",
    )
    step_deadline_hours: dict[str, float] = Field(
        default_factory=lambda: {"default": 720.0},
        description="Hours a process may wait for the reply it expects, by awaited Nachrichtentyp code "
        "(e.g. {\"0502\": 2160}); 'default' applies to the others.",
    )


class Server(BaseModel):
    """The HTTP server's protections (``xgw serve``): how long and how much a client may take, whom it trusts.

    Every limit here answers a client that would otherwise hold the server: a request head that never
    ends, a body that stalls or trickles, too many uploads at once, a reverse proxy header anyone could
    forge. The defaults are meant for production; loosen them only for a reason you can name.
    """

    header_max_bytes: int = Field(
        64 * 1024,
        description="Largest request head (request line and all headers), in bytes; a larger one is answered "
        "431 and the connection closed before the rest is read.",
    )
    header_timeout_seconds: float = Field(
        10.0,
        description="Seconds a client has to send a complete request head, from connecting (or from the end "
        "of the previous response); then the connection is closed.",
    )
    keep_alive_seconds: float = Field(
        5.0, description="Seconds an idle keep-alive connection is kept open between two requests."
    )
    body_idle_seconds: float = Field(
        30.0, description="Longest wait for the next bytes of a request body; then 408 and the connection closes."
    )
    body_min_bytes_per_second: int = Field(
        16 * 1024,
        description="Average rate a request body must keep after its first body_idle_seconds (a trickling "
        "upload is cut off with 408); 0 disables the rate check.",
    )
    max_uploads: int = Field(
        16, description="Uploads (submit and validate) processed at once; one more is answered 503 with Retry-After."
    )
    max_uploads_per_token: int = Field(
        4, description="Uploads one API token may have in progress at once; one more is answered 429."
    )
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are applied to the request; empty: forwarded headers are ignored from everyone.",
    )


class LdapGroupRole(BaseModel):
    """One directory group and the console role its members get (a participant admin names its authority)."""

    group: str = Field(description="The group's DN, e.g. cn=xgw-admins,ou=groups,dc=example,dc=org.")
    role: Literal["gateway-admin", "participant-admin", "read-only"] = Field(description="The console role.")
    participant: str | None = Field(None, description="For participant-admin: the authority's XÖV identifier.")

    @model_validator(mode="after")
    def _participant_for_participant_admins(self) -> LdapGroupRole:
        if (self.role == "participant-admin") != bool(self.participant):
            raise ValueError(f"{self.group}: a participant is given for role participant-admin, and only for it")
        return self


class ConsoleLdap(BaseModel):
    """Directory sign-in to the console (LDAP / Active Directory), beside the console's own users.

    A user is found either by a DN template (bind as the user directly) or by a search with a service
    account (Active Directory's sAMAccountName or userPrincipalName), then bound with the password given.
    Group membership decides the role; a user in none of the mapped groups cannot sign in.
    """

    enabled: bool = Field(False, description="Let directory users sign in to the console.")
    url: str = Field("ldaps://localhost:636", description="ldaps://host:port (TLS from the start) or ldap://host:port.")
    start_tls: bool = Field(True, description="With an ldap:// URL: upgrade the connection with StartTLS first.")
    ca_file: Path | None = Field(
        None, description="PEM file with the CA certificate(s) the directory's certificate must chain to."
    )
    allow_plain: bool = Field(
        False,
        description="Allow ldap:// without StartTLS: passwords cross the network readable. Tests and loopback only.",
    )
    timeout_seconds: float = Field(5.0, description="Seconds to wait for the directory to connect or answer.")
    user_dn_template: str | None = Field(
        None,
        description="Bind as the user directly: a DN with {username}, e.g. uid={username},ou=people,dc=example,"
        "dc=org (the name is escaped). Without it the user is searched with bind_dn.",
    )
    bind_dn: str | None = Field(None, description="Service account that searches for users (and re-checks them).")
    bind_password: SecretStr | None = Field(None, description="Password of bind_dn (never logged).")
    user_search_base: str = Field("", description="Where users are searched, e.g. ou=people,dc=example,dc=org.")
    user_filter: str = Field(
        "(&(objectClass=person)(|(uid={username})(sAMAccountName={username})(userPrincipalName={username})))",
        description="Search filter for a user with {username} (escaped per RFC 4515 before it is put in).",
    )
    group_attribute: str | None = Field(
        "memberOf",
        description="Attribute of the user entry listing its groups' DNs (Active Directory, OpenLDAP memberof); "
        "empty: groups are searched instead (group_search_base, group_filter).",
    )
    group_search_base: str = Field("", description="Where groups are searched when group_attribute is empty.")
    group_filter: str = Field(
        "(|(member={user_dn})(uniqueMember={user_dn}))",
        description="Search filter for the user's groups with {user_dn} (escaped before it is put in).",
    )
    mail_attribute: str = Field("mail", description="Attribute with the user's e-mail address (for alerts).")
    groups: list[LdapGroupRole] = Field(
        default_factory=list, description="Group DN -> console role; the first group in this list that matches wins."
    )
    recheck_seconds: float = Field(
        300.0,
        description="How often a signed-in directory user is checked again (needs bind_dn): a user gone from "
        "the directory or from every mapped group loses the session at the next request after that.",
    )


class Alerts(BaseModel):
    """Alerts by e-mail and webhook: failed and dead-lettered messages, passed deadlines, peers and adapters
    down, certificates near expiry; collected and sent as one digest per recipient per run."""

    enabled: bool = Field(False, description="Run alerts from xgw serve / xgw worker every interval_seconds.")
    interval_seconds: float = Field(300.0, ge=1.0, description="Seconds between two alert runs.")
    recipients: list[str] = Field(
        default_factory=list, description="E-mail addresses that receive every alert (beside the console admins)."
    )
    examples: int = Field(10, ge=1, description="Examples listed per kind of alert in one digest.")
    lookback_hours: float = Field(
        24.0, description="Oldest failure or item still sent (bounds the first run and a long outage)."
    )
    certificate_warning_days: int = Field(30, description="Alert when a certificate expires within these days.")
    peer_down_failures: int = Field(
        3, description="Consecutive failed deliveries to an XTA peer after which it counts as down."
    )
    check_adapters: bool = Field(True, description="Ask every participant's DMS adapter for its health.")
    smtp_host: str | None = Field(None, description="Mail server; empty: no e-mail is sent.")
    smtp_port: int = Field(587, description="Mail server port (587: submission with STARTTLS).")
    smtp_tls: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls, tls (implicit, port 465) or none (loopback relays only)."
    )
    smtp_ca_file: Path | None = Field(None, description="PEM CA file for the mail server; default: the system's.")
    smtp_user: str | None = Field(None, description="User for SMTP AUTH; empty: no AUTH.")
    smtp_password: SecretStr | None = Field(None, description="Password for SMTP AUTH (never logged).")
    smtp_from: str = Field("xoev-gateway@localhost", description="Sender address of alert mails.")
    smtp_timeout_seconds: float = Field(10.0, description="Seconds to wait for the mail server.")
    webhook_url: str | None = Field(None, description="HTTPS URL that receives each digest as JSON (POST).")
    webhook_secret: SecretStr | None = Field(
        None, description="Key of the HMAC-SHA256 signature sent in X-XGW-Signature (sha256=<hex>)."
    )
    webhook_ca_file: Path | None = Field(None, description="PEM CA file for the webhook's server certificate.")
    webhook_timeout_seconds: float = Field(10.0, description="Seconds to wait for the webhook.")
    console_url: str | None = Field(None, description="Base URL of the console, for links in the digest.")
    language: Literal["de", "en"] = Field("de", description="Language of the digest mails: de or en.")


class Settings(BaseSettings):
    """All settings of one gateway process."""

    model_config = SettingsConfigDict(
        env_prefix="XGW_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    schema_dir: Path = Field(
        default_factory=default_schema_dir,
        description="Directory holding the XÖV schema bundles (xdomea/<version>/, xta/).",
    )
    catalogue_file: Path = Field(
        PACKAGE_ROOT / "xoev" / "schemas" / "catalogue.json",
        description="The project's catalogue of supported standard versions and their file hashes.",
    )
    data_dir: Path = Field(Path("var"), description="Where the gateway keeps its database, payloads and caches.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data directory.")
    schema_cache_dir: Path | None = Field(
        default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xoev-gateway",
        description="Cache of compiled detailed-report schemas shared by processes; empty to disable.",
    )
    verify_schema_hashes: bool = Field(
        True, description="Refuse schema bundles whose files differ from the catalogue's SHA-256."
    )
    verify_package_contents: bool = Field(
        True,
        description="Read every file of a package when validating: CRC of each entry and the declared "
        "Primaerdokument hashes (4.0.0). Off: only the directory and the message XML are read.",
    )
    workers: int = Field(0, description="Parallel validation processes for the CLI; 0 means one per core.")
    limits: Limits = Field(default_factory=Limits)
    xta_server: XtaServer = Field(default_factory=XtaServer)
    xta_client: XtaClient = Field(default_factory=XtaClient)
    pipeline: Pipeline = Field(default_factory=Pipeline)
    api: Api = Field(default_factory=Api)
    console: Console = Field(default_factory=Console)
    server: Server = Field(default_factory=Server)
    console_ldap: ConsoleLdap = Field(default_factory=ConsoleLdap)
    alerts: Alerts = Field(default_factory=Alerts)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("XGW_CONFIG", "xgw.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own ``Settings`` instead of patching this one."""
    return Settings()
