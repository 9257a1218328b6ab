from __future__ import annotations

from decimal import Decimal

import pytest

from enigma_apex.domain.orders import Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.sizing.kelly import adjust_win_rate, kelly_fraction
from enigma_apex.sizing.sizer import AccountRoom, Order, SizingPolicy, size
from enigma_apex.sizing.stats import Prior, TradeRecord, compute, power_bucket

D = Decimal
NQ = Contract("NQ", 2026, 12)


@pytest.mark.parametrize(
    ("p", "b", "expected"),
    [("0.6", "1", "0.2"), ("0.5", "2", "0.25"), ("0.5", "1", "0"), ("0.4", "1", "-0.2"), ("0.55", "1.5", "0.25")],
)
def test_textbook_kelly_values(p, b, expected):
    assert kelly_fraction(D(p), D(b)) == D(expected)


def test_kelly_refuses_impossible_inputs():
    with pytest.raises(ValueError, match="outside"):
        kelly_fraction(D("1.2"), D(1))
    with pytest.raises(ValueError, match="positive"):
        kelly_fraction(D("0.5"), D(0))


def test_ai_confidence_moves_p_within_bounds():
    assert adjust_win_rate(D("0.5"), None, D("0.05")) == D("0.5")
    assert adjust_win_rate(D("0.5"), D("0.5"), D("0.05")) == D("0.5")
    assert adjust_win_rate(D("0.5"), D(1), D("0.05")) == D("0.55")
    assert adjust_win_rate(D("0.5"), D(0), D("0.05")) == D("0.45")
    assert adjust_win_rate(D("0.99"), D(1), D("0.05")) == D(1)
    with pytest.raises(ValueError, match="confidence"):
        adjust_win_rate(D("0.5"), D(2), D("0.05"))


def trades(wins: int, losses: int, win_r: str = "1.5") -> list[TradeRecord]:
    out = [TradeRecord("A", "s", D(100) * D(win_r), D(100)) for _ in range(wins)]
    return out + [TradeRecord("A", "s", D(-100), D(100)) for _ in range(losses)]


def test_statistics_in_r_and_shrinkage_toward_the_prior():
    st = compute(trades(6, 4), Prior(D("0.5"), D(1), D(10)))
    assert (st.trades, st.win_rate, st.avg_win_r, st.avg_loss_r, st.payoff) == (10, D("0.6"), D("1.5"), D(1), D("1.5"))
    assert st.expectancy_r == D("0.5")
    assert st.shrunk_win_rate == D("0.55")  # (6 + 5) / (10 + 10)
    assert st.shrunk_payoff == (D(6 * 1.5 + 10) / 16) / (D(4 + 10) / 14)
    no_prior = compute(trades(6, 4), Prior(D("0.5"), D(1), D(0)))
    assert no_prior.shrunk_win_rate == D("0.6")


def test_power_buckets():
    assert power_bucket(87, (50, 70, 85)) == "pwr85-100"
    assert power_bucket(60, (50, 70, 85)) == "pwr50-69"
    assert power_bucket(None, (50,)) is None


ROOM = AccountRoom(distance=D(2000), flatten_buffer=D(200), contracts_allowed=6)
ORDER = Order(NQ, Side.BUY, D(21000), D(20990), D(21030), D("4.50"), D("1.50"), 2)
EDGE = compute(trades(60, 40))


def test_kelly_size_and_its_breakdown():
    result = size(ORDER, ROOM, EDGE, SizingPolicy(min_trades_for_kelly=30))
    # per contract: 10 points x $20 + 2 ticks x $5 + $4.50 = 214.50
    assert result.mode == "kelly" and result.code == "OK"
    fraction = D(result.breakdown["fraction"]["value"])
    risk = min(fraction * 1800, D(450))
    assert result.quantity == int(risk / D("214.50"))
    assert result.breakdown["per_contract"]["worst_case"] == "214.50"
    assert result.breakdown["risk_capital"]["value"] == "1800.00"


def test_base_risk_below_the_minimum_sample_says_so():
    result = size(ORDER, ROOM, compute(trades(3, 2)), SizingPolicy(base_risk_pct=D(25)))
    assert result.mode == "base_risk" and "base risk instead of Kelly" in result.breakdown["fraction"]["why"]
    assert result.quantity == 2  # 25% of 1,800 = 450 -> 2 x 214.50


def test_no_edge_means_no_trade():
    result = size(ORDER, ROOM, compute(trades(40, 60, "1")), SizingPolicy(min_trades_for_kelly=30))
    assert (result.quantity, result.code) == (0, "NEGATIVE_EDGE")


def test_a_mini_that_rounds_to_zero_is_sized_in_micros():
    small = AccountRoom(distance=D(400), flatten_buffer=D(200), contracts_allowed=2)
    result = size(ORDER, small, compute([]), SizingPolicy(base_risk_pct=D(50), max_risk_pct_of_buffer=D(100)))
    assert result.contract.root == "MNQ" and result.quantity == 4  # $100 of risk / 22.50 per micro
    assert result.breakdown["micro"]["why"] == "a mini rounds to zero"


def test_caps_dll_mae_and_risk_reward():
    room = AccountRoom(distance=D(2000), flatten_buffer=D(200), dll_room=D(300), mae_cap=D(250), contracts_allowed=6)
    result = size(ORDER, room, compute([]), SizingPolicy(base_risk_pct=D(100), max_risk_per_trade_usd=D(1000)))
    assert result.breakdown["risk_capital"]["bound_by"] == "daily loss room"
    assert result.breakdown["risk_dollars"]["bound_by"] == "max 25% of the buffer" or result.quantity <= 1
    rr = AccountRoom(distance=D(2000), flatten_buffer=D(200), risk_reward_max=D(5), contracts_allowed=6)
    wide = Order(NQ, Side.BUY, D(21000), D(20900), D(21010))
    assert size(wide, rr, compute([])).code == "RISK_REWARD"


def test_the_gate_has_the_last_word():
    closed = AccountRoom(distance=D(2000), flatten_buffer=D(200), contracts_allowed=0, gate_reason="SESSION_CLOSED")
    result = size(ORDER, closed, compute([]), SizingPolicy(base_risk_pct=D(50)))
    assert (result.quantity, result.code) == (0, "GATE_CLOSED")
    assert result.breakdown["gate"]["reason"] == "SESSION_CLOSED"


def test_the_analyst_can_only_reduce():
    policy = SizingPolicy(min_trades_for_kelly=30)
    base = size(ORDER, ROOM, EDGE, policy)
    keen = size(ORDER, ROOM, EDGE, policy, ai_confidence=D(1))
    doubtful = size(ORDER, ROOM, EDGE, policy, ai_confidence=D(0))

    def worst(r):
        return D(r.breakdown["result"]["worst_case_loss"])

    assert worst(keen) <= worst(base)
    assert worst(doubtful) <= worst(base)
    big = AccountRoom(distance=D(20000), flatten_buffer=D(200), contracts_allowed=60)
    generous = SizingPolicy(min_trades_for_kelly=30, max_risk_pct_of_buffer=D(100))
    plain, optimistic = size(ORDER, big, EDGE, generous), size(ORDER, big, EDGE, generous, ai_confidence=D(1))
    assert optimistic.quantity == plain.quantity and "ai" in optimistic.breakdown  # capped, and it says so


def test_a_stop_on_the_wrong_side_is_refused():
    bad = Order(NQ, Side.BUY, D(21000), D(21010))
    assert size(bad, ROOM, compute([])).code == "BAD_STOP"
