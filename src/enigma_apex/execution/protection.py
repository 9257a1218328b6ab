"""Protective orders follow the position they protect, and exits only reduce (pure).

A bracket's stop and target are placed for the quantity its entry filled. When the position shrinks by another order
(a partial exit, a reversal's close, a close by hand) or goes flat, legs for more than what is left would open a
new, unprotected position when they fill. ``fit`` says which legs to shrink or cancel: on each kind (stops,
targets) the legs may protect at most the position's size, on its closing side; the newest legs give way first.
``reduce_only`` caps an exit at the position it closes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from enigma_apex.domain.orders import OrderStatus, Side
from enigma_apex.domain.symbols import Contract


@dataclass(frozen=True, slots=True)
class Leg:
    """A working protective order: ``remaining`` contracts on ``side``."""

    key: str
    kind: Literal["stop", "target"]
    side: Side
    remaining: int


class Tracked(Protocol):
    """An order as a connector tracks it (its key, size and fills so far)."""

    key: str
    account: str
    contract: Contract
    side: Side
    quantity: int
    filled: int
    status: OrderStatus


def working_legs(orders: Iterable[Tracked], account: str, contract: Contract) -> list[Leg]:
    """The bracket legs (``<key>:stop`` / ``<key>:target``) among a connector's orders still working for the
    account and contract, oldest first: what ``protective_legs`` answers for every broker connector."""
    legs = []
    for order in orders:
        kind = leg_kind(order.key)
        mine = order.account == account and order.contract == contract and order.quantity
        if mine and kind is not None and not order.status.is_terminal:
            legs.append(Leg(order.key, kind, order.side, order.quantity - order.filled))
    return legs


def leg_kind(key: str) -> Literal["stop", "target"] | None:
    """A bracket leg's kind from its key (``<entry key>:stop`` / ``<entry key>:target``)."""
    if key.endswith(":stop"):
        return "stop"
    if key.endswith(":target"):
        return "target"
    return None


def fit(position: int, legs: list[Leg]) -> list[tuple[str, int]]:
    """(key, new remaining) for every leg that must change (0: cancel it). ``legs`` are given oldest first."""
    closing = Side.SELL if position > 0 else Side.BUY
    size = abs(position)
    changes: list[tuple[str, int]] = []
    for kind in ("stop", "target"):
        room = size
        mine = [leg for leg in legs if leg.kind == kind and leg.remaining > 0]
        for leg in mine:  # oldest keep their size first
            if position == 0 or leg.side is not closing:
                changes.append((leg.key, 0))
                continue
            keep = min(leg.remaining, room)
            room -= keep
            if keep != leg.remaining:
                changes.append((leg.key, keep))
    return changes


def reduce_only(position: int, side: Side, quantity: int) -> int:
    """How much of an exit on ``side`` closes the position (0: nothing to close on that side)."""
    if position == 0 or (position > 0) == (side is Side.BUY):
        return 0
    return min(quantity, abs(position))


__all__ = ["Leg", "fit", "leg_kind", "reduce_only"]
