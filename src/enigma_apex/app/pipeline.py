"""The decision pipeline: signal → stored (de-duplicated) → routed to its group's accounts → planned per account
(target position, ``planning/planner.py``) → compliance gate and sizing for entries → decision stored → orders and
cancels stored and sent.

Every step lands in the database before anything leaves the hub: the signal row, then per account one decision
row (inputs, verdicts, size breakdown) committed in the same transaction as the orders it causes. Order keys are
derived from the signal and the account (``sig:<signal>:<account>``, closes ``…:c<phase>:<contract>``), so handling
a signal twice can never place a second order. Closes and cancels are never refused: a flatten or an exit passes
whatever the account's state.

Signals of one group and instrument family are handled one at a time, in the order they arrived, so an exit that
follows an entry always sees it (and cancels it when it has not filled). An entry that must wait — a reversal's
entry for its close fill, an entry behind a cancel — is planned again once those orders are done; the accounts of
one household wait for each other, so a signal that reverses all of them closes every account before any opens.

Modes (``[signals] default_mode``): ``auto`` executes; ``confirm`` executes the closes at once and holds the entry
for an ``approve`` from a dashboard or phone (it expires after ``confirm_timeout_s``); ``alert`` only records and
publishes the decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
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
from enigma_apex.domain.orders import (
    Bracket,
    OrderIntent,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Side,
)
from enigma_apex.domain.signals import Direction, Signal
from enigma_apex.domain.symbols import Contract, Notation, format_symbol
from enigma_apex.planning import planner
from enigma_apex.rules.gate import Intent
from enigma_apex.sizing.sizer import SizeResult

log = structlog.get_logger("enigma_apex.pipeline")

Action = Literal["take", "refused", "skip", "confirm", "alert", "expired", "rejected"]
Record = Callable[[WriteContext], str]
Publish = Callable[["AccountDecision"], None]

MAX_PHASES = 4  # a plan looked at again more often than this is left to the operator (a close keeps failing)


class OrderDesk(Protocol):
    """Where orders go: stored inside the pipeline's transaction, sent once it has committed."""

    def store_order(self, ctx: WriteContext, intent: OrderIntent, decision_id: str | None) -> Any: ...

    def send_order(self, stored: Any) -> None: ...

    def store_cancel(self, ctx: WriteContext, order_key: str, reason: str) -> Any: ...

    def send_cancel(self, stored: Any) -> None: ...

    def order_types(self, executor: str) -> frozenset[OrderType]: ...


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
    """One account's decision, computed before anything is written."""

    action: Action
    contract: Contract
    quantity: int = 0
    reason: str = ""
    verdicts: tuple[dict[str, Any], ...] = ()
    sizing: dict[str, Any] = field(default_factory=dict)
    intents: tuple[OrderIntent, ...] = ()  # closes first, then the entry
    cancels: tuple[str, ...] = ()  # working orders to cancel
    wait_for: tuple[str, ...] = ()  # orders that must be done before this account is planned again
    waits: bool = False  # planned again once ``wait_for`` are done (the entry, or a second look, follows)
    wants_entry: bool = False  # the plan opens (now or after the wait)
    quiet: bool = False  # nothing to record (a second look that finds nothing to do, an entry held for a peer)
    planned: planner.Plan | None = None  # the planner's plan (a second look goes on towards its target)


@dataclass
class _Pending:
    signal: Signal
    accounts: list[str]
    expires_at: datetime
    analysis: Analysis
    analysis_id: str | None
    planned: dict[str, planner.Plan] = field(default_factory=dict)  # per account: what the approval goes on with


@dataclass
class _Wait:
    """An account whose plan goes on once some orders are done (a reversal's close, an entry being cancelled)."""

    signal: Signal
    account: str
    household: str
    keys: tuple[str, ...]
    deadline: datetime
    analysis: Analysis
    analysis_id: str | None
    phase: int
    wants_entry: bool
    planned: planner.Plan | None = None
    settled: bool = False


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
        self.pending_listeners: list[Callable[[str, list[str]], None]] = []  # hear a signal start waiting
        self._stored_early: set[str] = set()  # signals a webhook recorded before their decision
        self.waits: dict[tuple[str, str], _Wait] = {}  # (signal, account) → the rest of its plan
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._resting: dict[str, tuple[datetime, str]] | None = None  # resting entry → (expiry, account)
        self._book_lock = threading.Lock()  # the guardian's book is refreshed from the database in worker threads
        self._settling: dict[str, int] = {}  # fills being recorded, per account
        self._settled = asyncio.Event()
        self._settled.set()
        self._behind: set[asyncio.Task[None]] = set()  # plans going on after their orders are done
        self._working: dict[str, list[repository.WorkingOrder]] = {}  # per account, refreshed on every change
        self._analyses: dict[tuple[Any, ...], tuple[datetime, Analysis]] = {}  # a previewed signal's analysis

    async def close(self) -> None:
        """Release the analyst's HTTP connections (at shutdown)."""
        for task in list(self._behind):
            task.cancel()
        if self.analyst is not None:
            await self.analyst.close()

    # ------------------------------------------------------------------ intake
    async def store_early(self, signal: Signal, dedup_key: str | None, raw: Any) -> bool:
        """Record a signal now, before its decision is done (a webhook must not answer 2xx for an alert that is
        not stored, and the decision may wait behind the group's lock or the analyst). The decision's own
        transaction then finds it stored. True: stored (now or by its decision already); False: a duplicate."""
        self._stored_early.add(signal.signal_id)

        def op(ctx: WriteContext) -> bool:
            if repository.signal_exists(ctx.conn, signal.signal_id):
                return True
            return repository.insert_signal(ctx, signal, dedup_key, raw)

        return await self.store.writer.write_async(op)

    def waiting_accounts(self, signal_id: str) -> frozenset[str]:
        """The accounts a signal waiting in confirm mode would trade (empty: it is not waiting)."""
        pending = self.pending.get(signal_id)
        return frozenset(pending.accounts) if pending is not None else frozenset()

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

    def unsupported(self, signal: Signal) -> str | None:
        """Why an account of the signal's group cannot take its entry order type (None when all can)."""
        if signal.order_type is OrderType.MARKET or signal.closes_only:
            return None
        for account in self.accounts_for(signal):
            types = self.desk.order_types(account.executor)
            if signal.order_type not in types:
                kinds = ", ".join(sorted(t.value for t in types))
                return (
                    f"account {account.name}'s executor {account.executor!r} cannot place a "
                    f"{signal.order_type.value} order (it places: {kinds})"
                )
        return None

    async def preview(self, signal: Signal) -> list[dict[str, Any]]:
        """What each account of the signal's group would do now: the decision's own path (the group's mode, the
        analyst, planning, gating and sizing), nothing stored or sent. The analysis is kept a minute for the same
        signal, so sending what was previewed decides with the same analysis."""
        accounts = [a.name for a in self.accounts_for(signal)]
        mode, _window, _analyse = self.group_mode(signal.group or "default")
        analysis = await self._analysis(signal, accounts, mode, keep=True)
        plans: list[tuple[str | None, _Plan]]
        if mode == "alert":
            plans = [(a, _Plan("alert", self.contract_for(signal, a), reason="alert mode: not executed"))
                     for a in accounts]  # fmt: skip
        else:
            plans = await asyncio.to_thread(self._plan_all, signal, accounts, analysis, 1)
        return [
            {
                "account": account,
                "action": plan.action,
                "mode": mode,
                "symbol": str(plan.contract),
                "quantity": plan.quantity,
                "reason": plan.reason,
                "verdicts": list(plan.verdicts),
                "sizing": plan.sizing,
                "score": analysis.score if analysis.source != "none" else None,
                "analyst": analysis.source,
            }
            for account, plan in plans
        ]

    async def _analysis(self, signal: Signal, accounts: list[str], mode: str, *, keep: bool = False) -> Analysis:
        """The analyst's view of a signal (none for exits, alert mode, groups that do not analyse). A preview
        keeps its answer a minute (``keep``): the same signal sent within it is decided with that answer."""
        _mode, _window, analyse = self.group_mode(signal.group or "default")
        if not accounts or not analyse or signal.closes_only or mode == "alert" or self.analyst is None:
            return NOT_ANALYSED
        now = self.clock.now()
        key = _fingerprint(signal)
        kept = self._analyses.get(key) if keep else self._analyses.pop(key, None)
        if kept is not None and kept[0] > now:
            return kept[1]
        analysis = await self.analyst.analyse(signal, accounts)
        for old in [k for k, (until, _a) in self._analyses.items() if until <= now]:
            del self._analyses[old]
        if keep and len(self._analyses) < 256:
            self._analyses[key] = (now + timedelta(seconds=60), analysis)
        return analysis

    @contextlib.contextmanager
    def settling(self, account: str) -> Iterator[None]:
        """A fill of the account is being recorded (and the book refreshed from it): signals for the account are
        planned once it is done, so a signal that follows a fill by a millisecond sees the position it made."""
        self._settling[account] = self._settling.get(account, 0) + 1
        self._settled.clear()
        try:
            yield
        finally:
            self._settling[account] -= 1
            if not self._settling[account]:
                del self._settling[account]
            if not self._settling:
                self._settled.set()

    async def _after_fills(self, accounts: list[str]) -> None:
        """Wait (at most about a second) until no fill of these accounts is half recorded."""
        for _ in range(20):
            if not any(a in self._settling for a in accounts):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), 0.05)

    def _lock(self, signal: Signal) -> asyncio.Lock:
        key = (signal.group or "default", signal.contract.spec.family)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def submit(self, signal: Signal, dedup_key: str | None = None, raw: Any = None) -> Outcome:
        """Analyse, then plan every account of the signal's group, then store the signal, the analysis, the
        decisions, the orders and the cancels in one transaction, and only then send them. A repeated
        ``dedup_key`` stores and sends nothing. Signals of one group and family go through one at a time."""
        with self.guardian.telemetry.timed(self.guardian.telemetry.pipeline):
            await self._after_fills([a.name for a in self.accounts_for(signal)])
            async with self._lock(signal):
                return await self._submit(signal, dedup_key, raw)

    async def _submit(self, signal: Signal, dedup_key: str | None, raw: Any) -> Outcome:
        accounts = [a.name for a in self.accounts_for(signal)]
        group = signal.group or "default"
        mode, window, _analyse = self.group_mode(group)
        closing = signal.closes_only
        if closing and mode == "confirm":
            mode = "auto"  # closing risk never waits for a person
        analysis = await self._analysis(signal, accounts, mode)
        analysis_id = repository.new_id() if analysis.source != "none" else None
        deadline = self.clock.now() + timedelta(seconds=float(window))
        plans: list[tuple[str | None, _Plan]]
        if not accounts:
            plans = [(None, _Plan("skip", signal.contract, reason=f"no account is in group {group!r}"))]
        elif mode == "alert":
            plans = [
                (a, _Plan("alert", self.contract_for(signal, a), reason="alert mode: not executed")) for a in accounts
            ]
        else:
            plans = await asyncio.to_thread(self._plan_all, signal, accounts, analysis, 1, mode == "confirm")
            if mode == "confirm":
                waiting = f"waiting for approval until {deadline.isoformat(timespec='seconds')}"
                plans = [
                    (a, replace(p, reason=f"{p.reason}; {waiting}") if p.action == "confirm" else p) for a, p in plans
                ]

        def first_time(ctx: WriteContext) -> bool:
            stored_early = signal.signal_id in self._stored_early and repository.signal_exists(
                ctx.conn, signal.signal_id
            )
            if not stored_early and not repository.insert_signal(ctx, signal, dedup_key, raw):
                return False
            if analysis_id is not None:
                repository.insert_analysis(ctx, signal.signal_id, analysis, analysis_id)
            return True

        superseded = self._superseded_by(signal) if closing else []
        timeout = timedelta(seconds=float(self.settings.signals.reversal_timeout_s))
        try:
            outcome = await self._commit(
                signal, plans, first_time, analysis, analysis_id, 1, self.clock.now() + timeout
            )
        finally:
            self._stored_early.discard(signal.signal_id)
        if outcome.duplicate:
            log.info("signal.duplicate", signal=signal.signal_id, dedup_key=dedup_key)
            return outcome
        for old in superseded:
            await self._expire_pending(old, f"superseded by the later exit {signal.signal_id}")
        held = {a: p.planned for a, p in plans if a is not None and p.action == "confirm"}
        if mode == "confirm" and held:
            planned = {a: p for a, p in held.items() if p is not None}
            self.pending[signal.signal_id] = _Pending(signal, list(held), deadline, analysis, analysis_id, planned)
            for listener in self.pending_listeners:
                try:
                    listener(signal.signal_id, list(held))
                except Exception:  # a listener's failure never touches the signal
                    log.exception("pipeline.listener_failed", signal=signal.signal_id)
        return outcome

    def _superseded_by(self, signal: Signal) -> list[str]:
        """Signals of the same group and family waiting for approval: an exit that follows ends them."""
        family = signal.contract.spec.family
        return [
            sid
            for sid, p in self.pending.items()
            if (p.signal.group or "default") == (signal.group or "default") and p.signal.contract.spec.family == family
        ]

    def _take_pending(self, signal_id: str, accounts: Collection[str] | None) -> _Pending | None:
        """Take the named accounts (None: all) out of a waiting signal: the part to approve or reject now. None
        when the signal does not wait, or not for one of these accounts; the rest keeps waiting."""
        pending = self.pending.get(signal_id)
        if pending is None:
            return None
        wanted = pending.accounts if accounts is None else [a for a in pending.accounts if a in set(accounts)]
        if not wanted or (accounts is not None and set(accounts) - set(pending.accounts)):
            return None
        rest = [a for a in pending.accounts if a not in wanted]
        if rest:
            self.pending[signal_id] = replace(pending, accounts=rest)
        else:
            del self.pending[signal_id]
        return replace(pending, accounts=wanted)

    async def approve(self, signal_id: str, actor: str, accounts: Collection[str] | None = None) -> Outcome:
        """Execute a signal waiting in confirm mode for these accounts (None: every account it waits for), once:
        a second approval finds nothing pending."""
        await self.expire_and_record()
        pending = self.pending.get(signal_id)
        if pending is None:
            return Outcome(signal_id, duplicate=True)
        async with self._lock(pending.signal):
            taken = self._take_pending(signal_id, accounts)
            if taken is None:
                return Outcome(signal_id, duplicate=True)
            log.info("signal.approved", signal=signal_id, actor=actor, accounts=taken.accounts)
            plans = await asyncio.to_thread(
                self._plan_all, taken.signal, taken.accounts, taken.analysis, 2, False, None, taken.planned
            )
            deadline = self.clock.now() + timedelta(seconds=float(self.settings.signals.reversal_timeout_s))
            return await self._commit(taken.signal, plans, None, taken.analysis, taken.analysis_id, 2, deadline)

    async def reject(self, signal_id: str, actor: str, accounts: Collection[str] | None = None) -> Outcome:
        await self.expire_and_record()
        taken = self._take_pending(signal_id, accounts)
        if taken is None:
            return Outcome(signal_id, duplicate=True)
        plan = _Plan("rejected", taken.signal.contract, reason=f"rejected by {actor}")
        plans: list[tuple[str | None, _Plan]] = [(a, plan) for a in taken.accounts]
        return await self._commit(taken.signal, plans, None, taken.analysis, taken.analysis_id, 2, None)

    def waiting(self) -> list[dict[str, Any]]:
        """Every signal waiting for approval, per account, with what approving it would do now (the same
        planning and sizing as the approval, with the analysis it was given; nothing is stored)."""
        out = []
        for signal_id, pending in list(self.pending.items()):
            for account in pending.accounts:
                plan = self.plan(pending.signal, account, pending.analysis, 2, False, None,
                                 pending.planned.get(account))  # fmt: skip
                out.append(
                    {
                        "signal_id": signal_id,
                        "account": account,
                        "symbol": str(plan.contract),
                        "direction": pending.signal.direction.value,
                        "source": pending.signal.source.value,
                        "entry": _s(pending.signal.entry_price),
                        "stop": _s(pending.signal.stop),
                        "target": _s(pending.signal.target),
                        "expires_at": pending.expires_at,
                        "score": pending.analysis.score if pending.analysis.source != "none" else None,
                        "analyst": pending.analysis.source,
                        "action": plan.action if plan.action != "confirm" else "take",
                        "quantity": plan.quantity,
                        "reason": plan.reason,
                        "verdicts": list(plan.verdicts),
                    }
                )
        return out

    async def _expire_pending(self, signal_id: str, reason: str) -> None:
        pending = self.pending.pop(signal_id, None)
        if pending is None:
            return
        plan = _Plan("expired", pending.signal.contract, reason=reason)
        plans: list[tuple[str | None, _Plan]] = [(a, plan) for a in pending.accounts]
        await self._commit(pending.signal, plans, None, pending.analysis, pending.analysis_id, 2, None)

    async def expire_and_record(self) -> None:
        """Past their deadline: confirmations expire; waiting plans go on with what they have (a close that did
        not fill: no entry); resting entries older than ``signals.entry_order_ttl_s`` are cancelled."""
        now = self.clock.now()
        late = [w for w in self.waits.values() if w.deadline <= now]
        for wait in late:
            if self.waits.get((wait.signal.signal_id, wait.account)) is not wait:
                continue
            if wait.settled:
                await self._continue([wait], deadline_passed=True)
                continue
            del self.waits[(wait.signal.signal_id, wait.account)]
            reason = (
                "the close of the opposite position did not fill in time: no entry"
                if wait.wants_entry
                else "the orders being closed or cancelled were not confirmed in time; check the account"
            )
            plan = _Plan("expired", wait.signal.contract, reason=reason)
            await self._commit(
                wait.signal, [(wait.account, plan)], None, wait.analysis, wait.analysis_id, wait.phase, None
            )
        for signal_id in [sid for sid, p in self.pending.items() if p.expires_at <= now]:
            await self._expire_pending(signal_id, "not approved in time")
        await self._expire_resting(now)

    # ------------------------------------------------------------------ waiting plans go on
    async def fill_recorded(self, account: str) -> None:
        """After a fill is recorded, in one worker thread (one hop, not one per step): the guardian counts the fill,
        the account's book follows the recorded fills and orders, and the trade statistics take it in (last: what
        the gate reads comes first). Then the account's waiting plans are looked at (a reversal enters after its
        close fill)."""
        await asyncio.to_thread(self._after_fill, account)
        await self._plans_may_go_on(account)

    def _after_fill(self, account: str) -> None:
        self.guardian.fill(account)
        self._refresh_positions(account)
        self.refresh_working(account)
        self.risk.refresh(account)

    def _refresh_positions(self, account: str) -> None:
        """The book's positions from the recorded fills (the truth until the executor reports). Read and set under
        one lock: a refresh that reads later always sets later, so a stale read never overwrites a newer one."""
        with self._book_lock:
            held = self._stored_positions(account)
            book = self.guardian.book.positions.setdefault(account, {})
            for contract in [c for c in book if c not in held]:
                del book[contract]
            book.update(held)

    async def orders_changed(self, account: str) -> None:
        """An order of the account reached a final state (or filled): its waiting plans may go on."""
        await asyncio.to_thread(self.refresh_working, account)
        await self._plans_may_go_on(account)

    async def _plans_may_go_on(self, account: str) -> None:
        """The plans waiting on the account's orders whose orders are all done (and their peers') go on."""
        mine = [w for w in self.waits.values() if w.account == account and not w.settled]
        if not mine:
            return
        states = await asyncio.to_thread(self._states, [k for w in mine for k in w.keys])
        for wait in mine:
            if all(states.get(k, (OrderStatus.CANCELLED, ""))[0].is_terminal for k in wait.keys):
                wait.settled = True
        ready: list[_Wait] = []
        for wait in mine:
            if not wait.settled:
                continue
            peers = [
                w
                for w in self.waits.values()
                if w.signal.signal_id == wait.signal.signal_id and w.household == wait.household
            ]
            if all(w.settled for w in peers):
                ready.extend(w for w in peers if w not in ready)
        if ready:  # behind the report being handled: the executor's next frames are not held up by the lock
            task = asyncio.create_task(self._continue(ready))
            self._behind.add(task)
            task.add_done_callback(self._done_behind)

    async def _continue(self, waits: list[_Wait], *, deadline_passed: bool = False) -> None:
        """Plan settled accounts again (phase + 1): the entry of a reversal, a second look after cancels. Past the
        deadline a plan that would wait again is not waited for (the next look records it as expired)."""
        for wait in waits:
            self.waits.pop((wait.signal.signal_id, wait.account), None)
        by_signal: dict[str, list[_Wait]] = {}
        for wait in waits:
            by_signal.setdefault(wait.signal.signal_id, []).append(wait)
        for group in by_signal.values():
            first = group[0]
            async with self._lock(first.signal):
                phase = first.phase + 1
                accounts = [w.account for w in group]
                previous = {w.account: w for w in group}
                planned = {w.account: w.planned for w in group if w.planned is not None}
                plans = await asyncio.to_thread(
                    self._plan_all, first.signal, accounts, first.analysis, phase, False, previous, planned
                )
                deadline = None if deadline_passed else first.deadline
                await self._commit(first.signal, plans, None, first.analysis, first.analysis_id, phase, deadline)

    def _done_behind(self, task: asyncio.Task[None]) -> None:
        self._behind.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pipeline.continue_failed", error=str(task.exception()), exc_info=task.exception())

    def _states(self, keys: list[str]) -> dict[str, tuple[OrderStatus, str]]:
        with self.store.engine.connect() as conn:
            return repository.order_states(conn, keys)

    def _stored_positions(self, account: str) -> dict[Contract, int]:
        with self.store.engine.connect() as conn:
            return {p.contract: p.quantity for p in repository.list_positions(conn, account)}

    def refresh_working(self, account: str) -> list[repository.WorkingOrder]:
        """The account's working orders, read from the database after every change that can alter them (an order
        stored, cancelled, filled, rejected, finished): kept for the planner, and the guardian's book of working
        entries derived from them (the gate reads it for hedging and caps). Read and set under one lock (see
        ``_refresh_positions``)."""
        with self._book_lock:
            with self.store.engine.connect() as conn:
                working = repository.working_orders(conn, account)
            self._working[account] = working
            book: dict[Contract, int] = {}
            for order in working:
                if order.purpose is OrderPurpose.ENTRY and order.remaining:
                    book[order.contract] = book.get(order.contract, 0) + order.remaining * order.side.sign
            self.guardian.book.working[account] = {c: q for c, q in book.items() if q}
            return working

    def forget_working(self, account: str) -> None:
        """An order was stored outside the pipeline (``GatewayService.place_order``): read the account's working
        orders from the database next time."""
        with self._book_lock:
            self._working.pop(account, None)

    # ------------------------------------------------------------------ resting entries expire
    async def _expire_resting(self, now: datetime) -> None:
        ttl = self.settings.signals.entry_order_ttl_s
        if not ttl:
            return
        if self._resting is None:
            self._resting = await asyncio.to_thread(self._load_resting)
        due = [key for key, (at, _a) in self._resting.items() if at <= now]
        if not due:
            return
        states = await asyncio.to_thread(self._states, due)
        for key in due:
            _at, account = self._resting.pop(key)
            status = states.get(key, (OrderStatus.CANCELLED, ""))[0]
            if status.is_terminal:
                continue
            why = f"resting entry not filled within signals.entry_order_ttl_s ({ttl} s)"

            def cancel(ctx: WriteContext, k: str = key, r: str = why) -> Any:
                return self.desk.store_cancel(ctx, k, r)

            stored = await self.store.writer.write_async(cancel)
            self.desk.send_cancel(stored)
            await asyncio.to_thread(self.refresh_working, account)
            log.info("order.expired", key=key, account=account)

    def _load_resting(self) -> dict[str, tuple[datetime, str]]:
        ttl = timedelta(seconds=float(self.settings.signals.entry_order_ttl_s or 0))
        with self.store.engine.connect() as conn:
            return {
                o.key: (o.created_at + ttl, o.account)
                for o in repository.working_orders(conn)
                if o.purpose is OrderPurpose.ENTRY and o.order_type is not OrderType.MARKET
            }

    # ------------------------------------------------------------------ one transaction, then the orders leave
    async def _commit(
        self,
        signal: Signal,
        plans: list[tuple[str | None, _Plan]],
        before: Callable[[WriteContext], bool] | None,
        analysis: Analysis,
        analysis_id: str | None,
        phase: int,
        deadline: datetime | None,
    ) -> Outcome:
        """Store the decisions, cancels and orders in one transaction, then send them and remember what waits
        (``deadline``: when a waiting plan gives up; None: nothing may wait any more)."""
        plans = self._household_order(signal, plans)
        decided = [(repository.new_id(), account, plan) for account, plan in plans]
        ai = {"analysis_id": analysis_id, **analysis.as_dict()}

        def op(ctx: WriteContext) -> tuple[list[Any], list[Any]] | None:
            if before is not None and not before(ctx):
                return None
            stored: list[Any] = []
            cancels: list[Any] = []
            for decision_id, account, plan in decided:
                if plan.quiet:
                    continue
                self._record_op(decision_id, signal, account, plan, ai)(ctx)
                cancels.extend(self.desk.store_cancel(ctx, key, plan.reason) for key in plan.cancels)
                stored.extend(self.desk.store_order(ctx, intent, decision_id) for intent in plan.intents)
            return stored, cancels

        if before is None and all(plan.quiet for _d, _a, plan in decided):
            result: tuple[list[Any], list[Any]] | None = ([], [])
        else:
            result = await self.store.writer.write_async(op)
        if result is None:
            return Outcome(signal.signal_id, duplicate=True)
        stored, cancels = result
        for cancel in cancels:
            self.desk.send_cancel(cancel)
        for order in stored:
            self.desk.send_order(order)
        ttl = self.settings.signals.entry_order_ttl_s
        for _decision_id, account, plan in decided:
            if account is None:
                continue
            for intent in plan.intents:
                resting = intent.purpose is OrderPurpose.ENTRY and intent.order_type is not OrderType.MARKET
                if ttl and resting and self._resting is not None:
                    self._resting[intent.idempotency_key] = (self.clock.now() + timedelta(seconds=float(ttl)), account)
        if deadline is not None:
            self._register_waits(signal, [(a, p) for _d, a, p in decided], analysis, analysis_id, phase, deadline)
        touched = {a for _d, a, p in decided if a is not None and (p.intents or p.cancels)}
        for account in touched:
            await asyncio.to_thread(self.refresh_working, account)
        if None in cancels:  # an order cancelled before it was ever sent is done now: no report will say so
            for account in {a for _d, a, p in decided if a is not None and p.cancels and p.waits}:
                await self.orders_changed(account)
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
            if not plan.quiet
        )
        if self.publish is not None:
            for decision in decisions:
                self.publish(decision)
        return Outcome(signal.signal_id, False, decisions)

    def _household_order(self, signal: Signal, plans: list[tuple[str | None, _Plan]]) -> list[tuple[str | None, _Plan]]:
        """A household waits for all its closes: where one account of a household must wait before it opens, the
        entries of its other accounts on this signal wait too (no account opens against a peer still closing)."""
        waiting = {self._household(a) for a, p in plans if a is not None and p.waits and p.wants_entry} | {
            self._household(a) for a, p in plans if a is not None and p.waits and p.intents
        }
        out: list[tuple[str | None, _Plan]] = []
        for account, plan in plans:
            entries = [i for i in plan.intents if i.purpose is OrderPurpose.ENTRY]
            if account is None or not entries or plan.waits or self._household(account) not in waiting:
                out.append((account, plan))
                continue
            rest = tuple(i for i in plan.intents if i.purpose is not OrderPurpose.ENTRY)
            reason = f"{plan.reason}; the entry waits for the household's closes"
            deferred = replace(
                plan,
                action="take" if rest or plan.cancels else "skip",
                intents=rest,
                quantity=sum(i.quantity for i in rest),
                reason=reason,
                waits=True,
                quiet=not (rest or plan.cancels),
            )
            out.append((account, deferred))
        return out

    def _household(self, account: str) -> str:
        entry = self.guardian.accounts.get(account)
        return entry.household if entry is not None else account

    def _register_waits(
        self,
        signal: Signal,
        plans: Iterable[tuple[str | None, _Plan]],
        analysis: Analysis,
        analysis_id: str | None,
        phase: int,
        deadline: datetime,
    ) -> None:
        for account, plan in plans:
            if account is None or not plan.waits or phase >= MAX_PHASES:
                continue
            keys = tuple(dict.fromkeys([*plan.wait_for, *(i.idempotency_key for i in plan.intents)]))
            self.waits[(signal.signal_id, account)] = _Wait(
                signal,
                account,
                self._household(account),
                keys,
                deadline,
                analysis,
                analysis_id,
                phase,
                plan.wants_entry,
                plan.planned,
                settled=not keys,
            )

    # ------------------------------------------------------------------ per account
    def _plan_all(
        self,
        signal: Signal,
        accounts: list[str],
        analysis: Analysis = NOT_ANALYSED,
        phase: int = 1,
        hold_entries: bool = False,
        previous: dict[str, _Wait] | None = None,
        planned: dict[str, planner.Plan] | None = None,
    ) -> list[tuple[str | None, _Plan]]:
        waits, plans = previous or {}, planned or {}
        return [(a, self.plan(signal, a, analysis, phase, hold_entries, waits.get(a), plans.get(a))) for a in accounts]

    def contract_for(self, signal: Signal, account: str) -> Contract:
        """The contract this account trades for the signal: its symbol map may swap mini and micro."""
        entry = self.guardian.accounts.get(account)
        root = entry.symbols.get(signal.contract.root) if entry is not None else None
        if root is None:
            return signal.contract
        return Contract(root, signal.contract.year, signal.contract.month)

    def holding(self, account: str, contract: Contract) -> planner.Holding:
        """What the account holds now: the guardian's book of positions and its working orders."""
        with self._book_lock:
            working = self._working.get(account)
        if working is None:
            working = self.refresh_working(account)
        return planner.Holding(
            contract,
            dict(self.guardian.book.positions.get(account, {})),
            tuple(planner.Working(o.key, o.contract, o.side, o.remaining, o.purpose) for o in working),
        )

    def plan(
        self,
        signal: Signal,
        account: str,
        analysis: Analysis = NOT_ANALYSED,
        phase: int = 1,
        hold_entries: bool = False,
        previous: _Wait | None = None,
        after: planner.Plan | None = None,
    ) -> _Plan:
        """Plan one account (no writes): the planner's closes and cancels, then the entry gated and sized.
        ``hold_entries``: size the entry for the record but do not place it (confirm mode)."""
        contract = self.contract_for(signal, account)
        holding = self.holding(account, contract)
        planned = planner.plan(signal, holding, self.guardian.accounts[account].multiplier, after=after)
        decided = self._decide(signal, account, analysis, phase, hold_entries, previous, contract, holding, planned)
        decided.planned = planned
        return decided

    def _decide(
        self,
        signal: Signal,
        account: str,
        analysis: Analysis,
        phase: int,
        hold_entries: bool,
        previous: _Wait | None,
        contract: Contract,
        holding: planner.Holding,
        plan: planner.Plan,
    ) -> _Plan:
        if previous is not None and plan.closes:
            refused = self._failed_closes(previous)
            if refused:
                return _Plan("refused", contract, reason=f"the close was not done ({refused}): nothing more is sent")
        base = order_key(signal.signal_id, account)
        closes = tuple(
            OrderIntent(
                idempotency_key=f"{base}:c{phase}:{format_symbol(c.contract, Notation.CME)}",
                account=account,
                contract=c.contract,
                side=c.side,
                quantity=c.quantity,
                purpose=OrderPurpose.EXIT,
            )
            for c in plan.closes
        )
        in_flight = tuple(
            w.key
            for w in holding.working
            if w.purpose is not OrderPurpose.ENTRY and w.contract.spec.family == contract.spec.family
        )
        wait_for = tuple(dict.fromkeys([*plan.cancels, *in_flight])) if plan.wait or (plan.entry and in_flight) else ()
        waits = plan.wait or bool(plan.entry and in_flight)
        if plan.intent is planner.Intent.NONE:
            return _Plan("skip", contract, reason=plan.reason, quiet=phase > 1)
        quantity = sum(c.quantity for c in closes)
        if hold_entries and plan.entry is not None:  # confirm mode: closes now, the entry after approval
            sized = self._entry(signal, account, contract, plan.entry, analysis)
            action: Action = "confirm" if sized.intents else sized.action
            reason = sized.reason if not (closes or plan.cancels) else f"{plan.reason}; the entry: {sized.reason}"
            return replace(
                sized, action=action if action == "confirm" or not (closes or plan.cancels) else "take",
                quantity=quantity + (sized.quantity if action == "confirm" else 0), reason=reason, intents=closes,
                cancels=plan.cancels, wants_entry=action == "confirm",
            )  # fmt: skip
        if plan.entry is None or waits:
            action = "take" if closes or plan.cancels else "skip"
            return _Plan(
                action, contract, quantity, plan.reason, intents=closes, cancels=plan.cancels, wait_for=wait_for,
                waits=waits, wants_entry=plan.entry is not None,
            )  # fmt: skip
        sized = self._entry(signal, account, contract, plan.entry, analysis)
        if not sized.intents:
            if closes or plan.cancels:
                reason = f"{plan.reason}; the entry: {sized.reason}"
                return replace(sized, action="take", quantity=quantity, reason=reason, intents=closes,
                               cancels=plan.cancels)  # fmt: skip
            return sized
        intents = (*closes, *sized.intents)
        reason = f"{plan.reason}: {sized.reason}" if closes or plan.cancels else sized.reason
        return replace(
            sized, quantity=quantity + sized.quantity, reason=reason, intents=intents, cancels=plan.cancels,
            wants_entry=True,
        )  # fmt: skip

    def _failed_closes(self, previous: _Wait) -> str:
        """Closes of the previous phase the executor rejected (a close is not sent again after a rejection)."""
        base = order_key(previous.signal.signal_id, previous.account) + ":c"
        states = self._states([k for k in previous.keys if k.startswith(base)])
        return "; ".join(f"{k} {r}".strip() for k, (s, r) in states.items() if s is OrderStatus.REJECTED)

    def _entry(
        self, signal: Signal, account: str, contract: Contract, wanted: planner.Entry, analysis: Analysis
    ) -> _Plan:
        """Gate and size the entry the planner asks for (at most its cap)."""
        if analysis.action == "skip":
            why = analysis.fallback_reason and f"; scorer used: {analysis.fallback_reason}"
            return _Plan(
                "skip", contract, reason=f"analyst ({analysis.source}) says skip, score {analysis.score}{why or ''}"
            )
        side = wanted.side
        price = signal.entry_price
        if price is None:
            price = self.quotes.get(contract, self.quotes.get(signal.contract))
        if price is None:
            return _Plan("refused", contract, reason=f"no entry price in the signal and no market data for {contract}")
        stop = signal.stop
        if stop is not None and (stop >= price if side is Side.BUY else stop <= price):
            return _Plan(
                "refused", contract, reason=f"the stop {stop} is on the wrong side of the {side.value} at {price}"
            )
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
        result = _scaled(result, contract, wanted.cap, entry.multiplier, analysis, self.settings.ai.reduce_factor)
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
            action: Action = "skip" if result.code == "MULTIPLIER" else "refused"
            return _Plan(action, result.contract, 0, reason, verdicts, sizing)
        intent = OrderIntent(
            idempotency_key=order_key(signal.signal_id, account),
            account=account,
            contract=result.contract,
            side=side,
            quantity=result.quantity,
            order_type=signal.order_type,
            purpose=OrderPurpose.ENTRY,
            limit_price=signal.limit_price,
            stop_price=signal.stop_price,
            bracket=Bracket(stop=stop, target=signal.target),
            tif=signal.tif,
        )
        kind = "" if signal.order_type is OrderType.MARKET else f" {signal.order_type.value} at {price}"
        reason = f"{result.mode} size {result.quantity} {result.contract}{kind} ({result.code})"
        return _Plan("take", result.contract, result.quantity, reason, verdicts, sizing, (intent,))

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
                sizing={
                    **plan.sizing,
                    "reason": plan.reason,
                    **({"cancels": list(plan.cancels)} if plan.cancels else {}),
                },
                decision_id=decision_id,
            )

        return op


def _scaled(
    result: SizeResult,
    traded: Contract,
    cap: int | None,
    multiplier: Decimal,
    analysis: Analysis,
    reduce_factor: Decimal,
) -> SizeResult:
    """The sizer's result after the planner's cap (the source's size times the account's multiplier), a multiplier
    below 1 when the source sent no size, and the analyst's ``reduce``: each can only lower it. Every step is kept
    in the breakdown."""
    quantity, code, steps = result.quantity, result.code, []
    if quantity <= 0:
        return result
    units = traded.spec.micro_ratio if result.contract != traded else 1  # the sizer may have moved to micros
    if cap is not None:  # the source's size caps ours (copy-trading: times the multiplier)
        limit = cap * units
        if quantity > limit:
            quantity = limit
            steps.append({"step": "source quantity x multiplier", "cap": limit})
            code = "MULTIPLIER" if limit == 0 else code
    elif multiplier < 1:
        quantity = int((quantity * multiplier).to_integral_value(rounding=ROUND_FLOOR))
        steps.append({"step": f"multiplier {multiplier}", "after": quantity})
        code = "MULTIPLIER" if quantity == 0 else code
    if quantity and analysis.action == "reduce":  # smaller, never none: only a skip turns a trade away
        quantity = max(1, int((quantity * reduce_factor).to_integral_value(rounding=ROUND_FLOOR)))
        steps.append({"step": f"analyst reduce x{reduce_factor} (at least 1)", "after": quantity})
    if not steps:
        return result
    breakdown = {**result.breakdown, "after_sizer": steps}
    if quantity == 0:
        breakdown["reason"] = (
            "the account's multiplier rounds the size to zero" if code == "MULTIPLIER" else "size rounds to zero"
        )
    return SizeResult(result.contract, quantity, code, result.mode, breakdown)


def _fingerprint(signal: Signal) -> tuple[Any, ...]:
    """What makes two signals the same for the analyst (not their ids or times)."""
    return (
        signal.group, str(signal.contract), signal.direction, signal.source, signal.entry_price, signal.stop,
        signal.target, signal.power, signal.confluence, signal.order_type, signal.extra,
    )  # fmt: skip


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


__all__ = ["AccountDecision", "Direction", "OrderDesk", "Outcome", "SignalPipeline", "order_key"]
