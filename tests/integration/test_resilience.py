"""Crash safety in-process: an executor reconnect storm, and a database that stops taking writes (disk full)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select
from websockets.asyncio.client import connect

from enigma_apex.adapters.store import maintenance, repository
from enigma_apex.adapters.store import schema as s
from enigma_apex.bench.venues.harness import PaperHarness
from enigma_apex.client import now
from enigma_apex.domain.orders import OrderIntent, OrderPurpose, OrderStatus, Side
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.errors import StoreError
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import eventually, hello, recv, running_hub

D = Decimal
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))
ACCOUNTS = [
    {"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"},
    {"name": "A2", "profile": "topstep-combine-50k", "executor": "nt8"},
]


def count(store, table, *where):
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0)


async def paper_venue(tmp_path, url, token) -> PaperHarness:
    """The paper executor in this process, owning A1 and A2, signed in and quoting MNQ."""
    venue = PaperHarness(tmp_path / "paper")
    await venue.start(url, token, {"A1": D(50000), "A2": D(50000)})
    try:
        await venue.quote(MNQ, D("21000.00"), D("21000.25"))
    except BaseException:
        await venue.stop()
        raise
    return venue


def order_updates(store) -> list[str]:
    """The statuses of the ``order.updated`` audit rows, oldest first."""
    with store.engine.connect() as conn:
        payloads = conn.execute(
            select(s.audit_log.c.payload).where(s.audit_log.c.kind == "order.updated").order_by(s.audit_log.c.id)
        ).scalars()
        return [json.loads(payload)["status"] for payload in payloads]


class DiskFull:
    """A failing write hook: while on, every statement that writes fails the way a full disk does."""

    def __init__(self, engine):
        self.on = False
        event.listen(engine, "before_cursor_execute", self._hook)

    def _hook(self, conn, cursor, statement, parameters, context, executemany):
        if self.on and statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")


def test_a_reconnect_storm_of_100_reconnects_loses_and_duplicates_nothing(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url, tokens, gateway, store, _guardian,
        ):  # fmt: skip
            venue = await paper_venue(tmp_path, url, tokens["nt8"])
            try:
                client = venue.runner.client
                keys = []
                for i in range(100):
                    account = ("A1", "A2")[i % 2]
                    side = (Side.BUY, Side.SELL)[(i // 2) % 2]
                    key = f"storm{i}:{account}"
                    keys.append(key)
                    await gateway.place_order(OrderIntent(key, account, MNQ, side, 1))
                    if i % 3:
                        await asyncio.sleep(0.005 * (i % 4))  # some acks arrive, some are lost with the socket
                    before = client.connections
                    await client.drop()
                    await eventually(lambda b=before: client.connections > b, what=f"reconnect {i + 1}")
                assert client.connections >= 101

                def all_filled() -> bool:
                    with store.engine.connect() as conn:
                        rows = conn.execute(select(s.orders.c.status)).all()
                    return len(rows) == 100 and {r.status for r in rows} == {OrderStatus.FILLED.value}

                await eventually(all_filled, timeout=60, what="every order filled")  # 100 orders after the storm
                await eventually(lambda: count(store, s.fills) == 100, what="every fill recorded")
                # placed once at the venue: one fill per key, and the venue's positions are the hub's
                with store.engine.connect() as conn:
                    per_key = dict(
                        conn.execute(
                            select(s.orders.c.idempotency_key, func.count())
                            .select_from(s.fills.join(s.orders))
                            .group_by(s.orders.c.idempotency_key)
                        ).all()
                    )
                    stored = {a: repository.get_position(conn, a, MNQ).quantity for a in ("A1", "A2")}
                assert per_key == dict.fromkeys(keys, 1)
                venue_positions = {
                    a: sum(p.quantity for p in venue.venue.accounts[a].positions.values()) for a in ("A1", "A2")
                }
                assert stored == venue_positions
                assert count(store, s.orders) == 100
            finally:
                await venue.stop()

    asyncio.run(scenario())


def test_a_full_disk_halts_every_account_flattens_acknowledges_nothing_and_recovers(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url, tokens, gateway, store, guardian,
        ):  # fmt: skip
            events: asyncio.Queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            store.on_health_change.append(lambda ok, msg: loop.call_soon_threadsafe(events.put_nowait, (ok, msg)))
            venue = await paper_venue(tmp_path, url, tokens["nt8"])
            try:
                await gateway.place_order(OrderIntent("open:A1", "A1", MNQ, Side.BUY, 2))
                await eventually(lambda: count(store, s.fills) == 1, what="the opening fill")
                fills_before = count(store, s.fills)
                disk = DiskFull(store.engine)
                disk.on = True

                # a new order cannot be acknowledged: a clear error, nothing stored, nothing sent
                with pytest.raises(StoreError, match="disk is full"):
                    await gateway.place_order(OrderIntent("during:A2", "A2", MNQ, Side.BUY, 1))
                ok, message = await asyncio.wait_for(events.get(), 10)
                assert not ok and "disk is full" in message

                # the hub's reaction (what `up` wires): every account HALTED in memory and flattened
                halted = await asyncio.to_thread(guardian.database_down, message)
                assert sorted(halted) == ["A1", "A2"]
                assert {t.trading_state()[0].value for t in guardian.trackers.values()} == {"halted"}
                assert guardian.check(_intent("A2")).allowed == 0  # no new risk
                await eventually(
                    lambda: not any(p.quantity for p in venue.venue.accounts["A1"].positions.values()),
                    what="the flatten at the venue",
                )
                await eventually(lambda: gateway.deferred, what="the flatten's fill kept while the disk is full")
                assert count(store, s.fills) == fills_before  # not written yet
                with pytest.raises(StoreError):  # a resume cannot be recorded, so it is refused
                    guardian.resume("A1")

                disk.on = False
                await asyncio.wrap_future(store.writer.probe(lambda ctx: ctx.audit("probe", {})))  # as the hub
                ok, _ = await asyncio.wait_for(events.get(), 10)
                assert ok
                written = await asyncio.to_thread(guardian.database_recovered)
                replayed = await gateway.replay_deferred()
                assert sorted(written) == ["A1", "A2"] and replayed >= 1 and not gateway.deferred
                assert count(store, s.fills) == fills_before + 1  # the flatten's fill, recorded once
                with store.engine.connect() as conn:
                    states = repository.load_account_states(conn)
                    assert repository.get_position(conn, "A1", MNQ).quantity == 0
                assert {states[a].state.value for a in ("A1", "A2")} == {"halted"}  # survives a restart
                assert "database unwritable" in states["A1"].state_reason
                assert count(store, s.orders, s.orders.c.idempotency_key == "during:A2") == 0
                assert count(store, s.alerts, s.alerts.c.kind == "database.recovered") == 1
                assert count(store, s.alerts, s.alerts.c.kind == "state.halted") == 2  # recorded on recovery
                guardian.resume("A1")
                assert guardian.tracker("A1").trading_state()[0].value == "active"
                assert maintenance.verify(store.engine).ok
            finally:
                await venue.stop()

    asyncio.run(scenario())


def test_a_failed_batch_fails_fast_instead_of_waiting_out_each_write(tmp_path, clock):
    from enigma_apex.adapters.store import migrate
    from enigma_apex.adapters.store.engine import make_engine
    from enigma_apex.adapters.store.writer import GroupCommitWriter

    engine = make_engine(f"sqlite:///{(tmp_path / 'w.db').as_posix()}")
    migrate.upgrade(engine)
    disk = DiskFull(engine)
    attempts = []
    event.listen(engine, "begin", lambda conn: attempts.append(1))
    writer = GroupCommitWriter(engine, clock, linger_s=0.05)
    writer.start()
    disk.on = True
    futures = [writer.submit(lambda ctx, i=i: ctx.audit("x", {"i": i})) for i in range(50)]
    errors = []
    for future in futures:
        with contextlib.suppress(StoreError):
            future.result(10)
            continue
        errors.append(1)
    assert len(errors) == 50 and not writer.healthy
    assert len(attempts) <= 4  # the batch, then one alone: the rest fail with it (not 50 more attempts)
    disk.on = False
    writer.probe(lambda ctx: ctx.audit("after", {})).result(10)
    assert writer.healthy
    writer.close()
    engine.dispose()


def _intent(account):
    from enigma_apex.rules.gate import Intent

    return Intent(account, MNQ, Side.BUY, 1, D("21000.25"), D("20990.00"), None)


def test_a_burst_of_account_updates_is_marked_in_order_and_no_unrealised_peak_is_skipped(tmp_path):
    from enigma_apex.client import HubClient, new_id, now
    from enigma_apex.protocol import messages as m

    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url, tokens, _gateway, _store, guardian,
        ):  # fmt: skip
            client = HubClient(url, tokens["nt8"], "nt8", None, executor=True)
            task = asyncio.create_task(client.run())
            await client.connected.wait()
            burst = [D(0)] * 200 + [D("900.00")] + [D(0)] * 200  # one tick of open profit inside a burst
            count = {"marks": 0}
            real_mark_many = guardian.mark_many  # the gateway's batches: every update goes through it

            def counted(marks):
                result = real_mark_many(marks)
                count["marks"] += len(marks)  # counted once applied (this runs in the mark thread)
                return result

            guardian.mark_many = counted
            for open_pnl in burst:
                update = m.AccountUpdate(
                    id=new_id(), ts=now(), account="A1", balance=D(50000), realized_pnl=D(0), open_pnl=open_pnl
                )
                await client.send(update)
            await eventually(lambda: count["marks"] == len(burst), what="every update marked")
            tracker = guardian.tracker("A1")
            assert tracker.peak == D("50900.00") and tracker.snapshot().equity == D(50000)  # the spike was seen
            await client.stop()
            task.cancel()

    asyncio.run(scenario())


class FailOnce:
    """The next write of the orders table fails as a full disk does, once ``behind`` more writes are queued behind
    it: it fails alone in its batch, and they form the next one."""

    def __init__(self, store, behind: int):
        self.store = store
        self.behind = behind
        self.armed = True
        self.entered = threading.Event()  # the write that fails has started (send what goes behind it now)
        self.failed = threading.Event()
        event.listen(store.engine, "before_cursor_execute", self._hook)

    def _hook(self, conn, cursor, statement, parameters, context, executemany):
        if not self.armed or not statement.lstrip().upper().startswith("UPDATE ORDERS"):
            return
        self.armed = False
        self.entered.set()
        deadline = time.monotonic() + 10
        while self.store.writer.queue_depth < self.behind and time.monotonic() < deadline:
            time.sleep(0.001)
        self.failed.set()
        raise sqlite3.OperationalError("database or disk is full")


def test_a_report_the_database_refused_keeps_the_reports_after_it_behind_it(tmp_path):
    """An executor's reports go to the database writer as they arrive, without waiting for each other's commit. When
    one of them is refused, the ones already handed to the writer after it are kept too, in order, even though the
    database takes them again: the fill is never recorded ahead of the acknowledgement kept for later, and the
    replay writes all of them in arrival order."""

    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url, tokens, gateway, store, _guardian,
        ):  # fmt: skip
            store.writer.retry_s = 0  # the next batch tries the database again at once
            async with connect(url) as nt:
                await nt.send(hello(tokens["nt8"]))
                await recv(nt, "welcome")
                await gateway.place_order(OrderIntent("kept:A1", "A1", MNQ, Side.BUY, 1))
                placed = await recv(nt, "order.place")
                fail = FailOnce(store, behind=3)
                reports = [
                    m.Ack(id="a", ts=now(), key=placed.key, status="accepted"),
                    m.OrderUpdate(id="u1", ts=now(), key=placed.key, account="A1", status="working"),
                    m.FillMsg(id="f", ts=now(), fill_id="kept-fill", key=placed.key, account="A1", symbol="MNQ 12-26",
                              side="buy", quantity=1, price=D("21000.25"), executed_at=now()),
                    m.OrderUpdate(id="u2", ts=now(), key=placed.key, account="A1", status="filled",
                                  filled_quantity=1, average_price=D("21000.25")),
                ]  # fmt: skip
                await nt.send(encode(reports[0]))
                await eventually(fail.entered.is_set, what="the acknowledgement's write")
                for report in reports[1:]:  # handed to the writer while the acknowledgement's write is under way
                    await nt.send(encode(report))
                await nt.send(encode(m.Ping(id="sync", ts=now())))
                await recv(nt, "pong")  # answered once every report before it is recorded or kept
                assert fail.failed.is_set()
                assert len(gateway.deferred) == 4
                assert count(store, s.fills) == 0
                assert count(store, s.orders, s.orders.c.status == "pending") == 1

                await asyncio.wrap_future(store.writer.probe(lambda ctx: ctx.audit("probe", {})))  # as the hub
                assert await gateway.replay_deferred() == 4 and not gateway.deferred
                with store.engine.connect() as conn:
                    row = conn.execute(
                        select(s.orders.c.status, s.orders.c.filled_quantity).where(
                            s.orders.c.idempotency_key == "kept:A1"
                        )
                    ).one()
                assert (row.status, row.filled_quantity) == ("filled", 1)
                assert count(store, s.fills) == 1
                updates = order_updates(store)
                assert updates[0] == "accepted" and updates[-1] == "filled", updates

    asyncio.run(scenario())


def test_an_order_the_executor_refused_stays_refused_when_the_hub_lost_the_refusal(tmp_path):
    """The hub went away between sending an order and hearing the executor refuse it (an exit with no position to
    close). On the next connection the hub sends the order again and the executor answers ``duplicate``: the
    journal's refusal, sent again before anything else, keeps the order REJECTED instead of ACCEPTED forever."""

    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url, tokens, gateway, store, _guardian,
        ):  # fmt: skip
            lost: list[str] = []
            on_frame = gateway.on_frame

            async def losing_the_refusal(peer, frame):
                if '"rejected"' in frame and not lost:  # the hub died before this frame was read
                    lost.append(frame)
                    return
                await on_frame(peer, frame)

            gateway.on_frame = losing_the_refusal
            venue = await paper_venue(tmp_path, url, tokens["nt8"])
            try:
                exit_order = OrderIntent("exit:A1", "A1", MNQ, Side.SELL, 1, purpose=OrderPurpose.EXIT)
                await gateway.place_order(exit_order)
                await eventually(lambda: lost, what="the executor's refusal (no position to close)")
                assert count(store, s.orders, s.orders.c.status == "pending") == 1
                connections = venue.runner.client.connections
                await venue.runner.client.drop()
                await eventually(lambda: venue.runner.client.connections > connections, what="the reconnection")
                await eventually(
                    lambda: count(store, s.orders, s.orders.c.status != "pending"), what="the order's state"
                )
                with store.engine.connect() as conn:
                    row = conn.execute(
                        select(s.orders.c.status, s.orders.c.reason).where(s.orders.c.idempotency_key == "exit:A1")
                    ).one()
                assert row.status == "rejected" and "reduce-only" in row.reason, row
                assert venue.runner.client.duplicates == 1  # the resend was answered duplicate, not placed again
            finally:
                await venue.stop()

    asyncio.run(scenario())


def test_reports_a_broken_write_did_not_carry_are_kept_in_order_and_sent_behind_it(tmp_path):
    """The executor writes an order's acknowledgement and the venue's reports in one write; when the connection
    fails under it, none of it counts as sent. The reports stay queued in their order and go out on the next
    attempt: the fill is recorded once and the order ends filled (a working state sent after the fill would
    leave it working). The acknowledgement is not sent again: the fill settles the order."""

    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url, tokens, gateway, store, _guardian,
        ):  # fmt: skip
            venue = await paper_venue(tmp_path, url, tokens["nt8"])
            try:
                client = venue.runner.client
                send_all = client.send_all
                broken: list[list[str]] = []

                async def breaking_once(messages):
                    if not broken and any(isinstance(x, m.FillMsg) for x in messages):
                        broken.append([f"{x.type}:{getattr(x, 'status', '')}" for x in messages])
                        return False  # the socket failed under this write
                    return await send_all(messages)

                client.send_all = breaking_once
                await gateway.place_order(OrderIntent("kept-1", "A1", MNQ, Side.BUY, 1))
                await eventually(lambda: count(store, s.orders, s.orders.c.status == "filled"), what="the order filled")
                assert broken == [["ack:accepted", "order.update:working", "fill:", "order.update:filled", "position:"]]
                assert count(store, s.fills) == 1
                assert order_updates(store) == ["working", "filled"]
            finally:
                await venue.stop()

    asyncio.run(scenario())
