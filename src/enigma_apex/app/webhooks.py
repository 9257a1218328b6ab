"""TradingView webhooks: read the alert, refuse stale, future, repeated, unplaceable or malformed ones (a refusal is
recorded as an alert; nothing is executed), and hand the rest to the decision pipeline — answering within
TradingView's 3-second limit whatever happens behind."""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from enigma_apex.adapters.store import repository
from enigma_apex.app.pipeline import Outcome, SignalPipeline
from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.errors import StoreError
from enigma_apex.intake.tradingview import SECRET_FIELDS, Alert, Refused, parse_alert, scrub, scrub_text

log = structlog.get_logger("enigma_apex.webhooks")

ANSWER_WITHIN_S = 1.5  # TradingView cancels a request after 3 s [W1]; what is not decided by then is stored, then
# answered 202 while the decision goes on behind (never 2xx before the alert is in the database)
REMEMBERED = 10_000  # alerts remembered for the repeat window before the oldest are forgotten

_DIRECTIONS = {
    "buy": Direction.LONG,
    "sell": Direction.SHORT,
    "exit": Direction.EXIT,
    "add": Direction.ADD,
    "cancel": Direction.CANCEL,
}


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class TradingViewWebhook:
    def __init__(self, pipeline: SignalPipeline) -> None:
        self.pipeline = pipeline
        self._behind: set[asyncio.Task[Outcome]] = set()
        self._last_seen: dict[str, datetime] = {}  # content of an alert without a time of its own → last arrival

    def secret_matches(self, given: str) -> bool:
        """Constant-time comparison with the configured secret; False when the webhook is off."""
        secret = self.pipeline.settings.signals.tradingview_secret
        if secret is None or not secret.get_secret_value():
            return False
        return hmac.compare_digest(given.encode(), secret.get_secret_value().encode())

    @property
    def secrets(self) -> frozenset[str]:
        return SECRET_FIELDS | frozenset(f.lower() for f in self.pipeline.settings.signals.secret_fields)

    async def receive(self, body: bytes) -> Answer:
        settings = self.pipeline.settings.signals
        now = self.pipeline.clock.now()
        alert = parse_alert(body, today=now.date(), secret_fields=self.secrets)
        if isinstance(alert, Refused):
            return await self._refuse(alert.reason, body)
        if alert.sent_at is not None:
            age = (now - alert.sent_at).total_seconds()
            if age > float(settings.webhook_max_age_s):
                return await self._refuse(f"stale alert: sent {age:.0f} s ago (limit {settings.webhook_max_age_s} s)")
            if -age > float(settings.webhook_max_future_s):
                return await self._refuse(
                    f"the alert's time {alert.sent_at.isoformat()} is {-age:.0f} s ahead of the hub's clock "
                    f"(limit {settings.webhook_max_future_s} s): check the sender's clock"
                )
        try:
            signal = self._signal(alert)
        except ValueError as exc:  # a stop on the wrong side, a resting entry without its price
            return await self._refuse(str(exc))
        why = self.pipeline.unsupported(signal)
        if why is not None:
            return await self._refuse(why)
        dedup = await self._dedup_key(alert, now, timedelta(seconds=float(settings.webhook_dedup_s)))
        if dedup is None:
            return Answer(200, {"signal_id": None, "status": "repeated alert; nothing done"})
        raw = {"style": alert.style, "payload": alert.raw}
        task = asyncio.ensure_future(self.pipeline.submit(signal, dedup_key=dedup, raw=raw))
        self._behind.add(task)
        task.add_done_callback(self._finished)
        done, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN_S)
        if not done:
            try:
                stored = await self.pipeline.store_early(signal, dedup, raw)
            except StoreError as exc:
                log.error("webhook.not_stored", error=str(exc))
                return Answer(503, {"error": "the hub could not store this alert; nothing was executed"})
            if not stored:
                return Answer(200, {"signal_id": None, "status": "duplicate alert; nothing done"})
            return Answer(202, {"signal_id": signal.signal_id, "status": "stored; still being decided"})
        if task.exception() is not None:  # logged by _finished; the database did not take the alert
            return Answer(503, {"error": "the hub could not store this alert; nothing was executed"})
        outcome = task.result()
        if outcome.duplicate:
            return Answer(200, {"signal_id": None, "status": "duplicate alert; nothing done"})
        return Answer(200, {"status": "decided", **outcome.as_dict()})

    async def _dedup_key(self, alert: Alert, now: datetime, window: timedelta) -> str | None:
        """The alert's de-duplication key, or None when it repeats an equal alert. An alert with a time of its own
        is the same alert only with the same time; one without repeats an equal alert received less than
        ``window`` before it (a rolling window: each repeat extends it)."""
        content = alert.content_hash()
        if alert.sent_at is not None:
            return f"tv:{content}:{alert.sent_at.isoformat()}"
        last = self._last_seen.get(content)
        self._last_seen[content] = now  # before any await: an equal alert arriving meanwhile sees this one
        if len(self._last_seen) > REMEMBERED:
            for old in sorted(self._last_seen, key=self._last_seen.__getitem__)[: REMEMBERED // 2]:
                del self._last_seen[old]
        if last is None:  # after a restart the database remembers
            last = await asyncio.to_thread(self._stored_last, f"tv:{content}:")
        if last is not None and timedelta(0) <= now - last < window:
            log.info("webhook.repeat", content=content, seconds=(now - last).total_seconds())
            return None
        return f"tv:{content}:{now.isoformat()}"

    def _stored_last(self, prefix: str) -> datetime | None:
        with self.pipeline.store.engine.connect() as conn:
            return repository.last_signal_with_key_prefix(conn, prefix)

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
            extra=(("style", alert.style),),
            order_type=alert.order_type,
            limit_price=alert.limit_price,
            stop_price=alert.stop_price,
            tif=alert.tif,
            position=alert.position,
            reading=alert.reading,
            require_position=alert.require_position,
        )

    async def _refuse(self, reason: str, body: bytes | None = None) -> Answer:
        """Recorded as a warning alert with the start of the body, credentials masked."""
        sample = self._sample(body or b"")
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

    def _sample(self, body: bytes) -> str:
        text = body[:4096].decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except ValueError:
            return scrub_text(text, self.secrets)[:200]
        return json.dumps(scrub(data, self.secrets))[:200]

    def _finished(self, task: asyncio.Task[Outcome]) -> None:
        self._behind.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook.pipeline_failed", error=str(task.exception()))
