"""Model registry: trusted signing keys, versions, assignments per device slot, reports.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

The tables of sqlite_schema.py's model block (fleet/store/pg_models.py queries them).
Artifact files live on disk by sha256 (fleet/models/blobs.py), not in the database.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATEMENTS = (
    """CREATE TABLE model_signing_keys (
        key_id text PRIMARY KEY,
        public_key bytea NOT NULL,
        name text NOT NULL,
        added_us bigint NOT NULL,
        added_by text NOT NULL,
        endorsed_by text NOT NULL,
        endorsement bytea NOT NULL
    )""",
    """CREATE TABLE model_versions (
        name text NOT NULL,
        version text NOT NULL,
        sha256 text NOT NULL,
        size bigint NOT NULL,
        manifest text NOT NULL,
        signature bytea NOT NULL,
        key_id text NOT NULL,
        pushed_us bigint NOT NULL,
        pushed_by text NOT NULL,
        frames text NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE model_assignments (
        device_id text NOT NULL,
        slot text NOT NULL,
        name text NOT NULL,
        version text NOT NULL,
        assignment_id bigint NOT NULL,
        assigned_us bigint NOT NULL,
        assigned_by text NOT NULL,
        sha256 text NOT NULL,
        rollback integer NOT NULL,
        PRIMARY KEY (device_id, slot)
    )""",
    "CREATE INDEX model_assignments_version ON model_assignments (name, version)",
    """CREATE TABLE model_reports (
        device_id text NOT NULL,
        slot text NOT NULL,
        report text NOT NULL,
        PRIMARY KEY (device_id, slot)
    )""",
)


def upgrade() -> None:
    """Create the model registry tables."""
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    """Drop them."""
    op.execute("DROP TABLE model_reports, model_assignments, model_versions, model_signing_keys")
