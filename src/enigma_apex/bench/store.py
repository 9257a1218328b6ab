"""`enigma-apex bench store`: what the group-commit writer buys over one transaction per write.

Runs on a temporary SQLite file (and PostgreSQL when a URL is given). For each fsync policy it
measures (a) one write at a time, each acknowledged after its own commit, and (b) a burst of
writes from several threads sharing commits, with the acknowledgement latency of each write.
"""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from enigma_apex.adapters.clock import SystemClock
from enigma_apex.adapters.store import migrate
from enigma_apex.adapters.store.engine import make_engine
from enigma_apex.adapters.store.writer import GroupCommitWriter, Operation, WriteContext
from enigma_apex.bench.stats import summary_us

PAYLOAD = {"symbol": "MNQ 12-26", "side": "buy", "quantity": 2, "price": "21000.25", "note": "x" * 200}


def _audit_op(i: int) -> Operation[int]:
    def op(ctx: WriteContext) -> int:
        ctx.audit("bench", {**PAYLOAD, "i": i})
        return i

    return op


def _writer(url: str, synchronous: str) -> tuple[Any, GroupCommitWriter]:
    engine = make_engine(url, synchronous=synchronous)
    migrate.upgrade(engine)
    writer = GroupCommitWriter(engine, SystemClock(), linger_s=0.0)
    writer.start()
    return engine, writer


def _sequential(writer: GroupCommitWriter, n: int) -> dict[str, Any]:
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        writer.write(_audit_op(i))
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return {"writes": n, "writes_per_s": round(n / elapsed), **summary_us(latencies)}


def _burst(writer: GroupCommitWriter, n: int, threads: int) -> dict[str, Any]:
    batches_before = writer.batches

    def producer(count: int) -> None:
        futures = [writer.submit(_audit_op(i)) for i in range(count)]
        for future in futures:
            future.result()

    per = n // threads
    workers = [threading.Thread(target=producer, args=(per,)) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    done_n = per * threads
    # Under a flood the latency is only queueing time, so the burst reports throughput alone.
    return {
        "writes": done_n,
        "threads": threads,
        "writes_per_s": round(done_n / elapsed),
        "commits": writer.batches - batches_before,
    }


def _paced(writer: GroupCommitWriter, rate: int, seconds: float) -> dict[str, Any]:
    """Writes submitted at a steady rate (a busy hub), acknowledgement latency of each."""
    latencies: list[float] = []
    lock = threading.Lock()
    futures: list[Future[int]] = []
    batches_before = writer.batches
    interval = 1.0 / rate
    start = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        due = start + i * interval
        while (now := time.perf_counter()) < due:
            time.sleep(min(due - now, 0.001))
        t0 = time.perf_counter()
        future = writer.submit(_audit_op(i))

        def done(_f: Future[int], t0: float = t0) -> None:
            with lock:
                latencies.append(time.perf_counter() - t0)

        future.add_done_callback(done)
        futures.append(future)
    for future in futures:
        future.result()
    return {"writes": n, "rate_per_s": rate, "commits": writer.batches - batches_before, **summary_us(latencies)}


def run(
    sequential_n: int = 2000, burst_n: int = 20000, threads: int = 4, paced_rate: int = 2000, pg_url: str | None = None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for sync in ("FULL", "NORMAL"):
            url = f"sqlite:///{(Path(folder) / f'bench-{sync}.db').as_posix()}"
            engine, writer = _writer(url, sync)
            try:
                results[f"sqlite_{sync.lower()}"] = {
                    "one_write_per_commit": _sequential(writer, sequential_n),
                    "group_commit_burst": _burst(writer, burst_n, threads),
                    "group_commit_paced": _paced(writer, paced_rate, 2.0),
                }
            finally:
                writer.close()
                engine.dispose()
    if pg_url:
        engine, writer = _writer(pg_url, "FULL")
        try:
            results["postgresql"] = {
                "one_write_per_commit": _sequential(writer, sequential_n),
                "group_commit_burst": _burst(writer, burst_n, threads),
                "group_commit_paced": _paced(writer, paced_rate, 2.0),
            }
        finally:
            writer.close()
            engine.dispose()
    for name, figures in results.items():
        seq, burst = figures["one_write_per_commit"], figures["group_commit_burst"]
        figures["group_commit_speedup"] = round(burst["writes_per_s"] / seq["writes_per_s"], 1)
        results[name] = figures
    return results
