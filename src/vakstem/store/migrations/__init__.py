"""Alembic migration scripts, shipped with the package and run by `vakstem.store.open_database`."""
