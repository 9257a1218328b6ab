"""Pass-probability simulator: Monte-Carlo evaluations under a firm's real rules (pure, NumPy).

Each path trades ``trades_per_day`` trades a day (and stops for the day once the target is reached);
a trade wins ``payoff`` R with probability ``win_rate`` and otherwise loses 1 R plus the stop's
slippage; every trade pays the round-trip commission. R = ``stop_ticks`` x tick value per contract.
Size is fixed or fractional Kelly on the
risk capital (distance to the threshold minus the guardian's flatten buffer, and never more than the
daily-loss room), floored to whole contracts and capped by the firm.

Rules applied per path, as the tracker does: intraday thresholds trail the equity peak after each
trade, EOD thresholds at each day's close, static ones never move; locks; a touch of the threshold
fails the path; a soft DLL stops trading for the rest of the day; a pass needs the target, the
minimum trading days and, where it blocks the pass or raises the target, the consistency rule; the
time limit ends a path still running. Money here is float64: these are probabilities, not ledgers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

RUNNING, PASSED, FAILED = 0, 1, 2


@dataclass(frozen=True)
class SimConfig:
    start: float
    target: float
    drawdown: float
    kind: str  # intraday | eod | static
    lock_level: float | None
    dll: float | None
    max_contracts: int
    min_trading_days: int
    consistency_limit: float | None  # percent, when it blocks the pass
    consistency_strict: bool
    win_rate: float
    payoff: float
    stop_ticks: float
    tick_value: float
    commission: float  # round trip per contract
    slippage_ticks: float
    trades_per_day: int
    max_days: int  # trading days
    sizing: str = "kelly"  # kelly | fixed
    kelly_fraction: float = 0.5  # of full Kelly
    contracts: int = 1
    flatten_pct: float = 90.0  # the guardian's flatten level (% of the drawdown used)
    dll_flatten_pct: float = 90.0

    @property
    def full_kelly(self) -> float:
        return self.win_rate - (1 - self.win_rate) / self.payoff


@dataclass(frozen=True)
class SimResult:
    paths: int
    p_pass: float
    p_fail: float
    p_running: float
    stderr_pass: float
    median_days_to_pass: float | None
    p90_days_to_pass: float | None
    final_balance: dict[str, float]
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def simulate(
    cfg: SimConfig, paths: int, seed: int = 0, chunk: int = 20000, progress: Callable[[int], None] | None = None
) -> SimResult:
    """Run ``paths`` evaluations (in chunks, for memory and a progress callback)."""
    rng = np.random.default_rng(seed)
    statuses, days, finals = [], [], []
    done = 0
    while done < paths:
        n = min(chunk, paths - done)
        status, pass_day, final = _run(cfg, n, rng)
        statuses.append(status)
        days.append(pass_day)
        finals.append(final)
        done += n
        if progress is not None:
            progress(n)
    status = np.concatenate(statuses)
    pass_day = np.concatenate(days)
    final = np.concatenate(finals)
    p_pass = float(np.mean(status == PASSED))
    passed_days = pass_day[status == PASSED]
    pct = np.percentile(final, [5, 25, 50, 75, 95])
    return SimResult(
        paths=paths,
        p_pass=p_pass,
        p_fail=float(np.mean(status == FAILED)),
        p_running=float(np.mean(status == RUNNING)),
        stderr_pass=math.sqrt(max(p_pass * (1 - p_pass), 1e-12) / paths),
        median_days_to_pass=float(np.median(passed_days)) if passed_days.size else None,
        p90_days_to_pass=float(np.percentile(passed_days, 90)) if passed_days.size else None,
        final_balance={
            "p5": float(pct[0]),
            "p25": float(pct[1]),
            "median": float(pct[2]),
            "p75": float(pct[3]),
            "p95": float(pct[4]),
            "mean": float(np.mean(final)),
        },
    )


def _run(cfg: SimConfig, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start, dd = cfg.start, cfg.drawdown
    lock = math.inf if cfg.lock_level is None else cfg.lock_level
    balance = np.full(n, start)
    peak = balance.copy()
    threshold = np.full(n, start - dd)
    status = np.zeros(n, dtype=np.int8)
    pass_day = np.full(n, -1, dtype=np.int32)
    days_traded = np.zeros(n, dtype=np.int32)
    best_day = np.zeros(n)
    r_dollars = cfg.stop_ticks * cfg.tick_value
    win_amount = cfg.payoff * r_dollars
    loss_amount = r_dollars + cfg.slippage_ticks * cfg.tick_value
    per_contract = loss_amount + cfg.commission
    buffer = dd * (100 - cfg.flatten_pct) / 100
    fraction = max(0.0, cfg.full_kelly * cfg.kelly_fraction) if cfg.sizing == "kelly" else 0.0
    limit = None if cfg.consistency_limit is None else cfg.consistency_limit / 100
    for day in range(1, cfg.max_days + 1):
        running = status == RUNNING
        if not running.any():
            break
        day_start = balance.copy()
        paused = np.zeros(n, dtype=bool)
        traded = np.zeros(n, dtype=bool)
        for _ in range(cfg.trades_per_day):
            active = (status == RUNNING) & ~paused
            if not active.any():
                break
            if cfg.sizing == "fixed":
                qty = np.full(n, float(cfg.contracts))
            else:
                capital = balance - threshold - buffer
                if cfg.dll is not None:
                    capital = np.minimum(capital, cfg.dll * cfg.dll_flatten_pct / 100 - (day_start - balance))
                qty = np.floor(np.maximum(capital, 0.0) * fraction / per_contract)
            qty = np.where(active, np.minimum(qty, cfg.max_contracts), 0.0)
            win = rng.random(n) < cfg.win_rate
            pnl = qty * (np.where(win, win_amount, -loss_amount) - cfg.commission)
            balance = balance + pnl
            traded |= qty > 0
            if cfg.kind == "intraday":
                peak = np.maximum(peak, balance)
                threshold = np.minimum(np.maximum(threshold, peak - dd), np.maximum(lock, threshold))
            failed = active & (balance <= threshold)
            status[failed] = FAILED
            if cfg.dll is not None:
                paused |= (day_start - balance) >= cfg.dll
            paused |= (balance - start) >= cfg.target  # at the target the trader stops for the day
        # the close
        alive = status == RUNNING
        days_traded += (traded & alive).astype(np.int32)
        day_pnl = balance - day_start
        best_day = np.where(alive, np.maximum(best_day, day_pnl), best_day)
        if cfg.kind == "eod":
            peak = np.maximum(peak, balance)
            threshold = np.minimum(np.maximum(threshold, peak - dd), np.maximum(lock, threshold))
        net = balance - start
        ok = alive & (net >= cfg.target) & (days_traded >= cfg.min_trading_days)
        if limit is not None:
            share = np.divide(best_day, net, out=np.ones(n), where=net > 0)
            ok &= (share < limit) if cfg.consistency_strict else (share <= limit)
        status[ok] = PASSED
        pass_day[ok] = day
    return status, pass_day, balance


def optimize(
    cfg: SimConfig, paths: int, seed: int, grid: list[float] | list[int], progress: Callable[[int], None] | None = None
) -> list[tuple[float, SimResult]]:
    """P(pass) for each Kelly fraction (sizing=kelly) or contract count (sizing=fixed), same random numbers."""
    curve = []
    for value in grid:
        trial = (
            replace(cfg, kelly_fraction=float(value)) if cfg.sizing == "kelly" else replace(cfg, contracts=int(value))
        )
        curve.append((float(value), simulate(trial, paths, seed, progress=progress)))
    return curve


def gamblers_ruin(p: float, start_steps: int, total_steps: int) -> float:
    """P(reaching ``total_steps`` before 0 from ``start_steps``) for a +-1 walk with P(up) = p."""
    if abs(p - 0.5) < 1e-12:
        return start_steps / total_steps
    r = (1 - p) / p
    return (1 - r**start_steps) / (1 - r**total_steps)
