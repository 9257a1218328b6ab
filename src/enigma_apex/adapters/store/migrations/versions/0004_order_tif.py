"""Orders keep their time in force (limit and stop entries travel with it to the executor); credentials that
earlier versions kept inside stored webhook payloads (a PickMyTrade ``token`` inside ``multiple_accounts``) are
masked.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

# the values of these fields, wherever they appear in a stored payload's text, are masked (as the hub now stores them)
_CREDENTIAL = re.compile(
    r"""(["']?\b(?:token|password|secret|api_key|apikey|key|passphrase|access_token)\b["']?\s*[=:]\s*["']?)[^;"',}\s]*""",
    re.IGNORECASE,
)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tif", sa.String(length=8), nullable=False, server_default="day"))
    signals = sa.table("signals", sa.column("id", sa.String), sa.column("raw", sa.Text))
    conn = op.get_bind()
    for row in conn.execute(sa.select(signals.c.id, signals.c.raw)).all():
        masked = _CREDENTIAL.sub(lambda m: m.group(1) + "***", row.raw or "")
        if masked != row.raw:
            conn.execute(sa.update(signals).where(signals.c.id == row.id).values(raw=masked))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("tif")
