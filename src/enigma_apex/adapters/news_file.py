"""Read the user's news blackout calendar (TOML).

```toml
[defaults]
before_min = 2
after_min = 2

[[event]]
at = 2026-12-09T14:00:00-05:00
title = "FOMC rate decision"
before_min = 5          # optional, per event
after_min = 5
impact = "high"
```
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from pathlib import Path

from enigma_apex.errors import ConfigError
from enigma_apex.rules.news import NewsCalendar, NewsEvent


def load_news(path: Path | None) -> NewsCalendar:
    if path is None:
        return NewsCalendar()
    if not path.exists():
        raise ConfigError(f"{path}: news calendar not found (rules.news_calendar)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    defaults = data.get("defaults", {})
    events = []
    for index, raw in enumerate(data.get("event", [])):
        where = f"{path}: event[{index}]"
        at = raw.get("at")
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise ConfigError(f"{where}.at: needs a date-time with a UTC offset, e.g. 2026-12-09T14:00:00-05:00")
        unknown = set(raw) - {"at", "title", "before_min", "after_min", "impact"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
        try:
            before = float(raw.get("before_min", defaults.get("before_min", 2)))
            after = float(raw.get("after_min", defaults.get("after_min", 2)))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: before_min/after_min must be numbers") from None
        if before < 0 or after < 0:
            raise ConfigError(f"{where}: before_min/after_min must not be negative")
        events.append(
            NewsEvent(
                at,
                str(raw.get("title", "news")),
                timedelta(minutes=before),
                timedelta(minutes=after),
                str(raw.get("impact", "high")),
            )
        )
    return NewsCalendar.of(events)
