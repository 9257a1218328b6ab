"""Daily housekeeping while the hub runs: at ``database.maintenance_at`` (New York time) a backup of the database
(``daily-*``, the newest ``database.backup_keep`` kept) — stored off this machine too when ``backup.offsite`` is set
(encrypted, pruned by ``backup.keep_daily``/``keep_weekly``; ``adapters/backup``) — the light optimisation
(``maintenance.optimize(full=False)``), the deletion of log files older than ``logging.file_max_age_days`` and of
equity samples older than ``dashboard.history_days``. Each run is an audit row; a failure is an alert and never
stops the hub.

When the hub starts and the newest daily backup is more than a day old (it was stopped over the slot), or an
off-site target is set and holds no backup younger than a day, the job runs at once. An off-site backup older than
``backup.max_age_h`` raises a warning alert (``backup.stale``), once per day it stays so.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from enigma_apex.adapters import logging as logs
from enigma_apex.adapters.backup import crypto, offsite, targets
from enigma_apex.adapters.store import maintenance, repository
from enigma_apex.adapters.store.store import Store
from enigma_apex.config.models import Settings
from enigma_apex.domain.clock import Clock

log = structlog.get_logger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
DAILY_PREFIX = "daily-"
STARTUP_PREFIX = "startup-"
STARTUP_KEEP = 3


@dataclass
class Housekeeping:
    store: Store
    clock: Clock
    settings: Settings
    log_dir: Path | None = None
    last_run: date | None = None
    stale_alerted: date | None = None  # the day a stale off-site backup was last alerted

    def due(self, now: datetime) -> bool:
        """True once a day, at or after the maintenance time, or when the last daily backup (or off-site backup,
        when a target is set) is over a day old."""
        local = now.astimezone(NEW_YORK)
        if self.last_run is None:
            newest = self.newest_backup()
            if newest is None or now - newest > timedelta(days=1):
                return True
            if self.settings.backup.offsite:
                last = self.last_offsite()
                if last is None or now - last > timedelta(days=1):
                    return True
            self.last_run = newest.astimezone(NEW_YORK).date()  # not again until the next slot
        slot = datetime.combine(local.date(), self.settings.database.maintenance_at, NEW_YORK)
        return local >= slot and self.last_run != local.date()

    def newest_backup(self) -> datetime | None:
        """When the newest daily backup was taken, from its name (written with the hub's clock)."""
        folder = self.store.backups_dir
        stamps = []
        for path in folder.glob(f"{DAILY_PREFIX}*") if folder.is_dir() else []:
            stamp = path.name.removeprefix(DAILY_PREFIX).split(".", 1)[0]
            with contextlib.suppress(ValueError):
                stamps.append(datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC))
        return max(stamps) if stamps else None

    def last_offsite(self) -> datetime | None:
        with self.store.engine.connect() as conn:
            found = repository.last_offsite_backup(conn)
        return None if found is None else found[0]

    def offsite_status(self, now: datetime) -> dict[str, Any]:
        cfg = self.settings.backup
        return offsite.status(cfg.offsite, self.last_offsite() if cfg.offsite else None, now, cfg.max_age_h)

    def check_stale(self, now: datetime) -> bool:
        """A warning alert when the off-site backup is older than ``backup.max_age_h`` (once a day); True if sent."""
        state = self.offsite_status(now)
        today = now.astimezone(NEW_YORK).date()
        if not state["stale"] or self.stale_alerted == today:
            return False
        self.stale_alerted = today
        age = "none was ever stored" if state["age_h"] is None else f"the newest is {state['age_h']} h old"
        message = f"off-site backup to {state['offsite']}: {age} (backup.max_age_h = {self.settings.backup.max_age_h})"
        self.store.writer.write(
            lambda ctx: repository.record_alert(ctx, severity="warning", kind="backup.stale", message=message)
        )
        log.warning("backup.stale", **state)
        return True

    def _offsite(self, copy: Path, now: datetime) -> dict[str, Any]:
        """The daily copy stored off this machine, and retention applied there."""
        cfg = self.settings.backup
        assert cfg.offsite is not None  # noqa: S101 - only called with a target
        key = crypto.key_of(cfg)
        if key is None and cfg.encrypt:
            raise ValueError("backup.key is not set (enigma-apex db backup-key; or backup.encrypt = false)")
        target = targets.open_target(cfg.offsite, targets.access_of(cfg))
        manifest = offsite.push_copy(copy, self.store.engine, target, key, now, label="daily", work=None)
        removed = offsite.prune(target, cfg.keep_daily, cfg.keep_weekly)
        return {"target": target.url, "name": manifest.name, "size": manifest.size, "key": manifest.key,
                "removed": removed}  # fmt: skip

    def run_once(self) -> dict[str, Any]:
        """Backup, rotate, optimise, prune logs; returns what was done (also written to the audit log)."""
        now = self.clock.now()
        self.last_run = now.astimezone(NEW_YORK).date()
        result: dict[str, Any] = {"at": now.isoformat(timespec="seconds")}
        problems = []
        store = self.store
        try:
            target = store.backups_dir / maintenance.backup_name(DAILY_PREFIX, now, _suffix(store))
            maintenance.backup(store.engine, target)
            removed = maintenance.rotate(store.backups_dir, DAILY_PREFIX, self.settings.database.backup_keep)
            result["backup"] = str(target)
            result["backups_removed"] = [p.name for p in removed]
            if self.settings.backup.offsite:
                try:
                    result["offsite"] = self._offsite(target, now)
                except Exception as exc:  # noqa: BLE001 - reported as an alert; the hub goes on
                    problems.append(f"off-site backup failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - reported as an alert; the hub goes on
            problems.append(f"backup failed: {exc}")
        try:
            result["optimize"] = maintenance.optimize(store.engine, full=False)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"optimize failed: {exc}")
        if self.log_dir is not None:
            max_age = self.settings.logging.file_max_age_days * 86400
            result["logs_removed"] = [p.name for p in logs.prune(self.log_dir / "enigma-apex.log", max_age)]
        result["problems"] = problems
        kept_from = now - timedelta(days=self.settings.dashboard.history_days)

        def write(ctx: Any) -> None:
            result["equity_samples_removed"] = repository.prune_equity_samples(ctx, kept_from)
            ctx.audit("maintenance.daily", result)
            if "offsite" in result:
                ctx.audit(repository.OFFSITE_BACKUP, result["offsite"])
            if problems:
                repository.record_alert(
                    ctx, severity="warning", kind="maintenance.failed", message="; ".join(problems)[:1000]
                )

        store.writer.write(write)
        (log.warning if problems else log.info)("maintenance.daily", **result)
        return result

    async def run(self, every_s: float = 30.0) -> None:
        while True:
            if self.due(self.clock.now()):
                await asyncio.to_thread(self.run_once)
            if self.settings.backup.offsite:
                await asyncio.to_thread(self.check_stale, self.clock.now())
            await asyncio.sleep(every_s)


def startup_backup(store: Store, clock: Clock) -> Path:
    """The backup `up` takes before trading (``startup-*``, the newest three kept)."""
    target = store.backups_dir / maintenance.backup_name(STARTUP_PREFIX, clock.now(), _suffix(store))
    maintenance.backup(store.engine, target)
    maintenance.rotate(store.backups_dir, STARTUP_PREFIX, STARTUP_KEEP)
    return target


def _suffix(store: Store) -> str:
    return ".db" if store.engine.dialect.name == "sqlite" else ".pgdump"


__all__ = ["Housekeeping", "startup_backup"]
