"""News blackout windows (from a user-editable calendar, parsed by the caller)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class NewsEvent:
    at: datetime
    title: str
    before: timedelta = timedelta(minutes=2)
    after: timedelta = timedelta(minutes=2)
    impact: str = "high"

    def window(self, minimum: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
        return self.at - max(self.before, minimum), self.at + max(self.after, minimum)


@dataclass(frozen=True)
class NewsCalendar:
    events: tuple[NewsEvent, ...] = ()

    @classmethod
    def of(cls, events: Iterable[NewsEvent]) -> NewsCalendar:
        return cls(tuple(sorted(events, key=lambda e: e.at)))

    def active(self, now: datetime, minimum: timedelta = timedelta(0)) -> NewsEvent | None:
        """The event whose blackout window contains ``now`` (widened to ``minimum`` each side)."""
        for event in self.events:
            start, end = event.window(minimum)
            if start <= now <= end:
                return event
            if start > now:
                break
        return None

    def starting_within(self, now: datetime, horizon: timedelta, minimum: timedelta = timedelta(0)) -> NewsEvent | None:
        for event in self.events:
            start, end = event.window(minimum)
            if now <= start <= now + horizon or start <= now <= end:
                return event
            if start > now + horizon:
                break
        return None
