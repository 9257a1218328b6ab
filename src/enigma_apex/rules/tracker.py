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
from decimal import ROUND_CEILING, Decimal
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
    flatten_before_close_min: int = 5
    no_new_entries_min: int = 10
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

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _STATE_FIELDS}  # shallow: asdict deep-copies every value
        data["day_history"] = [[d.isoformat(), str(v)] for d, v in self.day_history]
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
            elif key in ("breach_ts", "last_ts"):
                kwargs[key] = datetime.fromisoformat(value) if value else None
            elif key in ("session", "close_flattened"):
                kwargs[key] = date.fromisoformat(value) if value else None
            elif key == "day_history":
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

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self.__slots__:
            value = getattr(self, key)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, Enum):
                value = value.value.upper()
            elif isinstance(value, datetime):
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
        """(is the firm's session open, minutes to its close) with the window cached until it ends."""
        window = self._window
        if window is None or not window[0] <= now < window[1]:
            day = self.calendar.session_of(now)
            window = (self.calendar.open_of(day).astimezone(UTC), self.calendar.close_of(day).astimezone(UTC))
            if not window[0] <= now < window[1]:
                return False, self.calendar.minutes_to_close(now)
            self._window = window
        return True, (window[1] - now).total_seconds() / 60

    # ================================================================ the state the gate reads
    def trading_state(self) -> tuple[TradingState, str]:
        s = self.s
        if s.breached:
            return TradingState.FAILED, "the firm's threshold was touched"
        for reason in (s.manual_halt, s.dd_latched, s.dll_latched, s.consistency_latched):
            if reason:
                return TradingState.HALTED, reason
        pol = self._policy
        if s.balance + s.open_pnl - s.threshold <= self.reducing_distance:
            return TradingState.REDUCING, f"{self.drawdown_used_pct:.0f}% of the drawdown used"
        dll = self.dll
        if dll is not None and s.day_start - s.balance - s.open_pnl >= dll * pol.reducing_dll_pct / HUNDRED:
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
        s.day_start -= amount
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
    ) -> list[Action]:
        """Start mid-cycle from figures copied from the firm's dashboard (peak = threshold + DD)."""
        actions = self._advance(ts)
        s, dd = self.s, self.profile.drawdown
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

    def tick(self, ts: datetime, has_exposure: bool) -> list[Action]:
        """Time passes: session closes, and the flatten before the firm's close."""
        actions = self._advance(ts)
        s = self.s
        if has_exposure and s.session is not None and s.close_flattened != s.session:
            minutes = self.calendar.minutes_to_close(ts)
            if minutes <= self.policy.flatten_before_close_min:
                s.close_flattened = s.session
                actions.append(
                    Action(
                        ActionKind.FLATTEN,
                        self.account,
                        f"session close in {minutes:.1f} min",
                        ts,
                        code="SESSION_CLOSED",
                    )
                )
        self._check(ts, actions)
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
        s.last_ts = ts
        return actions

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
                if p.qualifying_min_profit is not None and pnl >= p.qualifying_min_profit:
                    s.qualifying_days += 1
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
        s.session = self.calendar.next_session_day(day + timedelta(days=1))
        self._emit_state(close, actions)

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
        self._emit_state(ts, actions)

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
        if p.max_payouts is not None and s.payouts >= p.max_payouts:
            reasons.append(f"all {p.max_payouts} payouts taken")
        if p.min_payout_balance_offset is not None:
            needed = p.start + p.min_payout_balance_offset
            if s.balance < needed:
                reasons.append(f"balance {s.balance} below {needed}")
        if p.qualifying_days_for_payout is not None and s.qualifying_days < p.qualifying_days_for_payout:
            reasons.append(f"{s.qualifying_days} of {p.qualifying_days_for_payout} qualifying days")
        if p.consistency_blocks == "payout" and self.consistency_ok() is False:
            reasons.append("best day above the consistency limit")
        return not reasons, tuple(reasons)

    def max_payout(self) -> Decimal | None:
        """The largest payout the balance allows now (the minimum balance less the minimum payout must remain)."""
        p = self.profile
        eligible, _ = self.payout_status()
        if not eligible or p.min_payout_balance_offset is None:
            return None
        floor = p.start + p.min_payout_balance_offset - (p.min_payout or ZERO)
        return max(ZERO, self.s.balance - floor)

    def required_profit(self) -> Decimal | None:
        """Net profit needed to pass when consistency raises the target: best day / limit (and the target)."""
        p = self.profile
        if p.target is None:
            return None
        limit = self.consistency_limit()
        if limit is None or p.consistency_blocks not in ("target", "pass"):
            return p.target
        best = max([pnl for _, pnl in self.s.day_history] + [self.day_pnl, ZERO])
        return max(p.target, best * HUNDRED / limit)

    def mae_cap(self) -> Decimal | None:
        """Largest open loss allowed per trade: mae_pct of max(start-of-day profit, drawdown) [A-LPA]."""
        p = self.profile
        if p.mae_pct is None:
            return None
        return p.mae_pct / HUNDRED * max(self.s.day_start - p.start, p.drawdown)

    def snapshot(self) -> Snapshot:
        s, p = self.s, self.profile
        state, reason = self.trading_state()
        dll = self.dll
        cap = self.max_contracts()
        allowed = (cap if cap is not None else 0) if state is TradingState.ACTIVE else 0
        target_reached = None if p.target is None or p.phase != "eval" else s.balance >= p.start + p.target
        passed = None
        if target_reached is not None:
            consistent = p.consistency_blocks == "payout" or self.consistency_ok() is not False
            passed = bool(target_reached and s.trading_days >= p.min_trading_days and consistent and not s.breached)
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
        )

    def copy_state(self) -> TrackerState:
        return replace(self.s, day_history=list(self.s.day_history))


def ceil_div(a: Decimal, b: Decimal) -> int:
    return int((a / b).to_integral_value(rounding=ROUND_CEILING))
