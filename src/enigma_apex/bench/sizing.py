"""`enigma-apex bench sizing`: the sizer per call and the simulator's throughput."""

from __future__ import annotations

import gc
import time
from decimal import Decimal
from typing import Any

from enigma_apex.bench.stats import percentile
from enigma_apex.domain.orders import Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.sizing import passprob
from enigma_apex.sizing.sizer import AccountRoom, Order, size
from enigma_apex.sizing.stats import Prior, TradeRecord, compute


def run(calls: int = 20000, paths: int = 10000) -> dict[str, Any]:
    trades = [TradeRecord("A", "manual:NQ", Decimal(150 if i % 5 < 2 else -100), Decimal(100)) for i in range(60)]
    stats = compute(trades, Prior())
    room = AccountRoom(distance=Decimal(1750), flatten_buffer=Decimal(200), dll_room=Decimal(900), contracts_allowed=6)
    order = Order(Contract("NQ", 2026, 12), Side.BUY, Decimal("21000.00"), Decimal("20990.00"), Decimal("21020.00"))
    gc.collect()
    gc.freeze()
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        size(order, room, stats)
        samples.append((time.perf_counter() - t0) * 1e6)
    cfg = passprob.SimConfig(
        start=50000,
        target=3000,
        drawdown=2000,
        kind="intraday",
        lock_level=53000,
        dll=None,
        max_contracts=60,
        min_trading_days=0,
        consistency_limit=None,
        consistency_strict=True,
        win_rate=0.5,
        payoff=1.5,
        stop_ticks=40,
        tick_value=0.5,
        commission=1.5,
        slippage_ticks=2,
        trades_per_day=4,
        max_days=22,
    )
    t0 = time.perf_counter()
    result = passprob.simulate(cfg, paths, seed=1)
    seconds = time.perf_counter() - t0
    return {
        "sizing_call": {
            "n": calls,
            "p50_us": round(percentile(samples, 50), 2),
            "p99_us": round(percentile(samples, 99), 2),
        },
        "simulator": {
            "paths": paths,
            "seconds": round(seconds, 3),
            "paths_per_s": round(paths / seconds),
            "evaluation": "50K intraday, MNQ-sized, 4 trades/day, 22 days",
            "p_pass": result.p_pass,
        },
        "targets": {"sizing_p99_us": 50, "simulator_10k_paths_s": 5},
    }
