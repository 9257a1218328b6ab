"""`enigma-apex bench scale`: what the hub costs as its accounts grow.

Each point (a number of accounts) runs in a process of its own (spawned), so the memory it reports is that hub's
alone: the guardian, the gateway and the database writer of the bench gateway, loaded with that many accounts of
mixed firm profiles, one executor connection per 20 accounts and three dashboards subscribed to ``risk``. For the
marks and the round trips the clients share the hub's process and event loop, so those rates are lower bounds; the
emergency stop's executors and dashboard run in a process of their own, as in real use.

Per point: the pre-trade check (p50/p99 in µs, through the guardian as a signal's plan calls it), account.update
marks processed per second (a random walk of balances sent as fast as the executors can, until the last mark of
every account is in its tracker), the risk.update deliveries to the dashboards meanwhile, the database's growth:
bytes per order round trip and per state write (a mark that moved a level), and what a trading day adds per account
under the stated assumptions, the hub's resident memory, and last the emergency stop (from a dashboard's
``emergency.stop`` frame until every executor has the flatten of every account it owns).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import multiprocessing
import os
import random
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from enigma_apex.bench.gateway import StalledError, in_client_process, within
from enigma_apex.bench.rules import PROFILES
from enigma_apex.bench.stats import percentile, process_rss_mb, summary_ms

ACCOUNTS_PER_EXECUTOR = 20
DASHBOARDS = 3
WAIT_S = 120.0  # no step waits longer; past it the point fails, naming what it waited for
# What a trading day is, for the database's growth per account (stated in the figures).
DAY_ROUND_TRIPS = 20  # orders filled and closed
DAY_MARKS = 6 * 3600  # one account.update a second over a six-hour session (the executors send on change)
# Only a mark that moves a level (a new peak) is written: a driftless random walk of n steps sets about
# sqrt(2n/pi) new highs; a quarter again for threshold, lock and session moves.
DAY_STATE_WRITES = round(1.25 * math.sqrt(2 * DAY_MARKS / math.pi))
TARGETS = {"pre_trade_p99_us": 50, "stop_p99_ms": 100, "rss_mb_base": 150, "rss_mb_per_account": 0.2}


def run(
    points: tuple[int, ...] = (1, 10, 100, 500),
    marks_per_account: int = 20,
    stops: int = 5,
    checks: int = 5000,
    round_trips: int = 40,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The figures for every point, each measured in a fresh process."""
    report = progress or (lambda _phase: None)
    results: dict[str, Any] = {}
    context = multiprocessing.get_context("spawn")  # the same on Windows; nothing inherited from this process
    for n in points:
        report(f"{n} account(s)")
        with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            future = pool.submit(_point, n, marks_per_account, stops, checks, round_trips)
            figures = future.result()
        if "stalled" in figures:
            raise StalledError(f"{n} accounts: {figures['stalled']}")
        results[str(n)] = figures
    last = results[str(points[-1])]
    budget = TARGETS["rss_mb_base"] + TARGETS["rss_mb_per_account"] * points[-1]
    return {
        "points": results,
        "targets": {**TARGETS, "at_accounts": points[-1]},
        "within_targets_at_largest": {
            "pre_trade": last["pre_trade_check"]["p99_us"] <= TARGETS["pre_trade_p99_us"],
            "stop": last["emergency_stop"]["p99_ms"] <= TARGETS["stop_p99_ms"],
            "rss": last["hub_rss_mb"] is None or last["hub_rss_mb"] <= budget,
        },
        "day_assumes": {
            "round_trips_per_account": DAY_ROUND_TRIPS,
            "marks_per_account": DAY_MARKS,
            "state_writes_per_account": DAY_STATE_WRITES,
        },
    }


def _point(n: int, marks_per_account: int, stops: int, checks: int, round_trips: int) -> dict[str, Any]:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))  # figures, not logs
    try:
        return asyncio.run(_measure(n, marks_per_account, stops, checks, round_trips))
    except StalledError as exc:
        return {"stalled": str(exc)}


async def _measure(n: int, marks_per_account: int, stops: int, checks: int, round_trips: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from enigma_apex.bench.gateway import hello, loopback_hub

    executors = max(1, -(-n // ACCOUNTS_PER_EXECUTOR))
    accounts = [
        {"name": f"S{i}", "profile": PROFILES[i % len(PROFILES)], "executor": f"exec{i // ACCOUNTS_PER_EXECUTOR}"}
        for i in range(n)
    ]
    names = [a["name"] for a in accounts]
    owned = {f"exec{e}": names[e * ACCOUNTS_PER_EXECUTOR : (e + 1) * ACCOUNTS_PER_EXECUTOR] for e in range(executors)}
    tokens = [(e, "executor") for e in owned] + [(f"dash{d}", "dashboard") for d in range(DASHBOARDS)]
    async with loopback_hub(accounts, tokens) as hub:
        gateway, guardian, store = hub.gateway, hub.guardian, hub.store
        database = hub.data_dir / "enigma-apex.db"
        execs = {e: await connect(hub.url, compression=None, max_queue=None) for e in owned}
        for e, ws in execs.items():
            await hello(ws, hub.secrets[e])
        dashes = [await connect(hub.url, compression=None, max_queue=None) for _ in range(DASHBOARDS)]
        for d, ws in enumerate(dashes):
            await hello(ws, hub.secrets[f"dash{d}"])
        figures: dict[str, Any] = {"accounts": n, "executors": executors, "dashboards": DASHBOARDS}
        figures["pre_trade_check"] = await asyncio.to_thread(_pre_trade, guardian, names, checks)
        marks, bytes_per_mark = await _marks(guardian, execs, dashes, owned, marks_per_account, database, store)
        figures.update(marks)
        figures["db_growth"] = await _round_trips(gateway, execs, owned, round_trips, database, store)
        for ws in execs.values():  # the stop's executors connect from a process of their own
            await ws.close()
        await within(_until_gone(gateway, owned), "the hub-side executors' connections to end", WAIT_S)
        figures["emergency_stop"] = await in_client_process(_stops, hub.url, hub.secrets, owned, stops)
        figures["db_growth"]["bytes_per_state_write"] = round(bytes_per_mark)
        per_day = (
            figures["db_growth"]["bytes_per_round_trip"] * DAY_ROUND_TRIPS
            + figures["db_growth"]["bytes_per_state_write"] * DAY_STATE_WRITES
        )
        figures["db_growth"]["per_account_day_kb"] = round(per_day / 1024, 1)
        figures["db_growth"]["all_accounts_day_mb"] = round(per_day * n / 1024 / 1024, 1)
        figures["hub_rss_mb"] = process_rss_mb(os.getpid())
        for ws in dashes:
            await ws.close()
    return figures


async def _until_gone(gateway: Any, owned: dict[str, list[str]]) -> None:
    while any(e in gateway.executors for e in owned):  # noqa: ASYNC110 - the hub's own table, in this process
        await asyncio.sleep(0.005)


def _pre_trade(guardian: Any, names: list[str], checks: int) -> dict[str, Any]:
    from enigma_apex.domain.orders import Side
    from enigma_apex.domain.symbols import Contract
    from enigma_apex.rules.gate import Intent

    nq = Contract("NQ", 2026, 12)
    samples: list[float] = []
    for i in range(checks):
        intent = Intent(names[i % len(names)], nq, Side.BUY, 1, Decimal("21000.00"), Decimal("20990.00"))
        start = time.perf_counter()
        guardian.check(intent)
        samples.append((time.perf_counter() - start) * 1e6)
    return {"checks": checks, "p50_us": round(percentile(samples, 50), 1), "p99_us": round(percentile(samples, 99), 1)}


def _db_bytes(database: Path, store: Any) -> int:
    """The database's size with its write-ahead log folded in (pages, so a few KiB of granularity)."""
    from sqlalchemy import text

    def checkpoint(ctx: Any) -> None:
        ctx.conn.execute(text("SELECT 1"))  # the writer's turn: nothing of ours is half-written

    store.writer.write(checkpoint)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (database, database.with_name(database.name + "-wal")) if p.exists())


class _Dashboard:
    """A dashboard's side: counts the frames and keeps the last equity each account's risk.update showed."""

    def __init__(self) -> None:
        self.frames = 0
        self.equity: dict[str, Decimal] = {}
        self.changed = asyncio.Event()

    async def read(self, ws: Any) -> None:
        import json

        async for frame in ws:
            self.frames += 1
            data = json.loads(frame)
            if data.get("type") == "risk.update":
                self.equity[data["account"]] = Decimal(str(data["equity"]))
                self.changed.set()

    async def showing(self, final: dict[str, Decimal]) -> None:
        while any(self.equity.get(a) != v for a, v in final.items()):
            self.changed.clear()
            await self.changed.wait()


async def _marks(
    guardian: Any,
    execs: dict[str, Any],
    dashes: list[Any],
    owned: dict[str, list[str]],
    per_account: int,
    database: Path,
    store: Any,
) -> tuple[dict[str, Any], float]:
    from enigma_apex.client import new_id, now
    from enigma_apex.protocol import messages as m
    from enigma_apex.protocol.codec import encode

    rng = random.Random(7)  # noqa: S311 - a simulated market, not cryptography
    for ws in dashes:
        await ws.send(encode(m.Subscribe(id=new_id(), ts=now(), topics=["risk"])))
    boards = [_Dashboard() for _ in dashes]
    readers = [asyncio.create_task(board.read(ws)) for ws, board in zip(dashes, boards, strict=True)]
    last: dict[str, Decimal] = {}
    frames: dict[str, list[str]] = {}
    new_highs = 0  # marks that move a level (the peak): the ones the hub writes
    for e, accounts in owned.items():
        out = []
        walk = {account: guardian.tracker(account).profile.start for account in accounts}
        high = dict(walk)
        for i in range(per_account):
            for account in accounts:  # a random walk of the balance, a few dollars a step
                walk[account] += Decimal(rng.randint(-2500, 2500)) / 100
                balance = walk[account] + (Decimal("0.001") if i == per_account - 1 else 0)  # the last: recognisable
                if balance > high[account]:
                    high[account] = balance
                    new_highs += 1
                last[account] = balance
                out.append(encode(m.AccountUpdate(id=new_id(), ts=now(), account=account, balance=balance)))
        frames[e] = out
    start_values = {a: guardian.tracker(a).snapshot().equity for a in last}
    await within(
        asyncio.gather(*(b.showing(start_values) for b in boards)), "the dashboards' first risk updates", WAIT_S
    )
    before = await asyncio.to_thread(_db_bytes, database, store)
    seen_before = sum(b.frames for b in boards)
    start = time.perf_counter()

    async def feed(e: str) -> None:
        ws = execs[e]
        for frame in frames[e]:
            await ws.send(frame)

    await within(asyncio.gather(*(feed(e) for e in execs)), "the account updates to be sent", WAIT_S)

    async def all_marked() -> None:
        while any(guardian.tracker(a).s.balance != b for a, b in last.items()):  # noqa: ASYNC110 - the hub's state
            await asyncio.sleep(0.005)

    await within(all_marked(), "the last mark of every account to reach its tracker", WAIT_S)
    marked = time.perf_counter() - start
    await within(
        asyncio.gather(*(b.showing(last) for b in boards)), "every account's last mark at the dashboards", WAIT_S
    )
    shown = time.perf_counter() - start
    delivered = sum(b.frames for b in boards) - seen_before
    total = per_account * len(last)
    grown = await asyncio.to_thread(_db_bytes, database, store) - before
    for task in readers:
        task.cancel()
    figures = {
        "marks": {"sent": total, "per_s": round(total / marked), "new_highs": new_highs},
        "risk_update_fanout": {
            "dashboards": len(dashes),
            "deliveries": delivered,
            "per_s": round(delivered / shown),
            "last_mark_shown_ms": round(shown * 1000, 1),
            "note": "risk.update is coalesced per account: a dashboard gets the latest value, not every mark",
        },
    }
    return figures, grown / max(new_highs, 1)


async def _stops(url: str, secrets_: dict[str, str], owned: dict[str, list[str]], stops: int) -> dict[str, Any]:
    """In a process of its own, as in real use: the executors (replacing the hub-side bench's connections) and a
    dashboard that presses the stop, timed from its ``emergency.stop`` frame until every executor has the flatten of
    every account it owns. The dashboard then resumes every account for the next run."""
    import json

    from websockets.asyncio.client import connect

    from enigma_apex.bench.gateway import Control, hello
    from enigma_apex.client import new_id, now
    from enigma_apex.protocol import messages as m
    from enigma_apex.protocol.codec import encode

    execs = {e: await connect(url, compression=None, max_queue=None) for e in owned}
    for e, ws in execs.items():
        await hello(ws, secrets_[e])
    names = [name for accounts in owned.values() for name in accounts]
    control = await Control.open(url, secrets_["dash0"])
    await control.until_active(names)
    latencies: list[float] = []
    for run_ in range(stops):

        async def wait_flattens(e: str) -> None:  # plain JSON: the executors' own parsing is not the hub's time
            left = set(owned[e])
            while left:
                frame = await execs[e].recv()
                if '"flatten"' in frame:
                    data = json.loads(frame)
                    if data.get("type") == "flatten":
                        left.discard(data["account"])

        waiters = [asyncio.create_task(wait_flattens(e)) for e in execs]
        stop = m.EmergencyStop(id=new_id(), ts=now(), reason="bench")
        start = time.perf_counter()
        await control.ws.send(encode(stop))
        await within(asyncio.gather(*waiters), f"a flatten for every account at every executor (stop {run_})", WAIT_S)
        latencies.append((time.perf_counter() - start) * 1000)
        await control.result(stop.id, f"the result of stop {run_}")
        resumes = [m.Resume(id=new_id(), ts=now(), account=name) for name in names]
        for resume in resumes:  # sent back to back; the hub answers a connection's frames in order
            await control.ws.send(encode(resume))
        for resume in resumes:
            await control.result(resume.id, f"the result of resuming {resume.account}")
        await control.until_active(names)
    for ws in [*execs.values(), control.ws]:
        await ws.close()
    return {"runs": stops, **summary_ms(latencies, 2), "path": "dashboard's emergency.stop -> HALTED persisted -> "
            "flatten at every executor"}  # fmt: skip


async def _round_trips(
    gateway: Any, execs: dict[str, Any], owned: dict[str, list[str]], count: int, database: Path, store: Any
) -> dict[str, Any]:
    """Orders to the first accounts, acknowledged and filled by their executor, then closed: what one costs on disk."""
    from enigma_apex.bench.gateway import filled
    from enigma_apex.client import new_id, now
    from enigma_apex.domain.orders import OrderIntent, Side
    from enigma_apex.domain.symbols import Contract
    from enigma_apex.protocol import messages as m
    from enigma_apex.protocol.codec import decode, encode

    e, accounts = next(iter(owned.items()))
    ws = execs[e]
    mnq = Contract("MNQ", 2026, 12)
    before = await asyncio.to_thread(_db_bytes, database, store)
    for i in range(count * 2):  # an entry, then its close
        account = accounts[(i // 2) % len(accounts)]
        side = Side.BUY if i % 2 == 0 else Side.SELL
        intent = OrderIntent(f"scale-{i}-{new_id()}", account, mnq, side, 1)
        await gateway.place_order(intent)
        while True:
            message = decode(await within(ws.recv(), f"order.place {intent.idempotency_key}", WAIT_S))
            if isinstance(message, m.OrderPlace) and message.key == intent.idempotency_key:
                break
        await ws.send(encode(m.Ack(id=new_id(), ts=now(), key=message.key, status="accepted")))
        for report in filled(message):
            await ws.send(encode(report))
        await ws.send(encode(m.Ping(id=f"sync{i}", ts=now())))
        while not isinstance(decode(await within(ws.recv(), f"the pong after fill {i}", WAIT_S)), m.Pong):
            pass
    grown = await asyncio.to_thread(_db_bytes, database, store) - before
    return {"round_trips": count, "bytes_per_round_trip": round(grown / count)}


__all__ = ["StalledError", "run"]
