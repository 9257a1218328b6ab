"""The store's background disk work — the write-ahead log's checkpoint and the audit anchor — waits for a pause in
the writer's commits (a commit whose sync meets theirs waits for the disk), and never longer than its limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from enigma_apex.adapters.store import audit, integrity, migrate
from enigma_apex.adapters.store.engine import Checkpointer, make_engine, pause_wait
from enigma_apex.adapters.store.writer import GroupCommitWriter
from tests.integration.hubproc import wait_until


class Writes:
    """The writer as the background work sees it: busy (it just wrote) until told it paused; counts the looks."""

    def __init__(self) -> None:
        self.busy = True
        self.looks = 0
        self.paused_at = 0.0

    def last_write(self) -> float:
        self.looks += 1
        return time.monotonic() if self.busy else self.paused_at

    def pause(self) -> None:
        self.paused_at = time.monotonic() - 1.0
        self.busy = False


@pytest.fixture
def engine(sqlite_url):
    eng = make_engine(sqlite_url, auto_checkpoint=False)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def writer(engine, clock) -> Iterator[GroupCommitWriter]:
    w = GroupCommitWriter(engine, clock)
    w.start()
    yield w
    w.close()


def test_background_work_waits_until_the_writer_has_been_idle_and_never_past_its_limit():
    now = 100.0
    assert pause_wait(now, last_write=now - 1.0, since=now - 0.1, quiet_s=0.01, max_wait_s=5.0) == 0.0  # idle
    assert pause_wait(now, last_write=now - 0.004, since=now - 0.1, quiet_s=0.01, max_wait_s=5.0) == pytest.approx(
        0.006
    )  # busy: until the quiet time has passed
    assert pause_wait(now, last_write=now, since=now - 4.999, quiet_s=0.01, max_wait_s=5.0) == pytest.approx(0.001)
    assert pause_wait(now, last_write=now, since=now - 6.0, quiet_s=0.01, max_wait_s=5.0) == 0.0  # overdue: now


def test_the_writer_reports_its_last_write_as_now_while_a_batch_runs_and_its_commit_time_after(writer):
    inside = threading.Event()
    release = threading.Event()

    def slow(ctx):
        inside.set()
        release.wait(10)
        ctx.audit("test.slow", {})

    before = time.monotonic()
    future = writer.submit(slow)
    assert inside.wait(10)
    first = writer.last_write()
    later = wait_until(lambda: writer.last_write() > first and writer.last_write(), timeout=10, every=0.001)
    assert before <= first < later  # moves with the clock while the batch runs
    release.set()
    future.result(10)
    committed = writer.last_write()
    assert before <= committed <= time.monotonic()
    writer.write(lambda ctx: None)  # another commit moves it on
    assert writer.last_write() > committed


def test_a_checkpoint_waits_for_the_writer_to_pause(engine, writer):
    writes = Writes()
    checkpointer = Checkpointer(engine, lambda: writer.committed, writes.last_write, every_s=0.01, max_wait_s=3600)
    checkpointer.start()
    try:
        writer.write(lambda ctx: ctx.audit("test.write", {}))
        wait_until(lambda: writes.looks >= 20, timeout=30, every=0.005)  # it looked, again and again, while busy
        assert checkpointer.checkpoints == 0
        writes.pause()
        wait_until(lambda: checkpointer.checkpoints == 1, timeout=30, every=0.005)
    finally:
        checkpointer.stop()


def test_a_writer_that_never_pauses_still_gets_its_checkpoint_at_the_limit(engine, writer):
    writes = Writes()  # busy throughout
    checkpointer = Checkpointer(engine, lambda: writer.committed, writes.last_write, every_s=0.01, max_wait_s=0.05)
    checkpointer.start()
    try:
        writer.write(lambda ctx: ctx.audit("test.write", {}))
        wait_until(lambda: checkpointer.checkpoints >= 1, timeout=30, every=0.005)
        assert writes.busy and writes.looks > 0
    finally:
        checkpointer.stop()


def _anchor_when_written(path):
    return wait_until(lambda: path.exists() and integrity.read_anchor(path), timeout=30, every=0.005)


def test_the_anchor_is_written_in_a_pause_of_the_writes_or_at_its_limit(tmp_path):
    path = tmp_path / "audit-anchor.json"
    writes = Writes()
    keeper = integrity.AnchorKeeper(path, None, None, writes.last_write, every_s=0.01, max_wait_s=3600)
    try:
        keeper.advance(audit.ChainHead(7, "a" * 64))
        wait_until(lambda: writes.looks >= 20, timeout=30, every=0.005)
        assert not path.exists()  # the writer is busy: not yet
        writes.pause()
        anchor = _anchor_when_written(path)
        assert (anchor.head_id, anchor.head_hash) == (7, "a" * 64)
    finally:
        keeper.close()

    busy = Writes()
    overdue = integrity.AnchorKeeper(
        tmp_path / "other.json", None, None, busy.last_write, every_s=0.01, max_wait_s=0.05
    )
    try:
        overdue.advance(audit.ChainHead(9, "b" * 64))
        assert _anchor_when_written(tmp_path / "other.json").head_id == 9 and busy.busy
    finally:
        overdue.close()


def test_closing_writes_the_anchor_at_once_even_while_the_writer_seems_busy(tmp_path):
    path = tmp_path / "audit-anchor.json"
    writes = Writes()
    keeper = integrity.AnchorKeeper(path, None, None, writes.last_write, every_s=0.01, max_wait_s=3600)
    keeper.advance(audit.ChainHead(3, "c" * 64))
    wait_until(lambda: writes.looks >= 1, timeout=30, every=0.005)
    keeper.close()
    assert not keeper._thread.is_alive()  # its wait ended with the close, not after it
    anchor = integrity.read_anchor(path)
    assert not isinstance(anchor, str) and anchor is not None and anchor.head_id == 3


def test_the_store_wires_its_checkpointer_and_anchor_to_the_writers_pauses(tmp_path, clock):
    from enigma_apex.adapters.store.store import Store
    from enigma_apex.config.models import Settings

    settings = Settings.model_validate({"hub": {"data_dir": str(tmp_path / "data")}})
    store = Store.open(settings, clock)
    store.upgrade(clock, backup_first=False)
    store.start()
    try:
        assert store.checkpointer is not None and store.writer.anchor is not None
        assert store.checkpointer.last_write == store.writer.last_write
        assert store.writer.anchor.last_write == store.writer.last_write
        store.writer.write(lambda ctx: ctx.audit("test.write", {}))
        last = store.writer.head.last_id
        wait_until(lambda: getattr(integrity.read_anchor(store.anchor_path), "head_id", None) == last)  # type: ignore[arg-type]
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0  # no commit pays for one
    finally:
        store.close()
