"""Prometheus metrics (`GET /metrics`). Read from the live hub at scrape time: uptime, clients by role,
connected executors, each account's state, equity, distance to its threshold and drawdown used, orders by
status, fills, alerts by severity and status (sent, failed …), committed database writes, queue depths
(database writer, alerts waiting, reports kept during a database outage, messages waiting per client role) and
each supervised component's status. Taken as the hub works (``telemetry.py``): latency histograms of the
pre-trade check, the pipeline and the stop cascade, verdicts by code, AI calls and fallbacks, restarts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from enigma_apex.adapters.store import schema as s

STATES = ("ACTIVE", "REDUCING", "HALTED", "FAILED")


class HubCollector(Collector):
    def __init__(self, service: Any) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        service = self.service
        health = service.health()
        yield GaugeMetricFamily(
            "enigma_apex_uptime_seconds", "Seconds since the hub started.", value=health["uptime_s"]
        )
        yield GaugeMetricFamily(
            "enigma_apex_database_ok",
            "1 when the database is readable and writable.",
            value=int(health["database"]["ok"]),
        )
        yield CounterMetricFamily(
            "enigma_apex_committed_writes", "Writes committed by the group-commit writer.",
            value=health["database"]["committed_writes"],
        )  # fmt: skip
        gateway = service.gateway
        clients = GaugeMetricFamily("enigma_apex_clients", "Connected WebSocket clients by role.", labels=["role"])
        counts: dict[str, int] = {}
        for peer in list(gateway.peers) if gateway is not None else []:
            if peer.role:
                counts[peer.role] = counts.get(peer.role, 0) + 1
        for role in ("admin", "dashboard", "executor", "mobile", "observer", "signal"):
            clients.add_metric([role], counts.get(role, 0))
        yield clients
        executors = GaugeMetricFamily(
            "enigma_apex_executor_connected", "1 when the executor is connected.", labels=["executor"]
        )
        connected = set(gateway.executors) if gateway is not None else set()
        for name in sorted({a.executor for a in service.settings.accounts}):
            executors.add_metric([name], int(name in connected))
        yield executors
        yield from self._queues()
        yield from self._components()
        yield from self._accounts()
        yield from self._records()

    def _queues(self) -> Iterator[Metric]:
        service = self.service
        gateway = service.gateway
        depth = GaugeMetricFamily("enigma_apex_queue_depth", "Items waiting, by queue.", labels=["queue"])
        depth.add_metric(["database_writer"], service.store.writer.queue_depth)
        depth.add_metric(["deferred_reports"], len(gateway.deferred) if gateway is not None else 0)
        backlog: dict[str, int] = {}
        for peer in list(gateway.peers) if gateway is not None else []:
            if peer.role:
                backlog[peer.role] = backlog.get(peer.role, 0) + peer.backlog
        for role, count in sorted(backlog.items()):
            depth.add_metric([f"outbound_{role}"], count)
        yield depth

    def _components(self) -> Iterator[Metric]:
        supervisor = getattr(self.service, "supervisor", None)
        if supervisor is None:
            return
        up = GaugeMetricFamily(
            "enigma_apex_component_up", "1 when the component runs (ok, or off by configuration).", labels=["component"]
        )
        for entry in supervisor.snapshot():
            up.add_metric([entry["name"]], int(entry["status"] in ("ok", "off")))
        yield up

    def _accounts(self) -> Iterator[Metric]:
        guardian = self.service.guardian
        if guardian is None:
            return
        state = GaugeMetricFamily(
            "enigma_apex_account_state", "1 for the account's trading state.", labels=["account", "state"]
        )
        equity = GaugeMetricFamily("enigma_apex_account_equity_dollars", "Balance plus open P&L.", labels=["account"])
        distance = GaugeMetricFamily(
            "enigma_apex_account_distance_dollars", "Equity minus the drawdown threshold.", labels=["account"]
        )
        used = GaugeMetricFamily("enigma_apex_account_drawdown_used_ratio", "Drawdown used, 0..1.", labels=["account"])
        for entry in self.service.settings.accounts:
            snap = guardian.tracker(entry.name).snapshot()
            for name in STATES:
                state.add_metric([entry.name, name], int(snap.state.value.upper() == name))
            equity.add_metric([entry.name], float(snap.equity))
            distance.add_metric([entry.name], float(snap.distance))
            used.add_metric([entry.name], float(snap.drawdown_used_pct) / 100)
        yield from (state, equity, distance, used)

    def _records(self) -> Iterator[Metric]:
        with self.service.store.engine.connect() as conn:
            by_status = dict(conn.execute(select(s.orders.c.status, func.count()).group_by(s.orders.c.status)).all())
            by_severity = conn.execute(
                select(s.alerts.c.severity, s.alerts.c.status, func.count()).group_by(
                    s.alerts.c.severity, s.alerts.c.status
                )
            ).all()
            fills = conn.execute(select(func.count()).select_from(s.fills)).scalar() or 0
        orders = CounterMetricFamily("enigma_apex_orders", "Orders recorded, by status.", labels=["status"])
        for status, count in sorted(by_status.items()):
            orders.add_metric([status], count)
        yield orders
        alerts = CounterMetricFamily(
            "enigma_apex_alerts",
            "Alerts recorded, by severity and status (pending, sent, failed, suppressed, logged, stale).",
            labels=["severity", "status"],
        )
        for severity, status, count in sorted(by_severity):
            alerts.add_metric([severity, status], count)
        yield alerts
        yield CounterMetricFamily("enigma_apex_fills", "Fills recorded.", value=fills)


def service_metrics(service: Any) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(service))
    body = generate_latest(registry)
    guardian = service.guardian
    if guardian is not None:
        body += generate_latest(guardian.telemetry.registry)
    return body


__all__ = ["HubCollector", "service_metrics"]
