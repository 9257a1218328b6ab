"""Engine creation with the pragmas the system relies on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

log = structlog.get_logger(__name__)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


SQLITE_CACHE_KIB = 512


def make_engine(
    url: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000, auto_checkpoint: bool = True
) -> Engine:
    """An engine for ``url``. SQLite: WAL, foreign keys on, the chosen fsync policy, a busy timeout.
    ``auto_checkpoint`` False: no commit folds the write-ahead log back into the file (a ``Checkpointer`` thread
    does it, off the commit path)."""
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000})
        sync = synchronous.upper()
        if sync not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unsupported synchronous mode {synchronous!r}")

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA synchronous={sync}")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # Each pooled connection keeps its own page cache (2 MB by default): 512 KiB each keeps the hub's
            # memory flat as the file grows (the soak measured the difference), and holds the B-tree pages the
            # hot paths touch.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            if not auto_checkpoint:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


# Background disk work (a checkpoint, the audit anchor) shares the disk with the writer: a commit whose own sync meets
# theirs waits for what they are writing (over `bench execution`'s 300 orders, the two slowest round trips were the two
# whose commit met a checkpoint). So that work waits for a pause in the writes: the writer idle this long, which an
# order's writes (stored, then its reports a few ms later) are not.
QUIET_S = 0.01


def pause_wait(now: float, last_write: float, since: float, quiet_s: float, max_wait_s: float) -> float:
    """Seconds background work still waits (0: it runs now): until the writer has been idle ``quiet_s`` (its last
    write at ``last_write``), and never past ``max_wait_s`` after ``since``. Times are ``time.monotonic()``."""
    return max(0.0, min(quiet_s - (now - last_write), max_wait_s - (now - since)))


def wait_for_pause(
    stop: threading.Event, last_write: Callable[[], float], since: float, max_wait_s: float, quiet_s: float = QUIET_S
) -> bool:
    """Block until the writer pauses (``pause_wait``). False when ``stop`` was set meanwhile."""
    while (wait := pause_wait(time.monotonic(), last_write(), since, quiet_s, max_wait_s)) > 0:
        if stop.wait(wait):
            return False
    return not stop.is_set()


class Checkpointer:
    """Folds SQLite's write-ahead log back into the database file in a thread of its own, so no commit pays for it
    (a checkpoint writes and syncs the file: tens of ms, once every thousand pages, on whichever commit crossed the
    mark). PASSIVE: it never waits for, nor blocks, the writer or a reader on SQLite's locks. Once something was
    committed, at most every ``every_s``, it runs in a pause of the writes (``wait_for_pause``), or ``max_wait_s``
    after the last one whatever the writes."""

    def __init__(
        self,
        engine: Engine,
        changed: Callable[[], int],
        last_write: Callable[[], float],
        *,
        every_s: float = 1.0,
        max_wait_s: float = 5.0,
    ) -> None:
        self.engine = engine
        self.changed = changed  # a counter that moves with every commit: nothing new, no checkpoint
        self.last_write = last_write  # when the writer last wrote (``GroupCommitWriter.last_write``)
        self.every_s = every_s
        self.max_wait_s = max_wait_s
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seen: int | None = None  # the first pass folds back whatever the log held at start
        last = time.monotonic()
        while not self._stop.wait(self.every_s):
            if self.changed() == seen:
                continue
            if not wait_for_pause(self._stop, self.last_write, last, self.max_wait_s):
                return
            seen = self.changed()
            self.checkpoint()
            last = time.monotonic()

    def checkpoint(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            self.checkpoints += 1
        except Exception:  # the next pass tries again; the log only grows meanwhile
            log.warning("store.checkpoint_failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
