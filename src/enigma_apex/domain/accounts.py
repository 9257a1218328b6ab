"""Account snapshots and the trading state that governs the pre-trade gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum


class TradingState(Enum):
    """ACTIVE: anything the rules allow. REDUCING: only exposure-reducing orders.
    HALTED: only cancels and flattens (until an explicit resume or the next session).
    FAILED: the firm's line was touched; only cancels and flattens, for good."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"
    FAILED = "failed"

    @property
    def allows_new_risk(self) -> bool:
        return self is TradingState.ACTIVE


class Platform(Enum):
    RITHMIC = "rithmic"
    TRADOVATE = "tradovate"
    WEALTHCHARTS = "wealthcharts"


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """What an executor reports about one account at one moment."""

    account: str
    ts: datetime
    balance: Decimal  # realised cash balance, net of commissions
    open_pnl: Decimal  # unrealised P&L of open positions

    @property
    def equity(self) -> Decimal:
        return self.balance + self.open_pnl
