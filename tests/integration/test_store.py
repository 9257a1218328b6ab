"""The store's suite, run against a SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from enigma_apex.adapters.store import audit, maintenance, migrate, repository, tokens
from enigma_apex.adapters.store import schema as s
from enigma_apex.adapters.store.engine import make_engine
from enigma_apex.domain.accounts import TradingState
from enigma_apex.domain.events import TradingStateChanged
from enigma_apex.domain.orders import Bracket, Fill, OrderIntent, OrderStatus, Side, order_ref
from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.domain.symbols import Contract
from enigma_apex.errors import StoreError

MNQ = Contract("MNQ", 2026, 12)
ACCOUNTS = [
    repository.AccountRecord("APEX-1", "apex4-intraday-eval-50k", "tradovate", "paper", "default"),
    repository.AccountRecord("TS-1", "topstep-combine-50k", None, "paper", "default"),
]


def test_migrations_build_exactly_the_declared_schema(engine):
    assert migrate.current_revision(engine) == migrate.head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), s.metadata)
    assert diff == []


def test_upgrading_twice_is_a_no_op(engine):
    assert migrate.upgrade(engine) == migrate.head_revision()


def test_group_commit_acknowledges_every_write_after_it_is_committed(writer, engine):
    writer.write(lambda ctx: repository.sync_accounts(ctx, ACCOUNTS))
    n = 400
    futures = [writer.submit(lambda ctx, i=i: ctx.audit("test.event", {"i": i}, account="APEX-1")) for i in range(n)]
    for f in futures:
        f.result(10)
    assert writer.batches < n  # writes were grouped
    with engine.connect() as conn:
        query = select(s.audit_log.c.payload).where(s.audit_log.c.kind == "test.event").order_by(s.audit_log.c.id)
        order = [json.loads(p)["i"] for p in conn.execute(query).scalars()]
        assert order == list(range(n))  # the chain order is the submission order
        assert audit.verify_chain(conn).ok


def test_concurrent_writers_share_one_chain(writer, engine):
    def burst(k: int) -> None:
        for i in range(50):
            writer.write(lambda ctx, i=i: ctx.audit("burst", {"thread": k, "i": i}))

    threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        report = audit.verify_chain(conn)
        bursts = conn.execute(select(s.audit_log.c.id).where(s.audit_log.c.kind == "burst")).all()
    assert report.ok and len(bursts) == 200


def test_a_bad_write_fails_alone(writer, engine):
    writer.write(lambda ctx: repository.sync_accounts(ctx, ACCOUNTS))
    good = [writer.submit(lambda ctx, i=i: ctx.audit("ok", {"i": i})) for i in range(5)]
    bad = writer.submit(
        lambda ctx: ctx.conn.execute(
            s.positions.insert().values(
                account_id="NO-SUCH-ACCOUNT",
                symbol="MNQ 12-26",
                quantity=1,
                average_price=Decimal(1),
                updated_at=ctx.clock.now(),
            )
        )
    )
    more = [writer.submit(lambda ctx, i=i: ctx.audit("ok2", {"i": i})) for i in range(5)]
    with pytest.raises(StoreError):
        bad.result(10)
    for f in good + more:
        f.result(10)  # committed (no exception)
    assert writer.healthy  # a constraint violation is not a database failure
    with engine.connect() as conn:
        assert audit.verify_chain(conn).ok


def test_tampering_is_detected_at_the_first_altered_row(writer, engine):
    for i in range(10):
        writer.write(lambda ctx, i=i: ctx.audit("e", {"i": i}))
    with engine.begin() as conn:
        conn.execute(s.audit_log.update().where(s.audit_log.c.id == 4).values(payload='{"i":999}'))
    report = maintenance.verify(engine)
    assert not report.ok and report.audit.first_broken_id == 4
    assert "altered" in report.audit.problem


def test_a_deleted_audit_row_is_detected(writer, engine):
    for i in range(6):
        writer.write(lambda ctx, i=i: ctx.audit("e", {"i": i}))
    with engine.begin() as conn:
        conn.execute(s.audit_log.delete().where(s.audit_log.c.id == 3))
    assert maintenance.verify(engine).audit.first_broken_id == 4


def test_the_chain_continues_across_writer_restarts(engine, clock):
    from enigma_apex.adapters.store.writer import GroupCommitWriter

    for _ in range(2):
        w = GroupCommitWriter(engine, clock)
        w.start()
        for i in range(3):
            w.write(lambda ctx, i=i: ctx.audit("e", {"i": i}))
        w.close()
    assert maintenance.verify(engine).ok


def test_account_state_survives_and_is_not_rebased_by_sync(writer, engine):
    writer.write(lambda ctx: repository.sync_accounts(ctx, ACCOUNTS))
    state = repository.StoredAccountState(
        "APEX-1",
        TradingState.ACTIVE,
        peak=Decimal("51234.50"),
        threshold=Decimal("49234.50"),
        locked=False,
        balance=Decimal("51000"),
    )
    writer.write(lambda ctx: repository.save_account_state(ctx, state))
    event = TradingStateChanged(
        "APEX-1", TradingState.ACTIVE, TradingState.HALTED, "emergency stop", writer._clock.now()
    )
    writer.write(lambda ctx: repository.record_state_change(ctx, event))
    changed = [ACCOUNTS[0].__class__("APEX-1", "apex4-intraday-eval-50k", "rithmic", "paper", "default")]
    writer.write(lambda ctx: repository.sync_accounts(ctx, changed))
    with engine.connect() as conn:
        stored = repository.load_account_states(conn)["APEX-1"]
        platform = conn.execute(select(s.accounts.c.platform).where(s.accounts.c.id == "APEX-1")).scalar_one()
    assert (stored.peak, stored.threshold, stored.state) == (
        Decimal("51234.50"),
        Decimal("49234.50"),
        TradingState.HALTED,
    )
    assert platform == "rithmic"


def test_orders_are_idempotent_by_key(writer, engine):
    writer.write(lambda ctx: repository.sync_accounts(ctx, ACCOUNTS))
    intent = OrderIntent("sig1:APEX-1", "APEX-1", MNQ, Side.BUY, 2, bracket=Bracket(Decimal("20990"), Decimal("21030")))
    first = writer.write(lambda ctx: repository.insert_order(ctx, intent, executor="paper", seq=1))
    again = writer.write(lambda ctx: repository.insert_order(ctx, intent, executor="paper", seq=2))
    assert first.created and not again.created and again.order_id == first.order_id
    writer.write(
        lambda ctx: repository.update_order(
            ctx,
            intent.idempotency_key,
            status=OrderStatus.FILLED,
            filled_quantity=2,
            average_price=Decimal("21000.25"),
        )
    )
    with engine.connect() as conn:
        stored = repository.get_order(conn, intent.idempotency_key)
        count = conn.execute(text("SELECT COUNT(*) FROM orders")).scalar_one()
    assert count == 1
    assert stored.status is OrderStatus.FILLED and stored.average_price == Decimal("21000.25")


def test_an_orders_compact_reference_taken_by_another_key_stays_with_that_key(writer, engine):
    """Two keys whose compact references collide: the first keeps the reference, the second order is still stored
    and is named by its key (the reference resolves to the first)."""
    writer.write(lambda ctx: repository.sync_accounts(ctx, ACCOUNTS))
    first = OrderIntent("sig-a:APEX-1", "APEX-1", MNQ, Side.BUY, 1)
    second = OrderIntent("sig-b:APEX-1", "APEX-1", MNQ, Side.BUY, 1)
    ref = order_ref(second.idempotency_key)
    writer.write(lambda ctx: repository.insert_order(ctx, first, executor="paper", seq=1))
    with engine.begin() as conn:  # as if the first key's reference were the second's too
        conn.execute(s.order_refs.delete())
        conn.execute(s.order_refs.insert(), {"order_ref": ref, "idempotency_key": first.idempotency_key})
    stored = writer.write(lambda ctx: repository.insert_order(ctx, second, executor="paper", seq=2))
    assert stored.created
    with engine.connect() as conn:
        assert repository.resolve_key(conn, ref) == first.idempotency_key
        assert repository.get_order(conn, second.idempotency_key).seq == 2
        assert conn.execute(text("SELECT COUNT(*) FROM order_refs")).scalar_one() == 1


def test_a_repeated_dedup_key_stores_nothing_and_a_missing_one_never_collides(writer, engine, clock):
    signal = Signal("s-1", SignalSource.TRADINGVIEW, MNQ, Direction.LONG, clock.now())
    again = Signal("s-2", SignalSource.TRADINGVIEW, MNQ, Direction.LONG, clock.now())
    assert writer.write(lambda ctx: repository.insert_signal(ctx, signal, "tv-1")) is True
    assert writer.write(lambda ctx: repository.insert_signal(ctx, again, "tv-1")) is False
    plain = [Signal(f"p-{i}", SignalSource.MANUAL, MNQ, Direction.LONG, clock.now()) for i in range(2)]
    assert all(writer.write(lambda ctx, x=x: repository.insert_signal(ctx, x)) for x in plain)
    with engine.connect() as conn:
        ids = set(conn.execute(select(s.signals.c.id)).scalars())
        audited = conn.execute(select(s.audit_log.c.id).where(s.audit_log.c.kind == "signal.received")).all()
    assert ids == {"s-1", "p-0", "p-1"} and len(audited) == 3


def test_a_fill_is_one_per_account_executor_and_broker_id(writer, engine, clock):
    """The same broker fill id on another account, or from another executor, is a fill of its own; the same report
    again is ignored and moves nothing."""
    writer.write(lambda ctx: repository.sync_accounts(ctx, ACCOUNTS))

    def fill(account: str) -> Fill:
        return Fill(
            "BRK-1", f"k-{account}", account, MNQ, Side.BUY, 1, Decimal("21000.25"), Decimal("0.52"), clock.now()
        )

    def record(account: str, executor: str) -> bool:
        return writer.write(lambda ctx: repository.insert_fill(ctx, fill(account), executor))

    assert [record("APEX-1", "nt8"), record("APEX-1", "nt8"), record("TS-1", "nt8"), record("APEX-1", "rithmic")] == [
        True,
        False,
        True,
        True,
    ]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM fills")).scalar_one() == 3
        assert repository.get_position(conn, "APEX-1", MNQ).quantity == 2
        assert repository.get_position(conn, "TS-1", MNQ).quantity == 1


def test_fills_are_recorded_once_and_move_the_position(writer, engine, clock):
    writer.write(lambda ctx: repository.sync_accounts(ctx, ACCOUNTS))
    intent = OrderIntent("k1", "APEX-1", MNQ, Side.BUY, 3)
    writer.write(lambda ctx: repository.insert_order(ctx, intent, executor="paper", seq=1))
    fill = Fill("F-1", "k1", "APEX-1", MNQ, Side.BUY, 3, Decimal("21000.25"), Decimal("1.56"), clock.now())
    assert writer.write(lambda ctx: repository.insert_fill(ctx, fill)) is True
    assert writer.write(lambda ctx: repository.insert_fill(ctx, fill)) is False
    close = Fill("F-2", "k1", "APEX-1", MNQ, Side.SELL, 1, Decimal("21010.25"), Decimal("0.52"), clock.now())
    writer.write(lambda ctx: repository.insert_fill(ctx, close))
    with engine.connect() as conn:
        pos = repository.get_position(conn, "APEX-1", MNQ)
        assert [p.quantity for p in repository.list_positions(conn, "APEX-1")] == [2]
    assert (pos.quantity, pos.average_price) == (2, Decimal("21000.25"))


def test_signals_deduplicate_and_decisions_link_to_them(writer, engine, clock):
    writer.write(lambda ctx: repository.sync_accounts(ctx, ACCOUNTS))
    sig = Signal(
        "S1",
        SignalSource.TRADINGVIEW,
        MNQ,
        Direction.LONG,
        clock.now(),
        entry=Decimal("21000"),
        stop=Decimal("20990"),
    )
    assert writer.write(lambda ctx: repository.insert_signal(ctx, sig, dedup_key="tv:abc", raw={"a": 1}))
    dup = Signal("S2", SignalSource.TRADINGVIEW, MNQ, Direction.LONG, clock.now())
    assert not writer.write(lambda ctx: repository.insert_signal(ctx, dup, dedup_key="tv:abc"))
    decision = writer.write(
        lambda ctx: repository.insert_decision(
            ctx,
            signal_id="S1",
            account="APEX-1",
            action="take",
            quantity=2,
            ai={"score": 80},
            verdicts=[{"code": "OK"}],
            sizing={"risk": Decimal("150")},
        )
    )
    with engine.connect() as conn:
        row = conn.execute(select(s.decisions).where(s.decisions.c.id == decision)).one()
    assert row.sizing == '{"risk":"150"}'


def test_tokens_are_stored_as_hashes_and_expire(writer, engine, clock):
    plain, record = writer.write(
        lambda ctx: tokens.create_token(
            ctx,
            name="nt8",
            role="executor",
            accounts=("APEX-1",),
            expires_at=clock.now() + timedelta(hours=1),
        )
    )
    with engine.connect() as conn:
        stored = conn.execute(select(s.client_tokens)).one()
        assert plain not in str(tuple(stored))
        assert tokens.find_token(conn, plain, clock.now()).accounts == ("APEX-1",)
        assert tokens.find_token(conn, plain, clock.now() + timedelta(hours=2)) is None
        assert tokens.find_token(conn, plain + "x", clock.now()) is None
    assert writer.write(lambda ctx: tokens.revoke_token(ctx, record.token_id))
    with engine.connect() as conn:
        assert tokens.find_token(conn, plain, clock.now()) is None
    with pytest.raises(ValueError, match="unknown role"):
        writer.write(lambda ctx: tokens.create_token(ctx, name="x", role="god"))


def test_config_changes_and_health_are_recorded(writer, engine, clock):
    writer.write(
        lambda ctx: repository.record_config_change(
            ctx, key="sizing.kelly_multiplier", old="0.5", new="0.3", applied=True, source="test"
        )
    )
    with engine.connect() as conn:
        (change,) = repository.recent_config_changes(conn)
    assert (change["key"], change["old_value"], change["new_value"], change["applied"]) == (
        "sizing.kelly_multiplier",
        '"0.5"',
        '"0.3"',
        True,
    )


def test_backup_is_a_consistent_copy(writer, engine, tmp_path, db_url):
    for i in range(20):
        writer.write(lambda ctx, i=i: ctx.audit("e", {"i": i}))
    target = maintenance.backup(engine, tmp_path / "copy.bak")
    assert target.stat().st_size > 0
    if engine.dialect.name == "sqlite":
        copy = make_engine(f"sqlite:///{target.as_posix()}")
        with engine.connect() as conn:
            rows = audit.count_rows(conn)
        assert maintenance.verify(copy).ok and maintenance.verify(copy).audit.rows == rows
        copy.dispose()


def test_optimize_runs_on_a_live_database(writer, engine):
    writer.write(lambda ctx: ctx.audit("e", {}))
    assert maintenance.optimize(engine)
    assert maintenance.verify(engine).ok


def test_rotation_keeps_the_newest(tmp_path):
    import os

    for i in range(5):
        path = tmp_path / f"backup-{i}.db"
        path.write_text("x")
        os.utime(path, (1000 + i, 1000 + i))
    removed = maintenance.rotate(tmp_path, "backup-", keep=2)
    assert sorted(p.name for p in removed) == ["backup-0.db", "backup-1.db", "backup-2.db"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup-3.db", "backup-4.db"]


def test_upgrading_masks_credentials_earlier_versions_kept_in_webhook_payloads(db_url):
    """Before 0004 a PickMyTrade token inside ``multiple_accounts`` was stored with the signal's payload."""
    eng = make_engine(db_url)
    try:
        migrate.upgrade(eng, "0003")
        old = '{"fields": {"multiple_accounts": "[{\'token\': \'Ct8tPtD345\', \'account_id\': \'2\'}]", "symbol": "NQ1!"}}'
        with eng.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO signals (id, source, symbol, direction, received_at, raw) "
                    "VALUES ('s1', 'tradingview', 'NQ 12-26', 'long', '2026-11-23T15:00:00+00:00', :raw)"
                ),
                {"raw": old},
            )
        migrate.upgrade(eng)
        with eng.connect() as conn:
            raw = conn.execute(text("SELECT raw FROM signals WHERE id = 's1'")).scalar()
        assert "Ct8tPtD345" not in raw and "'token': '***'" in raw and "NQ1!" in raw
    finally:
        eng.dispose()
