"""Tamper evidence beyond the chain itself: row seals of the tables the hub trusts, and the chain's anchor.

**Seals.** Every insert or update of a trusted table (orders, fills, account state, trading-state changes,
client tokens) is sealed in the same transaction: the row is read back as stored and its SHA-256 digest goes
into an audit row (``rows.sealed``: ``[[table, key, digest], ...]``). The first start of a database that has no
seals yet records a baseline of every existing row (``rows.baseline``). ``verify_seals`` reads the latest seal
of every row from the audit log and compares: a row edited outside the hub, added outside it, or deleted, is
named. Since seals live in the chained audit log, hiding an edit means re-writing the chain (see ``audit.py``).

**Anchor.** The chain's head (row count, last id and hash, the first keyed row) is kept outside the database,
in ``audit-anchor.json`` in the data folder, written by the running hub at most every half second and when it
stops (MAC'd with the audit key when there is one). A log cut short (rows deleted from the end) or re-hashed
from some row on no longer contains the anchored row with its hash; ``check_anchor`` says so. The chain
records that an anchor exists (``audit.anchored``), so deleting the file is noticed too.

What this does not detect is documented in docs/operations.md ("Tamper evidence").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, select, text

from enigma_apex.adapters.store import audit
from enigma_apex.adapters.store.engine import wait_for_pause
from enigma_apex.adapters.store.schema import audit_log

# table -> its key column: the rows the hub loads and acts on
TRUSTED: dict[str, str] = {
    "orders": "idempotency_key",
    "fills": "id",
    "account_state": "account_id",
    "trading_state_changes": "id",
    "client_tokens": "id",
}
SEALED = "rows.sealed"
BASELINE = "rows.baseline"
ANCHORED = "audit.anchored"
ANCHOR_FILE = "audit-anchor.json"
BASELINE_CHUNK = 500  # rows per baseline audit row


# ---------------------------------------------------------------------------- seals
_PLAIN = (str, int, float)  # kept as they are in a digest; anything else as its str()
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # one encoder: json.dumps builds one a call


def row_digest(conn: Connection, table: str, key: Any) -> str | None:
    """The digest of a trusted row as stored (raw column values, as the driver returns them), None if absent."""
    column = TRUSTED[table]
    row = conn.execute(text(f"SELECT * FROM {table} WHERE {column} = :k"), {"k": key}).mappings().first()  # noqa: S608 - names from TRUSTED
    return None if row is None else _digest(row)


def _digest(row: Any) -> str:
    return _digest_of(row.items())


def _digest_of(items: Any) -> str:
    canonical = _CANONICAL.encode({k: v if v is None or isinstance(v, _PLAIN) else str(v) for k, v in items})
    return hashlib.sha256(canonical.encode()).hexdigest()


def _all_rows(conn: Connection, table: str) -> Iterator[tuple[str, str]]:
    column = TRUSTED[table]
    for row in conn.execute(text(f"SELECT * FROM {table}")).mappings():  # noqa: S608 - names from TRUSTED
        yield str(row[column]), _digest(row)


SEAL_READ_CHUNK = 500  # keys per SELECT when a batch's rows are read back (under SQLite's variable limit)


_SEAL_READS = {  # built once per table: compiled once
    table: text(f"SELECT * FROM {table} WHERE {column} IN :keys").bindparams(bindparam("keys", expanding=True))  # noqa: S608 - names from TRUSTED
    for table, column in TRUSTED.items()
}
_SEAL_READ_ONE = {  # the common case, one row: no expanding list to render on every execution
    table: text(f"SELECT * FROM {table} WHERE {column} = :key")  # noqa: S608 - names from TRUSTED
    for table, column in TRUSTED.items()
}


def seal_payload(conn: Connection, keys: list[tuple[str, Any]]) -> dict[str, Any]:
    """The ``rows.sealed`` payload for rows written in this transaction (read back as stored: one SELECT per table
    and chunk of keys, however many rows the batch wrote)."""
    digests: dict[tuple[str, str], str] = {}
    by_table: dict[str, list[Any]] = {}
    for table, key in keys:
        by_table.setdefault(table, []).append(key)
    for table, wanted in by_table.items():
        column = TRUSTED[table]
        for start in range(0, len(wanted), SEAL_READ_CHUNK):
            chunk = wanted[start : start + SEAL_READ_CHUNK]
            if len(chunk) == 1:
                result = conn.execute(_SEAL_READ_ONE[table], {"key": chunk[0]})
            else:
                result = conn.execute(_SEAL_READS[table], {"keys": chunk})
            names = list(result.keys())
            at = names.index(column)
            for row in result:
                digests[(table, str(row[at]))] = _digest_of(zip(names, row, strict=True))
    return {"rows": [[table, str(key), digests.get((table, str(key)))] for table, key in keys]}


def has_baseline(conn: Connection) -> bool:
    return conn.execute(select(audit_log.c.id).where(audit_log.c.kind == BASELINE).limit(1)).first() is not None


def baseline_payloads(conn: Connection) -> list[dict[str, Any]]:
    """Every trusted row as it is now, in chunks (the first start of a database without seals)."""
    rows = [[table, key, digest] for table in TRUSTED for key, digest in _all_rows(conn, table)]
    chunks = [rows[i : i + BASELINE_CHUNK] for i in range(0, len(rows), BASELINE_CHUNK)] or [[]]
    return [{"rows": chunk, "part": n + 1, "parts": len(chunks)} for n, chunk in enumerate(chunks)]


def verify_seals(conn: Connection, tables: tuple[str, ...] = tuple(TRUSTED)) -> list[str]:
    """Every row of ``tables`` compared with its latest seal; the problems found (empty: as the hub left them)."""
    seals: dict[tuple[str, str], tuple[str | None, int]] = {}
    baselines = 0
    query = select(audit_log.c.id, audit_log.c.kind, audit_log.c.payload).where(
        audit_log.c.kind.in_((SEALED, BASELINE, audit.ACCEPTED))
    )
    for row in conn.execute(query.order_by(audit_log.c.id).execution_options(yield_per=1000)):
        payload = json.loads(row.payload)
        if row.kind == audit.ACCEPTED:  # the operator accepted the rows as found: a new baseline follows
            seals, baselines = {}, 0
            continue
        if row.kind == BASELINE and payload.get("part") == 1:
            baselines += 1
        for table, key, digest in payload.get("rows", []):
            seals[(table, key)] = (digest, row.id)
    if baselines == 0:
        return ["no seal baseline in the audit log yet (start the hub once, or run `enigma-apex db upgrade`)"]
    problems = [f"the seal baseline was recorded {baselines} times (a later one may cover edits)"] * (baselines > 1)
    seen: set[tuple[str, str]] = set()
    for table in tables:
        for key, digest in _all_rows(conn, table):
            seen.add((table, key))
            sealed = seals.get((table, key))
            if sealed is None:
                problems.append(f"{table} {key}: not written by the hub (no seal)")
            elif sealed[0] != digest:
                problems.append(
                    f"{table} {key}: edited outside the hub (differs from its seal in audit row {sealed[1]})"
                )
    for (table, key), (digest, audit_id) in seals.items():
        if table in tables and digest is not None and (table, key) not in seen:
            problems.append(f"{table} {key}: deleted outside the hub (sealed in audit row {audit_id})")
    return problems


def verify_table(conn: Connection, table: str) -> list[str]:
    """The rows of one (small) trusted table against their latest seals, read newest first and only as far back
    as needed — what the hub checks of the account state before it loads it."""
    rows = dict(_all_rows(conn, table))
    latest: dict[str, tuple[str | None, int]] = {}
    query = (
        select(audit_log.c.id, audit_log.c.payload)
        .where(audit_log.c.kind.in_((SEALED, BASELINE)))
        .order_by(audit_log.c.id.desc())
        .execution_options(yield_per=1000)
    )
    with conn.execute(query) as result:  # closed when the loop stops early (PostgreSQL: a server-side cursor)
        for row in result:
            for sealed_table, key, digest in json.loads(row.payload).get("rows", []):
                if sealed_table == table and key not in latest:
                    latest[key] = (digest, row.id)
            if len(latest) >= len(rows) and all(key in latest for key in rows):
                break
    problems = []
    for key, digest in rows.items():
        sealed = latest.get(key)
        if sealed is None:
            problems.append(f"{table} {key}: not written by the hub (no seal)")
        elif sealed[0] != digest:
            problems.append(f"{table} {key}: edited outside the hub (differs from its seal in audit row {sealed[1]})")
    return problems


# ---------------------------------------------------------------------------- the anchor
@dataclass(frozen=True)
class Anchor:
    head_id: int
    head_hash: str
    keyed_from: int | None
    mac: str | None = None

    def body(self) -> bytes:
        return json.dumps([self.head_id, self.head_hash, self.keyed_from], separators=(",", ":")).encode()

    def signed(self, key: bytes | None) -> Anchor:
        mac = None if key is None else hmac.new(key, self.body(), hashlib.sha256).hexdigest()
        return Anchor(self.head_id, self.head_hash, self.keyed_from, mac)


def anchor_path(data_dir: Path) -> Path:
    return data_dir / ANCHOR_FILE


def read_anchor(path: Path) -> Anchor | str | None:
    """The anchor, None when there is no file, or a problem text when it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Anchor(int(data["head_id"]), str(data["head_hash"]), data.get("keyed_from"), data.get("mac"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"the anchor {path} cannot be read ({exc.__class__.__name__})"


def write_anchor(path: Path, anchor: Anchor) -> None:
    """Written whole (a temporary file, flushed to disk, then renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".new")
    with temp.open("w", encoding="utf-8") as out:
        json.dump({**asdict(anchor), "format": 1}, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


def anchored(conn: Connection) -> bool:
    return conn.execute(select(audit_log.c.id).where(audit_log.c.kind == ANCHORED).limit(1)).first() is not None


def check_anchor(conn: Connection, path: Path, key: bytes | None) -> list[str]:
    """The anchor against the log: a missing tail, a re-hashed history, a missing or altered anchor."""
    found = read_anchor(path)
    if isinstance(found, str):
        return [found]
    head = audit.ChainHead.load(conn)
    if found is None:
        if anchored(conn):
            return [f"the anchor {path} is missing, but the audit log says it was written: rows may have been cut"]
        return []
    problems = []
    if key is not None and found.mac != found.signed(key).mac:
        problems.append(f"the anchor {path} does not carry the audit key's MAC (altered, or written without the key)")
    if found.head_id > head.last_id:
        problems.append(
            f"the audit log ends at row {head.last_id} but the anchor names row {found.head_id}: "
            f"rows {head.last_id + 1}..{found.head_id} (at least) were deleted"
        )
    else:
        row = conn.execute(select(audit_log.c.hash).where(audit_log.c.id == found.head_id)).first()
        if found.head_id and (row is None or row.hash != found.head_hash):
            problems.append(
                f"row {found.head_id} differs from the anchor: the history up to it was re-hashed or replaced"
            )
    if found.keyed_from != audit.first_keyed(conn):
        problems.append(
            f"the anchor says the log is keyed from row {found.keyed_from}, the log from row {audit.first_keyed(conn)}"
        )
    return problems


class AnchorKeeper:
    """Writes the chain's head to the anchor file from its own thread: at most every ``every_s`` while the writer
    commits, in a pause of its writes (``engine.wait_for_pause``: the file's sync would slow a commit that meets it)
    but never later than ``max_wait_s`` after a commit, and once more when closed (the writer's commits never wait
    for the file)."""

    def __init__(
        self,
        path: Path,
        key: bytes | None,
        keyed_from: int | None,
        last_write: Callable[[], float],
        every_s: float = 0.5,
        max_wait_s: float = 2.0,
    ) -> None:
        self.path = path
        self.key = key
        self.keyed_from = keyed_from
        self.last_write = last_write  # when the writer last wrote (``GroupCommitWriter.last_write``)
        self.every_s = every_s
        self.max_wait_s = max_wait_s
        self._head: audit.ChainHead | None = None
        self._written: tuple[int, str] | None = None
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self.error = ""
        self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)
        self._thread.start()

    def advance(self, head: audit.ChainHead) -> None:
        with self._lock:
            self._head = audit.ChainHead(head.last_id, head.last_hash)
        self._wake.set()

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(5.0)
        self._write()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait()
            self._wake.clear()
            if not wait_for_pause(self._stopped, self.last_write, time.monotonic(), self.max_wait_s):
                return  # closing: ``close`` writes it
            self._write()
            self._stopped.wait(self.every_s)  # at most one write per interval

    def _write(self) -> None:
        with self._lock:
            head = self._head
        if head is None or (head.last_id, head.last_hash) == self._written:
            return
        try:
            write_anchor(self.path, Anchor(head.last_id, head.last_hash, self.keyed_from).signed(self.key))
            self._written = (head.last_id, head.last_hash)
            self.error = ""
        except OSError as exc:
            self.error = f"the audit anchor cannot be written: {exc}"
