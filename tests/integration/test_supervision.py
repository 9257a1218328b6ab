"""The supervisor, daily housekeeping, the session-close summary and log rotation, with an injected clock."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from enigma_apex import bootstrap
from enigma_apex.adapters import logging as logs
from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store import schema as s
from enigma_apex.app.housekeeping import Housekeeping, startup_backup
from enigma_apex.app.supervisor import Supervisor, backoff
from enigma_apex.config.models import Settings
from enigma_apex.domain.clock import ManualClock


def settings_for(tmp_path, **extra) -> Settings:
    return Settings.model_validate(
        {
            "hub": {"data_dir": str(tmp_path / "data")},
            "accounts": [
                {"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "paper"},
                {"name": "A2", "profile": "topstep-combine-50k", "executor": "paper"},
            ],
            **extra,
        }
    )


def alerts(store, kind=None):
    with store.engine.connect() as conn:
        query = select(s.alerts).order_by(s.alerts.c.id)
        if kind:
            query = query.where(s.alerts.c.kind == kind)
        return conn.execute(query).all()


def test_a_failing_component_is_restarted_with_backoff_recorded_degraded_and_recovered(tmp_path, clock):
    store, _ = bootstrap.open_store(settings_for(tmp_path), clock)

    async def scenario():
        sup = Supervisor(store, clock)
        waits: list[float] = []

        async def no_wait(seconds: float) -> None:
            waits.append(seconds)

        sup.sleep = no_wait
        sup.healthy_after_s = 0.05
        runs = {"n": 0}
        running = asyncio.Event()

        async def flaky() -> None:
            runs["n"] += 1
            if runs["n"] <= 3:
                raise RuntimeError(f"boom {runs['n']}")
            running.set()
            await asyncio.Event().wait()  # runs until cancelled

        sup.start("flaky", flaky, fallback="manual entry")
        await asyncio.wait_for(running.wait(), 10)
        for _ in range(200):
            if sup.components["flaky"].status == "ok":
                break
            await asyncio.sleep(0.01)
        entry = sup.components["flaky"]
        assert entry.status == "ok" and entry.restarts == 3 and "boom 3" in entry.last_error
        assert waits == [1.0, 2.0, 4.0]
        await asyncio.sleep(0.05)
        await sup.stop()
        assert sup.components["flaky"].status == "stopped"

    asyncio.run(scenario())
    failed = alerts(store, "component.failed")
    assert [a.severity for a in failed] == ["warning", "warning", "critical"]  # the third: degraded
    assert "meanwhile: manual entry" in failed[-1].message
    assert [a.severity for a in alerts(store, "component.recovered")] == ["info"]
    with store.engine.connect() as conn:
        statuses = [
            r.status for r in conn.execute(select(s.component_health.c.status).order_by(s.component_health.c.id))
        ]
    assert statuses == ["down", "down", "degraded", "ok"]
    store.close()


def test_backoff_doubles_up_to_a_minute():
    assert [backoff(n) for n in (1, 2, 3, 6, 7, 20)] == [1.0, 2.0, 4.0, 32.0, 60.0, 60.0]


def test_daily_housekeeping_backs_up_rotates_optimises_once_a_day_at_the_set_time(tmp_path):
    clock = ManualClock(datetime(2026, 12, 1, 21, 0, tzinfo=UTC))  # 16:00 New York
    cfg = settings_for(tmp_path, database={"backup_keep": 2, "maintenance_at": "17:05"})
    store, _ = bootstrap.open_store(cfg, clock)
    keeper = Housekeeping(store, clock, cfg, tmp_path / "data" / "logs")
    old, recent = clock.now() - timedelta(days=401), clock.now() - timedelta(days=399)
    samples = [{"account_id": "A1", "ts": ts, "equity": Decimal(50_000), "threshold": Decimal(48_000),
                "peak": Decimal(50_000), "locked": False} for ts in (old, recent)]  # fmt: skip
    store.writer.write(lambda ctx: repository.insert_equity_samples(ctx, samples))
    assert keeper.due(clock.now())  # no daily backup yet: at once
    first = keeper.run_once()
    assert first["problems"] == [] and first["optimize"][1] == "PRAGMA optimize"
    assert first["equity_samples_removed"] == 1  # older than dashboard.history_days (400): gone
    with store.engine.connect() as conn:
        assert [r.ts for r in conn.execute(select(s.equity_samples))] == [recent]
    assert not keeper.due(clock.now())  # done today
    clock.set(datetime(2026, 12, 1, 22, 4, tzinfo=UTC))  # 17:04 New York
    assert not keeper.due(clock.now())
    for day in range(3):  # three more days at 17:05 New York
        clock.set(datetime(2026, 12, 2 + day, 22, 5, tzinfo=UTC))
        assert keeper.due(clock.now())
        keeper.run_once()
        assert not keeper.due(clock.now() + timedelta(hours=1))
    backups = sorted(p.name for p in (tmp_path / "data" / "backups").glob("daily-*"))
    assert len(backups) == 2 and backups[-1].startswith("daily-20261204")  # keep N, newest kept
    with store.engine.connect() as conn:
        runs = conn.execute(select(s.audit_log).where(s.audit_log.c.kind == "maintenance.daily")).all()
    assert len(runs) == 4
    # a restarted hub with a fresh daily backup does not run again before the next slot
    again = Housekeeping(store, clock, cfg)
    assert not again.due(clock.now())
    assert startup_backup(store, clock).name.startswith("startup-")
    store.close()


def test_the_session_close_sends_one_daily_summary_per_session(tmp_path):
    clock = ManualClock(datetime(2026, 12, 1, 20, 0, tzinfo=UTC))  # 15:00 New York, a Tuesday
    cfg = settings_for(tmp_path)
    store, _ = bootstrap.open_store(cfg, clock)
    guardian = bootstrap.build_guardian(cfg, store, clock)
    guardian.mark("A1", Decimal("50250"), Decimal("0"))
    guardian.mark("A2", Decimal("49900"), Decimal("0"))
    guardian.tick()
    assert alerts(store, "daily.summary") == []
    clock.set(datetime(2026, 12, 1, 22, 0, 30, tzinfo=UTC))  # 17:00:30 New York: both firms have closed
    guardian.tick()
    guardian.tick()
    summaries = alerts(store, "daily.summary")
    assert len(summaries) == 1 and summaries[0].severity == "info"
    text = summaries[0].message
    assert "A1 (2026-12-01): ACTIVE, day P&L +250.00, balance 50,250.00" in text
    assert "A2 (2026-12-01): ACTIVE, day P&L -100.00" in text
    assert "distance to ruin" in text
    clock.set(datetime(2026, 12, 2, 22, 0, 30, tzinfo=UTC))  # the next day's close
    guardian.tick()
    assert len(alerts(store, "daily.summary")) == 2
    store.close()


def test_the_log_file_rotates_by_size_and_by_day_and_old_files_are_deleted(tmp_path):
    path = tmp_path / "enigma-apex.log"
    handler = logs.SizeAndAgeRotatingHandler(path, max_bytes=2000, backups=50, max_age_days=7)
    handler.setFormatter(logging.Formatter("%(message)s"))

    def emit(message: str, created: float) -> None:
        record = logging.LogRecord("t", logging.INFO, __file__, 1, message, None, None)
        record.created = created
        handler.emit(record)

    today = time.time()
    for _ in range(30):  # 30 x 100 bytes: one size rotation
        emit("x" * 99, today)
    assert (tmp_path / "enigma-apex.log.1").exists()
    rotated = len(list(tmp_path.glob("enigma-apex.log.*")))
    emit("tomorrow", today + 86400)  # the first record of a new day rotates even though the file is small
    assert len(list(tmp_path.glob("enigma-apex.log.*"))) == rotated + 1
    assert path.read_text() == "tomorrow\n"
    old = tmp_path / "enigma-apex.log.3"
    old.write_text("old")
    os.utime(old, (today - 8 * 86400, today - 8 * 86400))
    assert logs.prune(path, 7 * 86400) == [old]
    handler.close()


def test_the_console_shows_warnings_while_the_file_keeps_info_and_the_file_level_changes_live(tmp_path, capsys):
    import structlog

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        log_file = logs.configure(tmp_path / "logs", level="INFO", console="json", console_level="WARNING")
        assert log_file is not None
        log = structlog.get_logger("t")
        log.info("quiet.event")
        log.warning("loud.event")
        console = capsys.readouterr().err
        assert "loud.event" in console and "quiet.event" not in console
        logs.set_level("WARNING")  # logging.level is a live key: the file follows, the console keeps its own
        log.info("after.event")
        logs.set_level("DEBUG")
        log.debug("debug.event")
        for handler in root.handlers:
            handler.flush()
        written = log_file.read_text()
        assert "quiet.event" in written and "loud.event" in written and "debug.event" in written
        assert "after.event" not in written
        assert "debug.event" not in capsys.readouterr().err
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_a_child_output_file_past_its_size_is_kept_aside_when_the_child_starts(tmp_path):
    from enigma_apex.app.executor_process import _keep_small

    log = tmp_path / "paper.log"
    _keep_small(log, 10)  # none yet: nothing to do
    log.write_text("x" * 11)
    (tmp_path / "paper.log.1").write_text("older")
    _keep_small(log, 10)
    assert not log.exists() and (tmp_path / "paper.log.1").read_text() == "x" * 11
    log.write_text("small")
    _keep_small(log, 10)
    assert log.read_text() == "small"
