"""Configuration from `KEYWARD_*` environment variables: one Settings object, passed down."""

import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class StorageDestination(BaseModel):
    """A place storage connectors write to, named by the operator: a local directory, or an
    S3 bucket (with a folder in it) and the credentials to write there. Tenants choose one by
    name and give a path below it; they never give a protocol, a host or credentials."""

    model_config = {"extra": "forbid"}

    kind: Literal["file", "s3"]
    root: Path | None = Field(default=None, description="file: the directory written below.")
    bucket: str | None = None
    prefix: str = Field(default="", description="s3: the folder of the bucket written below.")
    endpoint_url: str | None = Field(default=None, description="s3: an S3-compatible server.")
    key: SecretStr | None = Field(default=None, description="s3: the access key id.")
    secret: SecretStr | None = Field(default=None, description="s3: the secret access key.")
    region: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind == "file" and self.root is None:
            raise ValueError("a file destination needs its root directory")
        if self.kind == "s3" and not (self.bucket and self.key and self.secret):
            # Never the server's own cloud credentials: a tenant would write with them.
            raise ValueError("an s3 destination needs its bucket, key and secret")
        return self


DestinationName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
LOCAL_DESTINATION = "local"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEYWARD_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/keyward.db",
        description="sqlite:///path/to/file.db or postgresql://user@host/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_spec_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest OpenAPI document accepted."
    )
    spec_check_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest an OpenAPI document may take to check; longer is refused "
        "(422 spec_too_costly), so a crafted document cannot hold a server's CPU.",
    )
    gateway_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Where acquirers reach the gateway; exported specs point there.",
    )
    gateway_host: str | None = Field(
        default=None, description="Where the gateway listens; default: the same host as the API."
    )
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    gateway_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes `keyward serve gateway` runs, sharing its port (SO_REUSEPORT); "
        "one per core serves the most.",
    )
    demo_upstream: bool = Field(
        default=False,
        description="Serve the demo API's upstream, a small Petstore, under /demo/petstore/v1 "
        "of the management API (`make run` turns it on).",
    )
    gateway_access_log: bool = Field(
        default=False,
        description="Write one JSON line per gateway request to stderr (key id, never the "
        "secret; key query parameters redacted).",
    )
    gateway_cors_preflight: bool = Field(
        default=True,
        description="Forward CORS preflight requests (OPTIONS with Origin and "
        "Access-Control-Request-Method, no body, no Upgrade) to the upstream without a key, "
        "for a path and method the spec has an operation for.",
    )
    gateway_allow_encoded_separators: bool = Field(
        default=False,
        description="Forward paths with %2F, %5C or %00 inside a segment (refused with 400 "
        "encoded_separator by default: an upstream that decodes them reads another path).",
    )
    gateway_max_connections_per_client: int = Field(
        default=256,
        ge=0,
        description="Open connections one client address may hold on one gateway process; "
        "more are answered 429 too_many_connections and closed (0: no cap). Behind a proxy "
        "every client has the proxy's address: raise it or turn it off there.",
    )
    max_keys_per_acquisition: int = Field(
        default=100, ge=1, description="Keys one acquisition may have (revoked ones count)."
    )
    max_connectors_per_acquisition: int = Field(
        default=20, ge=1, description="Connectors one acquisition may have."
    )
    max_webhooks_per_workspace: int = Field(
        default=50, ge=1, description="Webhook endpoints one workspace may have."
    )
    feed_interval: float = Field(
        default=0.25, gt=0, description="Seconds between change-feed polls."
    )
    cache_refresh: float = Field(
        default=300.0, gt=0, description="Seconds after which a cached key is re-read anyway."
    )
    cache_preload: int = Field(
        default=100_000,
        ge=0,
        description="Keys each gateway process reads into its cache before it listens, most "
        "recently used first (0: none); any other key is read on its first use.",
    )
    usage_flush_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between a process's writes of key usage: per-minute counts and "
        "last_used_at.",
    )
    stale_if_error: float = Field(
        default=30.0,
        gt=0,
        description="While storage cannot be reached, seconds for which cached keys keep their "
        "verdict, counted from when the cache was last known current; keys that cannot be "
        "confirmed after that are answered verification_unavailable.",
    )
    log_level: str = "info"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server secret that seals what connectors deliver (keys, webhook secrets).",
    )
    retired_secret_keys: SecretStr | None = Field(
        default=None,
        description="Earlier server secrets, comma-separated: they still open what they "
        "sealed until `keyward secrets reseal` has sealed it again under the current one.",
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="Where the server secrets are kept when KEYWARD_SECRET_KEY is not set, one "
        "per line, the current one first; made on first use. Default: "
        "$XDG_CONFIG_HOME/keyward/secret.key (~/.config/keyward/secret.key), outside the data "
        "directory, so a copy of the data is no copy of the key.",
    )
    connector_file_root: Path = Field(
        default=Path("./var/exports"),
        description="The directory of the storage destination `local`.",
    )
    storage_destinations: dict[DestinationName, StorageDestination] = Field(
        default_factory=dict,
        description="More storage destinations, by name, as JSON: "
        '{"partners": {"kind": "s3", "bucket": "specs", "prefix": "exports", "key": "...", '
        '"secret": "..."}}.',
    )
    worker_interval: float = Field(default=1.0, gt=0, description="Seconds between outbox polls.")
    delivery_deadline: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Longest a webhook delivery may take, however slowly its receiver answers.",
    )
    worker_concurrency: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Deliveries a worker makes at once, each to another destination.",
    )
    sweep_interval: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between the worker's sweeps (expiry reminders and notices, the "
        "unused keys policy).",
    )
    expiry_reminder_days: str = Field(
        default="14,3",
        description="Comma-separated days before a key or acquisition expires on which its "
        "people are reminded; empty: no reminders (expiry itself is still announced).",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for e-mail notifications; unset: e-mails are not sent (each "
        "is marked failed, saying so).",
    )
    mail_dir: Path | None = Field(
        default=None,
        description="Without smtp_host: the directory where each e-mail is written as a .eml "
        "file (readable by its owner only) instead of being marked failed; `make run` sets "
        "./var/mail. The files hold the invitation and password reset links.",
    )
    smtp_port: int | None = Field(
        default=None, ge=1, le=65535, description="Default: 465 with tls, else 587 (25 with none)."
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(
        default="keyward@localhost", description="The From address of notification e-mails."
    )
    smtp_security: SmtpSecurity = Field(
        default=SmtpSecurity.STARTTLS,
        description="none, starttls (upgrade a plain connection) or tls (TLS from the start).",
    )
    smtp_timeout: float = Field(default=30.0, gt=0, description="Seconds per SMTP operation.")
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the certificate authorities to trust for the SMTP server's "
        "certificate, for a private relay; default: the system's",
    )
    egress_allow: str = Field(
        default="",
        description="Comma-separated CIDRs, addresses, hosts or host:port that webhooks and "
        "connectors may reach although they are not public (loopback, private, link-local...).",
    )
    egress_allow_http: bool = Field(
        default=False,
        description="Let webhooks and connectors deliver over http:// (keys in clear text); "
        "https:// only by default.",
    )
    upstream_allow: str = Field(
        default="",
        description="Comma-separated CIDRs, addresses, hosts or host:port that API upstreams "
        "may be although refused by default (loopback, link-local, keyward's own ports); "
        "private addresses are allowed for upstreams without being listed.",
    )
    portal_workspace: str | None = Field(
        default=None,
        description="The workspace whose members sign in to the portal (id or name); default: "
        "the oldest, the one `keyward init` made.",
    )
    behind_tls_proxy: bool = Field(
        default=False,
        description="The portal is reached over TLS through a proxy that speaks plain HTTP to "
        "keyward: its session cookie is marked Secure although the request came in as http.",
    )
    session_idle_timeout: int = Field(
        default=1800,
        ge=1,
        description="Seconds a portal session lasts without a request before it ends.",
    )
    session_lifetime: int = Field(
        default=43200,
        ge=1,
        description="Seconds a portal session lasts at most from sign-in, however active.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins one e-mail address may have within login_failure_window "
        "before sign-in with it is refused for the rest of the window.",
    )
    login_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed sign-ins one client address may have within login_failure_window, "
        "whichever e-mail addresses they name (behind a proxy every client has its address).",
    )
    login_failure_window: int = Field(
        default=900, ge=1, description="Seconds over which failed sign-ins are counted."
    )
    portal_url: str | None = Field(
        default=None,
        description="Where people reach the portal; the links of invitation and password reset "
        "e-mails point there. Default: http://HOST:PORT of the management API.",
    )
    invitation_lifetime: int = Field(
        default=7 * 86400,
        ge=60,
        description="Seconds the link of an invitation e-mail may be used to set a password.",
    )
    password_reset_lifetime: int = Field(
        default=3600,
        ge=60,
        description="Seconds the link of a password reset e-mail may be used.",
    )
    password_resets_per_hour: int = Field(
        default=3,
        ge=1,
        description="Password reset e-mails one member may be sent per hour, however often "
        "one is asked for.",
    )
    # Resilience (issue 21): deadlines on the verify path.
    storage_timeout: float = Field(
        default=0.3,
        gt=0,
        description="Seconds a storage read made to decide a key may take; past it a cached key "
        "is answered from the cache within stale_if_error and an uncached one gets 503 "
        "verification_unavailable with Retry-After.",
    )
    lookup_concurrency: int = Field(
        default=16,
        ge=1,
        description="Keys one gateway process (or the API) reads from storage at once; the "
        "others wait in a queue of lookup_queue.",
    )
    lookup_queue: int = Field(
        default=64,
        ge=0,
        description="Key reads that may wait for a free lookup slot; beyond it a request that "
        "needs one is answered 503 verification_unavailable at once.",
    )
    # Failed-authentication limits at the gateway.
    failed_auth_window: int = Field(
        default=60, ge=1, description="Seconds over which failed key checks are counted."
    )
    failed_auth_per_address: int = Field(
        default=30,
        ge=0,
        description="Unknown or invalid keys one client address may present within "
        "failed_auth_window; beyond it its keyed requests get 429 before any lookup (0: no "
        "limit). Behind a proxy every client has the proxy's address.",
    )
    failed_auth_per_prefix: int = Field(
        default=300,
        ge=0,
        description="The same, for a whole network prefix (/24 of IPv4, /64 of IPv6).",
    )
    lookups_per_second: int = Field(
        default=500,
        ge=0,
        description="Storage lookups of uncached keys one gateway process makes per second at "
        "most, whoever asks; beyond it they get 503 verification_unavailable (0: no ceiling).",
    )
    # Management rates, per member and per acquisition (0: no limit).
    keys_created_per_minute: int = Field(
        default=30,
        ge=0,
        description="Keys one member may create per minute, and keys one acquisition may be "
        "given per minute; beyond it 429 with Retry-After.",
    )
    key_requests_per_hour: int = Field(
        default=30,
        ge=0,
        description="Approval requests (issuance, renewal, revocation) one member may file "
        "per hour, each e-mailing approvers; beyond it 429 with Retry-After.",
    )
    invitations_per_hour: int = Field(
        default=50,
        ge=0,
        description="Members one member may invite per hour; beyond it 429 with Retry-After.",
    )
    # Revocation receipts.
    enforcement_wait: float = Field(
        default=1.0,
        ge=0,
        description="Seconds a revocation, deletion, expiry change or right removal waits for "
        "every live gateway to apply it before answering (the answer says which lag).",
    )
    gateway_heartbeat: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between a gateway process's heartbeats (its applied feed "
        "position); one silent for 10 heartbeats is no longer counted as live.",
    )
    # Backup and restore.
    revocation_journal: str | None = Field(
        default=None,
        description="A local directory where revocations, deletions and deactivations are also "
        "recorded, outside the database. `keyward restore` re-applies what it holds after the "
        "snapshot; without it a restore waits for the operator's decision.",
    )
    # Health and metrics.
    metrics_host: str = Field(
        default="127.0.0.1", description="Address of the admin listener serving /metrics."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the admin listener serving Prometheus metrics (unset: none).",
    )
    ready_max_feed_lag: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a gateway's view of the change feed may lag before /readyz says "
        "it is not ready.",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db shared by gateways to count rate limits and quotas; "
        "unset: counts are leased in chunks from the database, shared by every gateway process "
        "on it and kept across restarts.",
    )

    @field_validator("egress_allow", "upstream_allow")
    @classmethod
    def _allow_list(cls, value: str) -> str:
        for entry in (part.strip() for part in value.split(",")):
            if entry and not all(c.isalnum() or c in ".:-/[]" for c in entry):
                raise ValueError(
                    "must be comma-separated CIDRs, addresses, hosts or host:port, such as "
                    "10.0.0.0/8,hooks.internal:8443"
                )
        return value

    @field_validator("expiry_reminder_days")
    @classmethod
    def _reminder_days(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not all(part.isdigit() and 0 < int(part) <= 3660 for part in parts):
            raise ValueError("must be whole numbers of days between 1 and 3660, such as 14,3")
        return ",".join(parts)

    def reminder_days(self) -> tuple[int, ...]:
        """The days before expiry on which reminders go out, largest first."""
        values = {int(part) for part in self.expiry_reminder_days.split(",") if part}
        return tuple(sorted(values, reverse=True))

    def portal_base(self) -> str:
        """The portal's address, without a trailing slash, for links in e-mails."""
        return (self.portal_url or f"http://{self.host}:{self.port}").rstrip("/")

    def smtp_port_or_default(self) -> int:
        if self.smtp_port is not None:
            return self.smtp_port
        return {SmtpSecurity.TLS: 465, SmtpSecurity.STARTTLS: 587}.get(self.smtp_security, 25)

    def destinations(self) -> dict[str, StorageDestination]:
        """Every storage destination: `local` (below `connector_file_root`) and the others."""
        local = StorageDestination(kind="file", root=self.connector_file_root)
        return {LOCAL_DESTINATION: local, **self.storage_destinations}

    def secret_file(self) -> Path:
        """Where the server secrets are kept: KEYWARD_SECRET_KEY_FILE, else the user's
        configuration directory; a key file an older keyward made in ./var is used where it
        is, until moved."""
        if self.secret_key_file is not None:
            return self.secret_key_file
        config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        default = Path(config) / "keyward" / "secret.key"
        if not default.exists() and _LEGACY_SECRET_FILE.exists():
            return _LEGACY_SECRET_FILE
        return default

    def server_secrets(self) -> list[bytes]:
        """Every server secret, the current one (which seals) first: KEYWARD_SECRET_KEY, else
        the key file's (made on first use), then KEYWARD_RETIRED_SECRET_KEYS."""
        retired = self.retired_secret_keys.get_secret_value() if self.retired_secret_keys else ""
        older = [part.strip().encode() for part in retired.split(",") if part.strip()]
        if self.secret_key is not None:
            return [self.secret_key.get_secret_value().encode(), *older]
        return [*self.file_secrets(), *older]

    def file_secrets(self) -> list[bytes]:
        """The key file's secrets, the current one first; the file is made on first use. A file
        that cannot be made or read, or holds no secret, is a SecretFileUnusable naming it."""
        path = self.secret_file()
        doing = "read"
        try:
            if not path.exists():
                doing = "made"
                write_secret_file(path, [secrets.token_urlsafe(48).encode()], replace=False)
            kept = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
        except OSError as error:
            reason = "it is a directory" if path.is_dir() else error.strerror or str(error)
            raise SecretFileUnusable(
                f"The server secret file {path.absolute()} (KEYWARD_SECRET_KEY_FILE) cannot be "
                f"{doing}: {reason}."
            ) from None
        if not kept:
            raise SecretFileUnusable(
                f"The server secret file {path.absolute()} (KEYWARD_SECRET_KEY_FILE) holds no "
                "secret: restore it from a backup (what it sealed opens only with it), or remove "
                "it to have a new one made."
            )
        return kept


class SecretFileUnusable(Exception):
    """The server secret file cannot be made, read, or holds nothing; the message names it."""


_LEGACY_SECRET_FILE = Path("./var/secret.key")


def write_secret_file(path: Path, lines: list[bytes], *, replace: bool = True) -> None:
    """Write the key file with `lines`, readable by its owner only, all or nothing. Without
    `replace`, a file another process made meanwhile wins: processes starting together agree on
    one secret."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = path.with_name(f".{path.name}.{os.getpid()}.new")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    if replace:
        os.replace(staged, path)
        return
    try:
        os.link(staged, path)
    except FileExistsError:
        pass
    finally:
        staged.unlink()
