"""Rule fidelity, round two: each rule as the firm publishes it, its source cited beside the numbers
(keys: ../shared/research/propfirm_rules.md §0; T-SCALE, TF-CAPS: the profile files' headers; docs/rules.md)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from enigma_apex.adapters.profile_files import builtin_registry
from enigma_apex.domain.accounts import TradingState
from enigma_apex.rules.tracker import ActionKind, Policy
from tests.unit.rules.helpers import ET, D, at, close_day, tracker, tracker_for

REGISTRY = builtin_registry()


def flattens(actions) -> list[str]:
    return [a.reason for a in actions if a.kind is ActionKind.FLATTEN]


# ---------------------------------------------------------------------------- Apex legacy MAE
def test_apex_legacy_100k_static_mae_is_187_50_below_2600_of_profit_then_30_percent():
    """[A-LPA via R-10 §2; T7]: $187.50 below $2,600 profit; at 103,000 (profit 3,000) $900."""
    t = tracker("apexlegacy-static-pa-100k")
    assert t.mae_cap() == D("187.50")
    close_day(t, 23, "102000")  # 2,000 of profit: still the flat $187.50 (the gate allowed $600 before)
    assert t.mae_cap() == D("187.50")
    close_day(t, 24, "102600")
    assert t.mae_cap() == D(780)  # 30% of 2,600
    close_day(t, 25, "103000")
    assert t.mae_cap() == D(900)


def test_apex_legacy_pa_mae_is_50_percent_from_the_session_after_the_eod_profit_reaches_twice_the_safety_net():
    """[A-LPA via R-10 §2]: 30% of the start-of-day profit (or of the DD, $750 on 50K); 50% once the end-of-day profit
    reaches 2x the safety net (50K: 2 x 2,600 = 5,200), from the next session."""
    t = tracker("apexlegacy-full-pa-50k")
    assert t.mae_cap() == D(750)  # 30% of the 2,500 drawdown
    t.mark(at(23, 11), D(55300), D(0))
    assert t.mae_cap() == D(750)  # intraday: nothing changes until the close
    close_day(t, 23, "55300")
    assert t.mae_cap() == D(2650)  # 50% of the 5,300 start-of-day profit, from this session
    close_day(t, 24, "55100")
    assert t.mae_cap() == D(1530)  # 30% of 5,100: below 2x the safety net at the close


# ---------------------------------------------------------------------------- Topstep XFA scaling plan
def test_topstep_xfa_scaling_plan_starts_at_2_lots_and_follows_the_end_of_day_balance():
    """[T-SCALE]: 50K XFA — below $1,500: 2 lots; $1,500 to $2,000: 3; above $2,000: 5. Applied from the next
    session, down as well as up; a micro is a full lot off TopstepX."""
    t = tracker("topstep-xfa-50k")
    assert t.max_contracts() == 2 and t.micro_ratio == 1  # day one: 2 lots, i.e. 2 minis or 2 micros
    t.mark(at(23, 10), D(2500), D(0))
    assert t.max_contracts() == 2  # never more during the session
    steps = [("1499.99", 2), ("1500", 3), ("2000", 3), ("2000.01", 5), ("1400", 2)]
    for day, (balance, lots) in zip((24, 25, 26, 27, 30), steps, strict=True):
        close_day(t, day, balance)
        assert t.max_contracts() == lots, balance


def test_topstep_xfa_100k_and_150k_ladders():
    """[T-SCALE]: 100K 3 / 4 / 5 / 10 lots at $0 / $1,500 / above $2,000 / above $3,000; 150K adds 15 above $4,500."""
    for profile, ladder in (
        ("topstep-xfa-100k", [("0", 3), ("1500", 4), ("2500", 5), ("3000.01", 10)]),
        ("topstep-xfa-150k", [("0", 3), ("1500", 4), ("2500", 5), ("4000", 10), ("4600", 15)]),
    ):
        t = tracker(profile)
        for day, (balance, lots) in zip((23, 24, 25, 26, 27), ladder, strict=False):
            close_day(t, day, balance)
            assert t.max_contracts() == lots, (profile, balance)


# ---------------------------------------------------------------------------- Apex 4.0 time limit
def test_apex4_evaluation_ends_30_days_after_it_started_at_6_pm_et():
    """[R-03 fields 12-14]: 30 calendar days of access, expiring 6:00 PM ET on day 30; a target reached on day 38
    is not a pass."""
    t = tracker_for(REGISTRY.get("apex4-intraday-eval-50k"), "rithmic", started_on=date(2026, 11, 2))
    assert t.evaluation_ends() == datetime(2026, 12, 1, 18, 0, tzinfo=ET)
    close_day(t, 30, "51000")
    actions = t.mark(datetime(2026, 12, 1, 18, 0, 1, tzinfo=ET), D(51000), D(0))
    assert any(a.code == "TIME_LIMIT" for a in actions if a.kind is ActionKind.FLATTEN)
    assert t.trading_state() == (TradingState.HALTED, "the evaluation's time limit ran out before it passed")
    t.mark(datetime(2026, 12, 9, 11, 0, tzinfo=ET), D(53100), D(0))  # the target on day 38
    snap = t.snapshot()
    assert snap.target_reached and snap.passed is False and snap.expired


def test_apex4_evaluation_passed_within_its_days_stays_passed():
    t = tracker_for(REGISTRY.get("apex4-intraday-eval-50k"), "rithmic", started_on=date(2026, 11, 23))
    t.mark(at(24, 11), D(53000), D(0))
    assert t.snapshot().passed is True
    t.mark(at(24, 12), D(52000), D(0))  # a later loss does not undo a pass made in time
    t.mark(datetime(2026, 12, 30, 10, tzinfo=ET), D(52000), D(0))
    snap = t.snapshot()
    assert snap.passed is True and not snap.expired


# ---------------------------------------------------------------------------- close instants, to the second
def test_apex_end_of_day_is_4_59_59_pm_et_so_a_fill_at_4_59_30_is_booked_that_day():
    """[A-4 via R-03]: the EOD threshold is recalculated at 4:59:59 PM ET. A balance made at 16:59:30 belongs to
    that day (with a 16:59:00 close it was booked to the next day and the threshold rose a day late)."""
    t = tracker("apex4-eod-pa-50k")
    t.mark(datetime(2026, 11, 23, 16, 59, 30, tzinfo=ET), D(50800), D(0))
    t.mark(datetime(2026, 11, 23, 17, 0, 0, tzinfo=ET), D(50800), D(0))
    assert t.s.threshold == D(48800)
    assert [d for d, _ in t.s.day_history] == [date(2026, 11, 23)]


def test_every_firms_close_and_flat_by_time_is_the_published_instant():
    """Apex 4:59:59 PM ET (flat 4:59) [A-4; A-LEG]; TPT day ends 5:00 PM ET (auto-close 4:55) [R-04]; Tradeify 5:00
    PM ET close (flat 4:59) [TF-3P]; Topstep 3:10 PM CT [T-OLD]; MFFU 4:10 PM ET [R-01]."""
    from datetime import time

    expected = {
        "apex4": (time(16, 59, 59), time(16, 59)),
        "apexlegacy": (time(16, 59, 59), time(16, 59)),
        "tpt": (time(17, 0), time(16, 55)),
        "tradeify": (time(17, 0), time(16, 59)),
        "topstep": (time(15, 10), time(15, 10)),
        "mffu": (time(16, 10), time(16, 10)),
    }
    for pid in REGISTRY.ids():
        p = REGISTRY.get(pid)
        assert (p.session_close, p.flat_time) == expected[p.firm], pid


def test_tpt_positions_are_flattened_before_4_55_and_new_entries_stop_before_it():
    t = tracker("tpt-test-50k", policy=Policy(flatten_before_close_min=5, no_new_entries_min=10))
    t.mark(at(23, 16, 40), D(50000), D(0))
    assert t.session_window(at(23, 16, 40)) == (True, 15.0)  # 15 minutes to the 4:55 flat-by time
    assert flattens(t.tick(at(23, 16, 49), True)) == []
    assert flattens(t.tick(at(23, 16, 50), True)) == ["flat-by time in 5.0 min"]


# ---------------------------------------------------------------------------- a close that passed is caught up
def test_positions_held_past_a_close_the_hub_did_not_see_are_flattened_at_once_with_the_reason():
    """Holding past the close breaks the rule [A-LEG]: a suspended laptop or a hub restarted after 4:59 PM ET must
    flatten at once, not leave the account open and ACTIVE."""
    t = tracker("apex4-intraday-eval-50k")
    t.mark(at(23, 15, 0), D(50200), D(120))
    actions = t.tick(at(23, 19, 30), None)  # the machine woke at 7:30 PM; positions not known yet
    assert flattens(actions) == []
    assert t.s.unchecked_close == date(2026, 11, 23)
    (reason,) = flattens(t.tick(at(23, 19, 31), True))  # the executor reports an open position
    assert "held past the 2026-11-23 close" in reason and "flattening now" in reason
    assert flattens(t.tick(at(23, 19, 32), True)) == []  # once


def test_a_flat_account_at_a_missed_close_is_not_flattened_and_past_the_flat_by_time_flattens_at_once():
    t = tracker("apex4-intraday-eval-50k")
    t.mark(at(23, 15, 0), D(50200), D(0))
    assert flattens(t.tick(at(23, 19, 0), False)) == []
    t.mark(at_seconds(24, 16, 59, 20), D(50200), D(40))  # a position still open after the flat-by time (4:59 PM)
    assert flattens(t.tick(at_seconds(24, 16, 59, 21), True)) == ["past the flat-by time: flattening now"]


def at_seconds(day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=ET)


# ---------------------------------------------------------------------------- Tradeify
def test_tradeify_evaluations_lock_at_start_plus_100_and_caps_are_5_10_15():
    """[TF-BLOG 2026]: every account locks at start + 100 once the EOD balance exceeds start + DD + 100, evaluations
    included; [TF-CAPS]: 5 / 10 / 15 contracts (50 / 100 / 150 micros) on 50K / 100K / 150K."""
    t = tracker("tradeify-growth-eval-50k")
    close_day(t, 23, "52150")
    assert (t.s.threshold, t.s.locked) == (D(50100), True)
    for size, cap in (("50k", 5), ("100k", 10), ("150k", 15)):
        for product in ("advanced-eval", "growth-eval", "growth-funded", "lightning-funded"):
            p = REGISTRY.get(f"tradeify-{product}-{size}")
            assert (p.max_minis, p.max_micros) == (cap, cap * 10)
    assert REGISTRY.get("tradeify-select-eval-50k").max_minis == 5
    assert REGISTRY.get("tradeify-lightning-funded-25k").max_minis is None  # unpublished: the account must cap it


# ---------------------------------------------------------------------------- payouts
def test_apex4_pa_payout_caps_per_request_and_the_account_closes_after_the_sixth():
    """[R-03 field 19]: EOD 50K caps 1,500 / 1,500 / 2,000 / 2,500 / 2,500 / 3,000; max 6 payouts, then the PA is
    closed."""
    t = tracker("apex4-eod-pa-50k")
    for i, day in enumerate((2, 3, 4, 5, 6, 9, 10, 11, 12, 13)):
        close_day(t, day, str(50000 + 450 * (i + 1)))  # even qualifying days of $450 (>= 250)
    assert t.s.balance == D(54500) and t.payout_floor() == D(52600)
    assert t.snapshot().payout_max == D(1500)  # 1,900 above the floor, the first request's cap
    expected_caps = [D(1500), D(1500), D(2000), D(2500), D(2500), D(3000)]
    for n, cap in enumerate(expected_caps):
        assert t.profile.payout_cap(n) == cap
    for n in range(6):
        t.payout(at(16 + n, 12), D(500))
    assert t.trading_state() == (TradingState.HALTED, "the account closed after its 6th payout (the firm's rule)")
    eligible, reasons = t.payout_status()
    assert not eligible and "all 6 payouts taken" in reasons


def test_apex_legacy_needs_8_trading_days_per_payout_and_the_safety_net_lapses_after_the_third_payout():
    """[A-30]: 8 trading days per payout with 5 days of $50; [A-30; A-LPAY] the safety net for the first three
    payouts only; caps 2,000 for the first five 50K payouts, none from the 6th [R-03 legacy table]."""
    t = tracker("apexlegacy-full-pa-50k")
    for i in range(7):
        close_day(t, 2 + i if i < 5 else 4 + i, str(50000 + 400 * (i + 1)), month=11)
    eligible, reasons = t.payout_status()
    assert not eligible and "7 of 8 trading days since the last payout" in reasons
    close_day(t, 11, "53300")
    assert t.payout_status() == (True, ())
    assert t.max_payout() == D(700)  # above the 52,600 safety net
    for n in range(3):
        t.payout(at(12 + n, 12), D(100))
    assert t.payout_floor() == t.s.threshold + D("0.01")  # from the 4th payout the safety net is gone
    assert t.profile.payout_cap(4) == D(2000) and t.profile.payout_cap(5) is None


# ---------------------------------------------------------------------------- Apex 4.0 inactivity
def test_apex4_pa_closes_for_inactivity_without_two_50_dollar_days_in_30_calendar_days():
    """[R-03; R-10]: fewer than two $50-net-profit days in 30 consecutive calendar days closes the PA; a warning comes
    a week before."""
    t = tracker_for(REGISTRY.get("apex4-intraday-pa-50k"), started_on=date(2026, 11, 2))
    close_day(t, 2, "50060")  # one qualifying day
    assert t.inactivity_deadline() == date(2026, 12, 1)
    warned = []
    day = date(2026, 11, 3)
    while t.s.closed_reason == "" and day < date(2026, 12, 5):
        if day.weekday() < 5:
            t.mark(datetime.combine(day, datetime.min.time(), ET).replace(hour=15), D(50060), D(0))
            actions = t.mark(datetime.combine(day, datetime.min.time(), ET).replace(hour=17, minute=30), D(50060), D(0))
            warned += [a for a in actions if a.kind is ActionKind.WARN and a.code == "INACTIVITY"]
        day += timedelta(days=1)
    assert len(warned) == 1 and "by 2026-12-01" in warned[0].reason
    assert t.s.closed_reason.startswith("closed for inactivity")
    assert t.trading_state()[0] is TradingState.HALTED


def test_two_50_dollar_days_keep_the_window_open():
    t = tracker_for(REGISTRY.get("apex4-intraday-pa-50k"), started_on=date(2026, 11, 2))
    close_day(t, 2, "50060")
    close_day(t, 3, "50120")
    assert t.inactivity_deadline() == date(2026, 12, 1)  # the older of the last two good days leaves the window then
    close_day(t, 20, "50200")
    assert t.inactivity_deadline() == date(2026, 12, 2)


# ---------------------------------------------------------------------------- firms and REDUCING
def test_firms_shows_the_daily_loss_limit_of_apex4_pas_from_their_tiers():
    """Every Apex 4.0 PA tier has a DLL [A-4 via R-03 15b-15c]; `firms` showed none."""
    assert REGISTRY.get("apex4-intraday-pa-50k").summary()["dll"] == "1000-3000 (tiers)"
    assert REGISTRY.get("apex4-eod-eval-50k").summary()["dll"] == D(1000)


def test_reducing_has_hysteresis_so_a_random_walk_at_the_buffer_does_not_flap():
    """A random walk around the REDUCING level: without a release margin the state flapped hundreds of times; with the
    default margin (5 points of the drawdown) it changes a handful of times."""

    def changes(release: Decimal) -> int:
        policy = Policy(reducing_release_pct=release, flatten_dd_pct=D("99.9"))
        t = tracker("apex4-intraday-eval-50k", policy=policy)  # no daily loss limit in the way
        rng = random.Random(7)  # noqa: S311 - a reproducible walk, nothing secret
        open_pnl = D(-1500)  # 75% of the 2,000 drawdown used: the REDUCING level
        count = 0
        for second in range(600):
            open_pnl += D(rng.choice([-10, 10]))
            open_pnl = min(max(open_pnl, D(-1560)), D(-1440))
            moment = at(23, 11) + timedelta(seconds=second)
            count += sum(1 for a in t.mark(moment, D(50000), open_pnl) if a.kind is ActionKind.STATE)
        return count

    flapping, steady = changes(D(0)), changes(D(5))
    assert flapping > 20 and steady <= 4, (flapping, steady)
