"""The compliance guardian service: one tracker per configured account, persisted, with side effects.

The rule maths is pure (``rules/``); this service feeds it events with the injected clock, persists
what must survive a restart (peak, threshold, lock, trading state, halts) through the single
writer, and turns the trackers' actions into side effects: state changes recorded, alerts stored,
flatten requests handed to whoever executes them (the gateway's executors; a logging sink until
one is connected). Flattens and cancels are never blocked by anything here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import structlog
from sqlalchemy import Engine

from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store.writer import GroupCommitWriter, WriteContext
from enigma_apex.app.telemetry import Telemetry
from enigma_apex.config.models import AccountEntry, GuardianSection, Settings
from enigma_apex.domain.accounts import Platform, TradingState
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.events import TradingStateChanged
from enigma_apex.domain.symbols import Contract
from enigma_apex.errors import InputError, StoreError
from enigma_apex.rules.calendar import ExchangeDays, SessionCalendar
from enigma_apex.rules.gate import Costs, Intent, View, check
from enigma_apex.rules.news import NewsCalendar
from enigma_apex.rules.open_loss import Exposure, loss_to_stops
from enigma_apex.rules.profiles import ProfileRegistry
from enigma_apex.rules.tracker import AccountTracker, Action, ActionKind, Policy, Snapshot, TrackerState
from enigma_apex.rules.verdicts import Decision

MARKS_PER_TURN = 32  # marks applied in a row before the mark thread gives the event loop's thread a turn
log = structlog.get_logger("enigma_apex.guardian")

FlattenSink = Callable[[str, str], None]  # (account, reason)


def policy_for(guardian: GuardianSection, account: AccountEntry) -> Policy:
    return Policy(
        warn_dd_pct=guardian.warn_drawdown_pct,
        reducing_dd_pct=guardian.reducing_drawdown_pct,
        flatten_dd_pct=guardian.flatten_drawdown_pct,
        warn_dll_pct=guardian.warn_dll_pct,
        reducing_dll_pct=guardian.reducing_dll_pct,
        flatten_dll_pct=guardian.flatten_dll_pct,
        flatten_before_close_min=guardian.flatten_before_close_min,
        no_new_entries_min=guardian.no_new_entries_min,
        reducing_release_pct=guardian.reducing_release_pct,
        consistency_guard=account.consistency_guard,
        max_contracts=account.max_contracts,
    )


def build_tracker(
    account: AccountEntry,
    settings: Settings,
    registry: ProfileRegistry,
    days: ExchangeDays,
    state: TrackerState | None = None,
) -> AccountTracker:
    profile = registry.get(account.profile)
    calendar = SessionCalendar.for_profile(profile, days)
    platform = Platform(account.platform) if account.platform else None
    return AccountTracker(
        account.name,
        profile,
        calendar,
        platform=platform,
        policy=policy_for(settings.guardian, account),
        state=state,
        started_on=account.started_on,
    )


@dataclass
class Book:
    """Positions and working entry orders per account (fed by executors)."""

    positions: dict[str, dict[Contract, int]] = field(default_factory=dict)
    working: dict[str, dict[Contract, int]] = field(default_factory=dict)

    def exposure(self, account: str) -> bool:
        return any(self.positions.get(account, {}).values()) or any(self.working.get(account, {}).values())

    def exposure_known(self, account: str) -> bool | None:
        """Whether the account holds anything, or None while no executor has reported its positions."""
        if self.exposure(account):
            return True
        return False if account in self.positions else None


class GuardianService:
    def __init__(
        self,
        settings: Settings,
        registry: ProfileRegistry,
        days: ExchangeDays,
        writer: GroupCommitWriter,
        engine: Engine,
        clock: Clock,
        news: NewsCalendar | None = None,
        flatten_sink: FlattenSink | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.days = days
        self.writer = writer
        self.engine = engine
        self.clock = clock
        self.news = news or NewsCalendar()
        self.flatten_sinks: list[FlattenSink] = [flatten_sink] if flatten_sink else []
        self.trackers: dict[str, AccountTracker] = {}
        self.accounts: dict[str, AccountEntry] = {}
        self.book = Book()
        self._lock = threading.RLock()
        # accounts whose state changed while the database refused writes, with the actions not yet recorded
        self._unrecorded: dict[str, list[Action]] = {}
        self.telemetry = Telemetry()  # the hub's own, set by the composition root
        self._closed: list[tuple[Action, Snapshot]] = []  # trading days closed since the last daily summary
        self.database_halt: str = ""  # the reason while every account is halted for an unwritable database

    # ------------------------------------------------------------------ start-up
    def load(self) -> list[str]:
        """Build every tracker from its persisted state (never re-based) or fresh. Returns lines to show."""
        with self.engine.connect() as conn:
            stored = repository.load_account_states(conn)
        lines = []
        for account in self.settings.accounts:
            row = stored.get(account.name)
            state = None
            if row is not None and row.detail not in ("", "{}"):
                state = TrackerState.from_json(json.loads(row.detail))
            tracker = build_tracker(account, self.settings, self.registry, self.days, state)
            if row is not None and state is None and row.state is not TradingState.ACTIVE:
                tracker.s.manual_halt = row.state_reason or f"{row.state.value} before the restart"
            tracker._last_state = tracker.trading_state()[0]
            self.trackers[account.name] = tracker
            self.accounts[account.name] = account
            snap = tracker.snapshot()
            lines.append(
                f"{account.name}: {account.profile} {snap.state.value.upper()} threshold {snap.threshold} "
                f"distance {snap.distance}"
            )
        return lines

    def apply_settings(self, settings: Settings) -> None:
        """Hot reload: new buffers and news calendar apply at once; accounts need a restart."""
        from enigma_apex.adapters.news_file import load_news

        with self._lock:
            self.settings = settings
            now = self.clock.now()
            for name, tracker in self.trackers.items():
                account = self.accounts[name]
                tracker.policy = policy_for(settings.guardian, account)
                self._after(tracker, tracker.reevaluate(now), persist=False)  # new levels count at once
            try:
                self.news = load_news(settings.rules.news_calendar)
            except Exception as exc:  # noqa: BLE001 - keep the old calendar when the new one is unreadable
                log.error("guardian.news_reload_failed", error=str(exc))

    def tracker(self, account: str) -> AccountTracker:
        try:
            return self.trackers[account]
        except KeyError:
            raise InputError(
                f"unknown account {account!r} (configured: {', '.join(sorted(self.trackers))})", "account"
            ) from None

    # ------------------------------------------------------------------ events
    def mark(self, account: str, balance: Decimal, open_pnl: Decimal | None) -> Snapshot:
        """A balance and open P&L from the account's executor; ``open_pnl`` None: the executor cannot see it
        (NinjaTrader ATI), and each open position counts its loss to its stop (``rules/open_loss.py``)."""
        with self._lock:
            t, actions, changed = self._apply_mark(account, balance, open_pnl)
            self._after(t, actions, persist=changed or bool(actions))
            return t.snapshot()

    def _apply_mark(
        self, account: str, balance: Decimal, open_pnl: Decimal | None
    ) -> tuple[AccountTracker, list[Action], bool]:
        """The mark applied to the tracker: its actions, and whether a level worth persisting moved."""
        t = self.tracker(account)
        if open_pnl is None:
            open_pnl = self.unseen_open_loss(account, balance)
        before = _kept(t)
        actions = t.mark(self.clock.now(), balance, open_pnl)
        return t, actions, before != _kept(t)

    def unseen_open_loss(self, account: str, balance: Decimal) -> Decimal:
        t = self.tracker(account)
        with self.engine.connect() as conn:
            positions = repository.list_positions(conn, account)
            stops = repository.protective_stops(conn, account) if positions else {}
        return loss_to_stops((Exposure(p, stops.get(p.contract)) for p in positions), t.room_to_flatten(balance))

    def mark_many(self, marks: list[tuple[str, Decimal, Decimal | None]]) -> None:
        """Marks in arrival order (the gateway's batches); one that fails is logged, the rest still apply.

        A mark that acts (a warning, a lock, a flatten) is written at once, with every level moved before it, and
        its flatten follows that commit as with a single mark. Levels that only moved (a new peak) are written
        together at the end of the batch, one transaction for the batch: the account's latest state, once."""
        moved: dict[str, AccountTracker] = {}  # accounts whose levels moved and are not written yet, in order
        with self._lock:
            for n, (account, balance, open_pnl) in enumerate(marks):
                if n and n % MARKS_PER_TURN == 0:
                    time.sleep(0)  # lets the event loop's thread run (frames in, frames out) during a long burst
                try:
                    t, actions, changed = self._apply_mark(account, balance, open_pnl)
                except Exception:  # one bad mark must not stop the others
                    log.exception("guardian.mark_failed", account=account)
                    continue
                if actions:
                    moved.pop(account, None)
                    self._persist_all([*((m, [], None) for m in moved.values()), (t, actions, None)])
                    moved = {}
                    self._after(t, actions, persist=False, written=True)
                elif changed:
                    moved.pop(account, None)
                    moved[account] = t
            self._persist_all([(m, [], None) for m in moved.values()])

    def fill(self, account: str) -> None:
        """A fill of the account was recorded: the day counts as a trading day. Written when that (or anything else
        a restart must find) changed: the day's first fill, a new session, an action; a later fill of the same day
        changes nothing worth a transaction (the balance comes with the marks, as they are written)."""
        with self._lock:
            t = self.tracker(account)
            before = _kept(t)
            actions = t.fill(self.clock.now())
            self._after(t, actions, persist=bool(actions) or before != _kept(t))

    def payout(self, account: str, amount: Decimal) -> Snapshot:
        with self._lock:
            t = self.tracker(account)
            self._after(t, t.payout(self.clock.now(), amount), persist=True, audit=("payout", {"amount": amount}))
            return t.snapshot()

    def bootstrap(
        self,
        account: str,
        *,
        peak: Decimal | None = None,
        threshold: Decimal | None = None,
        balance: Decimal | None = None,
    ) -> Snapshot:
        with self._lock:
            t = self.tracker(account)
            actions = t.bootstrap(self.clock.now(), peak=peak, threshold=threshold, balance=balance)
            self._after(
                t,
                actions,
                persist=True,
                audit=("bootstrap", {"peak": peak, "threshold": threshold, "balance": balance}),
            )
            return t.snapshot()

    def halt(self, account: str, reason: str) -> Snapshot:
        """Persist HALTED first, then ask for the flatten (the emergency-stop order of things)."""
        with self._lock:
            t = self.tracker(account)
            actions = t.halt(self.clock.now(), reason)
            self._after(t, actions, persist=True)
            self._flatten(account, reason)
            return t.snapshot()

    def resume(self, account: str) -> Snapshot:
        """Clear a halt. Refused while the database refuses writes: a resume must be recorded before it counts."""
        with self._lock:
            t = self.tracker(account)
            if self.database_halt or not self.writer.healthy:
                raise StoreError(
                    f"{account} stays HALTED: the database does not take writes "
                    f"({self.writer.last_error or self.database_halt})"
                )
            self._after(t, t.resume(self.clock.now()), persist=True, audit=("resume", {}))
            return t.snapshot()

    def await_executor(self, account: str, key: str, reason: str | None) -> None:
        """At start, until the account's executor first connects: REDUCING (no new entries) without an alert either
        way — that wait is the normal start of every run (the gateway alerts on an executor that never comes)."""
        with self._lock:
            t = self.tracker(account)
            if reason is None:
                t.reducing_reasons.pop(key, None)
            else:
                t.reducing_reasons[key] = reason
            t._last_state = t.trading_state()[0]

    def set_reducing(self, account: str, key: str, reason: str | None) -> None:
        with self._lock:
            t = self.tracker(account)
            self._after(t, t.set_reducing(key, reason, self.clock.now()), persist=False)

    def tick(self) -> None:
        """Apply session closes and pre-close flattens for every account (called about once a second)."""
        with self._lock:
            now = self.clock.now()
            for name, t in self.trackers.items():
                session = t.s.session
                actions = t.tick(now, self.book.exposure_known(name))
                self._after(t, actions, persist=bool(actions) or session != t.s.session)
            if self._closed:
                closed, self._closed = self._closed, []
                self._summary(closed)

    def _summary(self, closed: list[tuple[Action, Snapshot]]) -> None:
        """The daily summary alert at the session close (the guardian's clock, about once a second, gathers
        every account whose day closed into one alert)."""
        lines = [
            f"{a.account} ({a.code}): {s.state.value.upper()}, {a.reason}; distance to ruin {s.distance:,.2f} "
            f"({s.drawdown_used_pct:.0f}% of the drawdown used)"
            for a, s in closed
        ]
        message = "Trading day closed.\n" + "\n".join(lines)
        detail = {"accounts": [{"day": a.code, "close": a.reason, **s.as_dict()} for a, s in closed]}
        try:
            self.writer.write(
                lambda ctx: repository.record_alert(
                    ctx, severity="info", kind="daily.summary", message=message, detail=detail
                )
            )
        except StoreError as exc:
            log.error("guardian.summary_not_recorded", error=str(exc))

    # ------------------------------------------------------------------ the gate
    def check(self, intent: Intent) -> Decision:
        t = self.tracker(intent.account)
        account = self.accounts[intent.account]
        rules = self.settings.rules
        view = View(
            tracker=t,
            positions=self.book.positions.get(intent.account, {}),
            working=self.book.working.get(intent.account, {}),
            household=self.household(intent.account),
            news=self.news,
            costs=Costs(rules.commission_mini, rules.commission_micro, rules.slippage_ticks),
            default_stop_ticks=account.default_stop_ticks,
        )
        with self.telemetry.timed(self.telemetry.pretrade):
            decision = check(intent, view, self.clock.now())
        for verdict in decision.verdicts:
            self.telemetry.verdicts.labels(verdict.code.value).inc()
        return decision

    def household(self, account: str) -> dict[str, int]:
        """Signed exposure per instrument family of the other accounts of the same household (in minis)."""
        home = self.accounts[account].household
        out: dict[str, int] = {}
        for book in (self.book.positions, self.book.working):  # only the accounts that hold or work something
            for name, held in book.items():
                if not held or name == account:
                    continue
                entry = self.accounts.get(name)
                if entry is None or entry.household != home:
                    continue
                for contract, qty in held.items():
                    out[contract.spec.family] = out.get(contract.spec.family, 0) + qty
        return out

    def status(self) -> list[Snapshot]:
        return [t.snapshot() for t in self.trackers.values()]

    # ------------------------------------------------------------------ side effects
    def _after(
        self,
        t: AccountTracker,
        actions: list[Action],
        *,
        persist: bool,
        audit: tuple[str, dict[str, Any]] | None = None,
        written: bool = False,
    ) -> None:
        if not written and (persist or actions or audit):
            self._persist(t, actions, audit)
        for action in actions:
            if action.kind is ActionKind.FLATTEN:
                self._flatten(action.account, action.reason)
            elif action.kind is ActionKind.CLOSE:
                self._closed.append((action, t.snapshot()))

    def _persist(self, t: AccountTracker, actions: list[Action], audit: tuple[str, dict[str, Any]] | None) -> None:
        """Record a state change. While the database refuses writes the change lives in memory (the trackers
        still watch every mark and flatten) and is written when the database is back: a failed write never
        stops a flatten."""
        self._persist_all([(t, actions, audit)])

    def _persist_all(
        self, changes: list[tuple[AccountTracker, list[Action], tuple[str, dict[str, Any]] | None]]
    ) -> None:
        """Record several trackers' states, actions and audit rows in one transaction; while the database refuses
        writes they wait in memory, as a single change does."""
        if not changes:
            return
        ops = [self._write_op(t, actions, audit) for t, actions, audit in changes]
        if self.writer.healthy:
            try:
                self.writer.write(lambda ctx: [op(ctx) for op in ops])
                return
            except StoreError as exc:
                log.error("guardian.persist_failed", accounts=[t.account for t, _a, _u in changes], error=str(exc))
        for t, actions, _audit in changes:
            self._unrecorded.setdefault(t.account, []).extend(actions)

    def _write_op(
        self,
        t: AccountTracker,
        actions: list[Action],
        audit: tuple[str, dict[str, Any]] | None,
        *,
        cancel_unsent: bool = True,
    ) -> Callable[[WriteContext], None]:
        """The database write that records a tracker's state, its actions and an optional audit row (and, for a
        stopped account, cancels its unsent entries unless ``cancel_unsent`` is False: the caller does it)."""
        state, reason = t.trading_state()
        stored = self._stored(t)
        stopped = state in (TradingState.HALTED, TradingState.FAILED)

        def write(ctx: WriteContext) -> None:
            repository.save_account_state(ctx, stored)
            if stopped and cancel_unsent:  # in the same transaction: an entry not yet acknowledged is never sent
                repository.cancel_unsent_entries(ctx, {t.account: _stopped_reason(state, reason)})
            for action in actions:
                self._record(ctx, action)
            if audit is not None:
                ctx.audit(audit[0], audit[1], account=t.account)

        return write

    @staticmethod
    def _stored(t: AccountTracker) -> repository.StoredAccountState:
        """The tracker's state as its row stores it (taken now: a write built from it records this moment)."""
        state, reason = t.trading_state()
        return repository.StoredAccountState(
            account=t.account,
            state=state,
            state_reason=reason,
            peak=t.peak,
            threshold=t.s.threshold,
            locked=t.s.locked,
            balance=t.s.balance,
            open_pnl=t.s.open_pnl,
            session_date=t.s.session,
            day_start_balance=t.s.day_start,
            day_pnl=t.day_pnl,
            detail=orjson.dumps(t.s.to_json()).decode(),
        )

    def halt_many(self, accounts: list[str], reason: str) -> None:
        """The emergency stop: every account HALTED in one committed transaction, then the flattens."""
        with self._lock:
            now = self.clock.now()
            trackers = [self.tracker(a) for a in accounts]
            halts = [(t, t.halt(now, reason)) for t in trackers]
            stored = [self._stored(t) for t in trackers]
            unsent = {t.account: _stopped_reason(*t.trading_state()) for t in trackers}
            changes = [a for _t, actions in halts for a in actions if _is_change(a)]
            others = [a for _t, actions in halts for a in actions if not _is_change(a)]

            def write(ctx: WriteContext) -> None:  # a statement for all the accounts, not one per account
                repository.save_account_states(ctx, stored)  # the new state of each row, with its reason
                repository.record_state_changes(
                    ctx,
                    [TradingStateChanged(a.account, a.old, a.new, a.reason, a.ts) for a in changes],  # type: ignore[arg-type]
                )
                repository.record_alerts(ctx, _halt_alerts(changes, reason))
                for action in others:
                    self._record(ctx, action)
                repository.cancel_unsent_entries(ctx, unsent)

            try:
                self.writer.write(write)
            except StoreError as exc:  # the flattens go out all the same; the halts are written on recovery
                for t, actions in halts:
                    self._unrecorded.setdefault(t.account, []).extend(actions)
                log.error("guardian.halt_not_recorded", accounts=accounts, error=str(exc))
            for account in accounts:
                self._flatten(account, reason, logged=False)
            log.warning("guardian.flatten", accounts=accounts, reason=reason)  # one line for the whole stop

    # ------------------------------------------------------------------ the database's health
    def database_down(self, message: str) -> list[str]:
        """The database refuses writes: no acknowledged write is possible, so no new risk anywhere. Every account
        is HALTED in memory and flattened; nothing is written until the database is back. Returns the accounts
        newly halted."""
        with self._lock:
            reason = f"database unwritable: {message}"[:300]
            self.database_halt = reason
            now = self.clock.now()
            halted = []
            for name, t in self.trackers.items():
                if t.s.manual_halt:  # an operator's halt keeps its reason
                    actions: list[Action] = []
                else:
                    actions = t.halt(now, reason)
                    halted.append(name)
                self._unrecorded.setdefault(name, []).extend(actions)
            for name in self.trackers:
                self._flatten(name, reason)
            log.error("guardian.database_down", accounts=halted, reason=reason)
            return halted

    def database_recovered(self) -> list[str]:
        """The database takes writes again: every state kept in memory meanwhile is written now (the halts with
        it, so they survive a restart). Accounts stay HALTED until an operator resumes them, after checking that
        the fills made meanwhile are all recorded. Returns the accounts written."""
        with self._lock:
            accounts = sorted(self._unrecorded)
            reason = self.database_halt
            self.database_halt = ""
            ops = [self._write_op(self.trackers[a], self._unrecorded[a], None) for a in accounts]

            def write(ctx: WriteContext) -> None:
                for op in ops:
                    op(ctx)
                message = (
                    f"the database takes writes again; {len(accounts)} account(s) recorded. They stay HALTED "
                    f"({reason or 'see the audit log'}) until resumed."
                )
                repository.record_alert(ctx, severity="critical", kind="database.recovered", message=message)
                ctx.audit("database.recovered", {"accounts": accounts, "reason": reason})

            try:
                self.writer.write(write)
            except StoreError as exc:
                log.error("guardian.recovery_write_failed", error=str(exc))
                self.database_halt = reason
                return []
            self._unrecorded.clear()
            return accounts

    @staticmethod
    def _record(ctx: WriteContext, action: Action) -> None:
        if _is_change(action):
            assert action.old is not None and action.new is not None  # noqa: S101 - _is_change says so
            repository.record_state_change(
                ctx, TradingStateChanged(action.account, action.old, action.new, action.reason, action.ts)
            )
            repository.record_alerts(ctx, [_change_alert(action)])
        elif action.kind is ActionKind.WARN:
            repository.record_alert(
                ctx,
                severity="warning",
                kind=f"guardian.{action.code.lower()}",
                message=action.reason,
                account=action.account,
            )
        elif action.kind is ActionKind.BREACH:
            repository.record_alert(
                ctx, severity="critical", kind="guardian.breach", message=action.reason, account=action.account
            )
        elif action.kind is ActionKind.FLATTEN:
            repository.record_alert(
                ctx,
                severity="critical",
                kind="guardian.flatten",
                message=action.reason,
                account=action.account,
                detail={"code": action.code},
            )

    def _flatten(self, account: str, reason: str, *, logged: bool = True) -> None:
        for sink in self.flatten_sinks:  # the flatten leaves first; the log line after it
            try:
                sink(account, reason)
            except Exception as exc:  # noqa: BLE001 - one failing sink must not stop the others
                log.error("guardian.flatten_sink_failed", account=account, error=str(exc))
        if logged:
            log.warning("guardian.flatten", account=account, reason=reason)


def _stopped_reason(state: TradingState, reason: str) -> str:
    return f"account {state.value.upper()}: {reason}"


def _kept(t: AccountTracker) -> tuple[Any, ...]:
    """What of a tracker's state a restart must find as it was: the levels (peaks, threshold, its lock), the
    session, and whether the day was traded (it counts toward the firm's trading days). A mark or a fill that moves
    none of them (nor acts) is not written on its own: the balance and open P&L come again with the next marks."""
    s = t.s
    return (s.peak_rt, s.peak_eod, s.threshold, s.locked, s.session, s.started_on, s.traded_today)


def _is_change(action: Action) -> bool:
    return action.kind is ActionKind.STATE and action.old is not None and action.new is not None


HALT_ALERT_NAMES = 10  # accounts named in the text of a stop's one alert (all of them are in its detail)


def _halt_alerts(changes: list[Action], reason: str) -> list[dict[str, Any]]:
    """The alerts of a stop of several accounts: the accounts it HALTED make one critical alert (an emergency stop
    of 500 accounts is one incident on the phone, not 500 messages), naming them in its detail; any other change
    raises its own. One account's halt is its own change alert."""
    halted = sorted(a.account for a in changes if a.new is TradingState.HALTED)
    if len(halted) <= 1:
        return [_change_alert(a) for a in changes]
    named = ", ".join(halted[:HALT_ALERT_NAMES]) + (
        f" and {len(halted) - HALT_ALERT_NAMES} more" if len(halted) > HALT_ALERT_NAMES else ""
    )
    summary = {
        "severity": "critical",
        "kind": "state.halted",
        "message": f"{len(halted)} accounts -> HALTED: {reason} ({named})",
        "account": None,
        "detail": {"accounts": halted, "reason": reason},
    }
    return [summary, *(_change_alert(a) for a in changes if a.new is not TradingState.HALTED)]


def _change_alert(action: Action) -> dict[str, Any]:
    """The alert a state change raises: info back to ACTIVE, warning to REDUCING, critical otherwise."""
    assert action.old is not None and action.new is not None  # noqa: S101 - only for state changes
    new = action.new.value
    return {
        "severity": {"active": "info", "reducing": "warning"}.get(new, "critical"),
        "kind": f"state.{new}",
        "message": f"{action.old.value.upper()} -> {new.upper()}: {action.reason}",
        "account": action.account,
    }
