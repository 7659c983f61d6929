"""Alembic migrations of the PostgreSQL store (`oko-fleet migrate` runs them; see pg_migrate)."""
