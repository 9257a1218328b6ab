"""The analyst: asks the model within its time budget, and falls back to the deterministic scorer.

The answer used is always recorded with why: ``source`` is ``ai`` when the model answered in time with a valid
answer, ``scorer`` otherwise (``fallback_reason`` says: disabled, breaker open, timeout, rate_limited,
server_error, connection, invalid_answer, refused). The analyst only ever reduces risk: ``skip`` drops the
trade, ``reduce`` keeps ``reduce_factor`` of the size, ``take`` passes the confidence to the sizer, which never
sizes above its own result without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine, select

from enigma_apex.adapters.store import schema as s
from enigma_apex.analysis.answer import NOT_ANALYSED, Analysis, cost
from enigma_apex.analysis.breaker import CircuitBreaker
from enigma_apex.analysis.prompt import PromptTemplate
from enigma_apex.analysis.scorer import ScoreInputs, score
from enigma_apex.app.guardian import GuardianService
from enigma_apex.app.risk import RiskService
from enigma_apex.app.telemetry import fallback_reason
from enigma_apex.config.models import AISection, Settings
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.signals import Signal
from enigma_apex.sizing.stats import TradeStats

log = structlog.get_logger("enigma_apex.analyst")
EASTERN = ZoneInfo("America/New_York")


class Model(Protocol):
    model: str

    async def ask(self, messages: list[dict[str, str]]) -> Any: ...

    async def close(self) -> None: ...


class AnalystService:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        engine: Engine,
        guardian: GuardianService,
        risk: RiskService,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = engine
        self.guardian = guardian
        self.risk = risk
        self.breaker = self._new_breaker(settings.ai)
        self._model: Model | None = None
        self._model_key: tuple[Any, ...] | None = None
        self._template: PromptTemplate | None = None
        self._template_path: Any = object()
        self.notify: Callable[[str, str, str], None] | None = None  # (severity, kind, message): an alert

    @staticmethod
    def _new_breaker(cfg: AISection) -> CircuitBreaker:
        return CircuitBreaker(cfg.failure_threshold, timedelta(seconds=float(cfg.cooldown_s)))

    def apply_settings(self, settings: Settings) -> None:
        """A reloaded configuration: a new breaker threshold or model applies to the next signal."""
        self.settings = settings
        self.breaker.threshold = settings.ai.failure_threshold
        self.breaker.cooldown = timedelta(seconds=float(settings.ai.cooldown_s))

    def status(self) -> dict[str, Any]:
        cfg = self.settings.ai
        return {
            "enabled": cfg.enabled,
            "model": cfg.model,
            "base_url": cfg.base_url,
            "breaker": self.breaker.state(self.clock.now()),
            "consecutive_failures": self.breaker.failures,
        }

    # ------------------------------------------------------------------ the model, built lazily
    def model(self) -> Model:
        cfg = self.settings.ai
        key = (cfg.base_url, cfg.model, cfg.api_key.get_secret_value() if cfg.api_key else None, cfg.timeout_s)
        if self._model is None or key != self._model_key:
            from enigma_apex.adapters.llm import OpenAICompatibleModel

            self._model = OpenAICompatibleModel(cfg.base_url, cfg.model, key[2], float(cfg.timeout_s))
            self._model_key = key
        return self._model

    def template(self) -> PromptTemplate:
        path = self.settings.ai.prompt_file
        if self._template is None or path != self._template_path:
            from enigma_apex.adapters.llm import load_template

            self._template = load_template(path)
            self._template_path = path
        return self._template

    async def close(self) -> None:
        if self._model is not None:
            await self._model.close()
            self._model = None

    # ------------------------------------------------------------------ analysis
    def fallback(
        self, signal: Signal, accounts: list[str], reason: str | None, known: dict[str, TradeStats | None] | None = None
    ) -> Analysis:
        """The deterministic scorer's answer for this signal (see ``analysis/scorer.py``); ``known``: the accounts'
        statistics, already read."""
        trades = wins = 0
        for account in accounts:
            stats = known[account] if known is not None else self.risk.stats(account).get(account)
            if stats is not None:
                trades += stats.trades
                wins += stats.wins
        trend = dict(signal.extra).get("trend")
        inputs = ScoreInputs(
            direction=signal.direction.value,
            et_time=signal.received_at.astimezone(EASTERN).time(),
            power=signal.power,
            confluence=signal.confluence,
            trend=trend,
            hit_rate=Decimal(wins) / Decimal(trades) if trades else None,
            trades=trades,
            source=signal.source.value,
        )
        cfg = self.settings.ai
        result = score(inputs, cfg.take_score, cfg.skip_score)
        if reason is None:
            return result
        return Analysis(
            result.source,
            result.score,
            result.action,
            result.confidence,
            result.reasons,
            fallback_reason=reason,
            breakdown=result.breakdown,
        )

    async def analyse(self, signal: Signal, accounts: list[str]) -> Analysis:
        """Never raises and never takes longer than the budget (plus the context query)."""
        if not signal.direction.is_entry_side or signal.closes_only:
            return NOT_ANALYSED  # closing risk is never second-guessed; an add or a cancel has no direction to score
        analysis = await self._analyse(signal, accounts)
        telemetry = self.guardian.telemetry
        telemetry.ai_calls.labels(analysis.source).inc()
        if analysis.fallback_reason:
            telemetry.ai_fallbacks.labels(fallback_reason(analysis.fallback_reason)).inc()
        return analysis

    async def _scored(self, signal: Signal, accounts: list[str], reason: str) -> Analysis:
        """The scorer's answer. With every account's statistics in memory (refreshed after each fill) it is a sum and
        a score, about 10 microseconds: computed here, with no thread hop on the signal's path; else the statistics
        are read from the database in a worker thread."""
        known = self.risk.cached_stats(accounts)
        if known is not None:
            return self.fallback(signal, accounts, reason, known)
        return await asyncio.to_thread(self.fallback, signal, accounts, reason)

    async def _analyse(self, signal: Signal, accounts: list[str]) -> Analysis:
        cfg = self.settings.ai
        if not cfg.enabled:
            return await self._scored(signal, accounts, "ai disabled")
        now = self.clock.now()
        if not self.breaker.allows(now):
            until = self.breaker.open_until.isoformat(timespec="seconds") if self.breaker.open_until else "?"
            return await self._scored(signal, accounts, f"breaker open until {until}")
        try:
            template = self.template()
            context = await asyncio.to_thread(self.context, signal, accounts)
            reply = await self.model().ask(template.messages(context))
        except Exception as exc:  # noqa: BLE001 - any failure of the model means the scorer decides
            kind = getattr(exc, "kind", "error")
            opened = self.breaker.failure(self.clock.now())
            log.warning("analyst.fallback", signal=signal.signal_id, kind=kind, error=str(exc), breaker_opened=opened)
            if opened and self.notify is not None:
                until = self.breaker.open_until.isoformat(timespec="seconds") if self.breaker.open_until else "?"
                self.notify(
                    "warning",
                    "ai.fallback",
                    f"the AI analyst failed {self.breaker.failures} time(s) in a row ({kind}: {str(exc)[:200]}); "
                    f"the deterministic scorer decides until {until}",
                )
            return await self._scored(signal, accounts, str(exc) if kind != "error" else repr(exc))
        self.breaker.success()
        answer = reply.answer
        return Analysis(
            "ai",
            answer.score,
            answer.action,
            Decimal(str(answer.confidence)),
            tuple(r[:300] for r in answer.reasons),
            model=cfg.model,
            prompt_version=template.version,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=cost(
                reply.prompt_tokens, reply.completion_tokens, cfg.price_input_per_mtok, cfg.price_output_per_mtok
            ),
            latency_ms=reply.latency_ms,
        )

    def context(self, signal: Signal, accounts: list[str]) -> dict[str, Any]:
        """What the prompt carries: the signal, recent signals with their decisions, risk state, statistics."""
        limit = self.settings.ai.recent_signals
        recent: list[dict[str, Any]] = []
        if limit:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(
                        s.signals.c.id,
                        s.signals.c.symbol,
                        s.signals.c.direction,
                        s.signals.c.received_at,
                        s.signals.c.power,
                        s.signals.c.confluence,
                    )
                    .where(s.signals.c.id != signal.signal_id)
                    .order_by(s.signals.c.received_at.desc())
                    .limit(limit)
                ).all()
                ids = [r.id for r in rows]
                actions: dict[str, list[str]] = {}
                if ids:
                    for d in conn.execute(
                        select(s.decisions.c.signal_id, s.decisions.c.action).where(s.decisions.c.signal_id.in_(ids))
                    ):
                        actions.setdefault(d.signal_id, []).append(d.action)
            recent = [
                {
                    "symbol": r.symbol,
                    "direction": r.direction,
                    "at": r.received_at.isoformat(timespec="seconds"),
                    "power": r.power,
                    "confluence": r.confluence,
                    "decided": sorted(set(actions.get(r.id, []))),
                }
                for r in rows
            ]
        state = []
        stats: dict[str, Any] = {}
        for account in accounts:
            snap = self.guardian.tracker(account).snapshot()
            state.append(
                {
                    "account": account,
                    "distance_to_threshold": str(snap.distance),
                    "day_pnl": str(snap.day_pnl),
                    "state": snap.state.value,
                }
            )
            account_stats = self.risk.stats(account).get(account)
            if account_stats is not None:
                stats[account] = account_stats.as_dict()
        return {
            "signal": {
                "symbol": str(signal.contract),
                "direction": signal.direction.value,
                "entry": None if signal.entry is None else str(signal.entry),
                "stop": None if signal.stop is None else str(signal.stop),
                "target": None if signal.target is None else str(signal.target),
                "source": signal.source.value,
                "power": signal.power,
                "confluence": signal.confluence,
                "extra": dict(signal.extra),
                "at_eastern": signal.received_at.astimezone(EASTERN).isoformat(timespec="seconds"),
            },
            "recent": recent,
            "accounts": state,
            "stats": stats,
        }
