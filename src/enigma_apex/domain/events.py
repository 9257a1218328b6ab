"""Domain events: facts the core reports and adapters persist, audit and broadcast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from enigma_apex.domain.accounts import TradingState


@dataclass(frozen=True, slots=True)
class TradingStateChanged:
    account: str
    old: TradingState
    new: TradingState
    reason: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    component: str
    status: str  # "ok" | "degraded" | "down"
    detail: str
    ts: datetime
