"""TradingView webhooks: read the alert, refuse stale or malformed ones (recorded, nothing executed), and hand
the rest to the decision pipeline — answering within TradingView's 3-second limit whatever happens behind."""

from __future__ import annotations

import asyncio
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from enigma_apex.adapters.store import repository
from enigma_apex.app.pipeline import Outcome, SignalPipeline
from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.intake.tradingview import Alert, Refused, parse_alert

log = structlog.get_logger("enigma_apex.webhooks")

ANSWER_WITHIN_S = 2.0  # TradingView cancels a request after 3 s [W1]; what is not decided by then goes on behind

_CREDENTIAL = re.compile(r"""["']?\b(key|token|secret|password)\b["']?\s*[=:]\s*["']?[^;"',}\s]*""", re.IGNORECASE)
_DIRECTIONS = {"buy": Direction.LONG, "sell": Direction.SHORT, "exit": Direction.EXIT}


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class TradingViewWebhook:
    def __init__(self, pipeline: SignalPipeline) -> None:
        self.pipeline = pipeline
        self._behind: set[asyncio.Task[Outcome]] = set()

    def secret_matches(self, given: str) -> bool:
        """Constant-time comparison with the configured secret; False when the webhook is off."""
        secret = self.pipeline.settings.signals.tradingview_secret
        if secret is None or not secret.get_secret_value():
            return False
        return hmac.compare_digest(given.encode(), secret.get_secret_value().encode())

    async def receive(self, body: bytes) -> Answer:
        settings = self.pipeline.settings.signals
        now = self.pipeline.clock.now()
        alert = parse_alert(body, today=now.date())
        if isinstance(alert, Refused):
            return await self._refuse(alert.reason, body)
        if alert.sent_at is not None:
            age = (now - alert.sent_at).total_seconds()
            if age > float(settings.webhook_max_age_s):
                return await self._refuse(f"stale alert: sent {age:.0f} s ago (limit {settings.webhook_max_age_s} s)")
        signal = self._signal(alert)
        dedup = alert.dedup_key(now, timedelta(seconds=float(settings.webhook_dedup_s)))
        raw = {"style": alert.style, "fields": dict(alert.fields)}
        task = asyncio.ensure_future(self.pipeline.submit(signal, dedup_key=dedup, raw=raw))
        self._behind.add(task)
        task.add_done_callback(self._finished)
        done, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN_S)
        if not done:
            return Answer(202, {"signal_id": signal.signal_id, "status": "accepted; still being decided"})
        if task.exception() is not None:  # logged by _finished; the database did not take the alert
            return Answer(503, {"error": "the hub could not store this alert; nothing was executed"})
        outcome = task.result()
        if outcome.duplicate:
            return Answer(200, {"signal_id": None, "status": "duplicate alert; nothing done"})
        return Answer(200, {"status": "decided", **outcome.as_dict()})

    def _signal(self, alert: Alert) -> Signal:
        return Signal(
            signal_id=repository.new_id(),
            source=SignalSource.TRADINGVIEW,
            contract=alert.contract,
            direction=_DIRECTIONS[alert.action],
            received_at=self.pipeline.clock.now(),
            entry=alert.price,
            stop=alert.stop,
            target=alert.target,
            group=self.pipeline.settings.signals.webhook_group,
            note=alert.comment,
            max_quantity=alert.quantity,
            extra=alert.fields,
        )

    async def _refuse(self, reason: str, body: bytes | None = None) -> Answer:
        """Recorded as a warning alert with the start of the body (secrets are not in it: they ride in the path)."""
        sample = _CREDENTIAL.sub(r"\1=***", (body or b"")[:200].decode("utf-8", "replace"))
        log.warning("webhook.refused", reason=reason)
        await self.pipeline.store.writer.write_async(
            lambda ctx: repository.record_alert(
                ctx,
                severity="warning",
                kind="webhook.refused",
                message=f"TradingView alert refused: {reason}",
                detail={"body": sample} if sample else None,
            )
        )
        return Answer(400, {"error": reason})

    def _finished(self, task: asyncio.Task[Outcome]) -> None:
        self._behind.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook.pipeline_failed", error=str(task.exception()))
