"""The fleet store as of the SQLite schema version 1: registry, events, webhooks, audit, watchlists.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

Differences from SQLite, each on purpose:
* `events` is partitioned by day of `received_us` (the fleet's clock at commit); the
  partitions are created by the store ahead of time (`pg_events.ensure_partition`), so
  retention can drop a whole expired day.
* A partitioned table cannot hold a unique index that leaves out the partition key, so
  event ids are unique through `event_ids`, one unpartitioned table of ids: replicas that
  receive the same event at once meet on its primary key, and one of them stores it.
* `event_counter` is the cursor: one row, updated inside each ingest transaction. Its row
  lock orders ingest commits of every replica, so cursor order is commit order.
* REAL is double precision (SQLite's REAL is 8 bytes too); BLOB is bytea; rows that
  SQLite ordered by rowid get a bigserial `id`.
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE meta (key text PRIMARY KEY, value bigint NOT NULL);

CREATE TABLE event_counter (
    id int PRIMARY KEY CHECK (id = 1),
    value bigint NOT NULL
);
INSERT INTO event_counter (id, value) VALUES (1, 0);

CREATE TABLE events (
    cursor bigint NOT NULL,
    event_id text NOT NULL,
    device_id text NOT NULL,
    camera_id text NOT NULL,
    site text NOT NULL,
    type text NOT NULL,
    capture_us bigint NOT NULL,
    received_us bigint NOT NULL,
    payload bytea NOT NULL,
    PRIMARY KEY (cursor, received_us)
) PARTITION BY RANGE (received_us);
CREATE INDEX events_capture ON events (capture_us);
CREATE INDEX events_camera ON events (camera_id, capture_us);

CREATE TABLE event_ids (event_id text PRIMARY KEY);

CREATE TABLE devices (
    device_id text PRIMARY KEY,
    name text NOT NULL,
    site text NOT NULL,
    hostname text NOT NULL DEFAULT '',
    agent_version text NOT NULL DEFAULT '',
    labels text NOT NULL DEFAULT '{}',
    cert_serial text NOT NULL UNIQUE,
    cert_not_after_us bigint NOT NULL,
    enrolled_us bigint NOT NULL,
    status text NOT NULL DEFAULT 'active',
    revoked_reason text NOT NULL DEFAULT '',
    revoked_us bigint NOT NULL DEFAULT 0,
    last_seen_us bigint NOT NULL DEFAULT 0,
    health text,
    reported text
);

CREATE TABLE cameras (
    device_id text NOT NULL,
    camera_id text NOT NULL,
    health text NOT NULL,
    updated_us bigint NOT NULL,
    PRIMARY KEY (device_id, camera_id)
);

CREATE TABLE api_tokens (
    token_id text PRIMARY KEY,
    name text NOT NULL,
    role integer NOT NULL,
    secret_hash text NOT NULL,
    created_us bigint NOT NULL,
    expires_us bigint NOT NULL DEFAULT 0
);

CREATE TABLE enrollment_tokens (
    token_id text PRIMARY KEY,
    site text NOT NULL,
    note text NOT NULL DEFAULT '',
    secret_hash text NOT NULL,
    created_us bigint NOT NULL,
    expires_us bigint NOT NULL,
    used_us bigint NOT NULL DEFAULT 0,
    used_by text NOT NULL DEFAULT ''
);

CREATE TABLE config_docs (
    device_id text NOT NULL,
    scope text NOT NULL,
    version bigint NOT NULL,
    document text NOT NULL,
    sha256 text NOT NULL,
    created_us bigint NOT NULL,
    author text NOT NULL,
    PRIMARY KEY (device_id, scope, version)
);

CREATE TABLE webhooks (
    webhook_id text PRIMARY KEY,
    url text NOT NULL,
    secret text NOT NULL,
    filter text NOT NULL,
    created_us bigint NOT NULL,
    cursor bigint NOT NULL DEFAULT 0,
    delivered bigint NOT NULL DEFAULT 0,
    failed_attempts bigint NOT NULL DEFAULT 0,
    dead_letters bigint NOT NULL DEFAULT 0
);

CREATE TABLE webhook_dead_letters (
    webhook_id text NOT NULL,
    cursor bigint NOT NULL,
    error text NOT NULL,
    at_us bigint NOT NULL
);

CREATE TABLE audit (
    seq bigserial PRIMARY KEY,
    at_us bigint NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    detail text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);

CREATE TABLE watchlists (
    name text PRIMARY KEY,
    site text NOT NULL,
    threshold double precision NOT NULL,
    top_k integer NOT NULL,
    description text NOT NULL,
    created_us bigint NOT NULL,
    created_by text NOT NULL
);

CREATE TABLE subjects (
    subject_id text PRIMARY KEY,
    watchlist text NOT NULL REFERENCES watchlists (name),
    name text NOT NULL,
    reason text NOT NULL,
    expires_us bigint NOT NULL,
    created_us bigint NOT NULL,
    created_by text NOT NULL
);
CREATE INDEX subjects_watchlist ON subjects (watchlist);

CREATE TABLE subject_photos (
    subject_id text NOT NULL,
    photo_index integer NOT NULL,
    filename text NOT NULL,
    sha256 text NOT NULL,
    data bytea NOT NULL,
    quality double precision NOT NULL,
    face_width_px double precision NOT NULL,
    sharpness double precision NOT NULL,
    pose double precision NOT NULL,
    detector_score double precision NOT NULL,
    PRIMARY KEY (subject_id, photo_index)
);

CREATE TABLE templates (
    id bigserial UNIQUE,
    subject_id text NOT NULL,
    embedder_name text NOT NULL,
    embedder_version text NOT NULL,
    photo_index integer NOT NULL,
    dimensions integer NOT NULL,
    vector bytea NOT NULL,
    PRIMARY KEY (subject_id, embedder_name, embedder_version, photo_index)
);

CREATE TABLE alerts (
    id bigserial UNIQUE,
    alert_id text PRIMARY KEY,
    state text NOT NULL,
    watchlist text NOT NULL,
    subject_id text NOT NULL,
    subject_name text NOT NULL,
    score double precision NOT NULL,
    face_event_id text NOT NULL,
    device_id text NOT NULL,
    camera_id text NOT NULL,
    site text NOT NULL,
    track_id bigint NOT NULL,
    raised_us bigint NOT NULL,
    UNIQUE (device_id, camera_id, track_id, subject_id)
);
CREATE INDEX alerts_raised ON alerts (raised_us);

CREATE TABLE alert_decisions (
    id bigserial UNIQUE,
    alert_id text NOT NULL,
    actor_token_id text NOT NULL,
    actor text NOT NULL,
    kind text NOT NULL,
    note text NOT NULL,
    at_us bigint NOT NULL,
    PRIMARY KEY (alert_id, actor_token_id)
);

CREATE TABLE audit_checkpoints (
    seq bigint PRIMARY KEY,
    head_hash text NOT NULL,
    at_us bigint NOT NULL,
    signature bytea NOT NULL,
    public_key bytea NOT NULL
);

CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires_us bigint NOT NULL
);
"""

TABLES = (
    "leases audit_checkpoints alert_decisions alerts templates subject_photos subjects"
    " watchlists audit webhook_dead_letters webhooks config_docs enrollment_tokens api_tokens"
    " cameras devices event_ids events event_counter meta"
)


def upgrade() -> None:
    """Create every table of the first schema (one statement at a time: asyncpg prepares each)."""
    for statement in DDL.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    """Drop every table (and with `events` all its partitions)."""
    op.execute("DROP TABLE " + ", ".join(TABLES.split()))
