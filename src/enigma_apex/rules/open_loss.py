"""Open loss an executor cannot see (pure).

NinjaTrader's ATI files carry order states and positions but no P&L and no prices, so an account traded over ATI
reports no open P&L. The guardian then counts, for every open position, what it loses if its stop fills: the
loss to its protective stop. A position without a known stop may lose anything the hub cannot see, so the account
is counted as having lost everything down to the guardian's flatten buffer — one cent short of the flatten line:
it takes no new risk (REDUCING) until the position is closed or protected, and the position itself is left to the
trader, since flattening every unprotected position at once would close trades the hub merely cannot price
(docs/rules.md, "Open loss over ATI").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from enigma_apex.domain.orders import Position
from enigma_apex.domain.values import CENT, ZERO


@dataclass(frozen=True, slots=True)
class Exposure:
    position: Position
    stop: Decimal | None  # the protective stop's price, None when the position has none the hub knows of


def loss_to_stops(exposures: Iterable[Exposure], room_to_flatten: Decimal) -> Decimal:
    """The open P&L to count (zero or negative): each position's loss to its stop; with any position unprotected,
    the whole room above the flatten line (``room_to_flatten``: of the drawdown and of the daily loss limit,
    ``AccountTracker.room_to_flatten``) less one cent when that is the larger loss. A stop beyond the entry
    (locking in profit) counts as no loss."""
    total = ZERO
    unprotected = False
    for exposure in exposures:
        position = exposure.position
        if position.is_flat:
            continue
        if exposure.stop is None:
            unprotected = True
            continue
        total += min(ZERO, position.open_pnl(exposure.stop))
    if unprotected:
        total = min(total, -max(room_to_flatten - CENT, ZERO))
    return total


__all__ = ["Exposure", "loss_to_stops"]
