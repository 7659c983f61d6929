"""Device certificates after enrollment: renewal history, the one in grace, reissue tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

The tables of sqlite_schema.py's certificate block (fleet/store/pg_certs.py queries them).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS = (
    """CREATE TABLE device_certs (
        serial text PRIMARY KEY,
        device_id text NOT NULL,
        not_after_us bigint NOT NULL,
        issued_us bigint NOT NULL,
        origin text NOT NULL,
        replaced_serial text NOT NULL,
        first_used_us bigint NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX device_certs_device ON device_certs (device_id)",
    """CREATE TABLE device_cert_grace (
        serial text PRIMARY KEY,
        device_id text NOT NULL,
        not_after_us bigint NOT NULL
    )""",
    "CREATE INDEX device_cert_grace_device ON device_cert_grace (device_id)",
    "CREATE TABLE reissue_tokens (token_id text PRIMARY KEY, device_id text NOT NULL)",
)


def upgrade() -> None:
    """Create the certificate tables."""
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    """Drop them."""
    op.execute("DROP TABLE reissue_tokens, device_cert_grace, device_certs")
