"""The single database writer with group commit.

Every write the system acknowledges goes through here. Callers submit an operation (a function of a
``WriteContext``); one thread takes whatever is pending (up to ``max_batch``, optionally waiting
``linger_s`` for more), runs it all in one transaction, commits, and only then resolves each
caller's future. An acknowledgement therefore always follows a commit. Writes that arrive while a
commit is running wait for it and form the next batch, so batches grow with load on their own.

Operations must only touch the database through the context: a failed batch is retried one
operation at a time, so an operation may run more than once before it commits.

If a batch fails because of one operation (a constraint violation of its own), the writer rolls back and
retries each operation in a transaction of its own, so one bad write fails alone. If the database cannot
commit at all (locked, disk full, read-only) — or the audit chain cannot be appended — every future of the
batch fails at once with ``StoreError`` (a locked database costs one busy timeout, not one per operation) and
``healthy`` turns false, which the hub treats as "no acknowledged write possible, so no new risk".

The writer keeps one connection of its own (no pool checkout per batch) and remembers the chain head its last
commit left. A row another process appended can never wedge it (the hub holds the data folder's instance lock so
that no other process writes; this is the defence behind it): the remembered head then names a row id already
taken, the batch fails on it, and every write after a failure reads the head inside its transaction again.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from enigma_apex.adapters.store import audit, integrity
from enigma_apex.domain.clock import Clock
from enigma_apex.errors import StoreError

T = TypeVar("T")


@dataclass
class WriteContext:
    """What an operation sees: the batch's connection and the audit log.

    Audit rows are queued and chained when the batch flushes, just before it commits: the chain head is read
    then, inside the transaction (after the batch's own writes, which already hold SQLite's write lock), and the
    rows go in with one executemany, in the same transaction as the data they describe."""

    conn: Connection
    clock: Clock
    key: bytes | None = None  # the audit HMAC key, when the log is keyed
    # the chain's last committed row when the writer knows it (None: read inside this transaction); after the flush,
    # the batch's last row
    head: audit.ChainHead | None = None
    pending_audit: list[tuple[datetime, str, Any, str | None, str]] = field(default_factory=list)
    pending_seals: dict[tuple[str, Any], None] = field(default_factory=dict)  # ordered set

    def seal(self, table: str, key: Any) -> None:
        """A row of a trusted table was inserted or updated: its digest, as committed, goes into the audit log."""
        self.pending_seals[(table, key)] = None

    def audit(
        self, kind: str, payload: Any, account: str | None = None, actor: str = "hub", ts: datetime | None = None
    ) -> None:
        self.pending_audit.append((ts or self.clock.now(), kind, payload, account, actor))

    def flush(self) -> None:
        """Append the batch's audit rows. A failure here is the chain's, not an operation's: ``ChainError``."""
        try:
            if self.pending_seals:
                keys = list(self.pending_seals)
                self.pending_seals = {}
                self.audit(integrity.SEALED, integrity.seal_payload(self.conn, keys))
            head = audit.ChainHead.load(self.conn) if self.head is None else self.head
            self.head = head
            if self.pending_audit:
                rows = [
                    audit.next_row(head, ts, kind, payload, account, actor, self.key)
                    for ts, kind, payload, account, actor in self.pending_audit
                ]
                audit.insert_rows(self.conn, rows)
        except IntegrityError as exc:  # a row id taken: another process appended to the chain
            raise ChainError(f"the audit log refused its next rows: {_first_line(exc)}") from exc
        self.pending_audit = []


class ChainError(StoreError):
    """The audit chain could not be appended: no write can be acknowledged (the outage path)."""


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
        self.head = audit.ChainHead()  # the last committed row (for the anchor and the status lines)
        self.key: bytes | None = None  # the audit HMAC key (set before start when the log is keyed)
        self.anchor: integrity.AnchorKeeper | None = None
        self._on_health_change = on_health_change
        self.healthy = True
        self.last_error = ""
        self.retry_s = 1.0  # while unhealthy, how often a batch may try the database again
        self._submit_lock = threading.Lock()
        self._failed_at = 0.0
        self._conn: Connection | None = None  # the writer thread's own connection
        self._head_known = False  # ``head`` is what the last commit left (False after any failure: read it again)
        self.batches = 0
        self.committed = 0
        self._busy = False  # a batch is running
        self._last_commit = 0.0  # time.monotonic() of the last commit
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    def start(self, anchor: Path | None = None) -> None:
        """Start the writer thread. First, in one transaction: key the log when a key is new, record the seal
        baseline of a database that has none, note that an anchor is kept (``anchor``: its file)."""
        if self._thread is not None:
            return
        with self._engine.begin() as conn:
            keyed_from = audit.first_keyed(conn)
            if keyed_from is not None and self.key is None:
                raise StoreError(
                    f"the audit log is keyed from row {keyed_from}: database.audit_key is needed to write it "
                    "(`enigma-apex secret set database.audit_key`)"
                )
            ctx = self._context(conn)
            if keyed_from is None and self.key is not None:
                ctx.audit(audit.KEYED, {"note": "audit rows are HMAC-keyed from here on"})
            if not integrity.has_baseline(conn):
                for payload in integrity.baseline_payloads(conn):
                    ctx.audit(integrity.BASELINE, payload)
            if anchor is not None and not integrity.anchored(conn):
                ctx.audit(integrity.ANCHORED, {"file": anchor.name})
            ctx.flush()
            assert ctx.head is not None  # noqa: S101 - flush sets it
            self.head = ctx.head
            keyed_from = audit.first_keyed(conn)
        if anchor is not None:
            self.anchor = integrity.AnchorKeeper(anchor, self.key, keyed_from, self.last_write)
            self.anchor.advance(self.head)
        self._thread = threading.Thread(target=self._run, name="db-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Finish every write already submitted, then stop. A write submitted from now on fails at once (never
        queued behind the stop, where nobody would answer it and its caller would wait out its timeout)."""
        with self._submit_lock:
            if self._thread is None or self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)
        if self.anchor is not None:
            self.anchor.close()
        if not self._thread.is_alive():
            self._drop_connection()

    # ------------------------------------------------------------------ submitting
    def submit(self, op: Operation[T]) -> Future[T]:
        return self._enqueue(_Item(op))

    def probe(self, op: Operation[T]) -> Future[T]:
        """Like ``submit``, but tried against the database even just after a failure (how recovery is found)."""
        return self._enqueue(_Item(op, probe=True))

    def _enqueue(self, item: _Item[T]) -> Future[T]:
        with self._submit_lock:  # never behind the stop marker
            if not self._closed and self._thread is not None:
                self._queue.put(item)
                return item.future
        item.future.set_exception(StoreError("the database writer is not running"))
        return item.future

    def last_write(self) -> float:
        """When the writer last wrote (``time.monotonic()``): now while a batch runs, else its last commit."""
        return time.monotonic() if self._busy else self._last_commit

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
            self._busy = True
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
            try:
                self._commit(batch)
            finally:
                self._busy = False

    def _commit(self, batch: list[_Item[Any]]) -> None:
        recent = time.monotonic() - self._failed_at < self.retry_s
        if not self.healthy and recent and not any(item.probe for item in batch):
            # The database refused writes a moment ago: fail at once rather than wait out its busy timeout again
            # for every batch (the hub's probe and the next batch after ``retry_s`` try it again).
            error = StoreError(self.last_error)
            for item in batch:
                item.future.set_exception(error)
            return
        results: list[Any] = []
        try:
            conn = self._connection()
            with conn.begin():
                ctx = self._context(conn, known_head=True)
                for item in batch:
                    results.append(item.op(ctx))
                ctx.flush()
        except Exception as exc:  # noqa: BLE001 - the database's failure fails the batch; an operation's, itself
            self._after_failure()
            if _is_storage_failure(exc) and not isinstance(exc, ChainError):
                # The database itself refused (locked, disk full, the chain): every operation would wait out the
                # same failure one by one, so the whole batch fails at once.
                error = self._storage_error(exc)
                for item in batch:
                    item.future.set_exception(error)
                return
            # one operation's own failure (or a chain row another process raced in): each alone, the head read again
            for index, item in enumerate(batch):
                if not self._commit_one(item):
                    error = StoreError(self.last_error)
                    for rest in batch[index + 1 :]:
                        rest.future.set_exception(error)
                    return
            return
        self._committed(ctx)
        self._succeeded(len(batch))
        for item, result in zip(batch, results, strict=True):
            item.future.set_result(result)

    def _context(self, conn: Connection, *, known_head: bool = False) -> WriteContext:
        head = audit.ChainHead(self.head.last_id, self.head.last_hash) if known_head and self._head_known else None
        return WriteContext(conn, self._clock, self.key, head)

    def _committed(self, ctx: WriteContext) -> None:
        if ctx.head is not None:
            self.head = ctx.head
            self._head_known = True

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            self._drop_connection()
            self._conn = self._engine.connect()
        return self._conn

    def _after_failure(self) -> None:
        """Whatever failed, the next write reads the chain head again, on a connection opened afresh."""
        self._head_known = False
        self._drop_connection()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped either way
                self._conn.close()
            self._conn = None

    def _storage_error(self, exc: BaseException) -> StoreError:
        error = StoreError(f"database write failed: {exc.__class__.__name__}: {_first_line(exc)}")
        self._failed(str(error))
        return error

    def _commit_one(self, item: _Item[Any]) -> bool:
        """Commit one operation alone. False when the database itself failed (not just this operation)."""
        try:
            conn = self._connection()
            with conn.begin():
                ctx = self._context(conn, known_head=True)
                result = item.op(ctx)
                ctx.flush()
        except Exception as exc:  # noqa: BLE001 - the caller's operation raised; report it to the caller
            self._after_failure()
            if _is_storage_failure(exc):
                item.future.set_exception(self._storage_error(exc))
                return False
            if isinstance(exc, SQLAlchemyError):
                exc = StoreError(f"database write failed: {exc.__class__.__name__}: {_first_line(exc)}")
            item.future.set_exception(exc)
            return True
        self._committed(ctx)
        self._succeeded(1)
        item.future.set_result(result)
        return True

    def _succeeded(self, n: int) -> None:
        self._last_commit = time.monotonic()
        if self.anchor is not None:
            self.anchor.advance(self.head)
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


def _is_storage_failure(exc: BaseException) -> bool:
    """Failures of the database itself or of the audit chain (as opposed to one operation's bad row)."""
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, ChainError):
        return True
    return isinstance(exc, OperationalError) and not isinstance(exc, IntegrityError)
