from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from enigma_apex.domain.orders import Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.sizing.sizer import AccountRoom, Order, SizingPolicy, size, worst_per_contract
from enigma_apex.sizing.stats import TradeRecord, compute

D = Decimal
MONEY = st.decimals(min_value=D(0), max_value=D(20000), places=2, allow_nan=False, allow_infinity=False)
STOP = st.integers(1, 200)
ROOTS = st.sampled_from(["NQ", "ES", "MNQ", "CL", "GC", "ZN", "6E", "YM"])


@st.composite
def scenarios(draw):
    root = draw(ROOTS)
    contract = Contract(root, 2027, 3)
    tick = contract.spec.tick_size
    entry = D(4000)
    stop = entry - tick * draw(STOP)
    target = entry + tick * draw(STOP)
    distance = draw(MONEY)
    buffer = draw(st.decimals(min_value=D(0), max_value=D(2000), places=2))
    room = AccountRoom(
        distance=distance,
        flatten_buffer=buffer,
        dll_room=draw(st.none() | MONEY),
        mae_cap=draw(st.none() | MONEY),
        contracts_allowed=draw(st.integers(0, 20)),
    )
    wins = draw(st.integers(0, 80))
    losses = draw(st.integers(0, 80))
    win_r = draw(st.sampled_from(["0.5", "1", "1.5", "3"]))
    trades = [TradeRecord("A", "s", D(100) * D(win_r), D(100))] * wins + [
        TradeRecord("A", "s", D(-100), D(100))
    ] * losses
    policy = SizingPolicy(
        kelly_multiplier=draw(st.sampled_from([D("0.25"), D("0.5"), D(1)])),
        base_risk_pct=draw(st.sampled_from([D(1), D(5), D(50), D(100)])),
        max_risk_per_trade_usd=draw(st.none() | MONEY),
        min_trades_for_kelly=30,
    )
    return Order(contract, Side.BUY, entry, stop, target), room, compute(trades), policy


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_contracts_never_exceed_any_cap_and_the_worst_case_stays_outside_the_buffer(case):
    order, room, stats, policy = case
    result = size(order, room, stats, policy)
    if result.quantity == 0:
        return
    worst = worst_per_contract(order, result.contract) * result.quantity
    capital = room.distance - room.flatten_buffer
    assert worst <= capital  # the flatten buffer is never crossed by the worst case
    if room.dll_room is not None:
        assert worst <= room.dll_room
    if room.mae_cap is not None:
        assert worst <= room.mae_cap
    if policy.max_risk_per_trade_usd is not None:
        assert worst <= policy.max_risk_per_trade_usd
    units = room.micro_ratio if result.contract != order.contract else 1
    assert result.quantity <= room.contracts_allowed * units


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_no_positive_edge_means_zero(case):
    order, room, stats, policy = case
    if stats.trades >= policy.min_trades_for_kelly:
        p, b = stats.shrunk_win_rate, stats.shrunk_payoff
        if p - (1 - p) / b <= 0:
            assert size(order, room, stats, policy).quantity == 0


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.decimals(min_value=D(0), max_value=D(5000), places=2))
def test_size_never_decreases_when_the_buffer_grows(case, extra):
    order, room, stats, policy = case
    bigger = AccountRoom(
        distance=room.distance + extra,
        flatten_buffer=room.flatten_buffer,
        dll_room=room.dll_room,
        mae_cap=room.mae_cap,
        contracts_allowed=room.contracts_allowed,
    )
    small, large = size(order, room, stats, policy), size(order, bigger, stats, policy)

    def minis(r):
        return D(r.quantity) / (room.micro_ratio if r.contract != order.contract else 1)

    assert minis(large) >= minis(small)
