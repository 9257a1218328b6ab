"""The single database writer with group commit.

Every write the system acknowledges goes through here. Callers submit an operation (a function of a
``WriteContext``); one thread takes whatever is pending (up to ``max_batch``, optionally waiting
``linger_s`` for more), runs it all in one transaction, commits, and only then resolves each
caller's future. An acknowledgement therefore always follows a commit. Writes that arrive while a
commit is running wait for it and form the next batch, so batches grow with load on their own.

Operations must only touch the database through the context: a failed batch is retried one
operation at a time, so an operation may run more than once before it commits.

If a batch fails, the writer rolls back and retries each operation in a transaction of its own, so
one bad write (a constraint violation) fails alone. If the database cannot commit at all (locked,
disk full, read-only), every future fails with ``StoreError`` and ``healthy`` turns false, which
the hub treats as "no acknowledged write possible, so no new risk".
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from enigma_apex.adapters.store import audit
from enigma_apex.domain.clock import Clock
from enigma_apex.errors import StoreError

T = TypeVar("T")


@dataclass
class WriteContext:
    """What an operation sees: the batch's connection and the audit chain.

    Audit rows are chained at once (so ``audit`` returns the row id) and inserted together with one
    executemany just before the batch commits, in the same transaction as the data they describe."""

    conn: Connection
    head: audit.ChainHead
    clock: Clock
    pending_audit: list[dict[str, Any]] = field(default_factory=list)

    def audit(
        self, kind: str, payload: Any, account: str | None = None, actor: str = "hub", ts: datetime | None = None
    ) -> int:
        row = audit.next_row(self.head, ts or self.clock.now(), kind, payload, account, actor)
        self.pending_audit.append(row)
        return int(row["id"])

    def flush(self) -> None:
        audit.insert_rows(self.conn, self.pending_audit)
        self.pending_audit = []


Operation = Callable[[WriteContext], T]


@dataclass
class _Item(Generic[T]):
    op: Operation[T]
    future: Future[T] = field(default_factory=Future)
    probe: bool = False  # tries the database even right after a failure


_STOP = object()


class GroupCommitWriter:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        linger_s: float = 0.0,
        max_batch: int = 1000,
        on_health_change: Callable[[bool, str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._linger = linger_s
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._head = audit.ChainHead()
        self._on_health_change = on_health_change
        self.healthy = True
        self.last_error = ""
        self.retry_s = 1.0  # while unhealthy, how often a batch may try the database again
        self._failed_at = 0.0
        self.batches = 0
        self.committed = 0
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        with self._engine.connect() as conn:
            self._head = audit.ChainHead.load(conn)
        self._thread = threading.Thread(target=self._run, name="db-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Finish every write already submitted, then stop."""
        if self._thread is None or self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # ------------------------------------------------------------------ submitting
    def submit(self, op: Operation[T]) -> Future[T]:
        if self._closed or self._thread is None:
            future: Future[T] = Future()
            future.set_exception(StoreError("the database writer is not running"))
            return future
        item = _Item(op)
        self._queue.put(item)
        return item.future

    def probe(self, op: Operation[T]) -> Future[T]:
        """Like ``submit``, but tried against the database even just after a failure (how recovery is found)."""
        if self._closed or self._thread is None:
            return self.submit(op)
        item = _Item(op, probe=True)
        self._queue.put(item)
        return item.future

    @property
    def queue_depth(self) -> int:
        """Writes submitted and not yet taken into a batch."""
        return self._queue.qsize()

    def write(self, op: Operation[T], timeout: float | None = 30.0) -> T:
        """Submit and wait for the commit (blocking; for threads and the CLI)."""
        return self.submit(op).result(timeout)

    async def write_async(self, op: Operation[T]) -> T:
        import asyncio

        return await asyncio.wrap_future(self.submit(op))

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Item[Any]] = [first]
            deadline = time.monotonic() + self._linger
            while len(batch) < self._max_batch:
                remaining = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch: list[_Item[Any]]) -> None:
        recent = time.monotonic() - self._failed_at < self.retry_s
        if not self.healthy and recent and not any(item.probe for item in batch):
            # The database refused writes a moment ago: fail at once rather than wait out its busy timeout again
            # for every batch (the hub's probe and the next batch after ``retry_s`` try it again).
            error = StoreError(self.last_error)
            for item in batch:
                item.future.set_exception(error)
            return
        committed = audit.ChainHead(self._head.last_id, self._head.last_hash)
        results: list[Any] = []
        try:
            with self._engine.begin() as conn:
                ctx = WriteContext(conn, self._head, self._clock)
                for item in batch:
                    results.append(item.op(ctx))
                ctx.flush()
        except Exception:  # noqa: BLE001 - retried one by one below
            self._head = committed
            for index, item in enumerate(batch):
                if not self._commit_one(item):
                    # The database itself refused (locked, disk full): the rest of the batch would wait out the
                    # same failure one by one, so it fails at once with the same error.
                    error = StoreError(self.last_error)
                    for rest in batch[index + 1 :]:
                        rest.future.set_exception(error)
                    return
            return
        self._succeeded(len(batch))
        for item, result in zip(batch, results, strict=True):
            item.future.set_result(result)

    def _commit_one(self, item: _Item[Any]) -> bool:
        """Commit one operation alone. False when the database itself failed (not just this operation)."""
        committed = audit.ChainHead(self._head.last_id, self._head.last_hash)
        try:
            with self._engine.begin() as conn:
                ctx = WriteContext(conn, self._head, self._clock)
                result = item.op(ctx)
                ctx.flush()
        except SQLAlchemyError as exc:
            self._head = committed
            error = StoreError(f"database write failed: {exc.__class__.__name__}: {_first_line(exc)}")
            storage = _is_storage_failure(exc)
            if storage:
                self._failed(str(error))
            item.future.set_exception(error)
            return not storage
        except Exception as exc:  # noqa: BLE001 - the caller's operation raised; report it to the caller
            self._head = committed
            item.future.set_exception(exc)
            return True
        self._succeeded(1)
        item.future.set_result(result)
        return True

    def _succeeded(self, n: int) -> None:
        self.batches += 1
        self.committed += n
        if not self.healthy:
            self.healthy = True
            self.last_error = ""
            if self._on_health_change:
                self._on_health_change(True, "")

    def _failed(self, message: str) -> None:
        self.last_error = message
        self._failed_at = time.monotonic()
        if self.healthy:
            self.healthy = False
            if self._on_health_change:
                self._on_health_change(False, message)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def _is_storage_failure(exc: SQLAlchemyError) -> bool:
    """Failures of the database itself (as opposed to one bad row)."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    return isinstance(exc, OperationalError) and not isinstance(exc, IntegrityError)
