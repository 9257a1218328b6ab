"""The configuration schema: frozen pydantic models that reject unknown keys.

Field metadata (``json_schema_extra``):
- ``reload``: the value may change while the hub runs (hot reload); every other key needs a restart.
- ``secret``: the value is a credential; it comes from the environment or the OS keyring, never from
  the file unless ``hub.allow_plaintext_secrets`` is true, and is masked wherever it is shown.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from enigma_apex.rules.profiles import ProfileRegistry, unknown_profile_message

LIVE: dict[str, Any] = {"reload": True}
SECRET: dict[str, Any] = {"secret": True}
SECRET_LIVE: dict[str, Any] = {"secret": True, "reload": True}
URLS_LIVE: dict[str, Any] = {"urls": True, "reload": True}  # service URLs: credentials before "@" are masked

# Values that are never accepted as a secret in live mode.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "changethis", "secret", "password", "sk-local", "test"})


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class HubSection(Section):
    """The process as a whole."""

    mode: Literal["paper", "live"] = Field(
        "paper",
        description="paper: simulated broker, no real orders. live: real executors; refuses to "
        "start while a needed secret is missing or a default token is in use.",
    )
    data_dir: Path = Field(
        Path("data"),
        description="Folder for the database, logs and backups; relative paths are relative "
        "to the folder of this file.",
    )
    display_timezone: str = Field(
        "America/New_York",
        description="Time zone used to show times to the user (IANA name).",
        json_schema_extra=LIVE,
    )
    allow_plaintext_secrets: bool = Field(
        False,
        description="Accept secrets written in this file. Leave false: put secrets in the "
        "environment (ENIGMA_APEX__SECTION__KEY) or the OS keyring (`enigma-apex secret set`).",
    )
    use_keyring: bool = Field(True, description="Look up missing secrets in the OS keyring.")

    @field_validator("display_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as America/New_York)") from None
        return value


class HttpSection(Section):
    """The hub's HTTP server (health, API, webhooks)."""

    host: str = Field("127.0.0.1", description="Address to bind. Keep 127.0.0.1 unless you need LAN access.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free port).")
    tls_cert: Path | None = Field(None, description="PEM certificate for https:// (with tls_key).")
    tls_key: Path | None = Field(None, description="PEM private key for https://.")
    header_timeout_s: float = Field(
        10.0, gt=0, le=300, description="A connection must send a request's headers within this time, or is closed."
    )
    idle_timeout_s: float = Field(
        5.0, gt=0, le=300, description="A kept-alive connection idle this long between requests is closed."
    )
    metrics_auth: Literal["off-loopback", "always", "never"] = Field(
        "off-loopback",
        description="Who may read /metrics without a token: off-loopback = this machine only (others need an admin, "
        "dashboard or observer token); always = nobody; never = anyone who reaches the port.",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _valid_host(value)

    @model_validator(mode="after")
    def _tls_pair(self) -> HttpSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class GatewaySection(Section):
    """The WebSocket gateway (NinjaTrader, executors, dashboards, phones)."""

    host: str = Field("127.0.0.1", description="Address to bind. Use the LAN address with TLS for phones.")
    port: int = Field(8765, ge=0, le=65535, description="TCP port (0 picks a free port).")
    tls_cert: Path | None = Field(None, description="PEM certificate for wss:// (with tls_key).")
    tls_key: Path | None = Field(None, description="PEM private key for wss://.")
    hello_timeout_s: float = Field(5.0, gt=0, le=60, description="A client must authenticate within this time.")
    heartbeat_timeout_s: float = Field(
        15.0,
        gt=0,
        le=600,
        description="An executor silent this long is disconnected; its accounts go REDUCING.",
        json_schema_extra=LIVE,
    )
    max_errors_per_min: int = Field(
        30,
        ge=1,
        le=10_000,
        description="Bad messages tolerated per minute before the connection closes.",
        json_schema_extra=LIVE,
    )
    auth_failures_per_min: int = Field(
        10,
        ge=1,
        le=1000,
        description="Failed sign-ins with one token from one address per minute (WebSocket and HTTP together) "
        "before that token is answered RATE_LIMITED / 429. A valid token is always let in.",
        json_schema_extra=LIVE,
    )
    auth_failures_per_address_per_min: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Failed sign-ins from one address per minute, whatever the token, before its failing "
        "sign-ins are answered RATE_LIMITED / 429 (a search for a token). A valid token is always let in.",
        json_schema_extra=LIVE,
    )
    handshake_timeout_s: float = Field(
        10.0, gt=0, le=120, description="A connection must finish its WebSocket handshake within this time."
    )
    max_backlog: int = Field(
        10_000, ge=100, le=1_000_000, description="Queued messages per client before a slow client is dropped."
    )
    flatten_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds to wait for an emergency flatten to be confirmed before alerting.",
        json_schema_extra=LIVE,
    )
    takeover_probe_s: float = Field(
        2.0,
        gt=0,
        le=30,
        description="A second connection for a connected executor from another client waits this long for the "
        "first to answer a WebSocket ping: answered, the newcomer is refused (IN_USE); silent, it takes over.",
        json_schema_extra=LIVE,
    )
    executor_grace_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="An executor that has not connected this long after the hub started is alerted on (its "
        "accounts are REDUCING from the start until it connects).",
        json_schema_extra=LIVE,
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _valid_host(value)

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewaySection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class DatabaseSection(Section):
    """The one database all components share."""

    url: str | None = Field(
        None,
        description="SQLAlchemy URL. Empty: a SQLite file `enigma-apex.db` in the data directory. "
        "PostgreSQL: postgresql+psycopg://user@host/dbname (password from ENIGMA_APEX__DATABASE__PASSWORD).",
    )
    password: SecretStr | None = Field(
        None, description="Database password, merged into the URL (secret).", json_schema_extra=SECRET
    )
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        "FULL",
        description="SQLite fsync policy. FULL: an acknowledged write survives power loss; group "
        "commit keeps it fast. NORMAL survives a process crash but may lose the last commits on power loss.",
    )
    sqlite_busy_timeout_ms: int = Field(
        5000,
        ge=10,
        le=60_000,
        description="How long a SQLite write waits for a lock another process holds before the write is refused "
        "(and the hub halts new risk). Paid once per refused batch.",
    )
    group_commit_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="Extra time the writer waits to gather more writes into one commit. 0: commit at once; "
        "writes that arrive while a commit runs form the next one.",
    )
    max_batch: int = Field(1000, ge=1, le=100_000, description="Most writes committed in one transaction.")
    backup_before_upgrade: bool = Field(True, description="Back up the database before migrating it.")
    backup_keep: int = Field(
        7, ge=1, le=1000, description="Backups kept per kind; older ones are deleted.", json_schema_extra=LIVE
    )
    backup_on_start: bool = Field(True, description="`up` backs the database up before it starts trading.")
    audit_key: SecretStr | None = Field(
        None,
        description="HMAC key for the audit log (secret; `enigma-apex secret set database.audit_key`). Set: every "
        "audit row from the first start with it is keyed, so nobody without the key can re-hash the history. "
        "Once set it is needed for good: the hub refuses to start on a keyed log without it.",
        json_schema_extra=SECRET,
    )
    maintenance_at: time = Field(
        time(17, 5),
        description="Daily backup and light optimisation, New York time. Default: in the CME Globex daily break "
        "(17:00-18:00 ET), after every firm's session close. A full VACUUM only runs from `enigma-apex db optimize`.",
        json_schema_extra=LIVE,
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", value):
            raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        if re.match(r"^postgresql[^:]*://[^/@:]+:[^/@]+@", value):
            raise ValueError("put the database password in ENIGMA_APEX__DATABASE__PASSWORD, not in the URL")
        return value

    @field_validator("audit_key")
    @classmethod
    def _audit_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() and len(value.get_secret_value()) < 16:
            raise ValueError(
                "an audit key needs at least 16 characters: a long random one, kept in the keyring (`secret set`)"
            )
        return value if value is not None and value.get_secret_value() else None

    @property
    def audit_key_bytes(self) -> bytes | None:
        return None if self.audit_key is None else self.audit_key.get_secret_value().encode()


class BackupSection(Section):
    """Off-site backups (docs/operations.md): the daily housekeeping backup, and `db backup --to`, copied to a folder
    or an S3-compatible bucket, encrypted on this machine before they leave it."""

    offsite: str | None = Field(
        None,
        description="Where the daily backup also goes: a folder (a mounted share), file:///folder, or "
        "s3://bucket/prefix (AWS S3, Backblaze B2, Cloudflare R2, MinIO; endpoint below). Empty: local backups only.",
        json_schema_extra=LIVE,
    )
    key: SecretStr | None = Field(
        None,
        description="AES-256 key that encrypts every off-site backup (secret; 64 hex digits: `enigma-apex db "
        "backup-key` makes one, `enigma-apex secret set backup.key` stores it). Keep a copy away from this machine: "
        "without it no backup can be restored.",
        json_schema_extra=SECRET,
    )
    encrypt: bool = Field(True, description="false: off-site backups are stored in clear (not recommended).")
    s3_endpoint: str | None = Field(
        None, description="The S3 API's URL for a service other than AWS (https://s3.us-west-004.backblazeb2.com, "
        "https://<account>.r2.cloudflarestorage.com, http://minio:9000). Empty: AWS.",
    )  # fmt: skip
    s3_region: str = Field("us-east-1", min_length=1, description="The bucket's region (R2: auto).")
    s3_access_key: SecretStr | None = Field(
        None, description="S3 access key id (secret). Empty: boto3's own lookup (AWS_* variables, ~/.aws).",
        json_schema_extra=SECRET,
    )  # fmt: skip
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret key (secret).", json_schema_extra=SECRET)
    keep_daily: int = Field(7, ge=1, le=3650, description="Off-site: the newest backup of each of this many days kept.")
    keep_weekly: int = Field(
        8, ge=0, le=520, description="Off-site: the newest backup of each of this many weeks kept."
    )
    max_age_h: int = Field(
        26, ge=1, le=24 * 30,
        description="An off-site backup older than this raises a warning alert, and doctor and /health report it.",
    )  # fmt: skip


class TelegramSection(Section):
    """Control from the phone through a Telegram bot (docs/operations.md, "Telegram"): outbound only (long polling;
    no port is opened), for the chats listed in ``chats`` and no other."""

    enabled: bool = Field(False, description="Run the bot while the hub runs.")
    token: SecretStr | None = Field(
        None, description="The bot's token from @BotFather (secret: `enigma-apex secret set telegram.token`).",
        json_schema_extra=SECRET,
    )  # fmt: skip
    chats: dict[str, Literal["dashboard", "mobile", "observer"]] = Field(
        default_factory=dict,
        description='Chat id -> role ("123456789" = "mobile"): the rights of a token of that role. Messages from any '
        "other chat are ignored and recorded. Your chat id: send the bot a message and look for telegram.refused "
        "in the audit log.",
        json_schema_extra=LIVE,
    )
    alerts: list[Literal["info", "warning", "critical"]] = Field(
        default_factory=lambda: ["warning", "critical"],  # type: ignore[arg-type]
        description="Alert severities sent to the chats (each chat can turn them off with /alerts off).",
        json_schema_extra=LIVE,
    )
    confirm_s: int = Field(60, ge=5, le=600, description="How long a /flatten or /halt confirmation button works.")
    api_url: str = Field(
        "https://api.telegram.org/bot", min_length=1,
        description="The Bot API's base URL (a self-hosted Bot API server's, if you run one).",
    )  # fmt: skip
    poll_s: int = Field(25, ge=1, le=50, description="Long-polling wait of each getUpdates call (seconds).")

    @field_validator("chats")
    @classmethod
    def _chat_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for chat in value:
            if not re.fullmatch(r"-?\d{1,20}", chat):
                raise ValueError(f"{chat!r}: a chat id is a number (a group's is negative)")
        return value


class LoggingSection(Section):
    """Logs: JSON lines to a file in the data directory rotated by size and daily, readable lines on the console."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level written.", json_schema_extra=LIVE
    )
    file_max_mb: int = Field(20, ge=1, le=10_000, description="Size at which the log file rotates (MB).")
    file_backups: int = Field(10, ge=1, le=1000, description="Rotated log files kept.")
    file_max_age_days: int = Field(
        30, ge=1, le=3650, description="Rotated log files older than this are deleted (the file also rotates daily)."
    )
    console: Literal["pretty", "json", "off"] = Field("pretty", description="Console log format.")
    console_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING",
        description="Lowest level shown on the console. The file keeps everything from ``level``; `up`'s console "
        "carries its status lines and, by default, only the warnings and errors among them.",
    )


class GuardianSection(Section):
    """Buffers the compliance guardian keeps inside each firm's lines (used from the guardian on)."""

    warn_drawdown_pct: Decimal = Field(
        Decimal(50),
        gt=0,
        lt=100,
        description="Alert when this % of the drawdown is used.",
        json_schema_extra=LIVE,
    )
    reducing_drawdown_pct: Decimal = Field(
        Decimal(75),
        gt=0,
        lt=100,
        description="At this % of the drawdown used, only orders that reduce exposure pass (REDUCING).",
        json_schema_extra=LIVE,
    )
    flatten_drawdown_pct: Decimal = Field(
        Decimal(90),
        gt=0,
        lt=100,
        description="At this % of the drawdown used, flatten and halt.",
        json_schema_extra=LIVE,
    )
    warn_dll_pct: Decimal = Field(
        Decimal(50),
        gt=0,
        lt=100,
        description="Alert at this % of the daily loss limit.",
        json_schema_extra=LIVE,
    )
    reducing_dll_pct: Decimal = Field(
        Decimal(75),
        gt=0,
        lt=100,
        description="REDUCING at this % of the daily loss limit.",
        json_schema_extra=LIVE,
    )
    flatten_dll_pct: Decimal = Field(
        Decimal(90),
        gt=0,
        lt=100,
        description="Flatten and halt at this % of the daily loss limit.",
        json_schema_extra=LIVE,
    )
    flatten_before_close_min: int = Field(
        5,
        ge=1,
        le=120,
        description="Flatten this many minutes before the firm's flat-by time (and at once for positions still "
        "open after it, or held across a close the hub did not see).",
        json_schema_extra=LIVE,
    )
    no_new_entries_min: int = Field(
        10,
        ge=0,
        le=240,
        description="Refuse new entries this many minutes before the firm's flat-by time.",
        json_schema_extra=LIVE,
    )
    reducing_release_pct: Decimal = Field(
        Decimal(5),
        ge=0,
        lt=100,
        description="REDUCING ends only once the account is back this many points of the drawdown (or of the daily "
        "loss limit) below the REDUCING level, or at the next session: an account hovering at the level does not "
        "flap in and out.",
        json_schema_extra=LIVE,
    )

    @model_validator(mode="after")
    def _ordered(self) -> GuardianSection:
        for kind in ("drawdown", "dll"):
            warn, reducing, flatten = (
                getattr(self, f"{level}_{kind}_pct") for level in ("warn", "reducing", "flatten")
            )
            if not warn <= reducing < flatten:
                raise ValueError(
                    f"need warn_{kind}_pct <= reducing_{kind}_pct < flatten_{kind}_pct, "
                    f"got {warn}, {reducing}, {flatten}"
                )
        if self.no_new_entries_min and self.no_new_entries_min < self.flatten_before_close_min:
            raise ValueError("no_new_entries_min must be 0 or at least flatten_before_close_min")
        return self


class SizingSection(Section):
    """Position sizing (used from the risk manager on)."""

    kelly_multiplier: Decimal = Field(
        Decimal("0.5"),
        gt=0,
        le=1,
        description="Fraction of the Kelly bet to use (0.5 = half Kelly).",
        json_schema_extra=LIVE,
    )
    base_risk_pct: Decimal = Field(
        Decimal(5),
        gt=0,
        le=100,
        description="Risk per trade, % of the drawdown buffer, while too few trades exist for Kelly.",
        json_schema_extra=LIVE,
    )
    max_risk_per_trade_usd: Decimal | None = Field(
        None,
        gt=0,
        description="Hard cap on dollars at risk per trade (empty: no cap beyond the rules).",
        json_schema_extra=LIVE,
    )
    min_trades_for_kelly: int = Field(
        30,
        ge=1,
        le=10_000,
        description="Trades needed before Kelly replaces the base risk.",
        json_schema_extra=LIVE,
    )
    max_risk_pct_of_buffer: Decimal = Field(
        Decimal(25),
        gt=0,
        le=100,
        description="Cap on dollars at risk per trade, % of the risk capital.",
        json_schema_extra=LIVE,
    )
    prior_win_rate: Decimal = Field(
        Decimal("0.5"),
        gt=0,
        lt=1,
        description="Prior mean of the win rate (Beta prior) for shrinkage.",
        json_schema_extra=LIVE,
    )
    prior_payoff: Decimal = Field(
        Decimal(1), gt=0, description="Prior average win in R (the prior average loss is 1 R).", json_schema_extra=LIVE
    )
    prior_strength: Decimal = Field(
        Decimal(20), ge=0, le=10_000, description="Weight of the priors, in trades.", json_schema_extra=LIVE
    )
    ai_max_shift: Decimal = Field(
        Decimal("0.05"),
        ge=0,
        le=Decimal("0.25"),
        description="Most the AI analyst's confidence may move the win rate, either way.",
        json_schema_extra=LIVE,
    )
    power_buckets: list[int] = Field(
        [50, 70, 85], description="AlgoBox power-score bucket edges for per-setup statistics.", json_schema_extra=LIVE
    )


class AISection(Section):
    """The AI analyst (any OpenAI-compatible server)."""

    enabled: bool = Field(
        False,
        description="Ask the model to score signals; off = deterministic scorer only.",
        json_schema_extra=LIVE,
    )
    base_url: str = Field(
        "http://127.0.0.1:11434/v1", description="OpenAI-compatible API base URL.", json_schema_extra=LIVE
    )
    model: str = Field("llama3.1", min_length=1, description="Model name sent to the server.", json_schema_extra=LIVE)
    api_key: SecretStr | None = Field(None, description="API key (secret).", json_schema_extra=SECRET_LIVE)
    timeout_s: Decimal = Field(
        Decimal("1.5"),
        gt=0,
        le=30,
        description="Hard time budget per call (seconds); past it the deterministic scorer decides.",
        json_schema_extra=LIVE,
    )
    failure_threshold: int = Field(
        3,
        ge=1,
        le=100,
        description="Consecutive failures (timeout, error, invalid answer) that open the circuit breaker.",
        json_schema_extra=LIVE,
    )
    cooldown_s: Decimal = Field(
        Decimal(60),
        gt=0,
        le=3600,
        description="While the breaker is open the model is not asked; the scorer decides.",
        json_schema_extra=LIVE,
    )
    reduce_factor: Decimal = Field(
        Decimal("0.5"),
        gt=0,
        lt=1,
        description="Share of the sized quantity kept when the analyst answers `reduce`.",
        json_schema_extra=LIVE,
    )
    take_score: int = Field(
        50, ge=0, le=100, description="Deterministic scorer: at or above this score, take.", json_schema_extra=LIVE
    )
    skip_score: int = Field(
        30,
        ge=0,
        le=100,
        description="Deterministic scorer: below this score, skip (between: reduce).",
        json_schema_extra=LIVE,
    )
    price_input_per_mtok: Decimal = Field(
        Decimal(0), ge=0, description="USD per million prompt tokens, for the recorded cost.", json_schema_extra=LIVE
    )
    price_output_per_mtok: Decimal = Field(
        Decimal(0),
        ge=0,
        description="USD per million completion tokens, for the recorded cost.",
        json_schema_extra=LIVE,
    )
    prompt_file: Path | None = Field(
        None,
        description="Your own prompt template (docs/signals.md, The analyst), relative to this file; empty: the "
        "built-in one.",
        json_schema_extra=LIVE,
    )
    recent_signals: int = Field(
        10, ge=0, le=100, description="Recent signals and their outcomes put in the prompt.", json_schema_extra=LIVE
    )

    @model_validator(mode="after")
    def _scores(self) -> AISection:
        if self.skip_score > self.take_score:
            raise ValueError(f"skip_score {self.skip_score} is above take_score {self.take_score}")
        return self

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @property
    def is_loopback(self) -> bool:
        host = urlparse(self.base_url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


class SignalsSection(Section):
    """Signal handling."""

    default_mode: Literal["auto", "confirm", "alert"] = Field(
        "confirm",
        description="auto: execute; confirm: wait for approval; alert: notify only.",
        json_schema_extra=LIVE,
    )
    confirm_timeout_s: Decimal = Field(
        Decimal(60),
        gt=0,
        le=3600,
        description="A signal waiting for approval (confirm mode) expires after this many seconds.",
        json_schema_extra=LIVE,
    )
    reversal_timeout_s: Decimal = Field(
        Decimal(30),
        gt=0,
        le=600,
        description="A reversal enters only after its close has filled; no fill within this many seconds: no entry.",
        json_schema_extra=LIVE,
    )
    tradingview_secret: SecretStr | None = Field(
        None,
        description="Secret path segment of the TradingView webhook URL (secret); empty: the webhook is off.",
        json_schema_extra=SECRET_LIVE,
    )
    webhook_max_age_s: Decimal = Field(
        Decimal(60),
        gt=0,
        le=3600,
        description="A webhook alert whose own time is older than this is refused as stale.",
        json_schema_extra=LIVE,
    )
    webhook_dedup_s: Decimal = Field(
        Decimal(30),
        gt=0,
        le=3600,
        description="An alert equal to one received less than this many seconds before (without a time of its own) "
        "is a repeat: nothing is done. The window rolls: each repeat extends it.",
        json_schema_extra=LIVE,
    )
    webhook_max_future_s: Decimal = Field(
        Decimal(5),
        ge=0,
        le=3600,
        description="An alert whose own time is further ahead than this is refused (the sender's clock is wrong).",
        json_schema_extra=LIVE,
    )
    webhook_max_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest webhook body accepted; a larger one is answered 413 with its size.",
        json_schema_extra=LIVE,
    )
    secret_fields: list[str] = Field(
        default_factory=list,
        description="More field names whose values are masked wherever a payload is stored, at any depth "
        "(always masked: token, password, secret, api_key, apikey, key, passphrase, access_token).",
        json_schema_extra=LIVE,
    )
    entry_order_ttl_s: Decimal = Field(
        Decimal(300),
        ge=0,
        le=86400,
        description="A limit or stop entry still working after this many seconds is cancelled (0: never).",
        json_schema_extra=LIVE,
    )
    webhook_group: str = Field(
        "default",
        min_length=1,
        description="Account group that TradingView alerts are routed to.",
        json_schema_extra=LIVE,
    )


AccountName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
GroupName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class GroupSection(Section):
    """One account group: how the signals routed to it are handled (``[groups.<name>]``)."""

    mode: Literal["auto", "confirm", "alert"] | None = Field(
        None,
        description="auto, confirm or alert for this group; empty: [signals] default_mode.",
        json_schema_extra=LIVE,
    )
    confirm_timeout_s: Decimal | None = Field(
        None,
        gt=0,
        le=3600,
        description="Approval window for this group; empty: [signals] confirm_timeout_s.",
        json_schema_extra=LIVE,
    )
    analyse: bool = Field(
        True, description="Score this group's signals (AI or deterministic scorer).", json_schema_extra=LIVE
    )


class Region(Section):
    """A screen rectangle in pixels."""

    left: int = Field(0, description="Left edge (px).")
    top: int = Field(0, description="Top edge (px).")
    width: int = Field(600, ge=8, le=8000, description="Width (px).")
    height: int = Field(60, ge=8, le=8000, description="Height (px).")


def _default_patterns() -> dict[str, str]:
    return {
        "direction": r"\b(LONG|SHORT|BUY|SELL)\b",
        "power": r"(?:P[O0]WER|PWR|PW)\s*[:=]?\s*(\d[\dO]{0,2})",  # POWER 23, PWR: 87, Power=5, PW 40
        "confluence": r"(?<![A-Z])L\s*([1-4Il|])\b",
        "macvu": r"MACVU\s*:?\s*(BULL|BEAR|UP|DOWN|ON|OFF|FLAT)",
        "price": r"@\s*(\d[\dO]{1,5}(?:[.,]\s?[\dO]{1,2})?)",
        "symbol": r"\b(M?NQ|M?ES|M?YM|M?RTY|M?CL|M?GC)\b",
    }


class OCRSection(Section):
    """AlgoBox Enigma screen reader."""

    enabled: bool = Field(False, description="Read the Enigma panel from the screen while the hub runs.")
    engine: Literal["rapidocr", "tesseract"] = Field(
        "rapidocr",
        description="rapidocr: models in the wheel, no system install (Windows); tesseract: needs Tesseract installed.",
    )
    tesseract_cmd: Path | None = Field(None, description="Path of the tesseract program when it is not on PATH.")
    engine_process: bool = Field(
        True,
        description="Run the engine in a child process: its models load once there, and their memory and CPU are "
        "not the hub's. false: in the hub's own process.",
    )
    region: Region = Field(default_factory=Region, description="Screen region of the Enigma panel (see ocr calibrate).")
    monitor: int = Field(1, ge=0, le=16, description="Monitor number as mss counts them (0: all monitors).")
    rate_hz: Decimal = Field(Decimal(4), gt=0, le=30, description="Screen reads per second.")
    stable_frames: int = Field(2, ge=1, le=10, description="Equal consecutive readings needed before a signal.")
    symbol: str = Field("MNQ", min_length=1, description="Instrument traded when the panel shows none.")
    group: str = Field("default", min_length=1, description="Account group that Enigma signals are routed to.")
    min_power: int | None = Field(None, ge=0, le=100, description="Ignore Enigmas below this power level.")
    min_confluence: int | None = Field(None, ge=1, le=4, description="Ignore Enigmas below this confluence level.")
    require_price: bool = Field(False, description="Ignore readings without a price (else the last quote is used).")
    stop_ticks: int | None = Field(
        None,
        ge=1,
        le=2000,
        description="Stop this many ticks behind the Enigma's price; empty: each account's default_stop_ticks.",
    )
    patterns: dict[str, str] = Field(
        default_factory=_default_patterns,
        description="Regular expressions (group 1 = the value) for direction, power, confluence, macvu, price, symbol.",
    )

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        known = set(_default_patterns())
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown pattern {unknown[0]!r}; known: {', '.join(sorted(known))}")
        merged = {**_default_patterns(), **value}
        for name, pattern in merged.items():
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {name!r} does not compile: {exc}") from None
            if compiled.groups < 1:
                raise ValueError(f"pattern {name!r} needs a group: (…) around the value")
        return merged


class PaperSection(Section):
    """The paper broker (`enigma-apex paper`): a simulated broker for accounts whose executor is "paper"."""

    enabled: bool = Field(True, description="`up` starts the paper broker in paper mode when an account uses it.")
    instruments: list[str] = Field(
        default_factory=lambda: ["MNQ", "MES", "NQ", "ES"],
        description="Instrument roots simulated from the start (others start when an order asks for them).",
    )
    tick_interval_s: Decimal = Field(Decimal("0.25"), gt=0, le=60, description="Seconds between simulated quotes.")
    seed: int | None = Field(None, description="Random seed of the simulated market (empty: a new walk each run).")
    volatility: dict[str, float] = Field(
        default_factory=dict, description="Annualised volatility per root, e.g. {MNQ = 0.25} (default: per family)."
    )
    start_prices: dict[str, Decimal] = Field(default_factory=dict, description="Start price per root.")
    replay_file: Path | None = Field(
        None,
        description='Replay a CSV of ticks or bars instead of the random walk ("sample" = the file in the package).',
    )
    replay_speed: Decimal = Field(Decimal(1), gt=0, le=1000, description="Replay speed (2 = twice as fast).")
    market_slippage_ticks: int = Field(0, ge=0, le=100, description="Ticks beyond the quote a market order fills at.")
    stop_slippage_ticks: int = Field(1, ge=0, le=100, description="Ticks beyond the trigger a stop order fills at.")
    liquidity: int = Field(0, ge=0, le=10_000, description="Contracts a resting order fills per quote (0: all).")
    commissions: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Commission per contract per side by root (default 2.00 minis, 0.62 micros).",
    )
    balances: dict[str, Decimal] = Field(
        default_factory=dict, description="Start balance per account (default: the firm profile's start balance)."
    )
    update_hz: Decimal = Field(Decimal(4), ge=1, le=50, description="account.update messages per second per account.")


class AtiSection(Section):
    """NinjaTrader 8 ATI order files (`enigma-apex ati`): orders without any C# (Tools > Options > ATI)."""

    name: str = Field("ati", min_length=1, description="Executor name: accounts with this executor are traded here.")
    folder: Path | None = Field(
        None,
        description="NinjaTrader's user folder (holds incoming/ and outgoing/); empty: Documents/NinjaTrader 8.",
    )
    start_balance: dict[str, Decimal] = Field(
        default_factory=dict, description="Balance per account at start (ATI reports no balance; fills update it)."
    )
    atm_template: str = Field("", description="ATM strategy template for entries (empty: our own stop and target).")
    poll_ms: int = Field(50, ge=10, le=5000, description="How often the outgoing folder is read.")
    commission: dict[str, Decimal] = Field(
        default_factory=dict, description="Commission per contract per side by root, for the local ledger."
    )
    flatten_after_disconnect_s: Decimal | None = Field(
        None, ge=0, description="Flatten every account after this long without the hub (empty: never)."
    )


class TradovateSection(Section):
    """Tradovate REST + WebSocket (`enigma-apex tradovate`)."""

    name: str = Field("tradovate", min_length=1, description="Executor name: accounts with it are traded here.")
    environment: Literal["demo", "live"] = Field("demo", description="demo.tradovateapi.com or live.tradovateapi.com.")
    rest_url: str | None = Field(None, description="Override of the REST base URL (tests, proxies).")
    ws_url: str | None = Field(None, description="Override of the WebSocket URL.")
    username: str = Field("", description="Tradovate user name.")
    password: SecretStr | None = Field(None, description="Tradovate password (secret).", json_schema_extra=SECRET)
    app_id: str = Field("enigma-apex", description="Application id registered with Tradovate.")
    app_version: str = Field("1.0", description="Application version.")
    cid: int | None = Field(None, description="API key id (cid).")
    sec: SecretStr | None = Field(None, description="API key secret (sec) (secret).", json_schema_extra=SECRET)
    request_timeout_s: Decimal = Field(Decimal(5), gt=0, le=60, description="Timeout of one REST request.")
    flatten_after_disconnect_s: Decimal | None = Field(
        None, ge=0, description="Flatten every account after this long without the hub (empty: never)."
    )


class RithmicSection(Section):
    """Rithmic's Protocol Buffer API (`enigma-apex rithmic`): what the firm gives you for R | Trader Pro."""

    name: str = Field("rithmic", min_length=1, description="Executor name: accounts with it are traded here.")
    gateway_url: str = Field(
        "", description="The Rithmic gateway the firm names, e.g. wss://rprotocol.rithmic.com:443 (docs/execution.md)."
    )
    system_name: str = Field("", description='Rithmic system the firm names, e.g. "Apex" or "Rithmic Paper Trading".')
    user: str = Field("", description="Rithmic user id.")
    password: SecretStr | None = Field(None, description="Rithmic password (secret).", json_schema_extra=SECRET)
    app_name: str = Field("enigma-apex", description="Application name sent at login.")
    app_version: str = Field("1.0", description="Application version sent at login.")
    ca_file: Path | None = Field(
        None, description="Certificate authority of Rithmic's gateways (the file that comes with the protocol kit)."
    )
    trade_route: str = Field(
        "", description="Trade route when the gateway lists none for an exchange (normally taken from the list)."
    )
    market_data: bool = Field(
        True, description="Log in to the ticker plant: prices for open P&L marks and market brackets."
    )
    request_timeout_s: Decimal = Field(Decimal(10), gt=0, le=60, description="Timeout of one request.")
    flatten_after_disconnect_s: Decimal | None = Field(
        None, ge=0, description="Flatten every account after this long without the hub (empty: never)."
    )

    def missing(self) -> str:
        """What a login still needs, as a sentence ('' when nothing)."""
        wanted = [f"rithmic.{k}" for k in ("gateway_url", "system_name", "user") if not getattr(self, k)]
        if self.password is None:
            wanted.append("the secret rithmic.password (`enigma-apex secret set rithmic.password`)")
        return f"set {', '.join(wanted)}" if wanted else ""


class ProjectXSection(Section):
    """The ProjectX Gateway API (`enigma-apex projectx`): TopstepX and the other firms on ProjectX."""

    name: str = Field("projectx", min_length=1, description="Executor name: accounts with it are traded here.")
    api_url: str = Field(
        "https://gateway-api-demo.s2f.projectx.com", description="REST endpoint of the firm's ProjectX gateway."
    )
    user_hub_url: str = Field(
        "https://gateway-rtc-demo.s2f.projectx.com/hubs/user", description="SignalR user hub of the gateway."
    )
    market_hub_url: str = Field(
        "https://gateway-rtc-demo.s2f.projectx.com/hubs/market", description="SignalR market hub of the gateway."
    )
    username: str = Field("", description="ProjectX user name.")
    api_key: SecretStr | None = Field(None, description="ProjectX API key (secret).", json_schema_extra=SECRET)
    request_timeout_s: Decimal = Field(Decimal(10), gt=0, le=60, description="Timeout of one REST request.")
    live: bool = Field(False, description="Search live contracts (false: the simulated/evaluation data feed).")
    flatten_after_disconnect_s: Decimal | None = Field(
        None, ge=0, description="Flatten every account after this long without the hub (empty: never)."
    )


class DashboardSection(Section):
    """The Streamlit dashboard (`enigma-apex dashboard`; `up` starts it)."""

    enabled: bool = Field(True, description="`up` starts the dashboard.")
    host: str = Field("127.0.0.1", description="Bind address; your LAN address (or 0.0.0.0) to open it from a phone.")
    port: int = Field(8501, ge=0, le=65535, description="Port of the dashboard (0 = any free port).")
    tls_cert: Path | None = Field(None, description="PEM certificate for the dashboard over https (with tls_key).")
    tls_key: Path | None = Field(None, description="PEM private key for the dashboard over https.")
    refresh_s: Decimal = Field(
        Decimal("0.25"),
        ge=Decimal("0.1"),
        le=60,
        description="Seconds between re-draws of a page's live parts (from the dashboard's own copy of the hub's "
        "state, kept by one gateway subscription: the hub's load does not depend on it).",
    )
    history_days: int = Field(
        400,
        ge=1,
        le=3650,
        description="Days of kept equity samples (the account page's curve); older ones go with the daily "
        "housekeeping.",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _valid_host(value)

    @model_validator(mode="after")
    def _tls_pair(self) -> DashboardSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class AlertsSection(Section):
    """Notifications through Apprise (https://github.com/caronc/apprise/wiki): one list of URLs per severity.

    Examples: desktop (``dbus://``, ``windows://``, ``macosx://``), email (``mailtos://user:pass@gmail.com``),
    SMS by Twilio (``twilio://SID:Token@FromPhone/ToPhone``) or an email-to-SMS gateway, ``tgram://``,
    ``discord://``, ``pover://``, any webhook (``json://host/path``). URLs with credentials are best set in the
    environment (``ENIGMA_APEX__ALERTS__CRITICAL='["mailtos://…"]'``) rather than in this file."""

    enabled: bool = Field(True, description="Send alerts (they are always recorded in the database).")
    info: list[str] = Field(
        default_factory=list, description="Apprise URLs for info alerts.", json_schema_extra=URLS_LIVE
    )
    warning: list[str] = Field(
        default_factory=list, description="Apprise URLs for warnings.", json_schema_extra=URLS_LIVE
    )
    critical: list[str] = Field(
        default_factory=list, description="Apprise URLs for critical alerts.", json_schema_extra=URLS_LIVE
    )
    dedupe_s: Decimal = Field(
        Decimal(60), ge=0, le=86400, description="The same kind for the same account is sent once in this window."
    )
    max_per_minute: int = Field(
        20, ge=1, le=1000, description="Info and warning alerts sent per minute at most; critical ones always go."
    )
    send_timeout_s: Decimal = Field(Decimal(10), gt=0, le=120, description="Time allowed to one channel per alert.")


class RulesSection(Section):
    """Where the compliance guardian finds user data."""

    profile_dir: Path = Field(
        Path("profiles"),
        description="Folder of your own firm profile files (*.toml), relative to this file; may be missing.",
    )
    news_calendar: Path | None = Field(
        None,
        description="News blackout calendar (TOML, see docs/rules.md); empty: no blackout windows.",
        json_schema_extra=LIVE,
    )
    commission_mini: Decimal = Field(
        Decimal("4.50"),
        ge=0,
        description="Round-trip commission per mini contract used in worst-case checks.",
        json_schema_extra=LIVE,
    )
    commission_micro: Decimal = Field(
        Decimal("1.50"),
        ge=0,
        description="Round-trip commission per micro contract used in worst-case checks.",
        json_schema_extra=LIVE,
    )
    slippage_ticks: int = Field(
        2,
        ge=0,
        le=100,
        description="Slippage allowance on a stop, in ticks, used in worst-case checks.",
        json_schema_extra=LIVE,
    )


def registry_from(info: ValidationInfo) -> ProfileRegistry:
    """The profile registry in the validation context, or the built-in one."""
    context = info.context if isinstance(info.context, dict) else {}
    registry = context.get("profiles")
    if isinstance(registry, ProfileRegistry):
        return registry
    from enigma_apex.adapters.profile_files import builtin_registry

    return builtin_registry()


class AccountEntry(Section):
    """One trading account."""

    name: AccountName = Field(description="Account id as the broker/platform shows it.")
    profile: str = Field(description="Firm profile id, e.g. apex4-intraday-eval-50k (`enigma-apex firms`).")
    platform: Literal["rithmic", "tradovate", "wealthcharts"] | None = Field(
        None, description="Where the account is traded, when the firm's rules depend on it."
    )
    executor: str = Field("paper", min_length=1, description="Executor that owns the account.")
    group: str = Field("default", min_length=1, description="Account group that signals are routed to.")
    started_on: date | None = Field(
        None,
        description="The account's first day (evaluation time limits and inactivity rules count from it); empty: "
        "the day the hub first sees it.",
    )
    household: str = Field(
        "default", min_length=1, description="Accounts of one household may never hold opposite positions (hedging)."
    )
    max_contracts: int | None = Field(None, ge=1, description="Lower contract cap (minis) than the firm's.")
    default_stop_ticks: int | None = Field(
        None, ge=1, description="Stop assumed for entries sent without one; empty: such entries are refused."
    )
    consistency_guard: bool = Field(
        False, description="Halt for the day once today's profit reaches what keeps the best-day share legal."
    )
    multiplier: Decimal = Field(
        Decimal(1),
        gt=0,
        le=10,
        description="Scales the signal's own quantity (copy-trading); below 1 also scales the Kelly size. "
        "Never above what the sizer and the gate allow.",
        json_schema_extra=LIVE,
    )
    symbols: dict[str, str] = Field(
        default_factory=dict,
        description='Trade another contract of the same index, e.g. {NQ = "MNQ"} on an evaluation account.',
        json_schema_extra=LIVE,
    )

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: dict[str, str]) -> dict[str, str]:
        from enigma_apex.domain.instruments import INSTRUMENTS

        mapped: dict[str, str] = {}
        for source, target in value.items():
            src, dst = source.strip().upper(), target.strip().upper()
            for root in (src, dst):
                if root not in INSTRUMENTS:
                    raise ValueError(f"unknown instrument root {root!r}")
            if INSTRUMENTS[src].family != INSTRUMENTS[dst].family:
                raise ValueError(f"{src} and {dst} are not the same index: a mapping may only swap mini and micro")
            mapped[src] = dst
        return mapped

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str, info: ValidationInfo) -> str:
        registry = registry_from(info)
        if value not in registry:
            raise ValueError(unknown_profile_message(value, registry.ids()))
        return value

    @model_validator(mode="after")
    def _cap(self, info: ValidationInfo) -> AccountEntry:
        registry = registry_from(info)
        if self.profile not in registry:
            return self
        profile = registry.get(self.profile)
        if profile.max_minis is None and self.max_contracts is None:
            raise ValueError(f"profile {self.profile} publishes no contract cap in our sources; set max_contracts")
        if profile.max_minis is not None and self.max_contracts is not None and self.max_contracts > profile.max_minis:
            raise ValueError(f"max_contracts {self.max_contracts} is above the firm's cap of {profile.max_minis}")
        return self


def _default_accounts() -> list[AccountEntry]:
    return [AccountEntry(name="PAPER-1", profile="apex4-intraday-eval-50k")]


class Settings(Section):
    """The whole configuration."""

    hub: HubSection = Field(default_factory=HubSection)
    http: HttpSection = Field(default_factory=HttpSection)
    gateway: GatewaySection = Field(default_factory=GatewaySection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    backup: BackupSection = Field(default_factory=BackupSection)
    telegram: TelegramSection = Field(default_factory=TelegramSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    guardian: GuardianSection = Field(default_factory=GuardianSection)
    sizing: SizingSection = Field(default_factory=SizingSection)
    ai: AISection = Field(default_factory=AISection)
    signals: SignalsSection = Field(default_factory=SignalsSection)
    rules: RulesSection = Field(default_factory=RulesSection)
    ocr: OCRSection = Field(default_factory=OCRSection)
    paper: PaperSection = Field(default_factory=PaperSection)
    ati: AtiSection = Field(default_factory=AtiSection)
    tradovate: TradovateSection = Field(default_factory=TradovateSection)
    rithmic: RithmicSection = Field(default_factory=RithmicSection)
    projectx: ProjectXSection = Field(default_factory=ProjectXSection)
    dashboard: DashboardSection = Field(default_factory=DashboardSection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    groups: dict[GroupName, GroupSection] = Field(
        default_factory=dict, description="Per-group signal handling ([groups.<name>]); unlisted groups use [signals]."
    )
    accounts: list[AccountEntry] = Field(default_factory=_default_accounts, description="Trading accounts.")

    @field_validator("accounts")
    @classmethod
    def _unique(cls, value: list[AccountEntry]) -> list[AccountEntry]:
        seen: set[str] = set()
        for entry in value:
            if entry.name in seen:
                raise ValueError(f"account {entry.name!r} is listed twice")
            seen.add(entry.name)
        return value

    @model_validator(mode="after")
    def _platforms(self) -> Settings:
        """An account without a ``platform`` takes its executor's: Rithmic or Tradovate (the firms' rules differ
        by platform, propfirm_rules.md §Apex); a set one is kept (``config check`` warns when they disagree)."""
        implied = self.implied_platform
        accounts = [
            a.model_copy(update={"platform": implied(a.executor)}) if a.platform is None and implied(a.executor) else a
            for a in self.accounts
        ]
        object.__setattr__(self, "accounts", accounts)
        return self

    def implied_platform(self, executor: str) -> Literal["rithmic", "tradovate"] | None:
        if executor == self.rithmic.name:
            return "rithmic"
        if executor == self.tradovate.name:
            return "tradovate"
        return None

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL in use (password merged, never logged)."""
        if self.database.url is None:
            return f"sqlite:///{(self.hub.data_dir / 'enigma-apex.db').as_posix()}"
        url = self.database.url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        if self.database.password is not None and url.startswith("postgresql"):
            scheme, rest = url.split("://", 1)
            from urllib.parse import quote

            password = quote(self.database.password.get_secret_value(), safe="")
            if "@" in rest:
                user, host = rest.split("@", 1)
                url = f"{scheme}://{user}:{password}@{host}"
        return url


def _valid_host(value: str) -> str:
    if value in ("localhost", "0.0.0.0", "::"):  # noqa: S104 - binding all interfaces is an explicit user choice
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not re.match(r"^[A-Za-z0-9.-]{1,253}$", value):
            raise ValueError(f"{value!r} is not an IP address or host name") from None
    return value
