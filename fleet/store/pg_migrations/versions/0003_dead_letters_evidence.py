"""Replays of webhook dead letters, and alert evidence on demand.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

The tables of sqlite_schema.py's dead-letter and evidence blocks (fleet/store/
pg_dead_letters.py and pg_evidence.py query them); `webhook_replays` has a bigserial `id`
where SQLite orders by rowid.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = (
    """CREATE TABLE webhook_replays (
        id bigserial PRIMARY KEY,
        webhook_id text NOT NULL,
        cursor bigint NOT NULL,
        at_us bigint NOT NULL,
        actor text NOT NULL,
        outcome text NOT NULL,
        error text NOT NULL
    )""",
    "CREATE INDEX webhook_replays_key ON webhook_replays (webhook_id, cursor)",
    "CREATE INDEX webhook_dead_letters_key ON webhook_dead_letters (cursor, webhook_id)",
    """CREATE TABLE alert_evidence (
        alert_id text PRIMARY KEY,
        request_id text NOT NULL UNIQUE,
        device_id text NOT NULL,
        camera_id text NOT NULL,
        track_id bigint NOT NULL,
        face_event_id text NOT NULL,
        requested_us bigint NOT NULL,
        state text NOT NULL,
        reason text NOT NULL,
        received_us bigint NOT NULL,
        captured_us bigint NOT NULL,
        width integer NOT NULL,
        height integer NOT NULL,
        sha256 text NOT NULL,
        size_bytes bigint NOT NULL,
        jpeg bytea NOT NULL
    )""",
    "CREATE INDEX alert_evidence_pending ON alert_evidence (device_id, state, requested_us)",
)


def upgrade() -> None:
    """Create the dead-letter replay and evidence tables."""
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    """Drop them."""
    op.execute("DROP INDEX webhook_dead_letters_key")
    op.execute("DROP TABLE alert_evidence, webhook_replays")
