"""The planner, for every reachable position and alert: the account ends at the target (the entry capped), never on
the opposite side by accident; closes never exceed what they close; exits and reductions never open anything.

The venue is simulated adversarially: an entry asked to be cancelled may fill first; the risk manager may allow
any size from zero to the planner's cap. Plans that wait are planned again after their orders are done, as the
pipeline does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, note, settings
from hypothesis import strategies as st

from enigma_apex.domain.orders import OrderPurpose, Side
from enigma_apex.domain.signals import Direction, Reading, Signal, SignalSource, StrategyPosition
from enigma_apex.domain.symbols import Contract
from enigma_apex.execution.protection import reduce_only
from enigma_apex.planning.planner import Holding, Intent, Working, plan

MNQ = Contract("MNQ", 2026, 12)
NQ = Contract("NQ", 2026, 12)
NOW = datetime(2026, 12, 1, 15, tzinfo=UTC)
SIDES = ("long", "short", "flat")


@dataclass
class Account:
    positions: dict[Contract, int]
    working: list[Working] = field(default_factory=list)
    surprised: bool = False  # an entry asked to be cancelled filled first

    def holding(self) -> Holding:
        return Holding(MNQ, dict(self.positions), tuple(self.working))

    def fill(self, contract: Contract, signed: int) -> None:
        self.positions[contract] = self.positions.get(contract, 0) + signed
        if self.positions[contract] == 0:
            del self.positions[contract]


@st.composite
def accounts(draw) -> Account:
    positions = {MNQ: draw(st.integers(-4, 4))}
    if draw(st.booleans()):
        positions[NQ] = draw(st.integers(-1, 1))
    working = [
        Working(f"w{i}", MNQ, draw(st.sampled_from(list(Side))), draw(st.integers(1, 3)), OrderPurpose.ENTRY)
        for i in range(draw(st.integers(0, 2)))
    ]
    return Account({c: q for c, q in positions.items() if q}, working)


@st.composite
def signals(draw) -> Signal:
    direction = draw(st.sampled_from([Direction.LONG, Direction.SHORT, Direction.EXIT, Direction.ADD]))
    quantity = draw(st.none() | st.integers(1, 6))
    position = None
    if direction.is_entry_side and draw(st.booleans()):
        side = draw(st.sampled_from(SIDES))
        size = None if side == "flat" else draw(st.none() | st.integers(1, 5))
        prev = draw(st.none() | st.sampled_from(SIDES))
        prev_size = None if prev in (None, "flat") else draw(st.none() | st.integers(1, 5))
        position = StrategyPosition(side, size, prev, prev_size)
    reading = draw(st.sampled_from(list(Reading)))
    return Signal(
        "S", SignalSource.TRADINGVIEW, MNQ, direction, NOW, max_quantity=quantity, position=position, reading=reading
    )


def run(account: Account, signal: Signal, multiplier: Decimal, sizes, fills_first) -> list:
    """Plan, let the venue act, plan again while the plan waits (at most four times). Returns the plans."""
    plans = []
    previous = None
    for _phase in range(4):
        before = account.holding()
        p = plan(signal, before, multiplier, after=previous)
        previous = p
        plans.append((before, p))
        for close in p.closes:  # as planned: within the position, on its closing side
            held = before.positions.get(close.contract, 0)
            assert close.quantity <= abs(held), "a close exceeds the position it closes"
            assert (held > 0) == (close.side is Side.SELL), "a close on the wrong side"
        for key in p.cancels:  # a cancelled entry may have filled first
            order = next(w for w in account.working if w.key == key)
            account.working.remove(order)
            if fills_first.draw(st.booleans()):
                account.fill(order.contract, order.signed)
                account.surprised = True
        for close in p.closes:  # the executor caps an exit at the position it closes (reduce-only)
            done = reduce_only(account.positions.get(close.contract, 0), close.side, close.quantity)
            account.fill(close.contract, done * close.side.sign)
        if p.entry is not None and not p.wait:
            cap = 6 if p.entry.cap is None else p.entry.cap
            quantity = sizes.draw(st.integers(0, cap))
            account.fill(MNQ, quantity * p.entry.side.sign)
        if not p.wait:
            break
    return plans


@settings(max_examples=4000, deadline=None)
@given(accounts(), signals(), st.sampled_from([Decimal(1), Decimal(2), Decimal("0.5")]), st.data(), st.data())
def test_every_plan_ends_at_the_target_or_short_of_it_never_opposite(account, signal, multiplier, sizes, fills):
    start = dict(account.positions)
    note(
        f"start {start} working {account.working} signal {signal.direction} {signal.position} {signal.reading} q={signal.max_quantity}"
    )
    direction = (start.get(MNQ, 0) > 0) - (start.get(MNQ, 0) < 0)
    plans = run(account, signal, multiplier, sizes, fills)
    final = account.positions.get(MNQ, 0)
    first = plans[0][1]
    position = signal.position
    if signal.direction is Direction.EXIT or first.intent is Intent.EXIT:
        assert final == 0 or any(p.intent is Intent.NONE for _b, p in plans[1:]), (start, final)
    if first.intent is Intent.REDUCE:
        assert abs(final) <= abs(start.get(MNQ, 0)) or any(p.cancels for _b, p in plans)
        assert final * direction >= 0, "a reduction crossed zero"
    if position is not None and position.side != "flat" and first.intent is not Intent.NONE:
        side = 1 if position.side == "long" else -1
        assert final * side >= 0, f"ended {final} against the strategy's {position.side}"
        if position.size is not None and first.target is not None:
            assert abs(final) <= abs(first.target) or any(p.cancels for _b, p in plans)
    if account.surprised and position is None:
        return  # a buy or sell without a position is read again against what the surprise fill left (as its vendor)
    if signal.direction.is_entry_side and position is None and first.intent in (Intent.ENTER, Intent.REVERSE):
        side = 1 if signal.direction is Direction.LONG else -1
        assert final * side >= 0 or (first.target is not None and first.target * side <= 0)


@settings(max_examples=400, deadline=None)
@given(accounts(), signals(), st.sampled_from([Decimal(1), Decimal(3)]))
def test_exits_and_reductions_never_open(account, signal, multiplier):
    if not signal.closes_only:
        return
    p = plan(signal, account.holding(), multiplier)
    assert p.entry is None
    for close in p.closes:
        assert close.quantity <= abs(account.positions.get(close.contract, 0))


@settings(max_examples=400, deadline=None)
@given(accounts(), signals())
def test_a_second_look_after_everything_is_done_is_quiet_or_final(account, signal):
    """With nothing working and the first plan carried out fully, planning again sends no further closes that
    cross zero and never cancels anything."""
    account.working.clear()
    p = plan(signal, account.holding(), Decimal(1))
    for close in p.closes:
        account.fill(close.contract, close.quantity * close.side.sign)
    again = plan(signal, account.holding(), Decimal(1))
    assert not again.cancels
    held = account.positions.get(MNQ, 0)
    for close in again.closes:
        if close.contract == MNQ:
            assert close.quantity <= abs(held)


class _Full:
    """A risk manager that grants the planner's whole cap, and a venue where cancelled entries never filled."""

    def __init__(self, value):
        self.value = value

    def draw(self, strategy):
        return self.value


class _Cap:
    def draw(self, strategy):
        return strategy.wrapped_strategy.end if hasattr(strategy, "wrapped_strategy") else strategy.end


@settings(max_examples=4000, deadline=None)
@given(accounts(), signals(), st.sampled_from([Decimal(1), Decimal(2)]), st.booleans())
def test_a_known_target_is_reached_exactly_when_the_risk_manager_allows_it(account, signal, multiplier, filled):
    """Exits end flat; a strategy position with its size ends at floor(size x multiplier) on its side."""
    first = plan(signal, account.holding(), multiplier)
    note(
        f"start {account.positions} working {account.working} {signal.direction} {signal.position} {signal.reading} q={signal.max_quantity} m={multiplier} filled={filled}"
    )
    if first.target is None or first.intent is Intent.NONE:
        return
    if signal.position is not None and signal.position.side != "flat" and first.intent is Intent.REDUCE:
        return  # a reduction ends at min(position, target): checked above
    run(account, signal, multiplier, _Cap(), _Full(filled))
    working = sum(w.signed for w in account.working if w.contract == MNQ)  # entries left working count when they fill
    final = account.positions.get(MNQ, 0) + working
    if filled and first.cancels and first.intent in (Intent.REDUCE, Intent.EXIT):
        # an entry that filled before its cancel is closed, never answered with an opening: short of the target
        assert final * first.target >= 0 and abs(final) <= abs(first.target)
    else:
        assert final == first.target
