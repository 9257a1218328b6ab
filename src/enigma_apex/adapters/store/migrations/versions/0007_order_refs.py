"""Orders' compact references (the names NinjaTrader gives them) map back to their keys.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from enigma_apex.domain.orders import order_ref

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    refs = op.create_table(
        "order_refs",
        sa.Column("order_ref", sa.String(length=24), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("order_ref", name=op.f("pk_order_refs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_order_refs_idempotency_key")),
    )
    keys = [row[0] for row in op.get_bind().execute(sa.text("SELECT idempotency_key FROM orders"))]
    if keys:
        op.bulk_insert(refs, [{"order_ref": order_ref(k), "idempotency_key": k} for k in keys])


def downgrade() -> None:
    op.drop_table("order_refs")
