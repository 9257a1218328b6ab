"""The composition root: configuration in, a wired hub out. Nothing else constructs components."""

from __future__ import annotations

from collections.abc import Callable

from enigma_apex.adapters import logging as logs
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.adapters.exchange_calendar import cme_days
from enigma_apex.adapters.http.app import create_app
from enigma_apex.adapters.instance import InstanceLock
from enigma_apex.adapters.news_file import load_news
from enigma_apex.adapters.profile_files import load_registry
from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store.store import Store
from enigma_apex.app.analyst import AnalystService
from enigma_apex.app.gateway import GatewayService
from enigma_apex.app.guardian import GuardianService
from enigma_apex.app.hub import Hub
from enigma_apex.app.pipeline import SignalPipeline
from enigma_apex.app.risk import RiskService
from enigma_apex.app.service import HubService
from enigma_apex.config.loader import Loaded
from enigma_apex.config.models import Settings
from enigma_apex.config.reload import ReloadPlan
from enigma_apex.domain.clock import Clock
from enigma_apex.errors import IntegrityError


def account_records(settings: Settings) -> list[repository.AccountRecord]:
    return [repository.AccountRecord(a.name, a.profile, a.platform, a.executor, a.group) for a in settings.accounts]


def open_store(
    settings: Settings, clock: Clock, *, upgrade: bool = True, lock: str | None = None, verify: bool = False
) -> tuple[Store, str | None]:
    """Open the database, migrate it (backup first), start the writer and register the accounts.

    ``lock``: take the data folder's instance lock first, under this name (every process that writes the
    database does; ``FolderBusyError`` when a hub or another command has it). ``verify``: refuse a database whose
    audit anchor, chain or account state does not verify (``IntegrityError``, nothing written).
    Returns the store and a line describing the upgrade (None when nothing changed)."""
    held = InstanceLock(settings.hub.data_dir).acquire(lock) if lock is not None else None
    try:
        store = Store.open(settings, clock)
    except BaseException:
        if held is not None:
            held.release()
        raise
    store.instance_lock = held
    try:
        if verify:
            problems = store.integrity_problems()
            if problems:
                raise IntegrityError(
                    "the database failed its integrity check:\n  - "
                    + "\n  - ".join(problems[:20])
                    + "\nrestore a backup (docs/operations.md, Backups), or after checking what changed run "
                    "`enigma-apex db accept` to record the database as it is"
                )
        note: str | None = None
        if upgrade:
            result = store.upgrade(clock, backup_first=settings.database.backup_before_upgrade)
            if result.before != result.after:
                note = f"schema {result.before or '(new)'} -> {result.after}"
                if result.backup is not None:
                    note += f" (backup: {result.backup})"
        store.start()
        records = account_records(settings)
        store.writer.write(lambda ctx: repository.sync_accounts(ctx, records))
    except BaseException:
        store.close()
        raise
    return store, note


def build_guardian(settings: Settings, store: Store, clock: Clock) -> GuardianService:
    """The compliance guardian with every account's persisted state loaded."""
    guardian = GuardianService(
        settings,
        load_registry(settings.rules.profile_dir),
        cme_days(cache=settings.hub.data_dir / "cme-calendar.json"),
        store.writer,
        store.engine,
        clock,
        news=load_news(settings.rules.news_calendar),
    )
    guardian.load()
    return guardian


def build_gateway(service: HubService, guardian: GuardianService) -> tuple[GatewayService, SignalPipeline]:
    """The gateway with the signal pipeline (risk manager, guardian) behind it."""
    settings, store = service.settings, service.store
    gateway = GatewayService(settings, service, guardian)
    risk = RiskService(settings, guardian, store.engine)
    analyst = AnalystService(settings, service.clock, store.engine, guardian, risk)
    pipeline = SignalPipeline(
        settings, store, guardian, risk, service.clock, gateway, gateway.publish_decision, analyst
    )
    gateway.pipeline = pipeline
    service.gateway = gateway
    gateway.await_executors()
    return gateway, pipeline


def build_hub(
    loaded: Loaded, console: Callable[[str], None], clock: Clock | None = None, *, what: str = "enigma-apex up"
) -> Hub:
    """The whole hub. The data folder's instance lock is taken before anything else is touched: a second hub (or
    a command writing the database) refuses to start with ``FolderBusyError``, naming the holder."""
    settings = loaded.settings
    clock = clock or SystemClock()
    lock = InstanceLock(settings.hub.data_dir).acquire(what)
    try:
        return _build_hub(loaded, console, clock, lock)
    except BaseException:
        lock.release()
        raise


def _build_hub(loaded: Loaded, console: Callable[[str], None], clock: Clock, lock: InstanceLock) -> Hub:
    settings = loaded.settings
    log_file = logs.configure(
        settings.hub.data_dir / "logs",
        level=settings.logging.level,
        console=settings.logging.console,
        console_level=settings.logging.console_level,
        max_mb=settings.logging.file_max_mb,
        backups=settings.logging.file_backups,
        max_age_days=settings.logging.file_max_age_days,
    )
    shown = {"DEBUG": "everything", "INFO": "everything", "WARNING": "warnings and errors", "ERROR": "errors"}
    here = "none" if settings.logging.console == "off" else shown[settings.logging.console_level]
    console(f"  logs       OK    {log_file} (shown here: {here})")
    store, note = open_store(settings, clock, verify=True)
    store.instance_lock = lock
    if note:
        console(f"  database   {note}")
    try:
        guardian = build_guardian(settings, store, clock)
        service = HubService(settings, loaded.path, store, clock, clock.monotonic(), guardian=guardian)
        service.config_hash = loaded.text_hash
        gateway, pipeline = build_gateway(service, guardian)
    except BaseException:
        store.close()
        raise

    def on_reload(plan: ReloadPlan) -> None:
        """Every live key reaches the component that reads it (tests/integration/test_live_settings.py)."""
        logs.set_level(plan.settings.logging.level)
        guardian.apply_settings(plan.settings)
        gateway.settings = plan.settings
        store.keep = plan.settings.database.backup_keep
        pipeline.settings = pipeline.risk.settings = plan.settings
        pipeline.risk.invalidate()
        if pipeline.analyst is not None:
            pipeline.analyst.apply_settings(plan.settings)

    service.reload_listeners.append(on_reload)
    return Hub(service, create_app(service), console, gateway)
