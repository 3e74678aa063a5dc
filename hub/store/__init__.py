"""Durable state: SQLAlchemy 2 async models, the engine, queries and Alembic migrations."""
