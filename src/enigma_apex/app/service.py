"""The one service facade. The HTTP API, the CLI and (later) the WebSocket gateway and dashboard
call these methods; transports only translate."""

from __future__ import annotations

import hmac
import platform
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import text

from enigma_apex import __version__
from enigma_apex.adapters.store import migrate, repository, tokens
from enigma_apex.adapters.store.store import Store
from enigma_apex.app.guardian import GuardianService
from enigma_apex.app.market import MarketBook
from enigma_apex.app.signin import SignInGuard
from enigma_apex.app.views import EquityHistory
from enigma_apex.config import loader
from enigma_apex.config.models import Settings
from enigma_apex.config.reload import ReloadPlan, plan_reload
from enigma_apex.domain.clock import Clock
from enigma_apex.errors import ConfigError

log = structlog.get_logger("enigma_apex.service")

# who the local CLI is, signed in with the hub's control token (never stored: it lives as long as the run)
CONTROL_RECORD = tokens.TokenRecord(
    "local-cli", "cli (local)", "admin", (), False, datetime(2000, 1, 1, tzinfo=UTC), None, None
)


@dataclass(frozen=True)
class ReloadOutcome:
    ok: bool
    applied: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "applied": self.applied, "refused": self.refused, "problems": self.problems}


class HubService:
    def __init__(
        self,
        settings: Settings,
        config_path: Path | None,
        store: Store,
        clock: Clock,
        started_monotonic: float,
        *,
        environ: dict[str, str] | None = None,
        guardian: GuardianService | None = None,
    ) -> None:
        self._settings = settings
        self.config_path = config_path
        self.store = store
        self.clock = clock
        self._started = started_monotonic
        self._environ = environ
        self._lock = threading.RLock()  # update_settings writes the file and reloads it under one hold
        self.config_hash = ""
        self.reload_listeners: list[Any] = []
        self.guardian = guardian
        self.gateway: Any = None  # set by the composition root
        self.supervisor: Any = None  # set by the hub when it starts
        self.history = EquityHistory()
        self.market = MarketBook()
        self.control_token = ""  # the local CLI's way in while the hub runs (set by the hub once it answers)
        gateway = settings.gateway
        self.sign_ins = SignInGuard(gateway.auth_failures_per_min, gateway.auth_failures_per_address_per_min)

    @property
    def settings(self) -> Settings:
        return self._settings

    # ------------------------------------------------------------------ health
    def database_status(self) -> dict[str, Any]:
        writer = self.store.writer
        detail = ""
        readable = True
        try:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            readable, detail = False, f"{exc.__class__.__name__}: {exc}"
        ok = readable and writer.healthy
        return {
            "ok": ok,
            "writable": writer.healthy,
            "readable": readable,
            "detail": detail or writer.last_error,
            "dialect": self.store.engine.dialect.name,
            "committed_writes": writer.committed,
        }

    def health(self) -> dict[str, Any]:
        """``down`` (HTTP 503) when the database cannot take writes: nothing can be acknowledged. ``degraded`` when
        a component is down and its fallback works; ``ok`` otherwise. ``components``: the supervisor's view."""
        database = self.database_status()
        components = self.supervisor.snapshot() if self.supervisor is not None else []
        status = "ok"
        if any(c["status"] in ("down", "degraded") for c in components):
            status = "degraded"
        if not database["ok"]:
            status = "down"
        return {
            "status": status,
            "version": __version__,
            "mode": self._settings.hub.mode,
            "uptime_s": round(self.clock.monotonic() - self._started, 3),
            "database": database,
            "backup": self.backup_status(readable=database["readable"]),
            "components": components,
        }

    def backup_status(self, *, readable: bool = True) -> dict[str, Any]:
        """The off-site backups: target, the newest one's time and age, stale (older than backup.max_age_h)."""
        from enigma_apex.adapters.backup import offsite

        cfg = self._settings.backup
        last = None
        if cfg.offsite and readable:
            try:
                with self.store.engine.connect() as conn:
                    found = repository.last_offsite_backup(conn)
            except Exception:  # noqa: BLE001 - /health reports; a database that fails here shows in "database"
                found = None
            last = None if found is None else found[0]
        return offsite.status(cfg.offsite, last, self.clock.now(), cfg.max_age_h)

    def version(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "python": platform.python_version(),
            "schema_revision": migrate.current_revision(self.store.engine),
            "schema_latest": migrate.head_revision(),
        }

    # ------------------------------------------------------------------ auth
    def authenticate(self, token: str, *, local: bool = False) -> tokens.TokenRecord | None:
        """The active record of a presented token. ``local``: the request came from this machine, not through a
        proxy — the only place the hub's per-run control token (the local CLI's, see ``adapters/instance.py``)
        is accepted."""
        if local and self.control_token and hmac.compare_digest(token.encode(), self.control_token.encode()):
            return CONTROL_RECORD
        with self.store.engine.connect() as conn:
            return tokens.find_token(conn, token, self.clock.now())

    # ------------------------------------------------------------------ configuration
    def reload_config(self, source: str, expect: str | None = None) -> ReloadOutcome:
        """Re-read the file; apply keys that may change live, refuse (and keep) the rest.

        ``expect``: the digest of the content the caller saw settled (the file watcher); a file that reads
        otherwise now is being written again, and nothing is applied (the watcher looks again at its next poll)."""
        with self._lock:
            try:
                loaded = loader.load(self.config_path, environ=self._environ)
            except ConfigError as exc:
                log.warning("config.reload_rejected", source=source, problems=exc.problems)
                return ReloadOutcome(False, [], [], exc.problems)
            if expect is not None and loaded.text_hash != expect:
                self.config_hash = ""  # unlike any file's digest: the next poll reads it again
                log.info("config.reload_deferred", source=source)
                return ReloadOutcome(False, [], [], ["the file changed while it was read; it is read again"])
            plan = plan_reload(self._settings, loaded.settings)
            self.config_hash = loaded.text_hash
            if plan.changed:
                self.store.writer.write(lambda ctx: self._record(ctx, plan, source))
            self._settings = plan.settings
            self.sign_ins.per_token = plan.settings.gateway.auth_failures_per_min
            self.sign_ins.per_address = plan.settings.gateway.auth_failures_per_address_per_min
            for listener in self.reload_listeners:
                listener(plan)
            applied = [{"key": c.key, "old": _jsonable(c.old), "new": _jsonable(c.new)} for c in plan.applied]
            refused = [
                {
                    "key": c.key,
                    "old": _jsonable(c.old),
                    "new": _jsonable(c.new),
                    "reason": "needs a restart; the hub keeps running with the old value",
                }
                for c in plan.refused
            ]
            for change in refused:
                log.warning("config.needs_restart", key=change["key"], source=source)
            if applied:
                log.info("config.reloaded", source=source, keys=[c["key"] for c in applied])
            return ReloadOutcome(True, applied, refused, [])

    def update_settings(self, changes: dict[str, Any], source: str) -> ReloadOutcome:
        """Change live keys: written into the configuration file (comments kept), then applied as a reload.

        Only keys that may change while the hub runs are accepted, and never secrets (they belong in the
        environment or the keyring). The whole file is validated before it replaces the old one.
        """
        import os

        import tomlkit
        import tomlkit.exceptions

        from enigma_apex.config.schema import key_info

        problems = []
        for key in changes:
            info = key_info(key)
            if info is None or "[" in key:
                problems.append(f"{key}: unknown key")
            elif info.secret:
                problems.append(f"{key}: a secret; set it with `enigma-apex secret set` or the environment")
            elif not info.reloadable:
                problems.append(f"{key}: needs a restart; edit the configuration file instead")
        if problems:
            return ReloadOutcome(False, [], [], problems)
        if self.config_path is None:
            return ReloadOutcome(False, [], [], ["the hub runs without a configuration file"])
        with self._lock:
            document = tomlkit.parse(self.config_path.read_text(encoding="utf-8"))
            for key, value in changes.items():
                *sections, name = key.split(".")
                table: Any = document
                for section in sections:
                    if section not in table:
                        table[section] = tomlkit.table()
                    table = table[section]
                try:
                    table[name] = _typed_toml(key, value)
                except (tomlkit.exceptions.ConvertError, TypeError, ValueError):
                    return ReloadOutcome(False, [], [], [f"{key}: {value!r} cannot be written as a TOML value"])
            temp = self.config_path.with_name(self.config_path.name + ".new")
            temp.write_text(tomlkit.dumps(document), encoding="utf-8")
            try:
                loader.load(temp, environ=self._environ)
            except ConfigError as exc:
                temp.unlink(missing_ok=True)
                return ReloadOutcome(False, [], [], exc.problems)
            os.replace(temp, self.config_path)
            # still held: the file watcher, which reloads on any change, cannot take this change first (the
            # caller would then be told nothing was applied)
            return self.reload_config(source)

    @staticmethod
    def _record(ctx: Any, plan: ReloadPlan, source: str) -> None:
        for change in plan.applied:
            repository.record_config_change(
                ctx, key=change.key, old=change.old, new=change.new, applied=True, source=source
            )
        for change in plan.refused:
            repository.record_config_change(
                ctx,
                key=change.key,
                old=change.old,
                new=change.new,
                applied=False,
                source=source,
                note="needs a restart",
            )


def _jsonable(value: Any) -> Any:
    """Config values for JSON answers: exact decimals as strings, lists element-wise."""
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _typed_toml(key: str, value: Any) -> Any:
    """The TOML item for a live key's new value, in the key's own type: a form or a dashboard may send "40" for 40
    or "0.5" for 0.5, and the file keeps numbers as numbers (a value the type refuses is written as given, and the
    whole file's validation then names the problem)."""
    import tomlkit
    from pydantic import TypeAdapter, ValidationError

    from enigma_apex.config.render import toml_value
    from enigma_apex.config.schema import key_info

    if value is None:  # TOML has no null
        raise TypeError("no TOML value for null")
    info = key_info(key)
    if info is not None and info.field.annotation is not None:
        try:
            typed = TypeAdapter(info.field.annotation).validate_python(value)
        except ValidationError:
            return tomlkit.item(value)  # as given: the whole file's validation names the problem
        if typed is not None:
            return tomlkit.parse(f"v = {toml_value(typed)}")["v"]
    return tomlkit.item(value)
