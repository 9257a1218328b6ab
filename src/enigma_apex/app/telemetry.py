"""Measurements the hub takes as it works, exposed with the rest of ``/metrics``: latency histograms of the
pre-trade check, the signal pipeline and the emergency-stop cascade, rule verdicts by code, AI calls and
fallbacks. One ``Telemetry`` per hub (its own registry), made by the composition root and handed to the
services; a service built without one gets a private instance, so tests need no wiring.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

# Seconds. The pre-trade check runs in microseconds to a millisecond; the pipeline in milliseconds (without the
# AI) to seconds (with a slow model); the stop cascade in milliseconds.
FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
SLOW = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.pretrade = Histogram(
            "enigma_apex_pretrade_check_seconds", "Time of one pre-trade compliance check.", buckets=FAST, registry=r
        )
        self.pipeline = Histogram(
            "enigma_apex_pipeline_seconds",
            "Signal in to decisions stored and orders sent (analysis included).",
            buckets=SLOW,
            registry=r,
        )
        self.stop_cascade = Histogram(
            "enigma_apex_stop_cascade_seconds",
            "Emergency stop: request to every account HALTED and its flatten sent.",
            buckets=SLOW,
            registry=r,
        )
        self.verdicts = Counter(
            "enigma_apex_verdicts", "Rule verdicts of pre-trade checks, by code.", ["code"], registry=r
        )
        self.ai_calls = Counter(
            "enigma_apex_ai_calls", "Signals analysed, by who answered (ai or scorer).", ["source"], registry=r
        )
        self.ai_fallbacks = Counter(
            "enigma_apex_ai_fallbacks", "Analyses the deterministic scorer answered, by reason.", ["reason"], registry=r
        )
        self.supervisor_restarts = Counter(
            "enigma_apex_component_restarts", "Supervised components restarted, by component.", ["component"],
            registry=r,
        )  # fmt: skip

    @contextmanager
    def timed(self, histogram: Histogram) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            histogram.observe(time.perf_counter() - started)


def fallback_reason(reason: str) -> str:
    """A bounded label for a fallback reason (the full text is in the analysis row)."""
    lowered = reason.lower()
    for label in ("disabled", "breaker", "timeout", "rate", "invalid", "connection"):
        if label in lowered:
            return label
    return "error"


__all__ = ["Telemetry", "fallback_reason"]
