"""The risk manager service: trade statistics from the database and sizes for the guardian's accounts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from decimal import Decimal

from sqlalchemy import Engine

from enigma_apex.adapters.store.trades import TradeReplay, load_trades
from enigma_apex.app.guardian import GuardianService
from enigma_apex.config.models import Settings
from enigma_apex.domain.orders import Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.rules.gate import Intent
from enigma_apex.rules.tracker import HUNDRED
from enigma_apex.rules.verdicts import Code
from enigma_apex.sizing.sizer import AccountRoom, Order, SizeResult, SizingPolicy, size
from enigma_apex.sizing.stats import Prior, Tally, TradeRecord, TradeStats, compute

# Verdicts that depend on the size itself: the sizer answers those with its own arithmetic.
SIZE_CODES = frozenset({Code.TRAILING_THRESHOLD, Code.DAILY_LOSS_LIMIT, Code.MAE_LIMIT, Code.MAX_CONTRACTS})


def sizing_policy(settings: Settings) -> SizingPolicy:
    cfg = settings.sizing
    return SizingPolicy(
        kelly_multiplier=cfg.kelly_multiplier,
        base_risk_pct=cfg.base_risk_pct,
        max_risk_per_trade_usd=cfg.max_risk_per_trade_usd,
        max_risk_pct_of_buffer=cfg.max_risk_pct_of_buffer,
        min_trades_for_kelly=cfg.min_trades_for_kelly,
        ai_max_shift=cfg.ai_max_shift,
    )


@dataclass
class _History:
    """One account's trades so far: the replay of its fills and the running sums per account and per setup."""

    replay: TradeReplay
    tallies: dict[str, Tally] = field(default_factory=dict)


def _count(tallies: dict[str, Tally], trade: TradeRecord) -> None:
    """A closed trade counts for its account (key = account) and its setup (key = 'account/setup')."""
    tallies.setdefault(trade.account, Tally()).add(trade)
    tallies.setdefault(f"{trade.account}/{trade.setup}", Tally()).add(trade)


class RiskService:
    def __init__(self, settings: Settings, guardian: GuardianService, engine: Engine) -> None:
        self.settings = settings
        self.guardian = guardian
        self.engine = engine
        self._stats: dict[str | None, dict[str, TradeStats]] = {}  # an account's entry is dropped by its fills
        self._histories: dict[str, _History] = {}  # per account: its trades so far, summed (see refresh)
        self._lock = threading.Lock()  # fills refresh from worker threads; planning reads from others

    def invalidate(self) -> None:
        """Forget every cached statistic and summed history (the sizing settings changed: prior, power buckets)."""
        with self._lock:
            self._stats = {}
            self._histories = {}

    def refresh(self, account: str) -> None:
        """A fill of ``account`` arrived: its statistics (and the all-accounts ones) are computed again now, off the
        signal path, so the next signal's analysis and size find them ready. Only the fills recorded since the
        last refresh are read and added to the account's running sums: the cost of a fill does not grow with the
        account's history."""
        with self._lock:
            self._stats.pop(None, None)
            self._stats.pop(account, None)
        self.stats(account)

    def cached_stats(self, accounts: list[str]) -> dict[str, TradeStats | None] | None:
        """These accounts' statistics if every one is in memory (``stats`` would not read the database), else None."""
        found: dict[str, TradeStats | None] = {}
        for account in accounts:
            cached = self._stats.get(account)  # one read: a refresh in another thread may drop it meanwhile
            if cached is None:
                return None
            found[account] = cached.get(account)
        return found

    @property
    def prior(self) -> Prior:
        cfg = self.settings.sizing
        return Prior(cfg.prior_win_rate, cfg.prior_payoff, cfg.prior_strength)

    def stats(self, account: str | None = None) -> dict[str, TradeStats]:
        """Statistics per account (key = account) and per setup (key = 'account/setup')."""
        cached = self._stats.get(account)
        if cached is not None:
            return cached
        if account is None:  # every account's (the CLI, reports): replayed from the first fill
            with self.engine.connect() as conn:
                trades = load_trades(conn, None, self._edges)
            tallies: dict[str, Tally] = {}
            for t in trades:
                _count(tallies, t)
            result = {key: tally.stats(self.prior) for key, tally in sorted(tallies.items())}
            self._stats[None] = result
            return result
        with self._lock:
            history = self._caught_up(account)
            result = {key: tally.stats(self.prior) for key, tally in sorted(history.tallies.items())}
            self._stats[account] = result
        return result

    @property
    def _edges(self) -> tuple[int, ...]:
        return tuple(self.settings.sizing.power_buckets)

    def _caught_up(self, account: str) -> _History:
        """The account's history with every recorded fill added (under the lock). Taken out while it is brought up to
        date: a read or a replay that fails leaves no half-updated sums behind (the next call starts afresh)."""
        history = self._histories.pop(account, None)
        with self.engine.connect() as conn:
            new = None if history is None else history.replay.catch_up(conn, account)
            if history is None or new is None:  # the first time, or the fills changed behind it: from the start
                history = _History(TradeReplay(self._edges), {account: Tally()})
                new = history.replay.catch_up(conn, account) or []  # a fresh replay reads every fill
        for t in new:
            _count(history.tallies, t)
        self._histories[account] = history
        return history

    def room(self, account: str, intent: Intent) -> AccountRoom:
        """The guardian's figures for sizing. Size-dependent verdicts (threshold, DLL, MAE, cap) are left to
        the sizer; any other refusal (halted, reducing, closed, news, hedging, …) means no contracts."""
        t = self.guardian.tracker(account)
        units = t.micro_ratio if intent.contract.spec.is_micro else 1  # the gate counts in the order's contracts
        cap = (t.max_contracts() or 0) * units
        decision = self.guardian.check(replace(intent, quantity=max(cap, 1)))
        allowed, reasons = cap, []
        for verdict in decision.verdicts:
            if verdict.code is Code.MAX_CONTRACTS:
                allowed = min(allowed, verdict.max_quantity)
            elif verdict.code not in SIZE_CODES and verdict.refuses:
                allowed = 0
                reasons.append(f"{verdict.code.value}: {verdict.reason}")
        dll = t.dll
        dll_room = None if dll is None else dll * t.policy.flatten_dll_pct / HUNDRED - t.day_loss
        return AccountRoom(
            distance=t.distance,
            flatten_buffer=t.flatten_distance,
            dll_room=dll_room,
            mae_cap=t.mae_cap(),
            risk_reward_max=t.profile.risk_reward_max,
            contracts_allowed=allowed,
            micro_ratio=t.micro_ratio,
            gate_reason="; ".join(reasons),
        )

    def size(
        self,
        account: str,
        contract: Contract,
        side: Side,
        entry: Decimal,
        stop: Decimal,
        target: Decimal | None = None,
        ai_confidence: Decimal | None = None,
    ) -> tuple[SizeResult, TradeStats]:
        rules = self.settings.rules
        probe = Intent(account, contract, side, 1, entry, stop, target)
        room = self.room(account, probe)
        stats = self.stats(account).get(account) or compute([], self.prior)
        order = Order(
            contract, side, entry, stop, target, rules.commission_mini, rules.commission_micro, rules.slippage_ticks
        )
        result = size(order, room, stats, sizing_policy(self.settings), ai_confidence)
        if result.quantity:  # the final word is the gate's, at the chosen contract and quantity
            final = self.guardian.check(Intent(account, result.contract, side, result.quantity, entry, stop, target))
            if final.allowed < result.quantity:
                breakdown = {**result.breakdown, "gate_final": final.as_dict()}
                code = result.code if final.allowed else "GATE_CLOSED"
                result = SizeResult(result.contract, final.allowed, code, result.mode, breakdown)
        return result, stats
