"""The pre-trade gate: ``check(intent, view, now) -> Decision``.

Each rule is a small function with one concern that returns a ``Verdict`` (or None when it does
not limit the order); ``RULES`` lists them explicitly. The decision allows the smallest quantity
any rule allows. Orders that reduce exposure (exits, flattens) and cancels never come here: the
gate answers them with the full quantity, whatever the state (see ``check``).

An entry's worst case per contract = loss to its stop (plus a slippage allowance) x tick value +
round-trip commission. It must keep the account outside the guardian's flatten buffer, inside the
daily-loss room, under the MAE cap where the firm has one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from enigma_apex.domain.accounts import TradingState
from enigma_apex.domain.instruments import InstrumentSpec
from enigma_apex.domain.orders import OrderPurpose, Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.rules.news import NewsCalendar
from enigma_apex.rules.tracker import HUNDRED, ZERO, AccountTracker
from enigma_apex.rules.verdicts import Code, Decision, Verdict


@dataclass(frozen=True, slots=True)
class Intent:
    account: str
    contract: Contract
    side: Side
    quantity: int
    entry: Decimal
    stop: Decimal | None = None
    target: Decimal | None = None
    purpose: OrderPurpose = OrderPurpose.ENTRY


@dataclass(frozen=True, slots=True)
class Costs:
    commission_mini: Decimal = Decimal("4.50")
    commission_micro: Decimal = Decimal("1.50")
    slippage_ticks: int = 2

    def round_trip(self, spec: InstrumentSpec) -> Decimal:
        return self.commission_micro if spec.is_micro else self.commission_mini


@dataclass
class View:
    """What the gate may read: the account's tracker and the household's exposure."""

    tracker: AccountTracker
    positions: Mapping[Contract, int] = field(default_factory=dict)  # this account, signed
    working: Mapping[Contract, int] = field(default_factory=dict)  # this account's working entry orders, signed
    household: Mapping[str, int] = field(default_factory=dict)  # family -> signed exposure of the OTHER accounts
    news: NewsCalendar = field(default_factory=NewsCalendar)
    costs: Costs = field(default_factory=Costs)
    default_stop_ticks: int | None = None


@dataclass(frozen=True, slots=True)
class Priced:
    """The intent with its effective stop and per-contract figures."""

    intent: Intent
    spec: InstrumentSpec
    stop: Decimal | None
    loss_per_contract: Decimal  # to the stop incl. slippage, before commission
    worst_per_contract: Decimal  # incl. commission


Rule = Callable[[Priced, View, datetime], Verdict | None]


def _max_qty(room: Decimal, per: Decimal) -> int:
    """The largest q with q * per < room (0 when there is no room)."""
    if room <= 0:
        return 0
    if per <= 0:
        return 10**6
    return max(0, int((room / per).to_integral_value(rounding=ROUND_CEILING)) - 1)


# ---------------------------------------------------------------- the rules, one concern each
def trading_state(p: Priced, v: View, now: datetime) -> Verdict | None:
    state, reason = v.tracker.trading_state()
    if state in (TradingState.HALTED, TradingState.FAILED):
        return Verdict(Code.TRADING_HALTED, 0, f"account is {state.value.upper()}: {reason}; only exits and cancels")
    if state is TradingState.REDUCING:
        return Verdict(Code.REDUCING_ONLY, 0, f"account is REDUCING ({reason}); only orders that reduce exposure")
    return None


def session(p: Priced, v: View, now: datetime) -> Verdict | None:
    is_open, minutes = v.tracker.session_window(now)
    if not is_open:
        return Verdict(Code.SESSION_CLOSED, 0, "the firm's session is closed")
    if minutes <= v.tracker.policy.no_new_entries_min:
        return Verdict(
            Code.SESSION_CLOSED,
            0,
            f"{minutes:.1f} min to the close: no new entries in the last {v.tracker.policy.no_new_entries_min} min",
        )
    return None


def news(p: Priced, v: View, now: datetime) -> Verdict | None:
    if not v.news.events:
        return None
    minimum = timedelta(minutes=v.tracker.profile.news_flat_minutes or 0)
    event = v.news.active(now, minimum)
    if event is not None:
        return Verdict(Code.NEWS_BLACKOUT, 0, f"news blackout: {event.title} at {event.at:%H:%M %Z}")
    return None


def stop_required(p: Priced, v: View, now: datetime) -> Verdict | None:
    if p.stop is None:
        return Verdict(Code.NO_STOP, 0, "entries need a stop (set default_stop_ticks on the account to assume one)")
    return None


def max_contracts(p: Priced, v: View, now: datetime) -> Verdict | None:
    t = v.tracker
    cap = t.max_contracts()
    if cap is None:
        return Verdict(Code.MAX_CONTRACTS, 0, "no contract cap is known for this account")
    ratio = t.micro_ratio
    used = ZERO
    for book in (v.positions, v.working):
        for contract, qty in book.items():
            used += Decimal(abs(qty)) / ratio if contract.spec.is_micro else Decimal(abs(qty))
    if t.profile.no_mini_micro_mix and (v.positions or v.working):
        for contract in list(v.positions) + list(v.working):
            if contract.spec.family == p.spec.family and contract.spec.is_micro != p.spec.is_micro:
                return Verdict(Code.MAX_CONTRACTS, 0, "the firm forbids holding the mini and the micro of one market")
    room = Decimal(cap) - used
    allowed = int(room * ratio) if p.spec.is_micro else int(room)
    allowed = max(0, allowed)
    if allowed < p.intent.quantity:
        unit = "micros" if p.spec.is_micro else "contracts"
        return Verdict(Code.MAX_CONTRACTS, allowed, f"cap {cap} minis now, {used} in use: at most {allowed} {unit}")
    return None


def hedging(p: Priced, v: View, now: datetime) -> Verdict | None:
    if not (v.positions or v.working or v.household):
        return None
    sign, family = p.intent.side.sign, p.spec.family
    for contract, qty in v.positions.items():
        if contract.spec.family == family and contract != p.intent.contract and qty * sign < 0:
            return Verdict(
                Code.HEDGING, 0, f"the account holds {qty} {contract}: an opposite {p.spec.root} entry hedges"
            )
    for contract, qty in v.working.items():
        if contract.spec.family == family and qty * sign < 0:
            return Verdict(Code.HEDGING, 0, f"a working {contract} order in the opposite direction would hedge")
    other = v.household.get(family, 0)
    if other * sign < 0:
        side = "long" if other > 0 else "short"
        return Verdict(
            Code.HEDGING, 0, f"another account of the household is {side} {family}: opposite positions hedge"
        )
    return None


def threshold_room(p: Priced, v: View, now: datetime) -> Verdict | None:
    t = v.tracker
    room = t.distance - t.flatten_distance
    allowed = _max_qty(room, p.worst_per_contract)
    if allowed < p.intent.quantity:
        return Verdict(
            Code.TRAILING_THRESHOLD,
            allowed,
            f"worst case {p.worst_per_contract}/contract against {room:.2f} of room above the flatten buffer "
            f"({t.distance:.2f} to the threshold {t.s.threshold}): at most {allowed}",
        )
    return None


def daily_loss(p: Priced, v: View, now: datetime) -> Verdict | None:
    t = v.tracker
    dll = t.dll
    if dll is None:
        return None
    room = dll * t.policy.flatten_dll_pct / HUNDRED - t.day_loss
    allowed = _max_qty(room, p.worst_per_contract)
    if allowed < p.intent.quantity:
        return Verdict(
            Code.DAILY_LOSS_LIMIT,
            allowed,
            f"daily loss room {room:.2f} (limit {dll}) against {p.worst_per_contract}/contract: at most {allowed}",
        )
    return None


def risk_reward(p: Priced, v: View, now: datetime) -> Verdict | None:
    ratio = v.tracker.profile.risk_reward_max
    if ratio is None or p.stop is None:
        return None
    if p.intent.target is None:
        return Verdict(Code.RISK_REWARD, 0, f"this firm caps the stop at {ratio}x the target: send a target")
    stop_dist, target_dist = abs(p.intent.entry - p.stop), abs(p.intent.target - p.intent.entry)
    if stop_dist > ratio * target_dist:
        return Verdict(Code.RISK_REWARD, 0, f"stop {stop_dist} points is more than {ratio}x the target {target_dist}")
    return None


def mae(p: Priced, v: View, now: datetime) -> Verdict | None:
    cap = v.tracker.mae_cap()
    if cap is None:
        return None
    allowed = int(cap / p.loss_per_contract) if p.loss_per_contract > 0 else p.intent.quantity
    if allowed < p.intent.quantity:
        return Verdict(Code.MAE_LIMIT, allowed, f"open loss per trade is capped at {cap:.2f}: at most {allowed}")
    return None


def consistency(p: Priced, v: View, now: datetime) -> Verdict | None:
    t = v.tracker
    if not t.policy.consistency_guard:
        return None
    room = t.consistency_room_today()
    if room is not None and room > 0 and t.day_pnl >= room:
        return Verdict(Code.CONSISTENCY, 0, f"today's profit {t.day_pnl} reached the consistency room {room:.2f}")
    return None


RULES: tuple[Rule, ...] = (
    trading_state,
    session,
    news,
    stop_required,
    max_contracts,
    hedging,
    threshold_room,
    daily_loss,
    risk_reward,
    mae,
    consistency,
)


def price(intent: Intent, view: View) -> Priced:
    spec = intent.contract.spec
    stop = intent.stop
    if stop is None and view.default_stop_ticks:
        offset = spec.tick_size * view.default_stop_ticks
        stop = intent.entry - offset if intent.side is Side.BUY else intent.entry + offset
    loss = (
        ZERO
        if stop is None
        else abs(intent.entry - stop) * spec.point_value + view.costs.slippage_ticks * spec.tick_value
    )
    return Priced(intent, spec, stop, loss, loss + view.costs.round_trip(spec))


def reduces(intent: Intent, view: View) -> int:
    """How much of the intent reduces the account's position (0 if none)."""
    held = view.positions.get(intent.contract, 0)
    if held * intent.side.sign < 0:
        return min(abs(held), intent.quantity)
    return 0


def check(intent: Intent, view: View, now: datetime) -> Decision:
    if intent.quantity <= 0:
        raise ValueError("quantity must be positive")
    if intent.purpose is not OrderPurpose.ENTRY:
        reducing = reduces(intent, view) if intent.purpose is OrderPurpose.EXIT else intent.quantity
        # Flattens always pass; an exit passes for the part that reduces the position.
        allowed = intent.quantity if intent.purpose is OrderPurpose.FLATTEN else reducing
        limited: tuple[Verdict, ...] = ()
        if allowed != intent.quantity:
            limited = (Verdict(Code.REDUCING_ONLY, allowed, f"only {allowed} of the exit reduces the position"),)
        return Decision(intent.quantity, allowed, limited, ZERO, ZERO, view.tracker.distance)
    priced = price(intent, view)
    verdicts: list[Verdict] = []
    allowed = intent.quantity
    for rule in RULES:
        verdict = rule(priced, view, now)
        if verdict is not None:
            verdicts.append(verdict)
            allowed = min(allowed, verdict.max_quantity)
            if allowed == 0 and verdict.code in (Code.TRADING_HALTED, Code.REDUCING_ONLY):
                break
    worst = priced.worst_per_contract * allowed
    return Decision(
        intent.quantity, allowed, tuple(verdicts), priced.worst_per_contract, worst, view.tracker.distance - worst
    )
