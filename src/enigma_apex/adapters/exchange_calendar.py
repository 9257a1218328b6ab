"""CME holidays and early closes from ``exchange_calendars`` (the CME equity calendar, "CMES").

``exchange_calendars`` brings pandas and numpy (about 90 MB of memory). The hub does not load them: with a
``cache`` file the calendar is computed once in a short-lived child process and kept as JSON (recomputed when
the ``exchange_calendars`` version or the years change); the hub reads the JSON. Run as a module it prints the
JSON (that is what the child process does).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import warnings
from datetime import date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from enigma_apex.rules.calendar import ExchangeDays

CALENDAR = "CMES"
FIRST_YEAR, LAST_YEAR = 2020, 2035


def cme_days(first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR, cache: Path | None = None) -> ExchangeDays:
    """Weekdays without a CME session and the early-close instants, for the given years."""
    if cache is None:
        return _in_process(first_year, last_year)
    key = f"{CALENDAR}:{metadata.version('exchange_calendars')}:{first_year}-{last_year}"
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("key") == key:
            return from_json(data)
    except (OSError, ValueError, KeyError):
        pass  # missing or stale: computed again below
    result = subprocess.run(  # noqa: S603 - this module, in this interpreter
        [sys.executable, "-m", "enigma_apex.adapters.exchange_calendar", str(first_year), str(last_year)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if result.returncode != 0:
        return _in_process(first_year, last_year)  # the child failed: compute here (more memory, same answer)
    data = {**json.loads(result.stdout), "key": key}
    cache.parent.mkdir(parents=True, exist_ok=True)
    temp = cache.with_suffix(".tmp")
    temp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temp, cache)
    return from_json(data)


@functools.cache
def _in_process(first_year: int, last_year: int) -> ExchangeDays:
    with warnings.catch_warnings():
        # exchange_calendars triggers pandas deprecation warnings that are not ours to fix
        warnings.simplefilter("ignore")
        return _build(first_year, last_year)


def to_json(days: ExchangeDays) -> dict[str, Any]:
    return {
        "holidays": sorted(d.isoformat() for d in days.holidays),
        "early_closes": {d.isoformat(): t.isoformat() for d, t in sorted(days.early_closes.items())},
        "first": days.first.isoformat(),
        "last": days.last.isoformat(),
    }


def from_json(data: dict[str, Any]) -> ExchangeDays:
    return ExchangeDays(
        frozenset(date.fromisoformat(d) for d in data["holidays"]),
        {date.fromisoformat(d): datetime.fromisoformat(t) for d, t in data["early_closes"].items()},
        date.fromisoformat(data["first"]),
        date.fromisoformat(data["last"]),
    )


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


if __name__ == "__main__":
    first, last = (int(a) for a in sys.argv[1:3]) if len(sys.argv) >= 3 else (FIRST_YEAR, LAST_YEAR)
    print(json.dumps(to_json(_in_process(first, last))))
