from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from enigma_apex.domain.clock import ManualClock, require_aware
from enigma_apex.domain.orders import Fill, OrderIntent, OrderType, Position, Side
from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.domain.symbols import Contract

NQ = Contract("NQ", 2026, 12)
T0 = datetime(2026, 11, 23, 15, tzinfo=UTC)


def fill(side, qty, price, n=1):
    return Fill(f"f{n}", "k", "A1", NQ, side, qty, Decimal(price), Decimal("2.10"), T0)


def test_opening_and_adding_average_the_price():
    pos, realised = Position("A1", NQ).apply(fill(Side.BUY, 1, "21000"))
    pos, realised = pos.apply(fill(Side.BUY, 1, "21010", 2))
    assert (pos.quantity, pos.average_price, realised) == (2, Decimal(21005), 0)


def test_partial_close_realises_pnl_in_dollars():
    pos, _ = Position("A1", NQ).apply(fill(Side.BUY, 2, "21000"))
    pos, realised = pos.apply(fill(Side.SELL, 1, "21010", 2))
    assert pos.quantity == 1
    assert realised == Decimal(200)  # 10 points x $20 per point


def test_reversal_opens_the_remainder_at_the_fill_price():
    pos, _ = Position("A1", NQ).apply(fill(Side.SELL, 1, "21000"))
    pos, realised = pos.apply(fill(Side.BUY, 3, "20990", 2))
    assert (pos.quantity, pos.average_price, realised) == (2, Decimal(20990), Decimal(200))


def test_open_pnl_marks_to_the_given_price():
    pos, _ = Position("A1", NQ).apply(fill(Side.SELL, 2, "21000"))
    assert pos.open_pnl(Decimal("21002.50")) == Decimal(-100)


def test_intents_validate_their_prices():
    with pytest.raises(ValueError, match="limit price"):
        OrderIntent("k", "A1", NQ, Side.BUY, 1, OrderType.LIMIT)
    with pytest.raises(ValueError, match="positive"):
        OrderIntent("k", "A1", NQ, Side.BUY, 0)


def test_signal_refuses_a_stop_on_the_wrong_side():
    with pytest.raises(ValueError, match="wrong side"):
        Signal("s", SignalSource.MANUAL, NQ, Direction.LONG, T0, entry=Decimal(21000), stop=Decimal(21010))


def test_manual_clock_moves_only_forward():
    clock = ManualClock(T0)
    clock.advance(timedelta(seconds=5))
    assert clock.now() == T0 + timedelta(seconds=5)
    assert clock.monotonic() == 5
    with pytest.raises(ValueError, match="backwards"):
        clock.set(T0)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        require_aware(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
