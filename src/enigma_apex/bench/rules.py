"""`enigma-apex bench rules`: pre-trade check and mark update, 20 accounts loaded."""

from __future__ import annotations

import gc
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from enigma_apex.adapters.exchange_calendar import cme_days
from enigma_apex.adapters.profile_files import builtin_registry
from enigma_apex.bench.stats import percentile
from enigma_apex.domain.orders import Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.rules.calendar import SessionCalendar
from enigma_apex.rules.gate import Intent, View, check
from enigma_apex.rules.tracker import AccountTracker, Policy

PROFILES = (
    "apex4-intraday-eval-50k",
    "apex4-eod-eval-50k",
    "apex4-intraday-pa-100k",
    "apex4-eod-pa-150k",
    "apexlegacy-full-pa-50k",
    "topstep-combine-50k",
    "topstep-xfa-100k",
    "mffu-rapid-eval-50k",
    "tpt-test-50k",
    "tpt-pro-100k",
)


def _accounts(now: datetime) -> list[View]:
    registry, days = builtin_registry(), cme_days()
    views = []
    for i in range(20):
        profile = registry.get(PROFILES[i % len(PROFILES)])
        calendar = SessionCalendar.for_profile(profile, days)
        tracker = AccountTracker(f"ACC-{i}", profile, calendar, policy=Policy())
        tracker.mark(now - timedelta(seconds=1), profile.start + 250, Decimal(0))
        views.append(View(tracker, household={"ES": 1}))
    return views


def run(checks: int = 20000) -> dict[str, Any]:
    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York: every session is open
    views = _accounts(now)
    nq = Contract("NQ", 2026, 12)
    intent = Intent("ACC", nq, Side.BUY, 2, Decimal("21000.00"), Decimal("20990.00"), Decimal("21030.00"))
    gc.collect()
    gc.freeze()  # as the hub does after start-up: long-lived objects leave the collector's scans
    samples: list[float] = []
    allowed = 0
    for i in range(checks):
        view = views[i % 20]
        t0 = time.perf_counter()
        decision = check(intent, view, now)
        samples.append(time.perf_counter() - t0)
        allowed += decision.allowed
    marks: list[float] = []
    ts = now
    for i in range(checks):
        view = views[i % 20]
        ts += timedelta(milliseconds=1)
        balance = view.tracker.profile.start + 250 + (i % 50)
        t0 = time.perf_counter()
        view.tracker.mark(ts, Decimal(balance), Decimal(i % 7))
        marks.append(time.perf_counter() - t0)
    return {
        "accounts": 20,
        "pre_trade_check": _fig(samples),
        "mark_update": _fig(marks),
        "target_p99_us": 50,
        "check_p99_within_target": percentile([s * 1e6 for s in samples], 99) <= 50,
    }


def _fig(samples: list[float]) -> dict[str, Any]:
    us = [s * 1e6 for s in samples]
    return {
        "n": len(us),
        "p50_us": round(percentile(us, 50), 2),
        "p99_us": round(percentile(us, 99), 2),
        "max_us": round(max(us), 1),
    }
