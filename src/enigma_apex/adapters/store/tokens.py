"""Client tokens: random secrets shown once, stored only as SHA-256 hashes.

Tokens carry 256 bits of randomness, so a plain SHA-256 is the right hash (a slow password hash
buys nothing against a search space that size). Lookup is by hash; the token itself is never
stored or logged.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from enigma_apex.adapters.store.schema import client_tokens
from enigma_apex.adapters.store.writer import WriteContext

ROLES = ("admin", "executor", "signal", "dashboard", "mobile", "observer")
TOKEN_PREFIX = "eat_"  # noqa: S105 - a prefix that makes leaked tokens easy to spot, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    name: str
    role: str
    accounts: tuple[str, ...]
    is_default: bool
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


def create_token(
    ctx: WriteContext,
    *,
    name: str,
    role: str,
    accounts: tuple[str, ...] = (),
    expires_at: datetime | None = None,
    is_default: bool = False,
) -> tuple[str, TokenRecord]:
    """Create a token; returns the plaintext (to show once) and its record."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(8)
    now = ctx.clock.now()
    ctx.conn.execute(
        client_tokens.insert().values(
            id=token_id,
            name=name,
            role=role,
            token_hash=hash_token(token),
            accounts=json.dumps(list(accounts)),
            is_default=is_default,
            created_at=now,
            expires_at=expires_at,
        )
    )
    ctx.seal("client_tokens", token_id)
    ctx.audit(
        "token.created",
        {"id": token_id, "name": name, "role": role, "accounts": list(accounts), "expires_at": expires_at},
    )
    return token, TokenRecord(token_id, name, role, accounts, is_default, now, expires_at, None)


def revoke_token(ctx: WriteContext, token_id: str) -> bool:
    result = ctx.conn.execute(
        update(client_tokens)
        .where((client_tokens.c.id == token_id) & client_tokens.c.revoked_at.is_(None))
        .values(revoked_at=ctx.clock.now())
    )
    if result.rowcount:
        ctx.seal("client_tokens", token_id)
        ctx.audit("token.revoked", {"id": token_id})
    return bool(result.rowcount)


def _record(row: object) -> TokenRecord:
    r = row._mapping  # type: ignore[attr-defined]
    return TokenRecord(
        r["id"],
        r["name"],
        r["role"],
        tuple(json.loads(r["accounts"])),
        bool(r["is_default"]),
        r["created_at"],
        r["expires_at"],
        r["revoked_at"],
    )


def list_tokens(conn: Connection) -> list[TokenRecord]:
    return [_record(row) for row in conn.execute(select(client_tokens).order_by(client_tokens.c.created_at))]


def find_token(conn: Connection, token: str, now: datetime) -> TokenRecord | None:
    """The active record for a presented token, or None (unknown, revoked or expired)."""
    row = conn.execute(select(client_tokens).where(client_tokens.c.token_hash == hash_token(token))).first()
    if row is None:
        return None
    record = _record(row)
    return record if record.active(now) else None
