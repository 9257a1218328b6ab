"""The Kelly fraction and the AI analyst's bounded adjustment of the win rate (pure)."""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
HALF = Decimal("0.5")


def kelly_fraction(p: Decimal, b: Decimal) -> Decimal:
    """Full Kelly ``f* = p - (1 - p) / b`` for win probability p and payoff ratio b (win/loss in R)."""
    if not ZERO <= p <= ONE:
        raise ValueError(f"win probability {p} is outside [0, 1]")
    if b <= 0:
        raise ValueError(f"payoff ratio {b} must be positive")
    return p - (ONE - p) / b


def adjust_win_rate(p: Decimal, confidence: Decimal | None, max_shift: Decimal) -> Decimal:
    """Move p by the analyst's confidence, within ``max_shift`` either way.

    ``confidence`` in [0, 1]: 0.5 leaves p alone, 1 adds ``max_shift``, 0 subtracts it. The
    result stays within [0, 1]. The sizer never lets the adjusted size exceed the size computed
    without the analyst, so the analyst can only reduce risk in the end."""
    if confidence is None:
        return p
    if not ZERO <= confidence <= ONE:
        raise ValueError(f"confidence {confidence} is outside [0, 1]")
    shift = (confidence - HALF) * 2 * max_shift
    return min(ONE, max(ZERO, p + shift))
