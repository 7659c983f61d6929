"""Staged rollouts: rollouts, their boxes, latency samples, agent process starts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

The tables of sqlite_schema.py's rollout block (fleet/store/pg_rollouts.py queries them).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATEMENTS = (
    """CREATE TABLE rollouts (
        rollout_id text PRIMARY KEY,
        model_name text NOT NULL,
        model_version text NOT NULL,
        spec text NOT NULL,
        state text NOT NULL,
        step integer NOT NULL,
        step_started_us bigint NOT NULL,
        created_us bigint NOT NULL,
        created_by text NOT NULL,
        updated_us bigint NOT NULL,
        reason text NOT NULL,
        paused_from text NOT NULL,
        paused_us bigint NOT NULL,
        finished_us bigint NOT NULL,
        revision bigint NOT NULL
    )""",
    "CREATE INDEX rollouts_state ON rollouts (state)",
    """CREATE TABLE rollout_devices (
        rollout_id text NOT NULL,
        device_id text NOT NULL,
        position integer NOT NULL,
        verdict text NOT NULL,
        step integer NOT NULL,
        assigned_us bigint NOT NULL,
        previous text NOT NULL,
        running_us bigint NOT NULL,
        reason text NOT NULL,
        gates text NOT NULL,
        rollback_us bigint NOT NULL,
        skipped_step integer NOT NULL,
        PRIMARY KEY (rollout_id, device_id)
    )""",
    "CREATE INDEX rollout_devices_device ON rollout_devices (device_id)",
    """CREATE TABLE rollout_latency (
        rollout_id text NOT NULL,
        device_id text NOT NULL,
        at_us bigint NOT NULL,
        inference_ms double precision NOT NULL,
        PRIMARY KEY (rollout_id, device_id, at_us)
    )""",
    """CREATE TABLE device_starts (
        device_id text NOT NULL,
        started_us bigint NOT NULL,
        first_seen_us bigint NOT NULL,
        PRIMARY KEY (device_id, started_us)
    )""",
)


def upgrade() -> None:
    """Create the rollout tables."""
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    """Drop them."""
    op.execute("DROP TABLE device_starts, rollout_latency, rollout_devices, rollouts")
