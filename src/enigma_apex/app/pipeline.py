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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal, Protocol

import structlog

from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store.store import Store
from enigma_apex.adapters.store.writer import WriteContext
from enigma_apex.analysis.answer import NOT_ANALYSED, Analysis
from enigma_apex.app.analyst import AnalystService
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
    score: int | None = None  # the analyst's (or the scorer's) score of the signal, 0-100

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
            "score": self.score,
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
    reversal: bool = False  # these intents close an opposite position; the entry follows the close fill


@dataclass
class _Pending:
    signal: Signal
    accounts: list[str]
    expires_at: datetime
    analysis: Analysis
    analysis_id: str | None


@dataclass
class _Reversal:
    """An entry waiting for the fill that closes the opposite position."""

    signal: Signal
    account: str
    family: str
    deadline: datetime
    analysis: Analysis
    analysis_id: str | None


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
        analyst: AnalystService | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.guardian = guardian
        self.risk = risk
        self.clock = clock
        self.desk = desk
        self.publish = publish
        self.analyst = analyst
        self.quotes: dict[Contract, Decimal] = {}  # last traded price per contract, from executors' market data
        self.pending: dict[str, _Pending] = {}
        self.reversals: dict[tuple[str, str], _Reversal] = {}  # (signal, account) → entry waiting for a close fill

    async def close(self) -> None:
        """Release the analyst's HTTP connections (at shutdown)."""
        if self.analyst is not None:
            await self.analyst.close()

    # ------------------------------------------------------------------ intake
    def accounts_for(self, signal: Signal) -> list[AccountEntry]:
        group = signal.group or "default"
        return [a for a in self.settings.accounts if a.group == group]

    def group_mode(self, group: str) -> tuple[str, Decimal, bool]:
        """(mode, approval window in seconds, analyse?) of an account group."""
        signals = self.settings.signals
        cfg = self.settings.groups.get(group)
        if cfg is None:
            return signals.default_mode, signals.confirm_timeout_s, True
        return cfg.mode or signals.default_mode, cfg.confirm_timeout_s or signals.confirm_timeout_s, cfg.analyse

    async def preview(self, signal: Signal) -> list[dict[str, Any]]:
        """What each account of the signal's group would do now (gate and size, no analyst, nothing stored)."""
        accounts = [a.name for a in self.accounts_for(signal)]
        plans = await asyncio.to_thread(self._plan_all, signal, accounts, NOT_ANALYSED)
        return [
            {
                "account": account,
                "action": "take" if plan.intents else plan.action,
                "symbol": str(plan.contract),
                "quantity": plan.quantity,
                "reason": plan.reason,
                "verdicts": list(plan.verdicts),
                "sizing": plan.sizing,
            }
            for account, plan in plans
        ]

    async def submit(self, signal: Signal, dedup_key: str | None = None, raw: Any = None) -> Outcome:
        """Analyse, then decide for every account of the signal's group, then store the signal, the analysis,
        the decisions and the orders in one transaction, and only then send the orders. A repeated
        ``dedup_key`` stores and sends nothing."""
        with self.guardian.telemetry.timed(self.guardian.telemetry.pipeline):
            return await self._submit(signal, dedup_key, raw)

    async def _submit(self, signal: Signal, dedup_key: str | None, raw: Any) -> Outcome:
        accounts = [a.name for a in self.accounts_for(signal)]
        group = signal.group or "default"
        mode, window, analyse = self.group_mode(group)
        exit_signal = signal.direction is Direction.EXIT
        if exit_signal and mode == "confirm":
            mode = "auto"  # closing risk never waits for a person
        analysis = NOT_ANALYSED
        if accounts and analyse and not exit_signal and self.analyst is not None:
            analysis = await self.analyst.analyse(signal, accounts)
        analysis_id = repository.new_id() if analysis.source != "none" else None
        deadline = self.clock.now() + timedelta(seconds=float(window))
        plans: list[tuple[str | None, _Plan]]
        if not accounts:
            reason = f"no account is in group {group!r}"
            plans = [(None, _Plan("skip", signal.contract, reason=reason))]
        elif mode == "auto":
            plans = await asyncio.to_thread(self._plan_all, signal, accounts, analysis)
        elif mode == "confirm":
            reason = f"waiting for approval until {deadline.isoformat(timespec='seconds')}"
            plans = [(a, _Plan("confirm", self.contract_for(signal, a), reason=reason)) for a in accounts]
        else:
            plans = [
                (a, _Plan("alert", self.contract_for(signal, a), reason="alert mode: not executed")) for a in accounts
            ]

        def first_time(ctx: WriteContext) -> bool:
            if not repository.insert_signal(ctx, signal, dedup_key, raw):
                return False
            if analysis_id is not None:
                repository.insert_analysis(ctx, signal.signal_id, analysis, analysis_id)
            return True

        outcome = await self._commit(signal, plans, first_time, analysis, analysis_id)
        if outcome.duplicate:
            log.info("signal.duplicate", signal=signal.signal_id, dedup_key=dedup_key)
        elif mode == "confirm" and accounts:
            self.pending[signal.signal_id] = _Pending(signal, accounts, deadline, analysis, analysis_id)
        return outcome

    async def approve(self, signal_id: str, actor: str) -> Outcome:
        """Execute a signal waiting in confirm mode (once: a second approval finds nothing pending)."""
        await self.expire_and_record()
        pending = self.pending.pop(signal_id, None)
        if pending is None:
            return Outcome(signal_id, duplicate=True)
        log.info("signal.approved", signal=signal_id, actor=actor)
        plans = await asyncio.to_thread(self._plan_all, pending.signal, pending.accounts, pending.analysis)
        return await self._commit(pending.signal, plans, None, pending.analysis, pending.analysis_id)

    async def reject(self, signal_id: str, actor: str) -> Outcome:
        await self.expire_and_record()
        pending = self.pending.pop(signal_id, None)
        if pending is None:
            return Outcome(signal_id, duplicate=True)
        plan = _Plan("rejected", pending.signal.contract, reason=f"rejected by {actor}")
        plans: list[tuple[str | None, _Plan]] = [(a, plan) for a in pending.accounts]
        return await self._commit(pending.signal, plans, None, pending.analysis, pending.analysis_id)

    async def expire_and_record(self) -> None:
        """Record an ``expired`` decision for every confirmation, and every reversal whose close has not filled,
        past its deadline."""
        now = self.clock.now()
        for key in [k for k, r in self.reversals.items() if r.deadline <= now]:
            rev = self.reversals.pop(key)
            reason = "the close of the opposite position did not fill in time: no entry"
            late: list[tuple[str | None, _Plan]] = [(rev.account, _Plan("expired", rev.signal.contract, reason=reason))]
            await self._commit(rev.signal, late, None, rev.analysis, rev.analysis_id)
        for signal_id in [sid for sid, p in self.pending.items() if p.expires_at <= now]:
            pending = self.pending.pop(signal_id)
            plan = _Plan("expired", pending.signal.contract, reason="not approved in time")
            plans: list[tuple[str | None, _Plan]] = [(a, plan) for a in pending.accounts]
            await self._commit(pending.signal, plans, None, pending.analysis, pending.analysis_id)

    async def position_changed(self, account: str) -> None:
        """After a fill: a reversal whose close has filled (the family is flat) places its entry now, sized on
        the account as it is after the close."""
        waiting = [k for k, r in self.reversals.items() if r.account == account]
        if not waiting:
            return
        held = await asyncio.to_thread(self._stored_positions, account)
        book = self.guardian.book.positions.setdefault(account, {})
        for contract in [c for c in book if c not in held]:  # the fills are the truth until the executor reports
            del book[contract]
        book.update(held)
        for key in waiting:
            rev = self.reversals[key]
            if any(c.spec.family == rev.family and q for c, q in held.items()):
                continue  # not flat yet (a partial fill)
            del self.reversals[key]
            plan = await asyncio.to_thread(self.plan, rev.signal, account, rev.analysis, True)
            await self._commit(rev.signal, [(account, plan)], None, rev.analysis, rev.analysis_id)

    def _stored_positions(self, account: str) -> dict[Contract, int]:
        with self.store.engine.connect() as conn:
            return {p.contract: p.quantity for p in repository.list_positions(conn, account)}

    # ------------------------------------------------------------------ one transaction, then the orders leave
    async def _commit(
        self,
        signal: Signal,
        plans: list[tuple[str | None, _Plan]],
        before: Callable[[WriteContext], bool] | None = None,
        analysis: Analysis = NOT_ANALYSED,
        analysis_id: str | None = None,
    ) -> Outcome:
        decided = [(repository.new_id(), account, plan) for account, plan in plans]
        ai = {"analysis_id": analysis_id, **analysis.as_dict()}

        def op(ctx: WriteContext) -> list[Any] | None:
            if before is not None and not before(ctx):
                return None
            stored: list[Any] = []
            for decision_id, account, plan in decided:
                self._record_op(decision_id, signal, account, plan, ai)(ctx)
                stored.extend(self.desk.store_order(ctx, intent, decision_id) for intent in plan.intents)
            return stored

        stored = await self.store.writer.write_async(op)
        if stored is None:
            return Outcome(signal.signal_id, duplicate=True)
        for _decision_id, account, plan in decided:
            if plan.reversal and account is not None:
                deadline = self.clock.now() + timedelta(seconds=float(self.settings.signals.reversal_timeout_s))
                family = signal.contract.spec.family
                self.reversals[(signal.signal_id, account)] = _Reversal(
                    signal, account, family, deadline, analysis, analysis_id
                )
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
                analysis.score if analysis.source != "none" else None,
            )
            for decision_id, account, plan in decided
        )
        if self.publish is not None:
            for decision in decisions:
                self.publish(decision)
        return Outcome(signal.signal_id, False, decisions)

    # ------------------------------------------------------------------ per account
    def _plan_all(
        self, signal: Signal, accounts: list[str], analysis: Analysis = NOT_ANALYSED
    ) -> list[tuple[str | None, _Plan]]:
        return [(account, self.plan(signal, account, analysis)) for account in accounts]

    def contract_for(self, signal: Signal, account: str) -> Contract:
        """The contract this account trades for the signal: its symbol map may swap mini and micro."""
        entry = self.guardian.accounts.get(account)
        root = entry.symbols.get(signal.contract.root) if entry is not None else None
        if root is None:
            return signal.contract
        return Contract(root, signal.contract.year, signal.contract.month)

    def plan(self, signal: Signal, account: str, analysis: Analysis = NOT_ANALYSED, after_close: bool = False) -> _Plan:
        """Gate and size one account's order for a signal (no writes). An entry against an open position
        becomes a reversal: close first (never refused), enter after the close fill (``after_close``)."""
        if signal.direction is Direction.EXIT:
            return self._plan_exit(signal, account)
        contract = self.contract_for(signal, account)
        side = Side.BUY if signal.direction is Direction.LONG else Side.SELL
        if not after_close:
            closing = self._plan_exit(signal, account, against=side, suffix=":close")
            if closing.intents:
                what = closing.reason.removeprefix("exit ")
                reason = f"reversal: closing {what} first; the {signal.direction.value} entry follows its fill"
                return replace(closing, reason=reason, reversal=True)
        if analysis.action == "skip":
            why = analysis.fallback_reason and f"; scorer used: {analysis.fallback_reason}"
            return _Plan(
                "skip", contract, reason=f"analyst ({analysis.source}) says skip, score {analysis.score}{why or ''}"
            )
        side = Side.BUY if signal.direction is Direction.LONG else Side.SELL
        price = (
            signal.entry if signal.entry is not None else self.quotes.get(contract, self.quotes.get(signal.contract))
        )
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
        confidence = analysis.confidence if analysis.source != "none" else None
        result, _stats = self.risk.size(account, contract, side, price, stop, signal.target, confidence)
        entry = self.guardian.accounts[account]
        result = _scaled(result, contract, signal, entry.multiplier, analysis, self.settings.ai.reduce_factor)
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
            action: Action = "skip" if result.code in ("ANALYST_REDUCE", "MULTIPLIER") else "refused"
            return _Plan(action, result.contract, 0, reason, verdicts, sizing)
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

    def _plan_exit(self, signal: Signal, account: str, against: Side | None = None, suffix: str = "") -> _Plan:
        """Close the signal's instrument family on the account (``against``: only a position opposite to an
        entry on that side, for a reversal)."""
        book = self.guardian.book.positions.get(account, {})
        family = signal.contract.spec.family  # an exit on NQ also closes MNQ: one instrument family
        held = [(c, q) for c, q in sorted(book.items(), key=lambda kv: str(kv[0])) if q and c.spec.family == family]
        if against is not None:
            held = [(c, q) for c, q in held if (q > 0) != (against is Side.BUY)]
        if not held:
            return _Plan("skip", signal.contract, reason=f"no open position in {signal.contract}")
        intents = tuple(
            OrderIntent(
                idempotency_key=f"{order_key(signal.signal_id, account)}{suffix}:{_code(contract)}",
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
    def _record_op(
        self, decision_id: str, signal: Signal, account: str | None, plan: _Plan, ai: dict[str, Any]
    ) -> Record:
        def op(ctx: WriteContext) -> str:
            return repository.insert_decision(
                ctx,
                signal_id=signal.signal_id,
                account=account,
                action=plan.action,
                quantity=plan.quantity,
                ai=ai,
                verdicts=list(plan.verdicts),
                sizing={**plan.sizing, "reason": plan.reason},
                decision_id=decision_id,
            )

        return op


def _scaled(
    result: SizeResult,
    traded: Contract,
    signal: Signal,
    multiplier: Decimal,
    analysis: Analysis,
    reduce_factor: Decimal,
) -> SizeResult:
    """The sizer's result after the source's own size (times the account's multiplier), a multiplier below 1 and
    the analyst's ``reduce``: each can only lower it. Every step is kept in the breakdown."""
    quantity, code, steps = result.quantity, result.code, []
    if quantity <= 0:
        return result
    units = traded.spec.micro_ratio if result.contract != traded else 1  # the sizer may have moved to micros
    if signal.max_quantity is not None:  # the source's size caps ours (copy-trading: times the multiplier)
        cap = int((Decimal(signal.max_quantity) * multiplier * units).to_integral_value(rounding=ROUND_FLOOR))
        if quantity > cap:
            quantity = cap
            steps.append({"step": "source quantity x multiplier", "cap": cap})
            code = "MULTIPLIER" if cap == 0 else code
    elif multiplier < 1:
        quantity = int((quantity * multiplier).to_integral_value(rounding=ROUND_FLOOR))
        steps.append({"step": f"multiplier {multiplier}", "after": quantity})
        code = "MULTIPLIER" if quantity == 0 else code
    if quantity and analysis.action == "reduce":
        quantity = int((quantity * reduce_factor).to_integral_value(rounding=ROUND_FLOOR))
        steps.append({"step": f"analyst reduce x{reduce_factor}", "after": quantity})
        code = "ANALYST_REDUCE" if quantity == 0 else code
    if not steps:
        return result
    breakdown = {**result.breakdown, "after_sizer": steps}
    if quantity == 0:
        breakdown["reason"] = {
            "MULTIPLIER": "the account's multiplier rounds the size to zero",
            "ANALYST_REDUCE": "the analyst's reduce rounds the size to zero",
        }.get(code, "size rounds to zero")
    return SizeResult(result.contract, quantity, code, result.mode, breakdown)


def _code(contract: Contract) -> str:
    """MNQZ26: a contract in characters an idempotency key may hold."""
    return f"{contract.root}{contract.month_code}{contract.year % 100:02d}"


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
