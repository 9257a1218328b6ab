"""One check per profile family: the numbers every profile must agree with, and the calendar."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from enigma_apex.adapters.exchange_calendar import cme_days
from enigma_apex.adapters.profile_files import builtin_registry
from enigma_apex.domain.accounts import Platform
from enigma_apex.rules.calendar import SessionCalendar
from enigma_apex.rules.profiles import ProfileError, expand
from tests.unit.rules.helpers import D, at, close_day, tracker

REGISTRY = builtin_registry()
ET = ZoneInfo("America/New_York")


@pytest.mark.parametrize("profile_id", REGISTRY.ids())
def test_every_profile_is_coherent(profile_id):
    p = REGISTRY.get(profile_id)
    assert p.initial_threshold == p.start - p.drawdown
    assert p.sources and p.effective_from.year >= 2025
    if p.max_minis and p.max_micros:
        # 10 micros per mini, except Topstep off TopstepX, where a micro is a full lot [T-SCALE]
        assert p.max_micros == (p.max_minis if p.firm == "topstep" else 10 * p.max_minis)
    for tier in p.tiers:
        if tier.contracts is not None and p.max_minis is not None:
            assert tier.contracts <= p.max_minis
    lock = p.lock_level(Platform.RITHMIC)
    if lock is not None:
        assert lock > p.initial_threshold


@pytest.mark.parametrize(
    ("family", "kind", "lock_offset"),
    [
        ("apex4-intraday-eval", "intraday", "target"),
        ("apex4-eod-pa", "eod", Decimal(100)),
        ("apexlegacy-full-pa", "intraday", Decimal(100)),
        ("apexlegacy-static-pa", "static", None),
        ("topstep-combine", "eod", Decimal(0)),
        ("topstep-xfa", "eod", Decimal(0)),
        ("mffu-rapid-funded", "intraday", Decimal(100)),
        ("mffu-pro-eval", "eod", Decimal(100)),
        ("tpt-test", "eod", Decimal(0)),
        ("tpt-pro", "intraday", Decimal(0)),
        ("tpt-proplus", "eod", Decimal(0)),
        ("tradeify-advanced-eval", "intraday", None),
        ("tradeify-lightning-funded", "eod", Decimal(100)),
        ("tradeify-growth-eval", "eod", Decimal(100)),  # every account locks, evaluations included [TF-BLOG]
        ("tradeify-select-eval", "eod", Decimal(100)),
    ],
)
def test_family_kind_and_lock(family, kind, lock_offset):
    members = [REGISTRY.get(pid) for pid in REGISTRY.ids() if pid.startswith(family + "-")]
    assert members
    for p in members:
        assert p.drawdown_kind == kind
        assert p.lock_offset == lock_offset


def test_funded_accounts_that_start_at_zero():
    for pid in ("topstep-xfa-50k", "mffu-rapid-funded-50k", "tpt-proplus-50k"):
        assert REGISTRY.get(pid).start == 0


def test_apex4_pa_tiers_follow_the_close_and_move_both_ways():
    t = tracker("apex4-eod-pa-50k")
    assert (t.max_contracts(), t.dll) == (2, D(1000))
    close_day(t, 23, "53100")
    assert (t.max_contracts(), t.dll) == (4, D(2000))
    close_day(t, 24, "51600")
    assert (t.max_contracts(), t.dll) == (3, D(1000))


def test_topstep_xfa_threshold_is_zero_for_good_after_the_first_payout():
    t = tracker("topstep-xfa-50k")
    close_day(t, 23, "1500")
    assert t.s.threshold == D(-500)
    t.payout(at(24, 10), D(500))
    assert (t.s.threshold, t.s.locked) == (D(0), True)


def test_a_lock_can_wait_for_the_first_payout_by_override():
    base = REGISTRY.get("mffu-rapid-funded-50k")
    (custom,) = expand(
        {"profile": [{"extends": base.id, "id": "my-rapid", "lock_after_first_payout": True}]},
        "mine.toml",
        base=REGISTRY.profiles,
    )
    cal = SessionCalendar.for_firm(custom.session_tz, custom.session_close, custom.session_reset)
    from enigma_apex.rules.tracker import AccountTracker

    t = AccountTracker("X", custom, cal)
    t.mark(at(23, 10), D(3000), D(0))
    assert (t.s.threshold, t.s.locked) == (D(1000), False)
    t.payout(at(23, 11), D(500))
    assert (t.s.threshold, t.s.locked) == (D(1000), True)  # locks where it stands: a threshold never moves down


def test_bad_profile_files_name_the_entry_and_field():
    with pytest.raises(ProfileError, match=r"x.toml: family\[0\].sizes.50k: drawdown"):
        expand(
            {
                "family": [
                    {
                        "id": "a-b-{size}",
                        "firm": "a",
                        "firm_name": "A",
                        "product": "b",
                        "phase": "eval",
                        "generation": "g",
                        "effective_from": date(2026, 1, 1),
                        "sources": ["S"],
                        "drawdown_kind": "eod",
                        "session_close": time(16, 0),
                        "sizes": {"50k": {"start": 50000, "drawdown": 0}},
                    }
                ]
            },
            "x.toml",
        )
    with pytest.raises(ProfileError, match="unknown top-level"):
        expand({"familly": []}, "x.toml")
    with pytest.raises(ProfileError, match="extends"):
        expand({"profile": [{"extends": "nope", "id": "x-y"}]}, "x.toml", base=REGISTRY.profiles)


def test_cme_holidays_and_early_closes_shape_the_sessions():
    days = cme_days()
    cal = SessionCalendar.for_firm("America/New_York", time(16, 59), time(18, 0), days)
    assert not cal.is_session_day(date(2026, 12, 25))
    assert cal.close_of(date(2026, 11, 27)) == datetime(2026, 11, 27, 13, 0, tzinfo=ET)  # day after Thanksgiving
    assert cal.session_of(datetime(2026, 12, 24, 18, 30, tzinfo=ET)) == date(2026, 12, 28)
    assert not cal.is_open(datetime(2026, 11, 27, 13, 30, tzinfo=ET))
    closes = [
        d for d, _ in cal.closes_between(datetime(2026, 12, 23, 12, tzinfo=ET), datetime(2026, 12, 29, 12, tzinfo=ET))
    ]
    assert closes == [date(2026, 12, 23), date(2026, 12, 24), date(2026, 12, 28)]


def test_apex_half_days_are_not_trading_days():
    t = tracker("apexlegacy-full-eval-50k", "rithmic", days=cme_days())
    t.mark(datetime(2026, 11, 27, 10, tzinfo=ET), D(50200), D(0))  # early-close Friday
    t.mark(datetime(2026, 11, 30, 10, tzinfo=ET), D(50300), D(0))
    t.mark(datetime(2026, 11, 30, 17, 30, tzinfo=ET), D(50300), D(0))
    assert t.s.trading_days == 1


def test_weekend_gap_applies_the_friday_close_once():
    t = tracker("topstep-combine-50k")
    t.mark(at(27, 10), D(51000), D(0))
    t.mark(at(30, 10), D(51000), D(0))  # Monday: Friday's close moved the MLL
    assert t.s.threshold == D(49000)


def test_docs_list_every_rule_family_with_its_sources():
    """docs/rules.md's "Rule families" table names every family (its id without the size)."""
    from pathlib import Path

    text = Path(__file__).parents[3].joinpath("docs", "rules.md").read_text(encoding="utf-8")
    table = text[text.index("## Rule families") :]
    for pid in REGISTRY.ids():
        family = pid.rsplit("-", 1)[0]
        named = family in table or family.rsplit("-", 1)[0] in table  # mffu-rapid-eval under `mffu-rapid`
        assert named, family
