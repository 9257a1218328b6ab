from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from enigma_apex.domain.orders import Bracket, OrderStatus, OrderType, Side
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.execution.events import FillEvent, OrderEvent, OrderRequest, PositionEvent
from enigma_apex.execution.sim import SimBroker

AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))
D = Decimal


def broker(**kw):
    sim = SimBroker({"A1": D(50000)}, id_prefix="T", **kw)
    sim.set_quote(MNQ, D("21000.00"), D("21000.25"), AT)
    return sim


def fills(events):
    return [e for e in events if isinstance(e, FillEvent)]


def test_market_buy_fills_at_the_ask_and_pays_commission_per_side():
    sim = broker(commissions={"MNQ": D("0.62")})
    events = sim.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 3), AT)
    assert isinstance(events[0], OrderEvent) and events[0].status is OrderStatus.WORKING
    (fill,) = fills(events)
    assert (fill.price, fill.quantity, fill.commission) == (D("21000.25"), 3, D("1.86"))
    assert events[-1] == PositionEvent("A1", MNQ, 3, D("21000.25"))
    state = sim.account_state("A1")
    assert state.balance == D("49998.14")
    # a 10-point rise: 3 micros x 10 points x $2 = $60 open
    sim.set_quote(MNQ, D("21010.00"), D("21010.25"), AT, D("21010.25"))
    assert sim.account_state("A1").open_pnl == D("60.00")


def test_market_slippage_moves_the_price_against_the_trader():
    sim = broker(market_slippage_ticks=2)
    (fill,) = fills(sim.place(OrderRequest("k1", "A1", MNQ, Side.SELL, 1), AT))
    assert fill.price == D("20999.50")


def test_bracket_legs_follow_the_entry_and_cancel_each_other():
    sim = broker()
    bracket = Bracket(stop=D("20990.00"), target=D("21020.00"))
    events = sim.place(OrderRequest("e", "A1", MNQ, Side.BUY, 2, bracket=bracket), AT)
    legs = {e.key: e for e in events if isinstance(e, OrderEvent) and e.key != "e"}
    assert set(legs) == {"e:stop", "e:target"}
    assert {o.request.quantity for o in sim.working("A1")} == {2}
    events = sim.set_quote(MNQ, D("21020.00"), D("21020.25"), AT)  # target reached
    (fill,) = fills(events)
    assert (fill.key, fill.side, fill.price, fill.quantity) == ("e:target", Side.SELL, D("21020.00"), 2)
    cancelled = [e for e in events if isinstance(e, OrderEvent) and e.status is OrderStatus.CANCELLED]
    assert [e.key for e in cancelled] == ["e:stop"]
    assert sim.positions("A1") == [] and sim.working("A1") == []
    assert sim.account_state("A1").realized_pnl == D("79.00")  # (21020 - 21000.25) x 2 x $2


def test_stop_fills_with_slippage_and_gaps_fill_at_the_market():
    sim = broker(stop_slippage_ticks=1)
    sim.place(OrderRequest("e", "A1", MNQ, Side.BUY, 1, bracket=Bracket(stop=D("20990.00"))), AT)
    events = sim.set_quote(MNQ, D("20980.00"), D("20980.25"), AT)  # gapped through the stop
    (fill,) = fills(events)
    assert fill.price == D("20979.75")  # the bid, one tick worse


def test_resting_limit_fills_in_parts_with_limited_liquidity():
    sim = broker(liquidity=1)
    events = sim.place(OrderRequest("l", "A1", MNQ, Side.BUY, 3, OrderType.LIMIT, limit_price=D("20995.00")), AT)
    assert fills(events) == []
    events = sim.set_quote(MNQ, D("20994.75"), D("20995.00"), AT)
    assert [f.quantity for f in fills(events)] == [1]
    assert sim.orders["l"].status is OrderStatus.PARTIALLY_FILLED
    sim.set_quote(MNQ, D("20994.50"), D("20994.75"), AT)
    events = sim.set_quote(MNQ, D("20994.25"), D("20994.50"), AT)
    assert sim.orders["l"].status is OrderStatus.FILLED
    assert fills(events)[0].price == D("20995.00")  # a resting limit fills at its price


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (OrderRequest("s", "A1", MNQ, Side.BUY, 1, OrderType.STOP, stop_price=D("20990.00")), "at or below the market"),
        (OrderRequest("s", "A1", MNQ, Side.BUY, 1, OrderType.LIMIT, limit_price=D("20990.10")), "not on the"),
        (OrderRequest("s", "NOPE", MNQ, Side.BUY, 1), "unknown account"),
    ],
)
def test_impossible_orders_are_rejected_with_a_reason(request_, reason):
    events = broker().place(request_, AT)
    assert events[0].status is OrderStatus.REJECTED and reason in events[0].reason


def test_flatten_cancels_working_orders_and_closes_positions():
    sim = broker()
    sim.place(OrderRequest("e", "A1", MNQ, Side.SELL, 2, bracket=Bracket(D("21010.00"), D("20990.00"))), AT)
    events = sim.flatten("A1", AT)
    assert {e.key for e in events if isinstance(e, OrderEvent) and e.status is OrderStatus.CANCELLED} == {
        "e:stop",
        "e:target",
    }
    assert fills(events)[0].side is Side.BUY and sim.positions("A1") == []


def test_snapshot_restores_balances_positions_and_working_orders():
    sim = broker()
    sim.place(OrderRequest("e", "A1", MNQ, Side.BUY, 2, bracket=Bracket(D("20990.00"), D("21020.00"))), AT)
    other = SimBroker({"A1": D(50000)}, id_prefix="U")
    other.restore(sim.snapshot(), on=AT.date())
    assert other.positions("A1") == sim.positions("A1")
    assert other.account_state("A1").balance == sim.account_state("A1").balance
    assert {o.request.key for o in other.working("A1")} == {"e:stop", "e:target"}
    other.set_quote(MNQ, D("20989.75"), D("20990.00"), AT)
    assert other.positions("A1") == []  # the restored stop still protects
