from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from enigma_apex.domain.accounts import TradingState
from enigma_apex.domain.orders import OrderPurpose, Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.rules.gate import Costs, Intent, View, check
from enigma_apex.rules.news import NewsCalendar, NewsEvent
from enigma_apex.rules.tracker import Policy
from enigma_apex.rules.verdicts import Code
from tests.unit.rules.helpers import D, at, tracker

MNQ, NQ, MES = Contract("MNQ", 2026, 12), Contract("NQ", 2026, 12), Contract("MES", 2026, 12)
NOW = at(24, 10)


def view(profile="apex4-intraday-eval-50k", policy=None, **kw):
    t = tracker(profile, policy=policy or Policy())
    t.mark(NOW - timedelta(minutes=1), t.profile.start, D(0))
    return View(t, costs=Costs(Decimal("4.50"), Decimal("1.50"), 0), **kw)


def codes(decision):
    return {v.code for v in decision.verdicts}


def long_nq(qty=1, stop="20990", target=None, contract=NQ):
    return Intent("ACC", contract, Side.BUY, qty, D(21000), D(stop) if stop else None, D(target) if target else None)


def test_a_normal_entry_passes_with_its_worst_case():
    d = check(long_nq(2), view(), NOW)
    assert d.ok and d.allowed == 2 and not d.verdicts
    assert d.worst_case_per_contract == D("204.50")  # 40 ticks x $5 + $4.50


def test_entries_without_a_stop_are_refused_unless_a_default_is_set():
    assert codes(check(long_nq(stop=None), view(), NOW)) == {Code.NO_STOP}
    d = check(long_nq(stop=None), view(default_stop_ticks=20), NOW)
    assert d.ok and d.worst_case_per_contract == D("104.50")


def test_contract_cap_reduces_the_quantity():
    d = check(long_nq(9), view(), NOW)
    assert d.allowed == 6 and Code.MAX_CONTRACTS in codes(d)


def test_micros_count_at_the_firms_ratio():
    v = view(positions={NQ: 5})
    d = check(long_nq(20, contract=MNQ), v, NOW)
    assert d.allowed == 10  # 1 mini left = 10 micros


def test_worst_case_must_stay_outside_the_flatten_buffer():
    # 2,000 drawdown, flatten at 90% used: 1,800 of room. 100-point stop on NQ = $2,004.50 per contract.
    d = check(long_nq(1, stop="20900"), view(), NOW)
    assert d.allowed == 0 and Code.TRAILING_THRESHOLD in codes(d)
    d = check(long_nq(3, stop="20980"), view(), NOW)  # 404.50 each: 4 fit under 1,800, 3 asked
    assert d.allowed == 3


def test_daily_loss_room_limits_eod_evaluations():
    v = view("apex4-eod-eval-50k")
    v.tracker.mark(NOW, D(49500), D(0))  # 500 lost today, DLL 1,000, flatten at 90% -> 400 room
    d = check(long_nq(3, stop="20990"), v, NOW)
    assert d.allowed == 1 and Code.DAILY_LOSS_LIMIT in codes(d)


def test_halted_and_failed_accounts_refuse_entries_but_never_exits():
    v = view()
    v.tracker.halt(NOW, "emergency stop")
    assert codes(check(long_nq(), v, NOW)) == {Code.TRADING_HALTED}
    v.positions = {NQ: 2}
    exit_ = Intent("ACC", NQ, Side.SELL, 2, D(21000), purpose=OrderPurpose.EXIT)
    assert check(exit_, v, NOW).allowed == 2
    flatten = Intent("ACC", NQ, Side.SELL, 2, D(21000), purpose=OrderPurpose.FLATTEN)
    assert check(flatten, v, NOW).allowed == 2
    v.tracker.mark(NOW, D(47000), D(0))
    assert v.tracker.trading_state()[0] is TradingState.FAILED
    assert check(exit_, v, NOW).allowed == 2


def test_an_exit_larger_than_the_position_only_reduces():
    v = view(positions={NQ: 1})
    d = check(Intent("ACC", NQ, Side.SELL, 3, D(21000), purpose=OrderPurpose.EXIT), v, NOW)
    assert d.allowed == 1


def test_reducing_accounts_refuse_new_risk():
    v = view()
    v.tracker.mark(NOW, D(48400), D(0))  # 80% of the drawdown used
    assert v.tracker.trading_state()[0] is TradingState.REDUCING
    assert codes(check(long_nq(), v, NOW)) == {Code.REDUCING_ONLY}


def test_session_closed_and_last_minutes():
    assert Code.SESSION_CLOSED in codes(check(long_nq(), view(), at(24, 17, 30)))
    assert Code.SESSION_CLOSED in codes(check(long_nq(), view(), at(24, 16, 52)))
    assert Code.SESSION_CLOSED in codes(check(long_nq(), view(), at(28, 12)))  # Saturday


def test_news_blackout_windows():
    cal = NewsCalendar.of([NewsEvent(at(24, 10, 1), "CPI")])
    assert Code.NEWS_BLACKOUT in codes(check(long_nq(), view(news=cal), NOW))
    later = NewsCalendar.of([NewsEvent(at(24, 14), "FOMC")])
    assert check(long_nq(), view(news=later), NOW).ok


def test_hedging_across_the_household_and_mini_vs_micro():
    assert Code.HEDGING in codes(check(long_nq(), view(household={"NQ": -2}), NOW))
    assert check(long_nq(), view(household={"NQ": 2, "ES": -1}), NOW).ok
    short_mnq = view(positions={MNQ: -3})
    assert Code.HEDGING in codes(check(long_nq(), short_mnq, NOW))
    two_sided = view(working={NQ: -1})
    assert Code.HEDGING in codes(check(long_nq(), two_sided, NOW))


def test_risk_reward_and_mae_on_legacy_pa():
    v = view("apexlegacy-full-pa-50k")
    assert Code.RISK_REWARD in codes(check(long_nq(1), v, NOW))  # no target
    assert Code.RISK_REWARD in codes(check(long_nq(1, stop="20900", target="21010"), v, NOW))  # 100 > 5 x 10
    d = check(long_nq(5, stop="20950", target="21100"), v, NOW)
    # MAE cap 30% of 2,500 = 750; 50 points x $20 = $1,000 per contract -> 0
    assert d.allowed == 0 and Code.MAE_LIMIT in codes(d)


def test_tradeify_forbids_mini_and_micro_together():
    t = view("apex4-intraday-eval-50k")
    assert check(long_nq(1, contract=MNQ), View(t.tracker, positions={NQ: 1}), NOW).ok
    v = view("tradeify-advanced-eval-50k", policy=Policy(max_contracts=4))
    v.positions = {NQ: 1}
    assert Code.MAX_CONTRACTS in codes(check(long_nq(1, contract=MNQ), v, NOW))


def test_consistency_guard_stops_entries_once_the_room_is_used():
    v = view("topstep-combine-50k", policy=Policy(consistency_guard=True))
    v.tracker.mark(NOW, D(51600), D(0))  # 1,600 today > 50% of the 3,000 target
    assert v.tracker.trading_state()[0] is TradingState.HALTED
    assert Code.TRADING_HALTED in codes(check(long_nq(), v, NOW))


def test_quantity_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        check(long_nq(0), view(), NOW)
