"""The live clock: the only place that reads the system time for domain purposes.

``ENIGMA_APEX_CLOCK_START`` (an ISO instant with its offset) starts the clock at that instant and lets it run in
real time from there: a paper session or a test on a Saturday can trade Tuesday morning's session. Live mode
refuses to start with it (``app/preflight.py``).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

SHIFT_ENV = "ENIGMA_APEX_CLOCK_START"


class SystemClock:
    def __init__(self, shift: timedelta = timedelta(0)) -> None:
        self.shift = shift

    @classmethod
    def from_environment(cls) -> SystemClock:
        start = os.environ.get(SHIFT_ENV, "").strip()
        if not start:
            return cls()
        moment = datetime.fromisoformat(start)
        if moment.tzinfo is None:
            raise ValueError(f"{SHIFT_ENV} needs an offset, e.g. 2026-12-01T10:00:00-05:00")
        return cls(moment - datetime.now(UTC))

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def monotonic(self) -> float:
        return time.monotonic()
