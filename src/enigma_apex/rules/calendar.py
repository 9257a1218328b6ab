"""Trading sessions of one firm: when a trading day opens and closes, holidays and early closes.

A trading day is labelled by the date of its close. It opens at ``reset`` on the previous calendar
day (Sunday evening opens Monday) and closes at the firm's ``close`` time — the instant, to the
second, at which the firm takes its end-of-day figures — or at the exchange's early close on a
shortened holiday session, whichever is earlier. Positions must be flat by ``flat`` (the firm's
flat-by time, at or before the close; the same early-close rule applies). Full holidays have no
session.
Holiday data comes from the exchange calendar adapter; this module only does arithmetic on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ExchangeDays:
    """Exchange facts for a range of years: days without a session, and early closes (exchange-local)."""

    holidays: frozenset[date] = frozenset()
    early_closes: Mapping[date, datetime] = field(default_factory=dict)  # aware close instants
    first: date = date(1970, 1, 1)
    last: date = date(2100, 12, 31)


@dataclass(frozen=True)
class SessionCalendar:
    tz: ZoneInfo
    close: time
    reset: time
    days: ExchangeDays = field(default_factory=ExchangeDays)
    flat: time | None = None  # flat-by time (None: the close)

    @classmethod
    def for_firm(
        cls, tz: str, close: time, reset: time, days: ExchangeDays | None = None, flat: time | None = None
    ) -> SessionCalendar:
        return cls(ZoneInfo(tz), close, reset, days or ExchangeDays(), flat)

    @classmethod
    def for_profile(cls, profile: Any, days: ExchangeDays | None = None) -> SessionCalendar:
        """The calendar of a firm profile (its time zone, close, flat-by time and reset)."""
        return cls.for_firm(profile.session_tz, profile.session_close, profile.session_reset, days, profile.flat_by)

    # ---------------------------------------------------------------- days
    def is_session_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.days.holidays

    def is_half_day(self, day: date) -> bool:
        return day in self.days.early_closes

    def next_session_day(self, day: date) -> date:
        """The first session day on or after ``day``."""
        while not self.is_session_day(day):
            day += timedelta(days=1)
        return day

    def previous_session_day(self, day: date) -> date:
        """The last session day strictly before ``day``."""
        day -= timedelta(days=1)
        while not self.is_session_day(day):
            day -= timedelta(days=1)
        return day

    def session_of(self, moment: datetime) -> date:
        """The trading day ``moment`` belongs to (after the reset, the next one)."""
        local = moment.astimezone(self.tz)
        day = local.date() + timedelta(days=1) if local.time() >= self.reset else local.date()
        return self.next_session_day(day)

    # ---------------------------------------------------------------- instants
    def close_of(self, day: date) -> datetime:
        """When trading day ``day`` closes for this firm (early closes honoured)."""
        firm_close = datetime.combine(day, self.close, self.tz)
        early = self.days.early_closes.get(day)
        return min(firm_close, early.astimezone(self.tz)) if early is not None else firm_close

    def flat_of(self, day: date) -> datetime:
        """When positions must be flat on trading day ``day`` (early closes honoured)."""
        firm_flat = datetime.combine(day, self.flat or self.close, self.tz)
        return min(firm_flat, self.close_of(day))

    def open_of(self, day: date) -> datetime:
        return datetime.combine(day - timedelta(days=1), self.reset, self.tz)

    def is_open(self, moment: datetime) -> bool:
        """Whether positions may be held and entries made: from the reset to the flat-by time."""
        day = self.session_of(moment)
        return self.open_of(day) <= moment < self.flat_of(day)

    def next_close(self, moment: datetime) -> datetime:
        """The first close at or after ``moment``."""
        day = self.session_of(moment)
        close = self.close_of(day)
        if close < moment:  # between the close and the reset of the same day
            close = self.close_of(self.next_session_day(day + timedelta(days=1)))
        return close

    def closes_between(self, start: datetime, end: datetime) -> Iterator[tuple[date, datetime]]:
        """Every (trading day, close instant) with ``start < close <= end``, in order."""
        if end <= start:
            return
        day = self.session_of(start)
        if self.close_of(day) <= start:
            day = self.next_session_day(day + timedelta(days=1))
        while True:
            close = self.close_of(day)
            if close > end:
                return
            yield day, close
            day = self.next_session_day(day + timedelta(days=1))

    def minutes_to_close(self, moment: datetime) -> float:
        return (self.next_close(moment) - moment).total_seconds() / 60

    def minutes_to_flat(self, moment: datetime) -> float:
        """Minutes to the flat-by time of ``moment``'s session (negative once it has passed)."""
        return (self.flat_of(self.session_of(moment)) - moment).total_seconds() / 60


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
