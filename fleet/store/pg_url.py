"""PostgreSQL store URLs: recognising, converting and redacting them (no driver imported)."""

from __future__ import annotations

from fleet.errors import FleetError

SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str) -> bool:
    """Whether a `--store` value names a PostgreSQL database."""
    return url.startswith(SCHEMES)


def sqlalchemy_url(url: str) -> str:
    """The libpq-style URL the operator gave, for SQLAlchemy's asyncpg dialect (Alembic)."""
    for scheme in SCHEMES:
        if url.startswith(scheme):
            return "postgresql+asyncpg://" + url[len(scheme) :]
    raise FleetError(f"not a PostgreSQL URL: {redact(url)} (expected postgresql://...)")


def redact(url: str) -> str:
    """The URL without its password, for logs and errors."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
