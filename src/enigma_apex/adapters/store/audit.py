"""The append-only, hash-chained audit log.

Row ``n`` stores ``prev_hash`` (the hash of row ``n-1``; 64 zeros for the first row) and
``hash = SHA-256(prev_hash + "\\n" + JSON [id, ts, kind, account, actor] + "\\n" + payload)``, where
``payload`` is the stored canonical JSON text (sorted keys, no spaces) and ``ts`` the stored
ISO-8601 UTC text.
Editing, deleting or re-ordering any row breaks every hash after it, which ``verify_chain`` reports
by naming the first row that does not verify.
"""

from __future__ import annotations

import hashlib
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


def row_hash(prev_hash: str, row_id: int, ts: str, kind: str, account: str | None, actor: str, payload: str) -> str:
    header = orjson.dumps([row_id, ts, kind, account, actor]).decode()
    return hashlib.sha256(f"{prev_hash}\n{header}\n{payload}".encode()).hexdigest()


@dataclass
class ChainHead:
    """The last committed row of the chain, as the single writer knows it."""

    last_id: int = 0
    last_hash: str = GENESIS

    @classmethod
    def load(cls, conn: Connection) -> ChainHead:
        last = conn.execute(select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)).first()
        return cls() if last is None else cls(int(last.id), str(last.hash))


def next_row(head: ChainHead, ts: datetime, kind: str, payload: Any, account: str | None, actor: str) -> dict[str, Any]:
    """The parameters of the next audit row; advances ``head`` (tentatively, until the commit)."""
    row_id = head.last_id + 1
    body = canonical_json(payload)
    digest = row_hash(head.last_hash, row_id, iso_utc(ts), kind, account, actor, body)
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


def verify_chain(conn: Connection, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in id order; report the first row that does not verify."""
    expected_prev, expected_id, count = GENESIS, 1, 0
    last_id = 0
    while True:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.id > last_id).order_by(audit_log.c.id).limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            count += 1
            if row.id != expected_id:
                return ChainReport(count, row.id, f"row {row.id}: expected id {expected_id} (a row is missing)")
            if row.prev_hash != expected_prev:
                return ChainReport(count, row.id, f"row {row.id}: prev_hash does not match row {row.id - 1}")
            digest = row_hash(row.prev_hash, row.id, iso_utc(row.ts), row.kind, row.account_id, row.actor, row.payload)
            if digest != row.hash:
                return ChainReport(count, row.id, f"row {row.id}: content does not match its hash (altered)")
            expected_prev, expected_id = row.hash, row.id + 1
            last_id = row.id
    return ChainReport(count, None, "")


def count_rows(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
