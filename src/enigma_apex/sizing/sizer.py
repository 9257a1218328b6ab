"""Position size from the money an account can really lose (pure, Decimal).

risk capital = distance to the threshold - the guardian's flatten buffer, never more than the
daily-loss room left; fraction = Kelly x multiplier (or the base risk below the minimum sample);
risk dollars = fraction x risk capital, capped by the per-trade maximum ($ and % of the buffer) and
the firm's MAE rule; contracts = floor(risk dollars / worst case per contract); a mini that rounds
to zero is sized in micros when the account may trade them; finally capped by what the gate allows
now. Every step is kept in the breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from enigma_apex.domain.orders import Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.sizing.kelly import adjust_win_rate, kelly_fraction
from enigma_apex.sizing.stats import TradeStats

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class SizingPolicy:
    kelly_multiplier: Decimal = Decimal("0.5")
    base_risk_pct: Decimal = Decimal(5)
    max_risk_per_trade_usd: Decimal | None = None
    max_risk_pct_of_buffer: Decimal = Decimal(25)
    min_trades_for_kelly: int = 30
    ai_max_shift: Decimal = Decimal("0.05")


@dataclass(frozen=True, slots=True)
class AccountRoom:
    """What the guardian says about the account now."""

    distance: Decimal  # equity - threshold
    flatten_buffer: Decimal  # the distance at which the guardian flattens
    dll_room: Decimal | None = None  # daily-loss room before the guardian's DLL flatten level
    mae_cap: Decimal | None = None
    risk_reward_max: Decimal | None = None
    contracts_allowed: int = 0  # contracts of the order's instrument the gate allows now
    micro_ratio: int = 10
    gate_reason: str = ""  # why the gate allows nothing, when it does


@dataclass(frozen=True, slots=True)
class Order:
    contract: Contract
    side: Side
    entry: Decimal
    stop: Decimal
    target: Decimal | None = None
    commission_mini: Decimal = Decimal("4.50")
    commission_micro: Decimal = Decimal("1.50")
    slippage_ticks: int = 2


@dataclass(frozen=True, slots=True)
class SizeResult:
    contract: Contract
    quantity: int
    code: str  # OK | NEGATIVE_EDGE | NO_ROOM | RISK_REWARD | TOO_SMALL | GATE_CLOSED | BAD_STOP
    mode: str  # kelly | base_risk
    breakdown: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "contract": str(self.contract),
            "quantity": self.quantity,
            "code": self.code,
            "mode": self.mode,
            "breakdown": self.breakdown,
        }


def worst_per_contract(order: Order, contract: Contract) -> Decimal:
    spec = contract.spec
    commission = order.commission_micro if spec.is_micro else order.commission_mini
    return abs(order.entry - order.stop) * spec.point_value + order.slippage_ticks * spec.tick_value + commission


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR)) if value > 0 else 0


def _d(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def size(
    order: Order,
    room: AccountRoom,
    stats: TradeStats,
    policy: SizingPolicy = SizingPolicy(),
    ai_confidence: Decimal | None = None,
) -> SizeResult:
    """The size and its full breakdown. With ``ai_confidence`` the result never exceeds the size without it."""
    without = _size(order, room, stats, policy, None)
    if ai_confidence is None:
        return without
    with_ai = _size(order, room, stats, policy, ai_confidence)
    if with_ai.quantity == 0 or _worst(with_ai) <= _worst(without):
        return with_ai
    note = "the analyst's confidence would raise the size: capped at the size without it"
    return SizeResult(without.contract, without.quantity, without.code, without.mode, {**without.breakdown, "ai": note})


def _worst(result: SizeResult) -> Decimal:
    value = result.breakdown.get("result", {}).get("worst_case_loss")
    return Decimal(value) if value is not None and result.quantity else ZERO


def _size(
    order: Order, room: AccountRoom, stats: TradeStats, policy: SizingPolicy, ai_confidence: Decimal | None
) -> SizeResult:
    contract = order.contract
    wrong_side = (order.side is Side.BUY and order.stop >= order.entry) or (
        order.side is Side.SELL and order.stop <= order.entry
    )
    bd: dict[str, Any] = {
        "inputs": {
            "contract": str(contract),
            "side": order.side.value,
            "entry": str(order.entry),
            "stop": str(order.stop),
            "target": None if order.target is None else str(order.target),
            "distance": _d(room.distance),
            "flatten_buffer": _d(room.flatten_buffer),
            "dll_room": _d(room.dll_room),
            "contracts_allowed_now": room.contracts_allowed,
        },
    }
    if wrong_side:
        return SizeResult(contract, 0, "BAD_STOP", "-", {**bd, "reason": "the stop is on the wrong side of the entry"})

    capital = room.distance - room.flatten_buffer
    capital_bound = "distance - flatten buffer"
    if room.dll_room is not None and room.dll_room < capital:
        capital, capital_bound = room.dll_room, "daily loss room"
    bd["risk_capital"] = {"value": _d(capital), "bound_by": capital_bound}
    if capital <= 0:
        return SizeResult(contract, 0, "NO_ROOM", "-", {**bd, "reason": "no room left inside the guardian's buffers"})

    if room.risk_reward_max is not None:
        if order.target is None:
            return SizeResult(
                contract,
                0,
                "RISK_REWARD",
                "-",
                {**bd, "reason": f"this firm caps the stop at {room.risk_reward_max}x the target"},
            )
        if abs(order.entry - order.stop) > room.risk_reward_max * abs(order.target - order.entry):
            return SizeResult(
                contract, 0, "RISK_REWARD", "-", {**bd, "reason": f"stop more than {room.risk_reward_max}x the target"}
            )

    if stats.trades < policy.min_trades_for_kelly:
        mode, fraction = "base_risk", policy.base_risk_pct / HUNDRED
        bd["fraction"] = {
            "mode": mode,
            "value": str(fraction),
            "why": f"{stats.trades} trades < {policy.min_trades_for_kelly}: base risk instead of Kelly",
        }
    else:
        mode = "kelly"
        p = adjust_win_rate(stats.shrunk_win_rate, ai_confidence, policy.ai_max_shift)
        b = stats.shrunk_payoff
        full = kelly_fraction(p, b)
        fraction = full * policy.kelly_multiplier
        bd["fraction"] = {
            "mode": mode,
            "p": str(p.quantize(Decimal("0.0001"))),
            "b": str(b.quantize(Decimal("0.0001"))),
            "kelly": str(full.quantize(Decimal("0.0001"))),
            "multiplier": str(policy.kelly_multiplier),
            "value": str(fraction.quantize(Decimal("0.0001"))),
            "ai_confidence": None if ai_confidence is None else str(ai_confidence),
        }
        if fraction <= 0:
            return SizeResult(contract, 0, "NEGATIVE_EDGE", mode, {**bd, "reason": "no positive edge: no trade"})
    fraction = min(fraction, Decimal(1))

    caps: list[tuple[str, Decimal]] = [("fraction x risk capital", fraction * capital)]
    if policy.max_risk_per_trade_usd is not None:
        caps.append(("max risk per trade ($)", policy.max_risk_per_trade_usd))
    caps.append(
        (f"max {policy.max_risk_pct_of_buffer}% of the buffer", policy.max_risk_pct_of_buffer / HUNDRED * capital)
    )
    if room.mae_cap is not None:
        caps.append(("firm MAE rule", room.mae_cap))
    risk, binding = min((value, name) for name, value in caps)
    bd["caps"] = [{"name": name, "value": _d(value)} for name, value in caps]
    bd["risk_dollars"] = {"value": _d(risk), "bound_by": binding}

    per = worst_per_contract(order, contract)
    quantity = _floor(risk / per)
    bd["per_contract"] = {"contract": str(contract), "worst_case": _d(per)}
    allowed = room.contracts_allowed
    micro_root = contract.spec.micro
    if quantity == 0 and micro_root is not None:
        micro = Contract(micro_root, contract.year, contract.month)
        micro_per = worst_per_contract(order, micro)
        micro_qty = _floor(risk / micro_per)
        if micro_qty > 0:
            bd["micro"] = {"contract": str(micro), "worst_case": _d(micro_per), "why": "a mini rounds to zero"}
            contract, per, quantity = micro, micro_per, micro_qty
            allowed = room.contracts_allowed * room.micro_ratio
    before_gate = quantity
    quantity = min(quantity, allowed)
    bd["gate"] = {"allowed": allowed, "before": before_gate, "after": quantity}
    if room.gate_reason:
        bd["gate"]["reason"] = room.gate_reason
    worst = per * quantity
    bd["result"] = {
        "contracts": quantity,
        "worst_case_loss": _d(worst),
        "distance_left": _d(room.distance - worst),
        "bound_by": "gate" if quantity < before_gate else binding,
    }
    if quantity == 0:
        code = "GATE_CLOSED" if before_gate > 0 else "TOO_SMALL"
        return SizeResult(contract, 0, code, mode, bd)
    return SizeResult(contract, quantity, "OK", mode, bd)
