"""The risk manager service: trade statistics from the database and sizes for the guardian's accounts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from sqlalchemy import Engine

from enigma_apex.adapters.store.trades import load_trades
from enigma_apex.app.guardian import GuardianService
from enigma_apex.config.models import Settings
from enigma_apex.domain.orders import Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.rules.gate import Intent
from enigma_apex.rules.tracker import HUNDRED
from enigma_apex.rules.verdicts import Code
from enigma_apex.sizing.sizer import AccountRoom, Order, SizeResult, SizingPolicy, size
from enigma_apex.sizing.stats import Prior, TradeRecord, TradeStats, compute

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


class RiskService:
    def __init__(self, settings: Settings, guardian: GuardianService, engine: Engine) -> None:
        self.settings = settings
        self.guardian = guardian
        self.engine = engine
        self._stats: dict[str | None, dict[str, TradeStats]] = {}  # cleared by every fill (see invalidate)

    def invalidate(self) -> None:
        """Forget every cached statistic (the sizing settings changed)."""
        self._stats = {}

    def refresh(self, account: str) -> None:
        """A fill of ``account`` arrived: its statistics (and the all-accounts ones) are computed again now, off the
        signal path, so the next signal's analysis and size find them ready."""
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
        with self.engine.connect() as conn:
            trades = load_trades(conn, account, tuple(self.settings.sizing.power_buckets))
        groups: dict[str, list[TradeRecord]] = {}
        for t in trades:
            groups.setdefault(t.account, []).append(t)
            groups.setdefault(f"{t.account}/{t.setup}", []).append(t)
        if account is not None:
            groups.setdefault(account, [])
        result = {key: compute(items, self.prior) for key, items in sorted(groups.items())}
        self._stats[account] = result
        return result

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
