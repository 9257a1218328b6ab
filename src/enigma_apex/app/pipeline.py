"""The decision pipeline: signal → stored (de-duplicated) → routed to its group's accounts → compliance gate and
sizing per account → decision stored → order stored and sent.

Every step lands in the database before anything leaves the hub: the signal row, then per account one decision
row (inputs, verdicts, size breakdown) committed in the same transaction as the order it causes. Order keys are
derived from the signal and the account (``sig:<signal>:<account>``), so handling a signal twice can never place
a second order. Exits are never refused: a flatten or an exit passes whatever the account's state.

Modes (``[signals] default_mode``): ``auto`` executes; ``confirm`` stores a ``confirm`` decision and waits for an
``approve`` from a dashboard or phone (it expires after ``confirm_timeout_s``); ``alert`` only records and
publishes the decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol

import structlog

from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store.store import Store
from enigma_apex.adapters.store.writer import WriteContext
from enigma_apex.app.guardian import GuardianService
from enigma_apex.app.risk import RiskService
from enigma_apex.config.models import AccountEntry, Settings
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.orders import Bracket, OrderIntent, OrderPurpose, OrderType, Side
from enigma_apex.domain.signals import Direction, Signal
from enigma_apex.domain.symbols import Contract
from enigma_apex.rules.gate import Intent
from enigma_apex.sizing.sizer import SizeResult

log = structlog.get_logger("enigma_apex.pipeline")

Action = Literal["take", "refused", "skip", "confirm", "alert", "expired", "rejected"]
Record = Callable[[WriteContext], str]
Publish = Callable[["AccountDecision"], None]


class OrderDesk(Protocol):
    """Where orders go: stored inside the pipeline's transaction, sent once it has committed."""

    def store_order(self, ctx: WriteContext, intent: OrderIntent, decision_id: str | None) -> Any: ...

    def send_order(self, stored: Any) -> None: ...


@dataclass(frozen=True)
class AccountDecision:
    """What the hub decided for one account on one signal."""

    decision_id: str
    signal_id: str
    account: str | None
    action: Action
    symbol: str
    quantity: int
    reason: str
    verdicts: tuple[dict[str, Any], ...] = ()
    order_keys: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "signal_id": self.signal_id,
            "account": self.account,
            "action": self.action,
            "symbol": self.symbol,
            "quantity": self.quantity,
            "reason": self.reason,
            "verdicts": list(self.verdicts),
            "order_keys": list(self.order_keys),
        }


@dataclass(frozen=True)
class Outcome:
    signal_id: str
    duplicate: bool
    decisions: tuple[AccountDecision, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "signal_id": self.signal_id,
            "duplicate": self.duplicate,
            "decisions": [d.as_dict() for d in self.decisions],
        }


@dataclass
class _Plan:
    """The pure part of one account's decision, computed before anything is written."""

    action: Action
    contract: Contract
    quantity: int = 0
    reason: str = ""
    verdicts: tuple[dict[str, Any], ...] = ()
    sizing: dict[str, Any] = field(default_factory=dict)
    intents: tuple[OrderIntent, ...] = ()


@dataclass
class _Pending:
    signal: Signal
    accounts: list[str]
    expires_at: datetime


def order_key(signal_id: str, account: str) -> str:
    return f"sig:{signal_id}:{account}"


class SignalPipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        guardian: GuardianService,
        risk: RiskService,
        clock: Clock,
        desk: OrderDesk,
        publish: Publish | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.guardian = guardian
        self.risk = risk
        self.clock = clock
        self.desk = desk
        self.publish = publish
        self.quotes: dict[Contract, Decimal] = {}  # last traded price per contract, from executors' market data
        self.pending: dict[str, _Pending] = {}

    # ------------------------------------------------------------------ intake
    def accounts_for(self, signal: Signal) -> list[AccountEntry]:
        group = signal.group or "default"
        return [a for a in self.settings.accounts if a.group == group]

    async def submit(self, signal: Signal, dedup_key: str | None = None, raw: Any = None) -> Outcome:
        """Decide for every account of the signal's group, then store the signal, the decisions and the orders in
        one transaction, and only then send the orders. A repeated ``dedup_key`` stores and sends nothing."""
        accounts = [a.name for a in self.accounts_for(signal)]
        mode = self.settings.signals.default_mode
        if signal.direction is Direction.EXIT and mode == "confirm":
            mode = "auto"  # closing risk never waits for a person
        deadline = self.clock.now() + timedelta(seconds=float(self.settings.signals.confirm_timeout_s))
        plans: list[tuple[str | None, _Plan]]
        if not accounts:
            reason = f"no account is in group {signal.group or 'default'!r}"
            plans = [(None, _Plan("skip", signal.contract, reason=reason))]
        elif mode == "auto":
            plans = await asyncio.to_thread(self._plan_all, signal, accounts)
        elif mode == "confirm":
            reason = f"waiting for approval until {deadline.isoformat(timespec='seconds')}"
            plans = [(a, _Plan("confirm", signal.contract, reason=reason)) for a in accounts]
        else:
            plans = [(a, _Plan("alert", signal.contract, reason="alert mode: not executed")) for a in accounts]

        def first_time(ctx: WriteContext) -> bool:
            return repository.insert_signal(ctx, signal, dedup_key, raw)

        outcome = await self._commit(signal, plans, first_time)
        if outcome.duplicate:
            log.info("signal.duplicate", signal=signal.signal_id, dedup_key=dedup_key)
        elif mode == "confirm" and accounts:
            self.pending[signal.signal_id] = _Pending(signal, accounts, deadline)
        return outcome

    async def approve(self, signal_id: str, actor: str) -> Outcome:
        """Execute a signal waiting in confirm mode (once: a second approval finds nothing pending)."""
        await self.expire_and_record()
        pending = self.pending.pop(signal_id, None)
        if pending is None:
            return Outcome(signal_id, duplicate=True)
        log.info("signal.approved", signal=signal_id, actor=actor)
        plans = await asyncio.to_thread(self._plan_all, pending.signal, pending.accounts)
        return await self._commit(pending.signal, plans)

    async def reject(self, signal_id: str, actor: str) -> Outcome:
        await self.expire_and_record()
        pending = self.pending.pop(signal_id, None)
        if pending is None:
            return Outcome(signal_id, duplicate=True)
        plan = _Plan("rejected", pending.signal.contract, reason=f"rejected by {actor}")
        return await self._commit(pending.signal, [(a, plan) for a in pending.accounts])

    async def expire_and_record(self) -> None:
        """Record an ``expired`` decision for every confirmation past its deadline."""
        now = self.clock.now()
        for signal_id in [sid for sid, p in self.pending.items() if p.expires_at <= now]:
            pending = self.pending.pop(signal_id)
            plan = _Plan("expired", pending.signal.contract, reason="not approved in time")
            await self._commit(pending.signal, [(a, plan) for a in pending.accounts])

    # ------------------------------------------------------------------ one transaction, then the orders leave
    async def _commit(
        self,
        signal: Signal,
        plans: list[tuple[str | None, _Plan]],
        before: Callable[[WriteContext], bool] | None = None,
    ) -> Outcome:
        decided = [(repository.new_id(), account, plan) for account, plan in plans]

        def op(ctx: WriteContext) -> list[Any] | None:
            if before is not None and not before(ctx):
                return None
            stored: list[Any] = []
            for decision_id, account, plan in decided:
                self._record_op(decision_id, signal, account, plan)(ctx)
                stored.extend(self.desk.store_order(ctx, intent, decision_id) for intent in plan.intents)
            return stored

        stored = await self.store.writer.write_async(op)
        if stored is None:
            return Outcome(signal.signal_id, duplicate=True)
        for order in stored:
            self.desk.send_order(order)
        decisions = tuple(
            AccountDecision(
                decision_id,
                signal.signal_id,
                account,
                plan.action,
                str(plan.contract),
                plan.quantity,
                plan.reason,
                plan.verdicts,
                tuple(i.idempotency_key for i in plan.intents),
            )
            for decision_id, account, plan in decided
        )
        if self.publish is not None:
            for decision in decisions:
                self.publish(decision)
        return Outcome(signal.signal_id, False, decisions)

    # ------------------------------------------------------------------ per account
    def _plan_all(self, signal: Signal, accounts: list[str]) -> list[tuple[str | None, _Plan]]:
        return [(account, self.plan(signal, account)) for account in accounts]

    def plan(self, signal: Signal, account: str) -> _Plan:
        """Gate and size one account's order for a signal (no writes)."""
        if signal.direction is Direction.EXIT:
            return self._plan_exit(signal, account)
        contract = signal.contract
        side = Side.BUY if signal.direction is Direction.LONG else Side.SELL
        price = signal.entry if signal.entry is not None else self.quotes.get(contract)
        if price is None:
            return _Plan("refused", contract, reason=f"no entry price in the signal and no market data for {contract}")
        stop = signal.stop
        if stop is None:
            ticks = self.guardian.accounts[account].default_stop_ticks
            if ticks is None:
                return _Plan(
                    "refused",
                    contract,
                    reason="the signal has no stop and the account sets no default_stop_ticks",
                )
            offset = contract.spec.tick_size * ticks
            stop = price - offset if side is Side.BUY else price + offset
        result, _stats = self.risk.size(account, contract, side, price, stop, signal.target)
        if signal.max_quantity is not None:  # the source's own size caps ours (in the contract we trade)
            units = contract.spec.micro_ratio if result.contract != contract else 1
            cap = signal.max_quantity * units
            if result.quantity > cap:
                breakdown = {**result.breakdown, "source_cap": cap}
                result = SizeResult(result.contract, cap, result.code, result.mode, breakdown)
        check = self.guardian.check(
            Intent(account, result.contract, side, max(result.quantity, 1), price, stop, signal.target)
        )
        verdicts: tuple[dict[str, Any], ...] = tuple(
            {"code": v.code.value, "max_quantity": v.max_quantity, "reason": v.reason} for v in check.verdicts
        )
        sizing = {"inputs": {"entry": str(price), "stop": str(stop), "target": _s(signal.target)}, **result.as_dict()}
        if result.quantity <= 0:
            reason = result.code
            gate_reason = result.breakdown.get("gate_reason") or result.breakdown.get("reason")
            if gate_reason:
                reason = f"{result.code}: {gate_reason}"
            return _Plan("refused", result.contract, 0, reason, verdicts, sizing)
        intent = OrderIntent(
            idempotency_key=order_key(signal.signal_id, account),
            account=account,
            contract=result.contract,
            side=side,
            quantity=result.quantity,
            order_type=OrderType.MARKET,
            purpose=OrderPurpose.ENTRY,
            bracket=Bracket(stop=stop, target=signal.target),
        )
        reason = f"{result.mode} size {result.quantity} {result.contract} ({result.code})"
        return _Plan("take", result.contract, result.quantity, reason, verdicts, sizing, (intent,))

    def _plan_exit(self, signal: Signal, account: str) -> _Plan:
        book = self.guardian.book.positions.get(account, {})
        family = signal.contract.spec.family  # an exit on NQ also closes MNQ: one instrument family
        held = [(c, q) for c, q in sorted(book.items(), key=lambda kv: str(kv[0])) if q and c.spec.family == family]
        if not held:
            return _Plan("skip", signal.contract, reason=f"no open position in {signal.contract}")
        intents = tuple(
            OrderIntent(
                idempotency_key=f"{order_key(signal.signal_id, account)}:{_code(contract)}",
                account=account,
                contract=contract,
                side=Side.SELL if quantity > 0 else Side.BUY,
                quantity=abs(quantity),
                purpose=OrderPurpose.EXIT,
            )
            for contract, quantity in held
        )
        what = ", ".join(f"{q:+d} {c}" for c, q in held)
        return _Plan("take", held[0][0], sum(abs(q) for _, q in held), f"exit {what}", intents=intents)

    # ------------------------------------------------------------------ records
    def _record_op(self, decision_id: str, signal: Signal, account: str | None, plan: _Plan) -> Record:
        def op(ctx: WriteContext) -> str:
            return repository.insert_decision(
                ctx,
                signal_id=signal.signal_id,
                account=account,
                action=plan.action,
                quantity=plan.quantity,
                ai={"used": False, "reason": "no analyst in the path"},
                verdicts=list(plan.verdicts),
                sizing={**plan.sizing, "reason": plan.reason},
                decision_id=decision_id,
            )

        return op


def _code(contract: Contract) -> str:
    """MNQZ26: a contract in characters an idempotency key may hold."""
    return f"{contract.root}{contract.month_code}{contract.year % 100:02d}"


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
