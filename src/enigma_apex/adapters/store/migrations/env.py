"""Alembic environment: always driven programmatically with a connection (see ``migrate.py``)."""

from __future__ import annotations

from alembic import context

from enigma_apex.adapters.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through a hand-made alembic.ini
    raise RuntimeError("run migrations with `enigma-apex db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
