"""The clock protocol. Domain and rule code receive a ``Clock``; they never read the system time.

The live implementation (``adapters.clock.SystemClock``) sits at the edge; tests and replays use
``ManualClock``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards (for timeouts and latency)."""
        ...


def require_aware(moment: datetime, what: str = "time") -> datetime:
    """Refuse naive datetimes: every time in the system carries its zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment


class ManualClock:
    """A clock that only moves when told to (tests, replays, simulations)."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start").astimezone(UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def set(self, moment: datetime) -> None:
        moment = require_aware(moment).astimezone(UTC)
        if moment < self._now:
            raise ValueError("a ManualClock never goes backwards")
        self._mono += (moment - self._now).total_seconds()
        self._now = moment

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a ManualClock never goes backwards")
        self.set(self._now + delta)
        return self._now
