"""Alert dispatch: every alert is first a row in the database (``alerts``, status ``pending``); this dispatcher
reads the pending rows in order, off the hot path, and sends each to its severity's channels.

- Nothing is lost: alerts recorded while the hub was down (or by another process) are sent on the next pass;
  each row ends ``sent``, ``failed`` (every channel failed), ``suppressed`` (a repeat or over the rate limit),
  ``logged`` (no channel for its severity, or alerts disabled) or ``stale`` (older than a day when first seen).
- De-duplicated: the same kind for the same account and the same executor or component is sent once per
  ``alerts.dedupe_s`` (one executor's disconnect never hides another's).
- Rate-limited: at most ``alerts.max_per_minute`` info and warning alerts a minute; critical alerts always go.
- A failing or slow channel fails alone (``adapters/alerts.py``) and never blocks the others or trading.
"""

from __future__ import annotations

import asyncio
import json
import queue
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update

from enigma_apex.adapters.store import schema as s
from enigma_apex.adapters.store.store import Store
from enigma_apex.config.models import AlertsSection

log = structlog.get_logger(__name__)

Sender = Callable[[list[str], str, str, str, float], list[Any]]
STALE_AFTER = timedelta(days=1)


@dataclass
class Policy:
    """Which alerts go out: de-duplication per (kind, account, subject) — the subject is the executor or the
    component an alert is about — and a per-minute cap below critical."""

    dedupe_s: float
    max_per_minute: int
    last_sent: dict[tuple[str, str | None, str | None], datetime] = field(default_factory=dict)
    recent: deque[datetime] = field(default_factory=deque)

    def decide(self, kind: str, account: str | None, severity: str, at: datetime, subject: str | None = None) -> str:
        key = (kind, account, subject)
        previous = self.last_sent.get(key)
        if previous is not None and (at - previous).total_seconds() < self.dedupe_s:
            return "suppressed"
        if severity != "critical":
            while self.recent and (at - self.recent[0]).total_seconds() >= 60:
                self.recent.popleft()
            if len(self.recent) >= self.max_per_minute:
                return "suppressed"
            self.recent.append(at)
        self.last_sent[key] = at
        return "send"


class AlertDispatcher:
    def __init__(self, cfg: AlertsSection, store: Store, now: Callable[[], datetime], sender: Sender) -> None:
        self.cfg = cfg
        self.store = store
        self.now = now
        self.sender = sender
        self.policy = Policy(float(cfg.dedupe_s), cfg.max_per_minute)
        self.sent = 0
        self.failed = 0
        self._urgent: queue.SimpleQueue[tuple[str, str, str, datetime]] = queue.SimpleQueue()
        self.observers: list[Callable[[dict[str, Any]], None]] = []  # hear every alert handled (Telegram's chats)

    def urgent(self, severity: str, kind: str, message: str) -> None:
        """An alert that cannot be recorded (the database refuses writes): sent straight away, from any thread."""
        self._urgent.put((severity, kind, message, self.now()))

    def send_urgent(self) -> int:
        """Send the alerts handed to ``urgent``; returns how many were taken."""
        taken = 0
        while True:
            try:
                severity, kind, message, at = self._urgent.get_nowait()
            except queue.Empty:
                return taken
            taken += 1
            log.error("alerts.unrecorded", severity=severity, kind=kind, message=message)
            self._deliver(severity, kind, None, message, at, " (not recorded: the database refuses writes)")

    def _tell(self, alert: dict[str, Any]) -> None:
        for observer in self.observers:
            try:
                observer(alert)
            except Exception:  # an observer's failure never stops the dispatch
                log.exception("alerts.observer_failed", kind=alert["kind"])

    def apply_settings(self, cfg: AlertsSection) -> None:
        self.cfg = cfg
        self.policy.dedupe_s, self.policy.max_per_minute = float(cfg.dedupe_s), cfg.max_per_minute

    async def run(self, every_s: float = 0.5) -> None:
        while True:
            try:
                await asyncio.to_thread(self.send_urgent)
                await asyncio.to_thread(self.pass_once)
            except Exception:  # a failing pass is logged; the next one tries again
                log.exception("alerts.pass_failed")
            await asyncio.sleep(every_s)

    def pass_once(self, limit: int = 100) -> int:
        """Dispatch up to ``limit`` pending alerts, oldest first. Returns how many were handled."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(s.alerts).where(s.alerts.c.status == "pending").order_by(s.alerts.c.id).limit(limit)
            ).all()
        for row in rows:
            status, detail = self._dispatch(row)
            if status != "stale":
                self._tell(dict(id=row.id, severity=row.severity, kind=row.kind, account=row.account_id,
                                message=row.message))  # fmt: skip
            merged = {**json.loads(row.detail or "{}"), **detail}
            change = update(s.alerts).where(s.alerts.c.id == row.id)
            change = change.values(status=status, detail=json.dumps(merged, sort_keys=True))

            def write(ctx: Any, statement: Any = change) -> None:
                ctx.conn.execute(statement)

            self.store.writer.write(write)
        return len(rows)

    def _dispatch(self, row: Any) -> tuple[str, dict[str, Any]]:
        now = self.now()
        if now - row.ts > STALE_AFTER:
            return "stale", {}
        detail = json.loads(row.detail or "{}")
        subject = detail.get("executor") or detail.get("component") if isinstance(detail, dict) else None
        return self._deliver(row.severity, row.kind, row.account_id, row.message, now, subject=subject)

    def _deliver(
        self,
        severity: str,
        kind: str,
        account: str | None,
        message: str,
        at: datetime,
        note: str = "",
        *,
        subject: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Send to the severity's channels unless de-duplicated or over the rate; returns (status, detail)."""
        urls = list(getattr(self.cfg, severity, []) or []) if self.cfg.enabled else []
        if not urls:
            return "logged", {}
        if self.policy.decide(kind, account, severity, at, subject) != "send":
            return "suppressed", {}
        where = f" [{account}]" if account else (f" [{subject}]" if subject else "")
        title = f"Enigma-Apex {severity.upper()}: {kind}{where}{note}"
        deliveries = self.sender(urls, title, message, severity, float(self.cfg.send_timeout_s))
        ok = any(d.ok for d in deliveries)
        self.sent += ok
        self.failed += not ok
        for delivery in deliveries:
            if not delivery.ok:
                log.warning("alerts.channel_failed", channel=delivery.channel, error=delivery.error, kind=kind)
        channels = [{"channel": d.channel, "ok": d.ok, "error": d.error} for d in deliveries]
        return ("sent" if ok else "failed"), {"channels": channels}


__all__ = ["AlertDispatcher", "Policy"]
