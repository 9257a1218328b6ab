"""A fill is identified by (account, executor, fill id): two accounts' brokers may use the same fill id.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.add_column(sa.Column("executor", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("fill_id", sa.String(length=128), nullable=True))
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE fills SET fill_id = id"))  # until now the broker's fill id was the key
    owner = "SELECT orders.executor FROM orders WHERE orders.id = fills.order_id"
    conn.execute(sa.text(f"UPDATE fills SET executor = COALESCE(({owner}), '')"))  # noqa: S608 - fixed text
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.alter_column("fill_id", existing_type=sa.String(length=128), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_fills_account_id_executor_fill_id"), ["account_id", "executor", "fill_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_fills_account_id_executor_fill_id"), type_="unique")
        batch_op.drop_column("fill_id")
        batch_op.drop_column("executor")
