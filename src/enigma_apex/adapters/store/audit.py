"""The append-only, hash-chained audit log.

Row ``n`` stores ``prev_hash`` (the hash of row ``n-1``; 64 zeros for the first row) and
``hash = SHA-256(prev_hash + "\\n" + JSON [id, ts, kind, account, actor] + "\\n" + payload)``, where
``payload`` is the stored canonical JSON text (sorted keys, no spaces) and ``ts`` the stored
ISO-8601 UTC text. From the row of kind ``audit.keyed`` on (written when ``database.audit_key`` is first
set), the hash is HMAC-SHA256 with that key instead: without the key nobody can re-hash the history.
Editing, deleting or re-ordering any row breaks every hash after it, which ``verify_chain`` reports
by naming the first row that does not verify. Cutting rows off the end, or re-hashing the whole history,
leaves a chain that verifies by itself: the anchor (``integrity.py``) catches those.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from enigma_apex.adapters.store.schema import audit_log
from enigma_apex.adapters.store.types import iso_utc

GENESIS = "0" * 64
_INSERT = audit_log.insert()  # one statement object: compiled once, cached by SQLAlchemy


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces; Decimals, enums and datetimes as strings."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


KEYED = "audit.keyed"  # the first row hashed with the HMAC key; every later row is keyed too
ACCEPTED = "audit.accepted"  # an operator accepted the database as found (`db accept`): the breaks it names


def row_hash(
    prev_hash: str,
    row_id: int,
    ts: str,
    kind: str,
    account: str | None,
    actor: str,
    payload: str,
    key: bytes | None = None,
) -> str:
    header = orjson.dumps([row_id, ts, kind, account, actor]).decode()
    message = f"{prev_hash}\n{header}\n{payload}".encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


_HEAD = select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)


@dataclass
class ChainHead:
    """The last committed row of the chain, as the single writer knows it."""

    last_id: int = 0
    last_hash: str = GENESIS

    @classmethod
    def load(cls, conn: Connection) -> ChainHead:
        last = conn.execute(_HEAD).first()
        return cls() if last is None else cls(int(last.id), str(last.hash))


def next_row(
    head: ChainHead,
    ts: datetime,
    kind: str,
    payload: Any,
    account: str | None,
    actor: str,
    key: bytes | None = None,
) -> dict[str, Any]:
    """The parameters of the next audit row; advances ``head`` (tentatively, until the commit)."""
    row_id = head.last_id + 1
    body = canonical_json(payload)
    digest = row_hash(head.last_hash, row_id, iso_utc(ts), kind, account, actor, body, key)
    row = {
        "id": row_id,
        "ts": ts,
        "kind": kind,
        "account_id": account,
        "actor": actor,
        "payload": body,
        "prev_hash": head.last_hash,
        "hash": digest,
    }
    head.last_id, head.last_hash = row_id, digest
    return row


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert audit rows in one executemany (the writer calls this just before each commit)."""
    if rows:
        conn.execute(_INSERT, rows)


@dataclass(frozen=True)
class ChainReport:
    rows: int
    first_broken_id: int | None
    problem: str

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


def first_keyed(conn: Connection) -> int | None:
    """The id of the ``audit.keyed`` row (from which every row is HMAC-keyed), or None."""
    row = conn.execute(
        select(audit_log.c.id).where(audit_log.c.kind == KEYED).order_by(audit_log.c.id).limit(1)
    ).first()
    return None if row is None else int(row.id)


def accepted_breaks(conn: Connection) -> set[int]:
    """Rows at which an operator accepted a break of the chain (``db accept``), from the ``audit.accepted`` rows."""
    query = select(audit_log.c.payload).where(audit_log.c.kind == ACCEPTED)
    return {int(n) for payload in conn.execute(query).scalars() for n in orjson.loads(payload).get("breaks", [])}


def verify_chain(
    conn: Connection,
    key: bytes | None = None,
    *,
    after: ChainHead | None = None,
    accepted: set[int] | None = None,
    batch: int = 5000,
) -> ChainReport:
    """Walk the chain in id order (from row 1, or from just after ``after``); report the first row that does not
    verify. Rows from ``audit.keyed`` on need the key: without it they are reported unverifiable. A break an
    operator accepted (``accepted``, default: the log's own ``audit.accepted`` rows) is stepped over."""
    start = after or ChainHead()
    expected_prev, expected_id, count = start.last_hash, start.last_id + 1, 0
    last_id = start.last_id
    keyed_from = first_keyed(conn)
    breaks = accepted_breaks(conn) if accepted is None else accepted
    while True:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.id > last_id).order_by(audit_log.c.id).limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            count += 1
            last_id = row.id
            if row.id in breaks:  # accepted as found: the chain goes on from this row
                expected_prev, expected_id = row.hash, row.id + 1
                continue
            if row.id != expected_id:
                return ChainReport(count, row.id, f"row {row.id}: expected id {expected_id} (a row is missing)")
            if row.prev_hash != expected_prev:
                return ChainReport(count, row.id, f"row {row.id}: prev_hash does not match row {row.id - 1}")
            keyed = keyed_from is not None and row.id >= keyed_from
            if keyed and key is None:
                return ChainReport(
                    count,
                    row.id,
                    f"row {row.id}: the log is keyed from row {keyed_from}; give database.audit_key to verify it",
                )
            body = (row.prev_hash, row.id, iso_utc(row.ts), row.kind, row.account_id, row.actor, row.payload)
            if row_hash(*body, key if keyed else None) != row.hash:
                return ChainReport(count, row.id, f"row {row.id}: content does not match its hash (altered)")
            expected_prev, expected_id = row.hash, row.id + 1
    return ChainReport(count, None, "")


def chain_breaks(conn: Connection, key: bytes | None, limit: int = 1000) -> tuple[list[int], str]:
    """Every row at which the chain breaks (those already accepted excluded), and the first problem's text."""
    accepted = accepted_breaks(conn)
    found: list[int] = []
    first = ""
    while len(found) < limit:
        report = verify_chain(conn, key, accepted=accepted | set(found))
        if report.ok or report.first_broken_id is None:
            break
        if "give database.audit_key" in report.problem:
            return found, report.problem
        found.append(report.first_broken_id)
        first = first or report.problem
    return found, first


def count_rows(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
