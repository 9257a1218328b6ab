"""What the writer does when the database itself refuses writes."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event

from enigma_apex.adapters.store import audit, migrate
from enigma_apex.adapters.store.engine import make_engine
from enigma_apex.adapters.store.writer import GroupCommitWriter
from enigma_apex.errors import StoreError


def test_a_locked_database_fails_writes_marks_unhealthy_and_recovers(tmp_path, clock):
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path.as_posix()}", busy_timeout_ms=100)
    migrate.upgrade(engine)
    changes: list[tuple[bool, str]] = []
    writer = GroupCommitWriter(engine, clock, on_health_change=lambda ok, msg: changes.append((ok, msg)))
    writer.start()
    writer.write(lambda ctx: ctx.audit("before", {}))

    attempts: list[str] = []
    event.listen(
        engine, "before_cursor_execute", lambda *args: attempts.append(args[2]) if "INSERT" in args[2] else None
    )
    other = sqlite3.connect(path, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        batch = [writer.submit(lambda ctx, i=i: ctx.audit("during", {"i": i})) for i in range(5)]
        for future in batch:
            with pytest.raises(StoreError, match="locked"):
                future.result(10)
        assert not writer.healthy and changes[-1][0] is False
        # refused within one busy timeout: the database was tried once per batch, not once more per write
        assert len(attempts) == 1, attempts
    finally:
        other.rollback()
        other.close()

    with pytest.raises(StoreError, match="locked"):  # just after a failure, writes fail at once ...
        writer.write(lambda ctx: ctx.audit("refused", {}))
    writer.probe(lambda ctx: ctx.audit("after", {})).result(10)  # ... until a probe finds the database back
    assert writer.healthy and changes[-1] == (True, "")
    with engine.connect() as conn:
        report = audit.verify_chain(conn)
        kinds = [r.kind for r in conn.exec_driver_sql("SELECT kind FROM audit_log ORDER BY id")]
    kinds = [k for k in kinds if k != "rows.baseline"]
    assert report.ok and kinds == ["before", "after"]  # nothing acknowledged that was not written
    writer.close()
    engine.dispose()


def test_a_closed_writer_refuses_writes(engine, clock):
    writer = GroupCommitWriter(engine, clock)
    writer.start()
    writer.close()
    with pytest.raises(StoreError, match="not running"):
        writer.write(lambda ctx: ctx.audit("late", {}))


def test_rows_another_process_appended_never_wedge_the_writer(tmp_path, clock):
    """The chain head is read inside each transaction: audit rows a second process appended (a CLI write while
    the hub ran, before the instance lock made that impossible) are followed, not collided with."""
    url = f"sqlite:///{(tmp_path / 'shared.db').as_posix()}"
    hub_engine, other_engine = make_engine(url), make_engine(url)
    migrate.upgrade(hub_engine)
    hub = GroupCommitWriter(hub_engine, clock)
    hub.start()
    hub.write(lambda ctx: ctx.audit("hub.1", {}))
    other = GroupCommitWriter(other_engine, clock)
    other.start()
    for i in range(3):
        other.write(lambda ctx, i=i: ctx.audit("other", {"i": i}))
    other.close()
    for i in range(3):
        hub.write(lambda ctx, i=i: ctx.audit("hub.2", {"i": i}))
    assert hub.healthy
    with hub_engine.connect() as conn:
        assert audit.verify_chain(conn).ok
        kinds = [r.kind for r in conn.exec_driver_sql("SELECT kind FROM audit_log ORDER BY id")]
    assert [k for k in kinds if k.startswith(("hub", "other"))] == ["hub.1", *["other"] * 3, *["hub.2"] * 3]
    hub.close()
    hub_engine.dispose()
    other_engine.dispose()
