"""Alembic environment: migrations run on a connection handed over by hub.store.migrate."""

from __future__ import annotations

from alembic import context

from hub.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `returnhub db upgrade`")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
