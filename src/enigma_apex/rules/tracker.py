"""The account tracker: one account's position relative to its firm's lines, updated by events.

Pure and clock-injected: every method takes the event's timestamp; session closes between two
events are applied (from the firm's calendar) before the later event. Formulas are those of
../shared/research/propfirm_rules.md §5:

- equity ``E`` = balance + open P&L (net of commissions); breach when ``E <= threshold`` (a touch fails).
- intraday kind: ``peak = max(peak, E)`` on every mark, *before* the breach test;
  ``threshold = min(max(threshold, peak - DD), lock)``.
- eod kind: the same with the equity at the firm's close, recomputed only at the close.
- static kind: the threshold never moves.
- Once the threshold reaches the lock level it is fixed for good.

The guardian policy (warn / REDUCING / flatten-and-halt buffers inside the firm's lines) is applied
here too, so the state the gate reads is always the one the numbers imply.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum
from typing import Any

from enigma_apex.domain.accounts import Platform, TradingState
from enigma_apex.domain.clock import require_aware
from enigma_apex.rules.calendar import SessionCalendar
from enigma_apex.rules.profiles import Profile

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Policy:
    """Guardian buffers for one account (percentages of the drawdown / daily loss limit used)."""

    warn_dd_pct: Decimal = Decimal(50)
    reducing_dd_pct: Decimal = Decimal(75)
    flatten_dd_pct: Decimal = Decimal(90)
    warn_dll_pct: Decimal = Decimal(50)
    reducing_dll_pct: Decimal = Decimal(75)
    flatten_dll_pct: Decimal = Decimal(90)
    flatten_before_close_min: int = 5  # before the firm's flat-by time
    no_new_entries_min: int = 10
    reducing_release_pct: Decimal = Decimal(5)  # REDUCING ends only this many points below its level (or next session)
    consistency_guard: bool = False
    max_contracts: int | None = None


class ActionKind(Enum):
    WARN = "warn"
    FLATTEN = "flatten"  # flatten the account and cancel its working orders
    STATE = "state"  # the trading state changed
    BREACH = "breach"  # the firm's line was touched
    CLOSE = "close"  # a trading day closed (reason: its P&L; code: the day)


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    account: str
    reason: str
    ts: datetime
    old: TradingState | None = None
    new: TradingState | None = None
    code: str = ""


@dataclass(slots=True)
class TrackerState:
    """Everything that must survive a restart (stored as JSON beside the account_state row)."""

    balance: Decimal
    open_pnl: Decimal
    peak_rt: Decimal
    peak_eod: Decimal
    threshold: Decimal
    locked: bool = False
    breached: bool = False
    breach_ts: datetime | None = None
    session: date | None = None
    last_ts: datetime | None = None
    day_start: Decimal = ZERO
    traded_today: bool = False
    day_history: list[tuple[date, Decimal]] = field(default_factory=list)  # closed days since the last payout
    payout_base: Decimal = ZERO
    payouts: int = 0
    payout_total: Decimal = ZERO
    trading_days: int = 0
    qualifying_days: int = 0
    half_unlocked: bool = False
    tier_index: int = 0
    manual_halt: str = ""  # reason of an operator/emergency halt; cleared by resume
    dd_latched: str = ""  # flatten-and-halt by the drawdown buffer; cleared by resume
    dll_latched: str = ""  # flatten-and-pause by the daily loss limit; cleared at the next session
    consistency_latched: str = ""  # consistency guard; cleared at the next session
    warned_dd: bool = False
    warned_dll: bool = False
    close_flattened: date | None = None  # session whose pre-close flatten was already requested
    unchecked_close: date | None = None  # a close that passed: positions still held then are flattened at once
    started_on: date | None = None  # the account's first day (time limits and inactivity count from it)
    expired: bool = False  # a time-limited evaluation ran out before it passed
    passed_at: datetime | None = None  # when a time-limited evaluation met every condition (latched)
    mae_raised: bool = False  # the raised per-trade MAE applies this session (set at the close)
    days_since_payout: int = 0  # trading days since the last payout
    recent_days: list[tuple[date, Decimal]] = field(default_factory=list)  # closed days of the inactivity window
    closed_reason: str = ""  # the firm closed the account (last payout taken, inactivity): no more trading
    reducing_dd: bool = False  # REDUCING by the drawdown buffer, until it recovers the release margin
    reducing_dll: bool = False  # REDUCING by the DLL buffer, until it recovers or the session ends
    warned_inactivity: date | None = None  # the deadline already warned about

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _STATE_FIELDS}  # shallow: asdict deep-copies every value
        data["day_history"] = [[d.isoformat(), str(v)] for d, v in self.day_history]
        data["recent_days"] = [[d.isoformat(), str(v)] for d, v in self.recent_days]
        for key, value in list(data.items()):
            if isinstance(value, Decimal):
                data[key] = str(value)
            elif isinstance(value, datetime | date):
                data[key] = value.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrackerState:
        decimals = {
            "balance",
            "open_pnl",
            "peak_rt",
            "peak_eod",
            "threshold",
            "day_start",
            "payout_base",
            "payout_total",
        }
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in decimals:
                kwargs[key] = Decimal(value)
            elif key in ("breach_ts", "last_ts", "passed_at"):
                kwargs[key] = datetime.fromisoformat(value) if value else None
            elif key in ("session", "close_flattened", "unchecked_close", "started_on", "warned_inactivity"):
                kwargs[key] = date.fromisoformat(value) if value else None
            elif key in ("day_history", "recent_days"):
                kwargs[key] = [(date.fromisoformat(d), Decimal(v)) for d, v in value]
            else:
                kwargs[key] = value
        return cls(**kwargs)


_STATE_FIELDS = tuple(f.name for f in fields(TrackerState))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The figures the gate, the dashboard and `replay` show."""

    account: str
    ts: datetime | None
    state: TradingState
    state_reason: str
    balance: Decimal
    open_pnl: Decimal
    equity: Decimal
    peak: Decimal
    threshold: Decimal
    locked: bool
    breached: bool
    distance: Decimal
    drawdown_used_pct: Decimal
    day_pnl: Decimal
    dll: Decimal | None
    dll_remaining: Decimal | None
    max_contracts: int | None
    contracts_allowed: int
    best_day_share: Decimal | None
    consistency_limit: Decimal | None
    consistency_ok: bool | None
    consistency_room_today: Decimal | None
    trading_days: int
    qualifying_days: int
    target_reached: bool | None
    passed: bool | None
    payout_eligible: bool | None
    payout_reasons: tuple[str, ...]
    evaluation_ends: datetime | None = None  # a time-limited evaluation's deadline
    expired: bool = False  # ... which ran out before it passed
    inactivity_deadline: date | None = None  # the last day for the qualifying day the inactivity rule needs
    payout_max: Decimal | None = None  # the largest payout allowed now

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self.__slots__:
            value = getattr(self, key)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, Enum):
                value = value.value.upper()
            elif isinstance(value, datetime | date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out


class AccountTracker:
    def __init__(
        self,
        account: str,
        profile: Profile,
        calendar: SessionCalendar,
        *,
        platform: Platform | None = None,
        policy: Policy | None = None,
        state: TrackerState | None = None,
        started_on: date | None = None,
    ) -> None:
        self.account = account
        self.profile = profile
        self.calendar = calendar
        self.platform = platform
        self.policy = policy or Policy()  # the setter precomputes the buffer amounts
        self.reducing_reasons: dict[str, str] = {}  # runtime only (e.g. executor disconnected)
        self._window: tuple[datetime, datetime] | None = None  # (open, close) of the session last asked about
        self.micro_ratio = profile.micro_ratio
        if state is None:
            start = profile.start
            state = TrackerState(
                balance=start,
                open_pnl=ZERO,
                peak_rt=start,
                peak_eod=start,
                threshold=profile.initial_threshold,
                day_start=start,
                payout_base=start,
            )
        if started_on is not None and state.started_on is None:
            state.started_on = started_on  # the account's configured first day (else the first event's)
        self.s = state
        self._last_state = self.trading_state()[0]

    # ================================================================ derived values
    @property
    def policy(self) -> Policy:
        return self._policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self._policy = policy
        dd = self.profile.drawdown
        # Distances to the threshold at which each buffer starts (used >= pct  <=>  distance <= these).
        self.reducing_distance = dd * (HUNDRED - policy.reducing_dd_pct) / HUNDRED
        self.flatten_distance = dd * (HUNDRED - policy.flatten_dd_pct) / HUNDRED

    @property
    def equity(self) -> Decimal:
        return self.s.balance + self.s.open_pnl

    @property
    def lock_level(self) -> Decimal | None:
        if self.profile.lock_after_first_payout and self.s.payouts == 0:
            return None
        return self.profile.lock_level(self.platform)

    @property
    def peak(self) -> Decimal:
        return self.s.peak_eod if self.profile.drawdown_kind == "eod" else self.s.peak_rt

    @property
    def distance(self) -> Decimal:
        return self.equity - self.s.threshold

    @property
    def drawdown_used_pct(self) -> Decimal:
        used = (self.profile.drawdown - self.distance) / self.profile.drawdown * HUNDRED
        return max(ZERO, used)

    @property
    def tier(self) -> Any:
        tiers = self.profile.tiers
        return tiers[min(self.s.tier_index, len(tiers) - 1)] if tiers else None

    @property
    def dll(self) -> Decimal | None:
        tier = self.tier
        if tier is not None and tier.dll is not None:
            return Decimal(tier.dll)
        return self.profile.dll

    def room_to_flatten(self, balance: Decimal) -> Decimal:
        """How much open loss ``balance`` can take before the guardian's flatten line: of the drawdown, and of the
        daily loss limit when the account has one (the smaller)."""
        room = balance - self.s.threshold - self.flatten_distance
        dll = self.dll
        if dll is not None:
            room = min(room, dll * self.policy.flatten_dll_pct / HUNDRED - (self.s.day_start - balance))
        return room

    @property
    def day_loss(self) -> Decimal:
        return max(ZERO, self.s.day_start - self.equity)

    @property
    def day_pnl(self) -> Decimal:
        return self.equity - self.s.day_start

    def max_contracts(self) -> int | None:
        """The cap in minis for the current session (tiers, half-contract rule, account cap)."""
        p = self.profile
        cap = p.max_minis
        tier = self.tier
        if tier is not None and tier.contracts is not None:
            cap = tier.contracts if cap is None else min(cap, tier.contracts)
        if p.half_contracts is not None and not self.s.half_unlocked:
            cap = p.half_contracts if cap is None else min(cap, p.half_contracts)
        if self.policy.max_contracts is not None:
            cap = self.policy.max_contracts if cap is None else min(cap, self.policy.max_contracts)
        return cap

    def session_window(self, now: datetime) -> tuple[bool, float]:
        """(may positions be held now, minutes to the firm's flat-by time), the window cached until it ends."""
        window = self._window
        if window is None or not window[0] <= now < window[1]:
            day = self.calendar.session_of(now)
            window = (self.calendar.open_of(day).astimezone(UTC), self.calendar.flat_of(day).astimezone(UTC))
            if not window[0] <= now < window[1]:
                return False, self.calendar.minutes_to_close(now)
            self._window = window
        return True, (window[1] - now).total_seconds() / 60

    def evaluation_ends(self) -> datetime | None:
        """When a time-limited evaluation runs out (None: no limit, or the first day is not known yet)."""
        p = self.profile
        if p.time_limit_days is None or self.s.started_on is None:
            return None
        last_day = self.s.started_on + timedelta(days=p.time_limit_days - 1)
        return datetime.combine(last_day, p.time_limit_expires, self.calendar.tz)

    # ================================================================ the state the gate reads
    def trading_state(self) -> tuple[TradingState, str]:
        s = self.s
        if s.breached:
            return TradingState.FAILED, "the firm's threshold was touched"
        if s.closed_reason:
            return TradingState.HALTED, s.closed_reason
        if s.expired:
            return TradingState.HALTED, "the evaluation's time limit ran out before it passed"
        for reason in (s.manual_halt, s.dd_latched, s.dll_latched, s.consistency_latched):
            if reason:
                return TradingState.HALTED, reason
        if s.reducing_dd:
            return TradingState.REDUCING, f"{self.drawdown_used_pct:.0f}% of the drawdown used"
        dll = self.dll
        if s.reducing_dll and dll is not None:
            return TradingState.REDUCING, f"{self.day_loss / dll * HUNDRED:.0f}% of the daily loss limit used"
        if self.reducing_reasons:
            return TradingState.REDUCING, "; ".join(self.reducing_reasons.values())
        return TradingState.ACTIVE, ""

    # ================================================================ events
    def mark(self, ts: datetime, balance: Decimal, open_pnl: Decimal) -> list[Action]:
        """A new balance / open P&L (net of commissions)."""
        actions = self._advance(ts)
        s = self.s
        if balance != s.balance or open_pnl != ZERO:
            s.traded_today = True
        s.balance, s.open_pnl = balance, open_pnl
        equity = self.equity
        if equity > s.peak_rt:
            s.peak_rt = equity
            if self.profile.drawdown_kind == "intraday":
                self._raise_threshold(s.peak_rt)
        self._check(ts, actions)
        return actions

    def fill(self, ts: datetime) -> list[Action]:
        """A fill happened (the day counts as a trading day)."""
        actions = self._advance(ts)
        self.s.traded_today = True
        return actions

    def payout(self, ts: datetime, amount: Decimal) -> list[Action]:
        actions = self._advance(ts)
        s, p = self.s, self.profile
        s.balance -= amount
        s.payouts += 1
        s.payout_total += amount
        s.payout_base = s.balance + s.open_pnl
        s.day_history = []
        s.qualifying_days = 0
        s.days_since_payout = 0
        s.day_start -= amount
        if p.close_after_max_payouts and p.max_payouts is not None and s.payouts >= p.max_payouts:
            s.closed_reason = f"the account closed after its {p.max_payouts}th payout (the firm's rule)"
        if p.payout_threshold_offset is not None and s.payouts == 1:
            s.threshold, s.locked = p.start + p.payout_threshold_offset, True
        elif not s.locked and p.drawdown_kind != "static":
            self._raise_threshold(self.peak)  # a lock that waited for the first payout
        self._check(ts, actions)
        return actions

    def bootstrap(
        self,
        ts: datetime,
        *,
        peak: Decimal | None = None,
        threshold: Decimal | None = None,
        balance: Decimal | None = None,
        started_on: date | None = None,
    ) -> list[Action]:
        """Start mid-cycle from figures copied from the firm's dashboard (peak = threshold + DD)."""
        actions = self._advance(ts)
        s, dd = self.s, self.profile.drawdown
        if started_on is not None:
            s.started_on = started_on
        if balance is not None:
            s.balance = balance
            s.day_start = balance
        if threshold is not None:
            s.threshold = threshold
            peak = max(peak or threshold + dd, threshold + dd)
        if peak is not None:
            s.peak_rt = max(s.peak_rt, peak)
            s.peak_eod = max(s.peak_eod, peak)
            if self.profile.drawdown_kind != "static":
                self._raise_threshold(peak)
        lock = self.lock_level
        if lock is not None and s.threshold >= lock:
            s.threshold, s.locked = lock, True
        self._check(ts, actions)
        return actions

    def halt(self, ts: datetime, reason: str) -> list[Action]:
        actions = self._advance(ts)
        self.s.manual_halt = reason or "halted by the operator"
        self._check(ts, actions)
        return actions

    def resume(self, ts: datetime) -> list[Action]:
        """Clear operator and drawdown-buffer halts (a breach stays FAILED; DLL pauses end with the session)."""
        actions = self._advance(ts)
        self.s.manual_halt = ""
        self.s.dd_latched = ""
        self.s.warned_dd = False
        self._check(ts, actions, latch=False)
        return actions

    def tick(self, ts: datetime, has_exposure: bool | None) -> list[Action]:
        """Time passes: session closes, and flat by the firm's flat-by time. ``has_exposure``: the account holds a
        position or a working order (None: not known yet — no executor has reported since the hub started).

        Flattened: ``flatten_before_close_min`` before the flat-by time; at once when that time has passed with
        positions still open; and at once for every close that passed while positions were held (the hub was
        stopped, the machine slept, the clock jumped), with the reason."""
        actions = self._advance(ts)
        s = self.s
        if s.unchecked_close is not None and has_exposure is not None:
            day, s.unchecked_close = s.unchecked_close, None
            if has_exposure:
                when = self.calendar.flat_of(day).astimezone(self.calendar.tz)
                late = "after its pre-close flatten" if s.close_flattened == day else "(the hub did not see it coming)"
                reason = (
                    f"positions held past the {day.isoformat()} close (flat by {when:%H:%M:%S %Z}) {late}: "
                    "flattening now"
                )
                actions.append(Action(ActionKind.FLATTEN, self.account, reason, ts, code="SESSION_CLOSED"))
        if has_exposure and s.session is not None and s.close_flattened != s.session:
            minutes = (self.calendar.flat_of(s.session) - ts).total_seconds() / 60
            if minutes <= self.policy.flatten_before_close_min:
                s.close_flattened = s.session
                reason = (
                    f"flat-by time in {minutes:.1f} min" if minutes > 0 else "past the flat-by time: flattening now"
                )
                actions.append(Action(ActionKind.FLATTEN, self.account, reason, ts, code="SESSION_CLOSED"))
        self._check(ts, actions)
        return actions

    def reevaluate(self, ts: datetime) -> list[Action]:
        """The policy changed (hot reload): the REDUCING levels apply at once; the state change, if any."""
        actions: list[Action] = []
        self._update_reducing()
        self._emit_state(ts, actions)
        return actions

    def set_reducing(self, key: str, reason: str | None, ts: datetime) -> list[Action]:
        """Add (reason) or clear (None) a runtime REDUCING reason such as a lost executor."""
        if reason is None:
            self.reducing_reasons.pop(key, None)
        else:
            self.reducing_reasons[key] = reason
        actions: list[Action] = []
        self._emit_state(ts, actions)
        return actions

    # ================================================================ internals
    def _raise_threshold(self, peak: Decimal) -> None:
        s = self.s
        if s.locked or self.profile.drawdown_kind == "static":
            return
        candidate = max(s.threshold, peak - self.profile.drawdown)
        lock = self.lock_level
        if lock is not None and candidate >= lock:
            candidate, s.locked = max(lock, s.threshold), True
        s.threshold = candidate

    def _advance(self, ts: datetime) -> list[Action]:
        require_aware(ts, "event time")
        s = self.s
        actions: list[Action] = []
        if s.last_ts is not None and ts < s.last_ts:
            raise ValueError(f"event at {ts.isoformat()} is older than the last one ({s.last_ts.isoformat()})")
        if s.session is None:
            s.session = self.calendar.session_of(ts)
        elif s.last_ts is not None:
            for day, close in self.calendar.closes_between(s.last_ts, ts):
                self._close_session(day, close, actions)
        current = self.calendar.session_of(ts)
        if s.session != current and s.session is not None and current > s.session:
            s.session = current
        if s.started_on is None:
            s.started_on = ts.astimezone(self.calendar.tz).date()
        s.last_ts = ts
        self._expire(ts, actions)
        return actions

    def _expire(self, ts: datetime, actions: list[Action]) -> None:
        """A time-limited evaluation that has not passed ends at its deadline: flatten, no more trading."""
        s = self.s
        ends = self.evaluation_ends()
        if ends is None or s.expired or s.passed_at is not None or ts < ends or s.breached:
            return
        s.expired = True
        reason = f"the evaluation's {self.profile.time_limit_days} days ran out at {ends.isoformat()} before it passed"
        actions.append(Action(ActionKind.FLATTEN, self.account, reason, ts, code="TIME_LIMIT"))

    def _close_session(self, day: date, close: datetime, actions: list[Action]) -> None:
        s, p = self.s, self.profile
        eod = self.equity
        pnl = eod - s.day_start
        if eod > s.peak_eod:
            s.peak_eod = eod
        if p.drawdown_kind == "eod":
            self._raise_threshold(s.peak_eod)
        counts = p.half_days_count or not self.calendar.is_half_day(day)
        if s.traded_today or pnl != ZERO:
            s.day_history.append((day, pnl))
            if counts:
                s.trading_days += 1
                s.days_since_payout += 1
                if p.qualifying_min_profit is not None and pnl >= p.qualifying_min_profit:
                    s.qualifying_days += 1
            if p.inactivity_days is not None:
                s.recent_days.append((day, pnl))
        if p.mae_raised_from_profit is not None:
            s.mae_raised = eod - p.start >= p.mae_raised_from_profit  # from the next session, up or down
        if p.tiers:
            profit = eod - p.start
            index = 0
            for i, tier in enumerate(p.tiers):
                if profit >= tier.profit_from:
                    index = i
            s.tier_index = index
        if p.half_contracts is not None and p.half_until_offset is not None and eod > p.start + p.half_until_offset:
            s.half_unlocked = True
        actions.append(
            Action(
                ActionKind.CLOSE,
                self.account,
                f"day P&L {pnl:+,.2f}, balance {eod:,.2f} at the close",
                close,
                code=day.isoformat(),
            )
        )
        s.day_start = eod
        s.traded_today = False
        s.dll_latched = ""
        s.consistency_latched = ""
        s.warned_dll = False
        s.reducing_dd = s.reducing_dll = False  # a new session starts from the plain levels
        s.unchecked_close = day
        s.session = self.calendar.next_session_day(day + timedelta(days=1))
        self._inactivity(day, close, actions)
        self._update_reducing()
        self._emit_state(close, actions)

    def inactivity_deadline(self) -> date | None:
        """The last day on which the account may still make the qualifying day it needs before the firm closes it
        for inactivity (None: no such rule). [Apex 4.0 PA: fewer than two $50-net-profit days in 30 calendar days]"""
        p, s = self.profile, self.s
        if p.inactivity_days is None or s.started_on is None:
            return None
        good = sorted((d for d, pnl in s.recent_days if pnl >= p.inactivity_min_profit), reverse=True)
        # the window must still hold the min_days-th most recent good day (or the first day, without enough of them)
        anchor = good[p.inactivity_min_days - 1] if len(good) >= p.inactivity_min_days else s.started_on
        return anchor + timedelta(days=p.inactivity_days - 1)

    def _inactivity(self, day: date, close: datetime, actions: list[Action]) -> None:
        p, s = self.profile, self.s
        if p.inactivity_days is None:
            return
        s.recent_days = [(d, v) for d, v in s.recent_days if (day - d).days < p.inactivity_days]
        deadline = self.inactivity_deadline()
        if deadline is None or s.closed_reason:
            return
        if day >= deadline:
            s.closed_reason = (
                f"closed for inactivity: fewer than {p.inactivity_min_days} days of {p.inactivity_min_profit} net "
                f"profit in {p.inactivity_days} calendar days (the firm's rule)"
            )
            actions.append(Action(ActionKind.FLATTEN, self.account, s.closed_reason, close, code="INACTIVITY"))
        elif (deadline - day).days <= 7 and s.warned_inactivity != deadline:
            s.warned_inactivity = deadline
            text = (
                f"make a day of at least {p.inactivity_min_profit} net by {deadline.isoformat()} or the firm closes "
                f"the account for inactivity ({p.inactivity_min_days} such days in {p.inactivity_days} days)"
            )
            actions.append(Action(ActionKind.WARN, self.account, text, close, code="INACTIVITY"))

    def _check(self, ts: datetime, actions: list[Action], latch: bool = True) -> None:
        s, pol = self.s, self.policy
        if not s.breached and self.equity <= s.threshold:
            s.breached, s.breach_ts = True, ts
            actions.append(
                Action(
                    ActionKind.BREACH,
                    self.account,
                    f"equity {self.equity} touched the threshold {s.threshold}",
                    ts,
                    code="TRAILING_THRESHOLD",
                )
            )
            actions.append(Action(ActionKind.FLATTEN, self.account, "threshold touched", ts, code="TRAILING_THRESHOLD"))
        elif not s.breached and latch:
            self._levels(
                ts,
                actions,
                self.drawdown_used_pct,
                pol.warn_dd_pct,
                pol.flatten_dd_pct,
                "dd",
                "TRAILING_THRESHOLD",
                "of the drawdown used",
            )
            dll = self.dll
            if dll is not None:
                self._levels(
                    ts,
                    actions,
                    self.day_loss / dll * HUNDRED,
                    pol.warn_dll_pct,
                    pol.flatten_dll_pct,
                    "dll",
                    "DAILY_LOSS_LIMIT",
                    "of the daily loss limit used",
                )
            if pol.consistency_guard and not s.consistency_latched:
                room = self.consistency_room_today()
                if room is not None and self.day_pnl >= room > ZERO:
                    s.consistency_latched = f"today's profit {self.day_pnl} reached the consistency room {room}"
                    actions.append(
                        Action(ActionKind.FLATTEN, self.account, s.consistency_latched, ts, code="CONSISTENCY")
                    )
        if (
            self.profile.time_limit_days is not None
            and s.passed_at is None
            and not s.expired
            and self._meets_pass_conditions()
        ):
            s.passed_at = ts  # a time-limited evaluation passed within its days: latched
        self._update_reducing()
        self._emit_state(ts, actions)

    def _update_reducing(self) -> None:
        """REDUCING latches at its level and ends only once the account recovers the release margin below it
        (``Policy.reducing_release_pct`` points of the drawdown / DLL), or at the next session: an account
        hovering at the level does not flap in and out."""
        s, pol = self.s, self._policy
        used = self.drawdown_used_pct
        if used >= pol.reducing_dd_pct:
            s.reducing_dd = True
        elif s.reducing_dd and used <= pol.reducing_dd_pct - pol.reducing_release_pct:
            s.reducing_dd = False
        dll = self.dll
        if dll is None:
            s.reducing_dll = False
            return
        used_dll = self.day_loss / dll * HUNDRED
        if used_dll >= pol.reducing_dll_pct:
            s.reducing_dll = True
        elif s.reducing_dll and used_dll <= pol.reducing_dll_pct - pol.reducing_release_pct:
            s.reducing_dll = False

    def _levels(
        self,
        ts: datetime,
        actions: list[Action],
        used: Decimal,
        warn: Decimal,
        flatten: Decimal,
        latch: str,
        code: str,
        what: str,
    ) -> None:
        """One buffer: flatten and latch the halt at the flatten level, warn once at the warn level.

        The drawdown latch ("dd") holds until an explicit resume; the DLL latch ends with the session."""
        s = self.s
        latched, warned = f"{latch}_latched", f"warned_{latch}"
        if used >= flatten and not getattr(s, latched):
            reason = f"{used:.0f}% {what} (flatten level {flatten}%)"
            if latch == "dll":
                reason += "; paused until the next session"
            setattr(s, latched, reason)
            actions.append(Action(ActionKind.FLATTEN, self.account, reason, ts, code=code))
        elif used >= warn and not getattr(s, warned):
            setattr(s, warned, True)
            actions.append(Action(ActionKind.WARN, self.account, f"{used:.0f}% {what}", ts, code=code))

    def _emit_state(self, ts: datetime, actions: list[Action]) -> None:
        state, reason = self.trading_state()
        if state is not self._last_state:
            actions.append(
                Action(
                    ActionKind.STATE,
                    self.account,
                    reason or "back inside every buffer",
                    ts,
                    old=self._last_state,
                    new=state,
                )
            )
            self._last_state = state

    # ================================================================ consistency and payout figures
    def _net_since_payout(self) -> Decimal:
        return self.equity - self.s.payout_base

    def best_day_share(self) -> Decimal | None:
        """Largest single day's profit / net profit since the last payout (today included)."""
        net = self._net_since_payout()
        if net <= ZERO:
            return None
        days = [pnl for _, pnl in self.s.day_history]
        if self.s.traded_today or self.day_pnl != ZERO:
            days.append(self.day_pnl)
        best = max(days, default=ZERO)
        return max(ZERO, best) / net

    def consistency_limit(self) -> Decimal | None:
        return self.profile.consistency_limit(self.s.payouts)

    def consistency_ok(self) -> bool | None:
        limit = self.consistency_limit()
        share = self.best_day_share()
        if limit is None:
            return None
        if share is None:
            return True
        pct = share * HUNDRED
        return pct < limit if self.profile.consistency_boundary == "strict" else pct <= limit

    def consistency_room_today(self) -> Decimal | None:
        """The most profit today can make before the best-day share breaks the limit.

        With p the limit and N the net profit of the closed days since the last payout, today's
        profit x keeps x / (N + x) within p while x <= p * N / (1 - p). An evaluation will end with
        at least its target, so p * target is also allowed."""
        limit = self.consistency_limit()
        if limit is None:
            return None
        p = limit / HUNDRED
        prior = sum((pnl for _, pnl in self.s.day_history), ZERO)
        room = max(ZERO, p * prior / (1 - p))
        if self.profile.target is not None:
            room = max(room, p * self.profile.target)
        return room

    def payout_status(self) -> tuple[bool | None, tuple[str, ...]]:
        p, s = self.profile, self.s
        if p.phase != "funded":
            return None, ()
        reasons: list[str] = []
        if s.breached:
            reasons.append("account failed")
        if s.closed_reason:
            reasons.append(s.closed_reason)
        if p.max_payouts is not None and s.payouts >= p.max_payouts:
            reasons.append(f"all {p.max_payouts} payouts taken")
        if self._safety_net_applies() and p.min_payout_balance_offset is not None:
            needed = p.start + p.min_payout_balance_offset
            if s.balance < needed:
                reasons.append(f"balance {s.balance} below {needed}")
        if p.trading_days_for_payout is not None and s.days_since_payout < p.trading_days_for_payout:
            reasons.append(f"{s.days_since_payout} of {p.trading_days_for_payout} trading days since the last payout")
        if p.qualifying_days_for_payout is not None and s.qualifying_days < p.qualifying_days_for_payout:
            reasons.append(f"{s.qualifying_days} of {p.qualifying_days_for_payout} qualifying days")
        if p.consistency_blocks == "payout" and self.consistency_ok() is False:
            reasons.append("best day above the consistency limit")
        return not reasons, tuple(reasons)

    def _safety_net_applies(self) -> bool:
        """The minimum balance for a payout holds for every payout, or for the first ``safety_net_payouts``."""
        limit = self.profile.safety_net_payouts
        return limit is None or self.s.payouts < limit

    def payout_floor(self) -> Decimal:
        """What must remain after a payout: the safety net (by default: only the amount above it can be taken), or
        the profile's ``payout_keeps_offset``; once the safety net lapses, more than the threshold."""
        p, s = self.profile, self.s
        if self._safety_net_applies() and p.min_payout_balance_offset is not None:
            keeps = p.payout_keeps_offset if p.payout_keeps_offset is not None else p.min_payout_balance_offset
            return p.start + keeps
        return s.threshold + Decimal("0.01")  # a payout that leaves the balance on the threshold is a breach

    def max_payout(self) -> Decimal | None:
        """The largest payout allowed now: what lies above the payout floor, within this request's cap; None when
        not eligible or when that is below the minimum payout."""
        p = self.profile
        eligible, _ = self.payout_status()
        if not eligible:
            return None
        amount = max(ZERO, self.s.balance - self.payout_floor())
        cap = p.payout_cap(self.s.payouts)
        if cap is not None:
            amount = min(amount, cap)
        if p.min_payout is not None and amount < p.min_payout:
            return None
        return amount

    def required_profit(self) -> Decimal | None:
        """Net profit needed to pass when consistency raises the target: best day / limit (and the target)."""
        p = self.profile
        if p.target is None:
            return None
        limit = self.consistency_limit()
        if limit is None or p.consistency_blocks not in ("target", "pass"):
            return p.target
        best = max([pnl for _, pnl in self.s.day_history] + [self.day_pnl, ZERO])
        needed = best * HUNDRED / limit
        if p.consistency_boundary == "strict":  # "below 50%": the net must exceed best / limit, by a cent
            needed = (needed + Decimal("0.01")).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
        return max(p.target, needed)

    def mae_cap(self) -> Decimal | None:
        """Largest open loss allowed per trade [A-LPA via R-10 §2]: ``mae_fixed`` while the start-of-day profit is
        below ``mae_fixed_until_profit`` (100K Static: $187.50 below $2,600); otherwise ``mae_pct`` — or
        ``mae_raised_pct`` once an end-of-day profit reached ``mae_raised_from_profit`` — of the start-of-day
        profit, and at least of the drawdown."""
        p = self.profile
        if p.mae_pct is None:
            return None
        profit = self.s.day_start - p.start
        if p.mae_fixed is not None and p.mae_fixed_until_profit is not None and profit < p.mae_fixed_until_profit:
            return p.mae_fixed
        pct = p.mae_raised_pct if self.s.mae_raised and p.mae_raised_pct is not None else p.mae_pct
        base = profit if p.mae_fixed is not None else max(profit, p.drawdown)
        return pct / HUNDRED * base

    def snapshot(self) -> Snapshot:
        s, p = self.s, self.profile
        state, reason = self.trading_state()
        dll = self.dll
        cap = self.max_contracts()
        allowed = (cap if cap is not None else 0) if state is TradingState.ACTIVE else 0
        target_reached = None if p.target is None or p.phase != "eval" else s.balance >= p.start + p.target
        passed = None
        if target_reached is not None:
            passed = self._meets_pass_conditions()
            if p.time_limit_days is not None:  # only what was met within the days counts
                passed = s.passed_at is not None and not s.breached
        eligible, reasons = self.payout_status()
        share = self.best_day_share()
        return Snapshot(
            account=self.account,
            ts=s.last_ts,
            state=state,
            state_reason=reason,
            balance=s.balance,
            open_pnl=s.open_pnl,
            equity=self.equity,
            peak=self.peak,
            threshold=s.threshold,
            locked=s.locked,
            breached=s.breached,
            distance=self.distance,
            drawdown_used_pct=self.drawdown_used_pct.quantize(Decimal("0.1")),
            day_pnl=self.day_pnl,
            dll=dll,
            dll_remaining=None if dll is None else dll - self.day_loss,
            max_contracts=cap,
            contracts_allowed=allowed,
            best_day_share=None if share is None else share.quantize(Decimal("0.0001")),
            consistency_limit=self.consistency_limit(),
            consistency_ok=self.consistency_ok(),
            consistency_room_today=self.consistency_room_today(),
            trading_days=s.trading_days,
            qualifying_days=s.qualifying_days,
            target_reached=target_reached,
            passed=passed,
            payout_eligible=eligible,
            payout_reasons=reasons,
            evaluation_ends=self.evaluation_ends(),
            expired=s.expired,
            inactivity_deadline=self.inactivity_deadline(),
            payout_max=self.max_payout(),
        )

    def _meets_pass_conditions(self) -> bool:
        p, s = self.profile, self.s
        if p.target is None or p.phase != "eval" or s.breached:
            return False
        consistent = p.consistency_blocks == "payout" or self.consistency_ok() is not False
        return bool(s.balance >= p.start + p.target and s.trading_days >= p.min_trading_days and consistent)

    def copy_state(self) -> TrackerState:
        return replace(self.s, day_history=list(self.s.day_history))


def ceil_div(a: Decimal, b: Decimal) -> int:
    return int((a / b).to_integral_value(rounding=ROUND_CEILING))
