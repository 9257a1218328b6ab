"""What a signal means for one account's position, and the orders that take the account there (pure).

A signal resolves, per account, to an *intent* (enter, add, reduce, exit, reverse, cancel) and, where the source
says enough, a **target position** in the contract the account trades. The planner compares it with what the
account holds (its positions in the instrument family, its working orders) and answers with a :class:`Plan`:

- ``cancels``: working entry orders that contradict the target (an exit cancels an entry that has not filled);
- ``closes``: reduce-only orders, never more than the position they close (exits and reductions are never sized
  up, and never refused by the gate);
- ``entry``: the side and the most contracts the entry may have (the sizer and the gate may allow fewer);
- ``wait``: the entry, or a second look for fills of the cancelled orders, comes once the cancels and closes
  are done — a reversal closes first and opens only when the close has filled.

Closes already under way (working exit orders) count as done, so two exits in a row never close twice. Sizes from
the source are in the source's contracts and scaled by the account's multiplier: a target rounds down
(``floor(size x multiplier)``), so a reduction is never smaller than the source's.

How each vendor's fields become a signal is in ``intake/tradingview.py``; the semantics table is in
docs/signals.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum

from enigma_apex.domain.orders import OrderPurpose, Side
from enigma_apex.domain.signals import Direction, Reading, Signal
from enigma_apex.domain.symbols import Contract


class Intent(Enum):
    ENTER = "enter"
    ADD = "add"
    REDUCE = "reduce"
    EXIT = "exit"
    REVERSE = "reverse"
    CANCEL = "cancel"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Working:
    """A working order of the account (stored, not yet filled, cancelled or rejected)."""

    key: str
    contract: Contract
    side: Side
    remaining: int
    purpose: OrderPurpose

    @property
    def signed(self) -> int:
        return self.remaining * self.side.sign


@dataclass(frozen=True, slots=True)
class Holding:
    """What one account holds: signed positions per contract and its working orders (any instrument; the planner
    reads the signal's family). ``contract`` is the contract the account trades for the signal."""

    contract: Contract
    positions: Mapping[Contract, int]
    working: tuple[Working, ...] = ()


@dataclass(frozen=True, slots=True)
class Close:
    contract: Contract
    side: Side
    quantity: int


@dataclass(frozen=True, slots=True)
class Entry:
    side: Side
    cap: int | None  # at most this many contracts; None: the sizer alone decides


@dataclass(frozen=True, slots=True)
class Plan:
    intent: Intent
    reason: str
    cancels: tuple[str, ...] = ()
    closes: tuple[Close, ...] = ()
    entry: Entry | None = None
    wait: bool = False  # the entry (or a second look) follows once the cancels and closes are done
    target: int | None = None  # the position in the traded contract the plan ends at, when known


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _side_of(sign: int) -> Side:
    return Side.BUY if sign > 0 else Side.SELL


def _word(sign: int) -> str:
    return {1: "long", -1: "short", 0: "flat"}[sign]


def scale_down(quantity: int, multiplier: Decimal) -> int:
    """A target in the account's contracts: the source's size times the multiplier, rounded down."""
    return int((Decimal(quantity) * multiplier).to_integral_value(rounding=ROUND_FLOOR))


def scale_up(quantity: int, multiplier: Decimal) -> int:
    """A reduction in the account's contracts, rounded up (so the position left rounds down)."""
    return int((Decimal(quantity) * multiplier).to_integral_value(rounding=ROUND_CEILING))


class _View:
    """The account's family as the planner sees it: positions with the closes under way already counted."""

    def __init__(self, holding: Holding) -> None:
        self.contract = holding.contract
        family = holding.contract.spec.family
        self.effective: dict[Contract, int] = {
            c: q for c, q in holding.positions.items() if q and c.spec.family == family
        }
        working = [w for w in holding.working if w.contract.spec.family == family and w.remaining > 0]
        for w in working:
            if w.purpose is not OrderPurpose.ENTRY:  # a close under way: counted as done
                self.effective[w.contract] = self.effective.get(w.contract, 0) + w.signed
        self.entries = [w for w in working if w.purpose is OrderPurpose.ENTRY]
        self.position = self.effective.get(self.contract, 0)
        self.others = {c: q for c, q in self.effective.items() if c != self.contract and q}

    @property
    def direction(self) -> int:
        """The account's direction in the family: the traded contract's, else the other contracts'."""
        if self.position:
            return _sign(self.position)
        signs = {_sign(q) for q in self.others.values()}
        return signs.pop() if len(signs) == 1 else 0

    def working_same_side(self, sign: int) -> int:
        return sum(w.remaining for w in self.entries if w.contract == self.contract and w.side.sign == sign)

    def describe(self) -> str:
        if not self.effective:
            return "flat"
        return ", ".join(f"{q:+d} {c}" for c, q in sorted(self.effective.items(), key=lambda kv: str(kv[0])))


def plan(signal: Signal, holding: Holding, multiplier: Decimal = Decimal(1), *, after: Plan | None = None) -> Plan:
    """The plan for one account (pure). Call it again once a waiting plan's cancels and closes are done, with that
    plan as ``after``: it then goes on from what the account holds by then — towards the first plan's target when
    it had one (a reduction by a quantity is not applied twice), else reading the signal again."""
    view = _View(holding)
    if after is not None and after.target is not None:
        return _follow(view, after.target, after.intent)
    state = _word(view.direction)
    if signal.require_position and state not in signal.require_position:
        wanted = "/".join(sorted(signal.require_position))
        return Plan(Intent.NONE, f"the alert acts only when the account is {wanted}; it is {state}")
    direction = signal.direction
    position = signal.position
    if direction is Direction.CANCEL:
        keys = tuple(w.key for w in view.entries)
        if not keys:
            return Plan(Intent.NONE, f"no working entry order in {holding.contract.spec.family}")
        return Plan(Intent.CANCEL, f"cancel {len(keys)} working entry order(s)", cancels=keys)
    if position is not None and position.side == "flat" and direction.is_entry_side:
        order = 1 if direction is Direction.LONG else -1
        if view.direction == order:  # TradersPost: buy + flat only flattens a short position [close-open-position]
            closes = "short" if order > 0 else "long"
            return Plan(
                Intent.NONE,
                f"a {'buy' if order > 0 else 'sell'} that leaves the strategy flat only closes a {closes} position; "
                f"the account is {view.describe()}",
            )
        return _to_target(view, 0, Intent.EXIT)
    if direction is Direction.EXIT:
        return _to_target(view, 0, Intent.EXIT)
    if direction is Direction.ADD:
        sign = view.direction if position is None else (1 if position.side == "long" else -1)
        if sign == 0:
            return Plan(Intent.NONE, "no open position to add to")
        cap = None if signal.max_quantity is None else scale_down(signal.max_quantity, multiplier)
        return _toward_side(view, sign, cap, Intent.ADD)
    sign = 1 if direction is Direction.LONG else -1
    if position is not None:
        return _from_position(view, signal, sign, multiplier)
    return _from_order(view, signal, sign, multiplier)


def _follow(view: _View, target: int, intent: Intent) -> Plan:
    """A second look towards a known target. A reduction or an exit never opens: whatever the cancelled orders
    filled meanwhile is closed down to the target, or to flat when it is on the other side."""
    if intent in (Intent.REDUCE, Intent.EXIT):
        held = view.position
        target = _sign(target) * min(abs(held), abs(target)) if _sign(held) == _sign(target) else 0
    return _to_target(view, target, intent)


# ---------------------------------------------------------------- the source says its position
def _from_position(view: _View, signal: Signal, action: int, multiplier: Decimal) -> Plan:
    position = signal.position
    assert position is not None  # noqa: S101 - only called with one
    side = 1 if position.side == "long" else -1
    quantity = signal.max_quantity
    held = view.position
    if side != action:  # a sell that leaves the strategy long: a reduction, never an opening
        if _sign(held) == -side:  # the account holds the other side of the strategy: closing it only reduces
            plan_ = _to_target(view, 0, Intent.EXIT)
            return replace(plan_, reason=f"the strategy is {position.side} but the account is not: {plan_.reason}")
        if _sign(held) != side:
            if any(w.side.sign == side for w in view.entries):  # the entry it reduces has not filled yet
                return _cancel_then_look(view, side)
            return Plan(Intent.NONE, f"no {position.side} position to reduce (the account is {view.describe()})")
        if position.size is not None:
            left = min(abs(held), scale_down(position.size, multiplier))
        elif quantity is not None:
            left = max(0, abs(held) - scale_up(quantity, multiplier))
        else:
            left = 0  # a reduction without a size closes it all (TradersPost [T-exit-partial])
        return _to_target(view, side * left, Intent.REDUCE if left else Intent.EXIT)
    if position.size is not None:
        return _to_target(view, side * scale_down(position.size, multiplier), _intent(view, side))
    if _sign(held) == -side or (held == 0 and position.prev_side not in (None, "flat", position.side)):
        return _reverse(view, signal, side, multiplier, position.prev_size)
    cap = None if quantity is None else scale_down(quantity, multiplier)
    return _toward_side(view, side, cap, _intent(view, side))


# ---------------------------------------------------------------- the source sends an order, no position
def _from_order(view: _View, signal: Signal, side: int, multiplier: Decimal) -> Plan:
    reading = signal.reading
    quantity = signal.max_quantity
    held = view.direction
    cap = None if quantity is None else scale_down(quantity, multiplier)
    if reading is Reading.NET:
        if quantity is None:
            return _toward_side(view, side, None, _intent(view, side))
        return _to_target(view, view.position + side * scale_down(quantity, multiplier), _intent(view, side))
    if reading is Reading.REPLACE:
        if quantity is None:
            return _toward_side(view, side, None, _intent(view, side), replace=True)
        return _to_target(view, side * scale_down(quantity, multiplier), _intent(view, side), replace=True)
    if reading is Reading.PARTIAL:
        if held == side:
            return Plan(
                Intent.NONE,
                f"the account is already {_word(side)} ({view.describe()}): send action=add to add to it",
            )
        if held == -side:
            if quantity is not None and Decimal(quantity) * multiplier < abs(view.position):
                left = abs(view.position) - scale_up(quantity, multiplier)
                return _to_target(view, -side * left, Intent.REDUCE, cancel_all=True)
            return _reverse(view, signal, side, multiplier, None, cancel_all=True)
        return _toward_side(view, side, cap, Intent.ENTER, cancel_all=True)
    if held == -side:
        return _toward_side(view, side, cap, Intent.REVERSE)
    return _toward_side(view, side, cap, _intent(view, side))


def _intent(view: _View, side: int) -> Intent:
    held = view.direction
    if held == 0:
        return Intent.ENTER
    return Intent.ADD if held == side else Intent.REVERSE


def _reverse(
    view: _View,
    signal: Signal,
    side: int,
    multiplier: Decimal,
    prev_size: int | None,
    *,
    cancel_all: bool = False,
) -> Plan:
    """Close, then open the new side. The source's quantity is its order size (``{{strategy.order.contracts}}``:
    the close and the new position together), so the new position is the quantity less the previous position
    (``prev_size`` when the source sends it, else the account's own position in the source's contracts); when that
    is not positive, the quantity is read as the new position's size."""
    quantity = signal.max_quantity
    if quantity is None:
        return _toward_side(view, side, None, Intent.REVERSE, cancel_all=cancel_all)
    previous = Decimal(prev_size) if prev_size is not None else Decimal(abs(view.position)) / multiplier
    opening = Decimal(quantity) - previous
    size = opening if opening > 0 else Decimal(quantity)
    target = int((size * multiplier).to_integral_value(rounding=ROUND_FLOOR))
    return _to_target(view, side * target, Intent.REVERSE, cancel_all=cancel_all)


# ---------------------------------------------------------------- plans
def _closes_for_others(view: _View, keep_sign: int) -> list[Close]:
    """Other contracts of the family: closed unless they are on the side the account keeps."""
    return [
        Close(c, _side_of(-q), abs(q))
        for c, q in sorted(view.others.items(), key=lambda kv: str(kv[0]))
        if keep_sign == 0 or _sign(q) != keep_sign
    ]


def _to_target(view: _View, target: int, intent: Intent, *, replace: bool = False, cancel_all: bool = False) -> Plan:
    """Take the traded contract to exactly ``target`` (signed); the entry part may be sized down."""
    held = view.position
    keep = _sign(target)
    closes = _closes_for_others(view, keep)
    entry: Entry | None = None
    if replace and held and keep and _sign(held) == keep and abs(held) != abs(target):
        closes.append(Close(view.contract, _side_of(-held), abs(held)))  # flatten first, then the order
        held_after = 0
    elif held and (keep == 0 or _sign(held) != keep):
        closes.append(Close(view.contract, _side_of(-held), abs(held)))
        held_after = 0
    elif abs(target) < abs(held):
        closes.append(Close(view.contract, _side_of(-held), abs(held) - abs(target)))
        held_after = target
    else:
        held_after = held
    pending = view.working_same_side(keep) if keep else 0
    surplus = abs(held_after) + pending > abs(target)  # working entries would take it past the target: cancelled
    if abs(target) > abs(held_after):
        opening = abs(target) - abs(held_after) - (0 if surplus or held_after != held else pending)
        if opening > 0:
            entry = Entry(_side_of(keep), opening)
    reducing = abs(target) < abs(held) or keep == 0 or surplus
    cancels = tuple(
        w.key
        for w in view.entries
        if cancel_all or keep == 0 or w.side.sign != keep or (reducing and w.side.sign == keep) or replace
    )
    wait = bool(cancels) or (entry is not None and bool(closes))  # close first, then open
    if not (closes or entry or cancels):
        if target == held and not view.others:
            return Plan(Intent.NONE, f"already at the target ({view.describe()})", target=target)
        return Plan(Intent.NONE, f"nothing to do: target {target:+d}, the account is {view.describe()}", target=target)
    return Plan(
        intent, _explain(intent, view, closes, entry, cancels, wait), cancels, tuple(closes), entry, wait, target
    )


def _toward_side(
    view: _View, side: int, cap: int | None, intent: Intent, *, replace: bool = False, cancel_all: bool = False
) -> Plan:
    """Open (or add) on ``side`` up to ``cap`` (None: the sizer decides), closing the opposite side first."""
    if cap is not None and cap <= 0:
        return Plan(Intent.NONE, "the account's multiplier rounds the source's size to zero")
    held = view.position
    closes = _closes_for_others(view, side)
    if held and (_sign(held) != side or replace):
        closes.append(Close(view.contract, _side_of(-held), abs(held)))
    cancels = tuple(w.key for w in view.entries if cancel_all or replace or w.side.sign != side)
    entry = Entry(_side_of(side), cap)
    wait = bool(cancels) or bool(closes)  # close first, then open
    if closes and intent in (Intent.ENTER, Intent.ADD):
        intent = Intent.REVERSE
    return Plan(intent, _explain(intent, view, closes, entry, cancels, wait), cancels, tuple(closes), entry, wait)


def _cancel_then_look(view: _View, side: int) -> Plan:
    """A reduction that arrives before the entry it follows has filled: cancel that entry, then look again
    (whatever filled meanwhile is reduced by the second look)."""
    keys = tuple(w.key for w in view.entries if w.side.sign == side)
    return Plan(
        Intent.REDUCE,
        f"the {_word(side)} entry has not filled: cancel it, then reduce whatever filled",
        keys,
        wait=True,
    )


def _explain(
    intent: Intent, view: _View, closes: list[Close], entry: Entry | None, cancels: tuple[str, ...], wait: bool
) -> str:
    parts = [f"{intent.value}: the account is {view.describe()}"]
    if cancels:
        parts.append(f"cancel {len(cancels)} working entry order(s)")
    if closes:
        parts.append("close " + ", ".join(f"{c.quantity} {c.contract}" for c in closes))
    if entry is not None:
        size = "sized by the risk manager" if entry.cap is None else f"up to {entry.cap}"
        when = " once the close has filled" if wait and closes else (" once the cancel is done" if wait else "")
        parts.append(f"{entry.side.value} {size}{when}")
    return "; ".join(parts)


__all__ = ["Close", "Entry", "Holding", "Intent", "Plan", "Working", "plan", "scale_down", "scale_up"]
