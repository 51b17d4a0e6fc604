"""Alembic environment: lbguard always hands it an open connection."""

from __future__ import annotations

from alembic import context

from lbguard.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
