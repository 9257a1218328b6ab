"""Circuit breaker for the model: after N consecutive failures it stays open for a cool-down (clock-injected)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class CircuitBreaker:
    threshold: int
    cooldown: timedelta
    failures: int = 0
    open_until: datetime | None = None

    def allows(self, now: datetime) -> bool:
        """May the model be asked now? After the cool-down one trial call is let through (half-open)."""
        return self.open_until is None or now >= self.open_until

    def success(self) -> None:
        self.failures = 0
        self.open_until = None

    def failure(self, now: datetime) -> bool:
        """Count a failure; True when this one opens (or re-opens) the breaker."""
        self.failures += 1
        half_open = self.open_until is not None and now >= self.open_until
        if self.failures >= self.threshold or half_open:
            self.open_until = now + self.cooldown
            return True
        return False

    def state(self, now: datetime) -> str:
        if self.open_until is None:
            return "closed"
        return "open" if now < self.open_until else "half-open"
