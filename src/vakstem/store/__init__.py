"""Storage: SQLAlchemy tables, migrations and queries on SQLite (default) and PostgreSQL."""

from vakstem.store.engine import DatabaseError, open_database

__all__ = ["DatabaseError", "open_database"]
