"""Every worked example of ../shared/research/propfirm_rules.md §2, by its number."""

from __future__ import annotations

from decimal import Decimal

from enigma_apex.adapters.profile_files import builtin_registry
from tests.unit.rules.helpers import D, at, close_day, tracker, tracker_for


def test_t1_apex_legacy_threshold_trails_the_unrealised_peak_48375():
    t = tracker("apexlegacy-full-eval-50k", "tradovate")
    assert t.s.threshold == D(47500)
    t.mark(at(23, 10), D(50500), D(0))  # trade 1 closes +500
    assert t.s.threshold == D(48000)
    t.mark(at(23, 11), D(50500), D(375))  # trade 2 peaks at 50,875 live
    t.mark(at(23, 12), D(50100), D(0))  # and closes at 50,100
    assert t.s.threshold == D(48375)


def test_t3_apex4_intraday_pa_locks_at_50100_when_the_peak_reaches_52100():
    t = tracker("apex4-intraday-pa-50k")
    t.mark(at(23, 10), D(51000), D(1100))  # peak 52,100 including unrealised
    assert (t.s.threshold, t.s.locked) == (D(50100), True)
    t.mark(at(23, 11), D(53000), D(0))
    assert t.s.threshold == D(50100)


def test_t5_apex4_eod_pa_locks_at_50100_after_an_eod_balance_of_52100():
    t = tracker("apex4-eod-pa-50k")
    t.mark(at(23, 11), D(52500), D(0))  # intraday: the EOD threshold does not move
    assert t.s.threshold == D(48000)
    close_day(t, 23, "52100")
    assert (t.s.threshold, t.s.locked) == (D(50100), True)


def test_t5_apex4_eod_eval_rithmic_locks_at_53000_above_a_55000_close():
    t = tracker("apex4-eod-eval-50k", "rithmic")
    close_day(t, 23, "55100")
    assert (t.s.threshold, t.s.locked) == (D(53000), True)
    close_day(t, 24, "56000")
    assert t.s.threshold == D(53000)


def test_t5_apex4_eod_eval_tradovate_never_locks():
    t = tracker("apex4-eod-eval-50k", "tradovate")
    close_day(t, 23, "55100")
    assert (t.s.threshold, t.s.locked) == (D(53100), False)


def test_t5_intraday_spikes_do_not_move_the_eod_threshold():
    t = tracker("apex4-eod-eval-50k", "rithmic")
    t.mark(at(23, 10), D(50000), D(4000))
    close_day(t, 23, "50500")
    assert t.s.threshold == D(48500)


def test_t6_apex_legacy_pa_safety_net_and_lock_at_start_plus_100():
    for profile, safety_net, lock in (
        ("apexlegacy-full-pa-50k", "52600", "50100"),
        ("apexlegacy-full-pa-150k", "155100", "150100"),
    ):
        t = tracker(profile)
        assert t.profile.start + t.profile.half_until_offset == D(safety_net)
        t.mark(at(23, 10), t.profile.start + D(6000), D(0))
        assert (t.s.threshold, t.s.locked) == (D(lock), True)


def test_t7_apex_legacy_static_threshold_and_mae_caps():
    t = tracker("apexlegacy-static-pa-100k")
    assert t.s.threshold == D(99375)
    assert t.mae_cap() == D("187.50")
    t.mark(at(23, 10), D(101000), D(0))
    assert t.s.threshold == D(99375)
    close_day(t, 23, "103000")
    assert t.mae_cap() == D(900)


def test_t8_apex_legacy_half_contracts_until_the_safety_net_then_full_for_good():
    t = tracker("apexlegacy-full-pa-50k")
    assert t.max_contracts() == 5
    t.mark(at(23, 11), D(53000), D(0))
    assert t.max_contracts() == 5  # intraday: only the EOD balance counts
    close_day(t, 23, "52650")
    assert t.max_contracts() == 10  # from the next session
    close_day(t, 24, "51000")
    assert t.max_contracts() == 10  # the unlock is permanent


def test_t11_apex_legacy_safety_net_payouts_take_only_what_lies_above_it_and_t11s_reading_is_an_override():
    """Research conflict (docs/rules.md): T11 [A-LPAY] lets a 50K PA at 52,600 take $500, leaving 52,100; the 2025
    FAQ lets only the amount above the 52,600 safety net be withdrawn. The newest source is the default; the older
    reading is one profile field away (``payout_keeps_offset = 2100``)."""

    def ten_even_days(t):
        for i in range(10):  # ten even days keep the 30% consistency rule out of the way
            close_day(t, 9 + i if i < 5 else 11 + i, str(50000 + 260 * (i + 1)), month=11)
        assert (t.s.balance, t.s.qualifying_days, t.s.days_since_payout) == (D(52600), 10, 10)

    faq = tracker("apexlegacy-full-pa-50k")
    ten_even_days(faq)
    assert faq.payout_floor() == D(52600) and faq.max_payout() is None  # nothing above the safety net yet
    faq.mark(at(26, 11), D(53300), D(0))
    assert faq.max_payout() == D(700)
    profile = builtin_registry().get("apexlegacy-full-pa-50k").model_copy(update={"payout_keeps_offset": D(2100)})
    t11 = tracker_for(profile)
    ten_even_days(t11)
    assert t11.max_payout() == D(500)  # T11: balance 52,600 may request the $500 minimum, leaving 52,100
    t11.mark(at(26, 11), D(53300), D(0))
    assert t11.max_payout() == D(1200)  # T11: 1,200 needs 53,300


def test_t13_topstep_consistency_combine_43_percent_and_xfa_37_9_percent():
    combine = tracker("topstep-combine-50k")
    for day, balance in ((23, "51200"), (24, "51900"), (25, "52800")):
        close_day(combine, day, balance)
    assert combine.best_day_share() == D(1200) / D(2800)
    assert combine.consistency_ok() is True
    xfa = tracker("topstep-xfa-50k")
    for day, balance in ((23, "3600"), (24, "6000"), (25, "9500")):
        close_day(xfa, day, balance)
    assert round(xfa.best_day_share() * 100, 1) == Decimal("37.9")
    assert xfa.consistency_ok() is True


def test_t15_tpt_pro_plus_floor_trails_from_minus_2000_and_stops_at_zero():
    t = tracker("tpt-proplus-50k")
    assert t.s.threshold == D(-2000)
    close_day(t, 23, "500")
    assert t.s.threshold == D(-1500)
    close_day(t, 24, "2600")
    assert (t.s.threshold, t.s.locked) == (D(0), True)
    close_day(t, 25, "4000")
    assert t.s.threshold == D(0)


def test_t16_tpt_test_consistency_65_percent_fails_the_rule_not_the_test():
    t = tracker("tpt-test-50k")
    for day, balance in ((23, "52000"), (24, "52600"), (25, "53100")):
        close_day(t, day, balance)
    assert round(t.best_day_share() * 100) == 65
    assert t.consistency_ok() is False
    snap = t.snapshot()
    assert snap.target_reached and not snap.passed and not snap.breached
    # the arithmetic minimum: the best day (2,000) must be *below* 50% [R-04], so the net must exceed 4,000 by a cent
    # (TPT's dashboard shows net x 2 = 6,200)
    assert t.required_profit() == D("4000.01")


def test_t18_mffu_eod_locks_at_start_plus_100():
    for profile, close, floor in (
        ("mffu-rapid-eval-50k", "52100", "50100"),
        ("mffu-pro-eval-100k", "103100", "100100"),
        ("mffu-rapid-eval-150k", "154600", "150100"),
    ):
        t = tracker(profile)
        close_day(t, 23, close)
        assert (t.s.threshold, t.s.locked) == (D(floor), True), profile


def test_t18_mffu_rapid_25k_breaches_below_the_locked_25100():
    t = tracker("mffu-rapid-eval-25k")
    close_day(t, 23, "26100")
    assert t.s.threshold == D(25100)
    t.mark(at(24, 10), D(25500), D(-400))
    assert t.s.breached  # a touch of the line fails


def test_t20_tradeify_dll_rises_the_next_session_not_immediately():
    t = tracker("tradeify-growth-eval-50k")
    assert t.dll == D(1250)
    t.mark(at(23, 11), D(53000), D(0))
    assert t.dll == D(1250)
    close_day(t, 23, "53000")
    assert t.dll == D(2000)
    lightning, growth = tracker("tradeify-lightning-funded-100k"), tracker("tradeify-growth-funded-100k")
    close_day(lightning, 23, "106000")
    close_day(growth, 23, "106000")
    assert (lightning.dll, growth.dll) == (D(4000), D(3500))
