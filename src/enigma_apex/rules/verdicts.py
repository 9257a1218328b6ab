"""Verdicts and decisions of the pre-trade gate. Denials are values, never exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum


class Code(Enum):
    TRAILING_THRESHOLD = "TRAILING_THRESHOLD"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    MAX_CONTRACTS = "MAX_CONTRACTS"
    SESSION_CLOSED = "SESSION_CLOSED"
    NEWS_BLACKOUT = "NEWS_BLACKOUT"
    HEDGING = "HEDGING"
    RISK_REWARD = "RISK_REWARD"
    MAE_LIMIT = "MAE_LIMIT"
    CONSISTENCY = "CONSISTENCY"
    TRADING_HALTED = "TRADING_HALTED"
    REDUCING_ONLY = "REDUCING_ONLY"
    NO_STOP = "NO_STOP"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's answer: the most contracts it allows (0 = refused) and a sentence a trader can read."""

    code: Code
    max_quantity: int
    reason: str

    @property
    def refuses(self) -> bool:
        return self.max_quantity == 0


@dataclass(frozen=True, slots=True)
class Decision:
    requested: int
    allowed: int
    verdicts: tuple[Verdict, ...]  # only the rules that limited or refused the order
    worst_case_per_contract: Decimal
    worst_case_loss: Decimal  # at the allowed quantity
    distance_after: Decimal  # distance to the threshold if the worst case happens

    @property
    def ok(self) -> bool:
        return self.allowed > 0

    @property
    def binding(self) -> Verdict | None:
        """The verdict that set the allowed quantity (None when nothing limited it)."""
        limiting = [v for v in self.verdicts if v.max_quantity <= self.allowed or v.refuses]
        return min(limiting, key=lambda v: v.max_quantity) if limiting else None

    def as_dict(self) -> dict[str, object]:
        return {
            "requested": self.requested,
            "allowed": self.allowed,
            "verdicts": [
                {"code": v.code.value, "max_quantity": v.max_quantity, "reason": v.reason} for v in self.verdicts
            ],
            "worst_case_per_contract": str(self.worst_case_per_contract),
            "worst_case_loss": str(self.worst_case_loss),
            "distance_after": str(self.distance_after),
        }
