"""Helpers for the rule tests: trackers on built-in profiles, with an injected calendar."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from enigma_apex.adapters.profile_files import builtin_registry
from enigma_apex.domain.accounts import Platform
from enigma_apex.rules.calendar import ExchangeDays, SessionCalendar
from enigma_apex.rules.profiles import Profile
from enigma_apex.rules.tracker import AccountTracker, Policy

ET = ZoneInfo("America/New_York")
D = Decimal


def at(day: int, hour: int = 10, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    """A time in New York, November 2026 by default (the 23rd is a Monday)."""
    return datetime(year, month, day, hour, minute, tzinfo=ET)


def tracker(
    profile_id: str, platform: str | None = None, policy: Policy | None = None, days: ExchangeDays | None = None
) -> AccountTracker:
    return tracker_for(builtin_registry().get(profile_id), platform, policy, days)


def tracker_for(
    profile: Profile,
    platform: str | None = None,
    policy: Policy | None = None,
    days: ExchangeDays | None = None,
    started_on: date | None = None,
) -> AccountTracker:
    """A tracker on any profile (a built-in one changed by a test, as a user profile would)."""
    calendar = SessionCalendar.for_profile(profile, days)
    # Policy buffers off (100%) unless a test asks: worked examples test the firm's lines themselves.
    loose = Policy(
        warn_dd_pct=D(99),
        reducing_dd_pct=D(99),
        flatten_dd_pct=D("99.9"),
        warn_dll_pct=D(99),
        reducing_dll_pct=D(99),
        flatten_dll_pct=D("99.9"),
    )
    return AccountTracker("ACC", profile, calendar, platform=Platform(platform) if platform else None,
                          policy=policy or loose, started_on=started_on)  # fmt: skip


def close_day(t: AccountTracker, day: int, balance: str, month: int = 11) -> None:
    """Mark a flat balance during the session, then step past the firm's close."""
    t.mark(at(day, 15, 0, month), D(balance), D(0))
    t.mark(at(day, 17, 30, month), D(balance), D(0))
