"""Percentiles for benchmark samples."""

from __future__ import annotations

import os
import statistics
from pathlib import Path


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_us(samples_s: list[float]) -> dict[str, float]:
    us = [s * 1e6 for s in samples_s]
    return {
        "p50_us": round(percentile(us, 50), 1),
        "p99_us": round(percentile(us, 99), 1),
        "mean_us": round(statistics.fmean(us), 1) if us else float("nan"),
    }


def summary_ms(samples_ms: list[float], digits: int = 3) -> dict[str, float]:
    return {"p50_ms": round(percentile(samples_ms, 50), digits), "p99_ms": round(percentile(samples_ms, 99), digits)}


def process_rss_mb(pid: int) -> float | None:
    """A process's resident memory in MB (Linux's /proc; None where that is not there)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def process_cpu_s(pid: int) -> float | None:
    """A process's CPU time (user + system) in seconds, from Linux's /proc; None where that is not there."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
