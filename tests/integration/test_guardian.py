"""The guardian service over a real database: persistence, restarts, halts, flattens."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from enigma_apex import bootstrap
from enigma_apex.adapters.store import schema as s
from enigma_apex.config.models import AccountEntry, Settings
from enigma_apex.domain.accounts import TradingState
from enigma_apex.domain.clock import ManualClock
from enigma_apex.domain.orders import OrderPurpose, Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.errors import InputError
from enigma_apex.rules.gate import Intent
from enigma_apex.rules.verdicts import Code

NQ = Contract("NQ", 2026, 12)
D = Decimal


@pytest.fixture
def settings(tmp_path):
    return Settings.model_validate(
        {
            "hub": {"data_dir": str(tmp_path / "data")},
            "accounts": [
                {"name": "APEX-1", "profile": "apex4-intraday-pa-50k", "household": "h1"},
                {"name": "APEX-2", "profile": "apex4-eod-eval-50k", "platform": "rithmic", "household": "h1"},
                {"name": "TS-1", "profile": "topstep-combine-50k"},
            ],
        }
    )


@pytest.fixture
def clock():
    return ManualClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))  # Tuesday 10:00 New York


def open_guardian(settings, clock, flattens=None):
    store, _ = bootstrap.open_store(settings, clock)
    guardian = bootstrap.build_guardian(settings, store, clock)
    if flattens is not None:
        guardian.flatten_sinks.append(lambda account, reason: flattens.append((account, reason)))
    return store, guardian


def test_peak_threshold_and_lock_survive_a_restart_unchanged(settings, clock):
    store, g = open_guardian(settings, clock)
    g.mark("APEX-1", D(51000), D(1100))  # peak 52,100 -> locked at 50,100
    clock.advance(timedelta(minutes=5))
    g.mark("APEX-1", D(50900), D(0))
    store.close()
    store, g = open_guardian(settings, clock)
    t = g.tracker("APEX-1")
    assert (t.s.peak_rt, t.s.threshold, t.s.locked) == (D(52100), D(50100), True)
    with store.engine.connect() as conn:
        row = conn.execute(select(s.account_state).where(s.account_state.c.account_id == "APEX-1")).one()
    assert (row.peak, row.threshold, row.locked) == (D(52100), D(50100), True)
    store.close()


def test_a_halt_is_persisted_first_survives_a_restart_and_needs_resume(settings, clock):
    flattens: list[tuple[str, str]] = []
    store, g = open_guardian(settings, clock, flattens)
    snap = g.halt("TS-1", "emergency stop")
    assert snap.state is TradingState.HALTED and flattens == [("TS-1", "emergency stop")]
    store.close()
    store, g = open_guardian(settings, clock)
    assert g.tracker("TS-1").trading_state()[0] is TradingState.HALTED
    decision = g.check(Intent("TS-1", NQ, Side.BUY, 1, D(21000), D(20990)))
    assert not decision.ok and decision.verdicts[0].code is Code.TRADING_HALTED
    flatten = g.check(Intent("TS-1", NQ, Side.SELL, 1, D(21000), purpose=OrderPurpose.FLATTEN))
    assert flatten.allowed == 1
    assert g.resume("TS-1").state is TradingState.ACTIVE
    with store.engine.connect() as conn:
        changes = conn.execute(select(s.trading_state_changes.c.new_state)).scalars().all()
    assert changes == ["halted", "active"]
    store.close()


def test_a_stop_of_several_accounts_raises_one_alert_and_records_every_halt(settings, clock):
    flattens: list[tuple[str, str]] = []
    store, g = open_guardian(settings, clock, flattens)
    g.halt("TS-1", "by hand")  # already HALTED: the stop changes only the other two
    g.halt_many(["APEX-1", "APEX-2", "TS-1"], "emergency stop (dash)")
    assert sorted(a for a, _ in flattens) == ["APEX-1", "APEX-2", "TS-1", "TS-1"]
    with store.engine.connect() as conn:
        alerts = conn.execute(select(s.alerts).where(s.alerts.c.kind == "state.halted").order_by(s.alerts.c.id)).all()
        changes = conn.execute(select(s.trading_state_changes.c.account_id)).scalars().all()
        audited = conn.execute(select(s.audit_log.c.account_id).where(s.audit_log.c.kind == "state.changed")).all()
    assert [(a.account_id, a.severity) for a in alerts] == [("TS-1", "critical"), (None, "critical")]
    stop = alerts[1]
    assert stop.message == "2 accounts -> HALTED: emergency stop (dash) (APEX-1, APEX-2)"
    assert json.loads(stop.detail)["accounts"] == ["APEX-1", "APEX-2"]
    assert sorted(changes) == ["APEX-1", "APEX-2", "TS-1"]  # each account's change is still its own row
    assert sorted(a for (a,) in audited) == ["APEX-1", "APEX-2", "TS-1"]
    store.close()
    store, g = open_guardian(settings, clock)
    assert all(g.tracker(a).trading_state()[0] is TradingState.HALTED for a in ("APEX-1", "APEX-2", "TS-1"))
    store.close()


def test_the_flatten_buffer_flattens_halts_and_alerts(settings, clock):
    flattens: list[tuple[str, str]] = []
    store, g = open_guardian(settings, clock, flattens)
    snap = g.mark("APEX-1", D(48150), D(0))  # 92.5% of the 2,000 drawdown used
    assert snap.state is TradingState.HALTED
    assert flattens and flattens[0][0] == "APEX-1"
    with store.engine.connect() as conn:
        kinds = conn.execute(select(s.alerts.c.kind)).scalars().all()
    assert "guardian.flatten" in kinds
    store.close()


def test_a_breach_fails_the_account_for_good(settings, clock):
    store, g = open_guardian(settings, clock)
    assert g.mark("APEX-2", D(47990), D(0)).state is TradingState.FAILED
    assert g.resume("APEX-2").state is TradingState.FAILED
    store.close()
    store, g = open_guardian(settings, clock)
    assert g.tracker("APEX-2").snapshot().breached
    store.close()


def test_the_session_close_flattens_open_exposure_before_the_firms_close(settings, clock):
    flattens: list[tuple[str, str]] = []
    store, g = open_guardian(settings, clock, flattens)
    g.book.positions["APEX-1"] = {NQ: 1}
    clock.set(datetime(2026, 11, 24, 21, 50, tzinfo=UTC))  # 16:50 New York
    g.tick()
    assert flattens == []
    clock.set(datetime(2026, 11, 24, 21, 55, tzinfo=UTC))  # 4 minutes before 16:59
    g.tick()
    g.tick()
    assert [a for a, _ in flattens] == ["APEX-1"]
    store.close()


def test_household_hedging_is_refused_across_accounts(settings, clock):
    store, g = open_guardian(settings, clock)
    g.book.positions["APEX-2"] = {Contract("MNQ", 2026, 12): -2}
    decision = g.check(Intent("APEX-1", NQ, Side.BUY, 1, D(21000), D(20990)))
    assert [v.code for v in decision.verdicts] == [Code.HEDGING]
    assert g.check(Intent("TS-1", NQ, Side.BUY, 1, D(21000), D(20990))).ok  # another household
    store.close()


def test_unknown_accounts_are_an_input_error(settings, clock):
    store, g = open_guardian(settings, clock)
    with pytest.raises(InputError, match="unknown account"):
        g.mark("NOPE", D(1), D(0))
    store.close()


def test_hot_reloaded_buffers_apply_at_once(settings, clock):
    store, g = open_guardian(settings, clock)
    g.mark("APEX-1", D(49300), D(0))  # 700 of the 1,000 DLL: ACTIVE under the default 75% REDUCING level
    assert g.tracker("APEX-1").trading_state()[0] is TradingState.ACTIVE
    tighter = settings.model_copy(
        update={"guardian": settings.guardian.model_copy(update={"warn_dll_pct": D(40), "reducing_dll_pct": D(60)})}
    )
    g.apply_settings(tighter)
    assert g.tracker("APEX-1").trading_state()[0] is TradingState.REDUCING
    store.close()


def test_bootstrap_from_the_firms_dashboard(settings, clock):
    store, g = open_guardian(settings, clock)
    snap = g.bootstrap("APEX-1", peak=D(51500), balance=D(51200))
    assert (snap.threshold, snap.locked, snap.balance) == (D(49500), False, D(51200))
    store.close()
    store, g = open_guardian(settings, clock)
    assert g.tracker("APEX-1").s.threshold == D(49500)
    store.close()


def test_accounts_entry_validation_needs_a_cap(tmp_path):
    with pytest.raises(ValueError, match="max_contracts"):
        AccountEntry(name="T", profile="tradeify-lightning-funded-25k")  # the one Tradeify cap not published


def test_a_hub_restarted_after_the_close_flattens_positions_held_across_it_once_they_are_reported(settings, clock):
    """Holding past Apex's 4:59 PM ET close breaks its rule [A-LEG]: a hub that was down (or a machine that slept)
    across the close flattens at once, with the reason recorded, as soon as an executor reports the position."""
    flattens: list[tuple[str, str]] = []
    store, g = open_guardian(settings, clock, flattens)
    g.mark("APEX-1", D(50000), D(150))  # a position open at 10:00 New York
    store.close()
    clock.advance(timedelta(hours=9, minutes=30))  # 19:30 New York: the hub starts again after the close
    store, g = open_guardian(settings, clock, flattens)
    g.tick()
    assert flattens == []  # positions not reported yet: nothing is known to flatten
    g.book.positions["APEX-1"] = {NQ: 1}  # the executor reports the position it still holds
    g.book.positions["APEX-2"] = {}  # and that the other account is flat
    g.tick()
    (account, reason), *_ = flattens
    assert account == "APEX-1" and "held past the 2026-11-24 close" in reason
    assert [a for a, _ in flattens] == ["APEX-1"]
    with store.engine.connect() as conn:
        alerts = conn.execute(select(s.alerts.c.kind, s.alerts.c.message).where(s.alerts.c.account_id == "APEX-1"))
        assert any(kind == "guardian.flatten" and "held past" in message for kind, message in alerts)
    store.close()


def test_the_days_first_fill_is_written_and_a_later_one_of_the_same_day_writes_nothing(settings, clock):
    """A fill makes the day a trading day (it counts toward the firm's trading days): the first of the day is
    written, and a restart finds it. A later fill of the same day changes nothing a restart needs, so it is not a
    transaction of its own. A mark that first makes the day traded (a loss: no level moved) is written too."""
    store, g = open_guardian(settings, clock)
    before = store.writer.committed
    g.fill("APEX-1")
    assert store.writer.committed == before + 1
    clock.advance(timedelta(minutes=1))
    g.fill("APEX-1")
    assert store.writer.committed == before + 1  # nothing new to write
    g.mark("TS-1", D(50000), D(0))  # the account's first event: its session starts (written)
    assert store.writer.committed == before + 2 and not g.tracker("TS-1").s.traded_today
    g.mark("TS-1", D(49990), D(0))  # the balance moved down: no peak, no threshold moved, but the day is traded
    assert store.writer.committed == before + 3
    g.mark("TS-1", D(49980), D(0))
    assert store.writer.committed == before + 3
    store.close()
    store, g = open_guardian(settings, clock)
    assert g.tracker("APEX-1").s.traded_today and g.tracker("TS-1").s.traded_today
    before = store.writer.committed
    clock.advance(timedelta(days=1))  # the next session: its first fill is written again
    g.fill("APEX-1")
    assert store.writer.committed == before + 1
    store.close()
