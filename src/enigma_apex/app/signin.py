"""Failed sign-ins, counted over a sliding minute for the WebSocket gateway and the HTTP API together.

A token that verifies is always let in: the limits only decide how a *failing* sign-in is answered. Failures
are counted per (address, presented token) — a client retrying one stale token is told ``RATE_LIMITED`` after
``per_token`` tries — and per address — many different wrong tokens from one address (a search) are refused
after ``per_address``. Every client on this machine shares 127.0.0.1, so keying on the address alone would let
one misconfigured client lock NinjaTrader out; keying on the token alone would not slow a search.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WINDOW_S = 60.0


@dataclass(frozen=True)
class Refusal:
    retry_after_s: int  # seconds until the oldest counted failure leaves the window
    first: bool  # the first refusal of this window (log it once, not every attempt)


def fingerprint(token: str) -> str:
    """What is kept of a presented token: a short hash, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class SignInGuard:
    def __init__(self, per_token: int, per_address: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_token = per_token
        self.per_address = per_address
        self._clock = clock
        self._by_token: dict[tuple[str, str], deque[float]] = {}
        self._by_address: dict[str, deque[float]] = {}
        self._refused: set[str] = set()  # addresses told RATE_LIMITED in their current window
        self._lock = threading.Lock()

    def failed(self, address: str, token: str) -> Refusal | None:
        """Count a failed sign-in; a ``Refusal`` when it is over a limit (answer RATE_LIMITED / 429)."""
        now = self._clock()
        with self._lock:
            by_token = self._window(self._by_token, (address, fingerprint(token)), now)
            by_address = self._window(self._by_address, address, now)
            by_token.append(now)
            by_address.append(now)
            over = [w for w, limit in ((by_token, self.per_token), (by_address, self.per_address)) if len(w) > limit]
            if not over:
                self._refused.discard(address)
                return None
            wait = max(1, round(WINDOW_S - (now - min(w[0] for w in over))))
            first = address not in self._refused
            self._refused.add(address)
            return Refusal(wait, first)

    def _window(self, table: dict[Any, deque[float]], key: object, now: float) -> deque[float]:
        window: deque[float] = table.setdefault(key, deque())
        while window and now - window[0] > WINDOW_S:
            window.popleft()
        if len(table) > 10_000:  # bounded memory under a flood of distinct keys: forget the idle ones
            for old in [k for k, w in table.items() if not w or now - w[-1] > WINDOW_S]:
                del table[old]
        return window
