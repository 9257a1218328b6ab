"""The supervisor: runs the hub's long-lived components as tasks, restarts one that fails with backoff, records
every failure and recovery (component health row + alert), and says what the system falls back to when a
component keeps failing.

Each component is an ``async`` function that runs until cancelled. When it raises, the supervisor records it
``down`` (a warning alert; critical once it has failed ``DEGRADED_AFTER`` times within ``WINDOW_S``, with
its fallback), waits 1, 2, 4 … up to 60 s and starts it again; the first restart that lives ``HEALTHY_AFTER_S``
is recorded ``ok`` with a ``component.recovered`` alert. A component that returns on its own is finished
(``stopped``), not restarted.

Recording never stops supervision: when the database refuses writes the event is logged and the alert goes
straight to the dispatcher (``urgent``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store.store import Store
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.events import ComponentHealth

log = structlog.get_logger("enigma_apex.supervisor")

DEGRADED_AFTER = 3
WINDOW_S = 300.0
HEALTHY_AFTER_S = 10.0
MAX_BACKOFF_S = 60.0

Urgent = Callable[[str, str, str], None]  # (severity, kind, message) sent without the database


@dataclass
class ComponentStatus:
    name: str
    status: str = "starting"  # starting | ok | down | degraded | stopped | off
    detail: str = ""
    fallback: str = ""
    restarts: int = 0
    last_error: str = ""
    since: float = field(default_factory=time.monotonic)
    failures: list[float] = field(default_factory=list)

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fallback": self.fallback,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "for_s": round(now - self.since, 1),
        }


def backoff(failures: int) -> float:
    return float(min(MAX_BACKOFF_S, 2 ** max(0, failures - 1)))


class Supervisor:
    def __init__(self, store: Store, clock: Clock, urgent: Urgent | None = None) -> None:
        self.store = store
        self.clock = clock
        self.urgent = urgent
        self.components: dict[str, ComponentStatus] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._notes: set[asyncio.Task[None]] = set()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # the backoff wait (tests skip it)
        self.healthy_after_s = HEALTHY_AFTER_S
        self.on_restart: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ status
    def set(self, name: str, status: str, detail: str = "", *, fallback: str = "") -> ComponentStatus:
        entry = self.components.setdefault(name, ComponentStatus(name))
        if entry.status != status:
            entry.since = time.monotonic()
        entry.status, entry.detail = status, detail
        if fallback:
            entry.fallback = fallback
        return entry

    def snapshot(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [c.as_dict(now) for c in self.components.values()]

    @property
    def healthy(self) -> bool:
        return all(c.status in ("ok", "off", "stopped") for c in self.components.values())

    # ------------------------------------------------------------------ supervision
    def start(self, name: str, run: Callable[[], Awaitable[None]], *, fallback: str = "", detail: str = "") -> None:
        """Run ``run`` under supervision. ``fallback`` says what takes over while it is down."""
        self.set(name, "ok", detail, fallback=fallback)
        self._tasks[name] = asyncio.create_task(self._supervise(name, run), name=f"supervised:{name}")

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        entry = self.components[name]
        while True:
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the point of a supervisor: any failure is restarted
                now = time.monotonic()
                entry.failures = [t for t in entry.failures if now - t < WINDOW_S] + [now]
                entry.restarts += 1
                entry.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
                log.exception("supervisor.component_failed", component=name, failures=len(entry.failures))
                degraded = len(entry.failures) >= DEGRADED_AFTER
                wait = backoff(len(entry.failures))
                status = "degraded" if degraded else "down"
                fallback = f"; meanwhile: {entry.fallback}" if entry.fallback else ""
                message = (
                    f"{name} failed ({entry.last_error}); {len(entry.failures)} failure(s) in "
                    f"{int(WINDOW_S / 60)} min; restarting in {wait:.0f} s{fallback}"
                )
                self.set(name, status, message)
                await self.record(name, status, message, "critical" if degraded else "warning", "component.failed")
                await self.sleep(wait)
                self.set(name, "starting", f"restart {entry.restarts}")
                if self.on_restart is not None:
                    self.on_restart(name)
                asyncio.get_running_loop().call_later(self.healthy_after_s, self._maybe_recovered, name, entry.restarts)
                continue
            self.set(name, "stopped", "finished")
            return

    def _maybe_recovered(self, name: str, restarts: int) -> None:
        entry = self.components.get(name)
        if entry is None or entry.status != "starting" or entry.restarts != restarts:
            return
        message = f"{name} is running again after {restarts} restart(s)"
        self.set(name, "ok", message)
        task = asyncio.create_task(self.record(name, "ok", message, "info", "component.recovered"))
        self._notes.add(task)
        task.add_done_callback(self._notes.discard)

    async def record(self, name: str, status: str, detail: str, severity: str, kind: str) -> None:
        event = ComponentHealth(name, status, detail[:500], self.clock.now())

        def write(ctx: Any) -> None:
            repository.record_component_health(ctx, event)
            repository.record_alert(ctx, severity=severity, kind=kind, message=detail, detail={"component": name})

        try:
            await self.store.writer.write_async(write)
        except Exception as exc:  # noqa: BLE001 - recording must never stop supervision
            log.error("supervisor.record_failed", component=name, error=str(exc))
            if self.urgent is not None:
                self.urgent(severity, kind, detail)

    async def stop(self, names: list[str] | None = None) -> None:
        """Cancel the named supervised components (default: all, newest first) and wait for each."""
        for name in reversed(list(self._tasks)) if names is None else [n for n in names if n in self._tasks]:
            task = self._tasks.pop(name)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self.components[name].status not in ("off",):
                self.set(name, "stopped", "hub stopping")


__all__ = ["ComponentStatus", "Supervisor", "backoff"]
