"""What the writer does when the database itself refuses writes."""

from __future__ import annotations

import sqlite3

import pytest

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

    other = sqlite3.connect(path, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with pytest.raises(StoreError, match="locked"):
            writer.write(lambda ctx: ctx.audit("during", {}), timeout=10)
        assert not writer.healthy and changes[-1][0] is False
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
    assert report.ok and kinds == ["before", "after"]  # nothing acknowledged that was not written
    writer.close()
    engine.dispose()


def test_a_closed_writer_refuses_writes(engine, clock):
    writer = GroupCommitWriter(engine, clock)
    writer.start()
    writer.close()
    with pytest.raises(StoreError, match="not running"):
        writer.write(lambda ctx: ctx.audit("late", {}))
