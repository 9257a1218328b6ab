"""CME holidays and early closes from ``exchange_calendars`` (the CME equity calendar, "CMES")."""

from __future__ import annotations

import functools
import warnings
from datetime import date, datetime, timedelta

from enigma_apex.rules.calendar import ExchangeDays

CALENDAR = "CMES"


@functools.cache
def cme_days(first_year: int = 2020, last_year: int = 2035) -> ExchangeDays:
    """Weekdays without a CME session and the early-close instants, for the given years."""
    with warnings.catch_warnings():
        # exchange_calendars triggers pandas deprecation warnings that are not ours to fix
        warnings.simplefilter("ignore")
        return _build(first_year, last_year)


def _build(first_year: int, last_year: int) -> ExchangeDays:
    import exchange_calendars as xcals
    import pandas as pd

    start, end = date(first_year, 1, 1), date(last_year, 12, 31)
    cal = xcals.get_calendar(CALENDAR, start=start.isoformat(), end=end.isoformat())
    sessions = {ts.date() for ts in cal.sessions}
    holidays = set()
    day = max(start, cal.first_session.date())
    last = min(end, cal.last_session.date())
    while day <= last:
        if day.weekday() < 5 and day not in sessions:
            holidays.add(day)
        day += timedelta(days=1)
    early: dict[date, datetime] = {}
    for ts in cal.early_closes:
        close = cal.session_close(pd.Timestamp(ts)).to_pydatetime()
        early[ts.date()] = close
    return ExchangeDays(frozenset(holidays), early, max(start, cal.first_session.date()), last)
