"""Each account's equity curve, kept: a sample when its figures changed, at most one a minute.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "equity_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("equity", sa.String(length=40), nullable=False),
        sa.Column("threshold", sa.String(length=40), nullable=False),
        sa.Column("peak", sa.String(length=40), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_equity_samples_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_samples")),
    )
    with op.batch_alter_table("equity_samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_equity_samples_account_id_ts"), ["account_id", "ts"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("equity_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_equity_samples_account_id_ts"))
    op.drop_table("equity_samples")
