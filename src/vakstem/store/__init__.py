"""Storage: SQLAlchemy tables, migrations and queries on SQLite (default) and PostgreSQL."""
