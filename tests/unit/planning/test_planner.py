"""The planner against every vendor example (tests/vendor_alerts.py): from position X, alert Y → position Z, with the
venue filling what is sent; plus the working-order cases (an exit before its entry filled, surplus entries)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from enigma_apex.app.webhooks import _DIRECTIONS
from enigma_apex.domain.orders import OrderPurpose, Side
from enigma_apex.domain.signals import Direction, Reading, Signal, SignalSource, StrategyPosition
from enigma_apex.domain.symbols import Contract
from enigma_apex.intake.tradingview import Alert, parse_alert
from enigma_apex.planning.planner import Holding, Intent, Working, plan
from tests.vendor_alerts import CASES, Case

TODAY = date(2026, 12, 1)
MNQ = Contract("MNQ", 2026, 12)
NOW = datetime(2026, 12, 1, 15, tzinfo=UTC)


def signal_of(body) -> Signal:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
    alert = parse_alert(raw, today=TODAY)
    assert isinstance(alert, Alert), alert
    return Signal(
        "S", SignalSource.TRADINGVIEW, alert.contract, _DIRECTIONS[alert.action], NOW, entry=alert.price,
        max_quantity=alert.quantity, order_type=alert.order_type, limit_price=alert.limit_price,
        stop_price=alert.stop_price, position=alert.position, reading=alert.reading,
        require_position=alert.require_position,
    )  # fmt: skip


def carry_out(signal: Signal, start: int, multiplier: Decimal = Decimal(1)) -> tuple[int, list]:
    """Plan, fill everything the plan sends (entries in full), plan again while it waits."""
    position, plans, previous = start, [], None
    for _ in range(4):
        p = plan(signal, Holding(MNQ, {MNQ: position} if position else {}), multiplier, after=previous)
        plans.append(p)
        previous = p
        for close in p.closes:
            position += close.quantity * close.side.sign
        if p.entry is not None and not p.wait:
            position += (p.entry.cap or 1) * p.entry.side.sign
        if not p.wait:
            break
    return position, plans


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_vendor_example_ends_where_its_vendor_says(case: Case):
    end, plans = carry_out(signal_of(case.body), case.start)
    assert end == case.end, f"{case.name} ({case.source}): {[p.reason for p in plans]}"


def test_a_reversal_closes_first_and_opens_after_the_close_fill():
    first = plan(signal_of("order sell @ 2 filled on MNQ1!. New strategy position is -1"), Holding(MNQ, {MNQ: 1}))
    assert first.intent is Intent.REVERSE and first.wait and first.target == -1
    assert [(c.side, c.quantity) for c in first.closes] == [(Side.SELL, 1)]
    assert first.entry is not None and first.entry.cap == 1  # the new position, not the alert's 2 contracts


def test_an_exit_before_the_entry_filled_cancels_it_and_closes_what_filled():
    entry = Working("sig:E:A1", MNQ, Side.BUY, 2, OrderPurpose.ENTRY)
    exit_ = signal_of({"ticker": "MNQ1!", "action": "exit"})
    first = plan(exit_, Holding(MNQ, {}, (entry,)))
    assert (first.intent, first.cancels, first.closes, first.wait) == (Intent.EXIT, ("sig:E:A1",), (), True)
    second = plan(exit_, Holding(MNQ, {MNQ: 1}), after=first)  # one contract filled before the cancel
    assert [(c.side, c.quantity) for c in second.closes] == [(Side.SELL, 1)] and not second.wait


def test_closes_already_under_way_are_not_sent_twice():
    closing = Working("sig:X:A1:c1:MNQZ26", MNQ, Side.SELL, 2, OrderPurpose.EXIT)
    again = plan(signal_of({"ticker": "MNQ1!", "action": "exit"}), Holding(MNQ, {MNQ: 2}, (closing,)))
    assert again.intent is Intent.NONE and not again.closes


def test_a_reduction_by_a_quantity_is_applied_once_across_looks():
    sell_one = signal_of({"ticker": "MNQ1!", "action": "sell", "quantity": 1})  # TradersPost partial exit
    stale = Working("w", MNQ, Side.BUY, 1, OrderPurpose.ENTRY)
    first = plan(sell_one, Holding(MNQ, {MNQ: 3}, (stale,)))
    assert first.target == 2 and first.cancels == ("w",) and first.wait
    second = plan(sell_one, Holding(MNQ, {MNQ: 2}), after=first)
    assert second.intent is Intent.NONE  # already at 2: not reduced a second time


def test_working_entries_beyond_a_target_are_cancelled():
    working = Working("w", MNQ, Side.BUY, 3, OrderPurpose.ENTRY)
    p = plan(signal_of("order buy @ 1 filled on MNQ1!. New strategy position is 1"), Holding(MNQ, {}, (working,)))
    assert p.cancels == ("w",) and p.wait and p.target == 1


def test_the_multiplier_scales_targets_down_and_reductions_up():
    half = Decimal("0.5")
    end, _ = carry_out(signal_of("order sell @ 1 filled on MNQ1!. New strategy position is 3"), 2, half)
    assert end == 1  # floor(3 x 0.5)
    end, _ = carry_out(signal_of({"ticker": "MNQ1!", "action": "sell", "sentiment": "long", "quantity": 1}), 2, half)
    assert end == 1  # 2 - ceil(1 x 0.5)
    p = plan(signal_of({"ticker": "MNQ1!", "action": "buy", "quantity": 1}), Holding(MNQ, {}), half)
    assert p.intent is Intent.NONE and "rounds the source's size to zero" in p.reason


def test_a_signal_without_position_keeps_todays_meaning():
    manual = Signal("S", SignalSource.MANUAL, MNQ, Direction.SHORT, NOW, max_quantity=2)
    p = plan(manual, Holding(MNQ, {MNQ: 3}))
    assert p.intent is Intent.REVERSE and p.closes[0].quantity == 3 and p.entry is not None and p.entry.cap == 2
    assert manual.reading is Reading.ENTRY


def test_other_contracts_of_the_family_opposite_to_the_target_are_closed():
    nq = Contract("NQ", 2026, 12)
    p = plan(signal_of({"ticker": "MNQ1!", "action": "buy", "sentiment": "long", "quantity": 1}),
             Holding(MNQ, {nq: -1}))  # fmt: skip
    assert [(c.contract, c.side, c.quantity) for c in p.closes] == [(nq, Side.BUY, 1)] and p.wait


def test_the_strategy_message_reads_the_previous_position():
    s = signal_of("order sell @ 3 filled on MNQ1!. New strategy position is -1")
    assert s.position == StrategyPosition("short", 1, "long", 2)
