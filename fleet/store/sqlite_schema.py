"""SQLite schema of the fleet store. Additive migrations only: new tables, new columns."""

from __future__ import annotations

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_cursor', 0), ('schema_version', 1);

CREATE TABLE IF NOT EXISTS events (
    cursor INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    site TEXT NOT NULL,
    type TEXT NOT NULL,
    capture_us INTEGER NOT NULL,
    received_us INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_capture ON events (capture_us);
CREATE INDEX IF NOT EXISTS events_camera ON events (camera_id, capture_us);

CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    site TEXT NOT NULL,
    hostname TEXT NOT NULL DEFAULT '',
    agent_version TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    cert_serial TEXT NOT NULL UNIQUE,
    cert_not_after_us INTEGER NOT NULL,
    enrolled_us INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    revoked_reason TEXT NOT NULL DEFAULT '',
    revoked_us INTEGER NOT NULL DEFAULT 0,
    last_seen_us INTEGER NOT NULL DEFAULT 0,
    health TEXT,
    reported TEXT
);

CREATE TABLE IF NOT EXISTS cameras (
    device_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    health TEXT NOT NULL,
    updated_us INTEGER NOT NULL,
    PRIMARY KEY (device_id, camera_id)
);

CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role INTEGER NOT NULL,
    secret_hash TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS enrollment_tokens (
    token_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    secret_hash TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    used_us INTEGER NOT NULL DEFAULT 0,
    used_by TEXT NOT NULL DEFAULT ''
);

-- scope '' = box document, a camera id = that camera, '*' = rendered box document
CREATE TABLE IF NOT EXISTS config_docs (
    device_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    version INTEGER NOT NULL,
    document TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    author TEXT NOT NULL,
    PRIMARY KEY (device_id, scope, version)
);

CREATE TABLE IF NOT EXISTS webhooks (
    webhook_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    filter TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    cursor INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    dead_letters INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS webhook_dead_letters (
    webhook_id TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    error TEXT NOT NULL,
    at_us INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at_us INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""

# Watchlists, subjects, enrolment photos, templates per embedder, alerts with their
# decisions, and signed audit checkpoints (queries in fleet/store/sqlite_watchlists.py).
DDL += """
CREATE TABLE IF NOT EXISTS watchlists (
    name TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    threshold REAL NOT NULL,
    top_k INTEGER NOT NULL,
    description TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS subjects (
    subject_id TEXT PRIMARY KEY,
    watchlist TEXT NOT NULL REFERENCES watchlists (name),
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_us INTEGER NOT NULL,
    created_us INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subjects_watchlist ON subjects (watchlist);

CREATE TABLE IF NOT EXISTS subject_photos (
    subject_id TEXT NOT NULL,
    photo_index INTEGER NOT NULL,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    quality REAL NOT NULL,
    face_width_px REAL NOT NULL,
    sharpness REAL NOT NULL,
    pose REAL NOT NULL,
    detector_score REAL NOT NULL,
    PRIMARY KEY (subject_id, photo_index)
);

CREATE TABLE IF NOT EXISTS templates (
    subject_id TEXT NOT NULL,
    embedder_name TEXT NOT NULL,
    embedder_version TEXT NOT NULL,
    photo_index INTEGER NOT NULL,
    dimensions INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (subject_id, embedder_name, embedder_version, photo_index)
);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    watchlist TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_name TEXT NOT NULL,
    score REAL NOT NULL,
    face_event_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    site TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    raised_us INTEGER NOT NULL,
    UNIQUE (device_id, camera_id, track_id, subject_id)
);
CREATE INDEX IF NOT EXISTS alerts_raised ON alerts (raised_us);

CREATE TABLE IF NOT EXISTS alert_decisions (
    alert_id TEXT NOT NULL,
    actor_token_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    PRIMARY KEY (alert_id, actor_token_id)
);

CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq INTEGER PRIMARY KEY,
    head_hash TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    signature BLOB NOT NULL,
    public_key BLOB NOT NULL
);

-- Model registry (fleet/store/sqlite_models.py). Artifact files live on disk, named by
-- sha256 (fleet/models/blobs.py); these rows describe them and who may run them.
CREATE TABLE IF NOT EXISTS model_signing_keys (
    key_id TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    name TEXT NOT NULL,
    added_us INTEGER NOT NULL,
    added_by TEXT NOT NULL,
    endorsed_by TEXT NOT NULL,
    endorsement BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS model_versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    signature BLOB NOT NULL,
    key_id TEXT NOT NULL,
    pushed_us INTEGER NOT NULL,
    pushed_by TEXT NOT NULL,
    frames TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS model_assignments (
    device_id TEXT NOT NULL,
    slot TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    assignment_id INTEGER NOT NULL,
    assigned_us INTEGER NOT NULL,
    assigned_by TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    rollback INTEGER NOT NULL,
    PRIMARY KEY (device_id, slot)
);
CREATE INDEX IF NOT EXISTS model_assignments_version ON model_assignments (name, version);

CREATE TABLE IF NOT EXISTS model_reports (
    device_id TEXT NOT NULL,
    slot TEXT NOT NULL,
    report TEXT NOT NULL,
    PRIMARY KEY (device_id, slot)
);

-- Device certificates after enrollment (fleet/store/sqlite_certs.py). devices.cert_serial
-- stays the newest; every certificate issued by renewal or reissue is kept here.
CREATE TABLE IF NOT EXISTS device_certs (
    serial TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    not_after_us INTEGER NOT NULL,
    issued_us INTEGER NOT NULL,
    origin TEXT NOT NULL,
    replaced_serial TEXT NOT NULL,
    first_used_us INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS device_certs_device ON device_certs (device_id);

-- The older certificate a device may still present after a renewal: until it first
-- presents the new one, or this one expires.
CREATE TABLE IF NOT EXISTS device_cert_grace (
    serial TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    not_after_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS device_cert_grace_device ON device_cert_grace (device_id);

-- Enrollment tokens minted by `okoctl device reissue`: spending one re-certifies that device.
CREATE TABLE IF NOT EXISTS reissue_tokens (
    token_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL
);
"""

# Replays of webhook dead letters (fleet/store/sqlite_dead_letters.py): one row per
# attempt; a dead letter whose latest replay was delivered is done. The index makes the
# dead-letter listing a range scan in (cursor, webhook) order.
DDL += """
CREATE TABLE IF NOT EXISTS webhook_replays (
    webhook_id TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    at_us INTEGER NOT NULL,
    actor TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_replays_key ON webhook_replays (webhook_id, cursor);
CREATE INDEX IF NOT EXISTS webhook_dead_letters_key ON webhook_dead_letters (cursor, webhook_id);
"""

# Evidence on demand: one row per alert, from the request to the fleet's box until the
# box's answer (the image itself or why there is none). Deleted with its alert by
# retention (fleet/store/sqlite_retention.py); queries in fleet/store/sqlite_evidence.py.
DDL += """
CREATE TABLE IF NOT EXISTS alert_evidence (
    alert_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    face_event_id TEXT NOT NULL,
    requested_us INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_us INTEGER NOT NULL,
    captured_us INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    jpeg BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_evidence_pending
    ON alert_evidence (device_id, state, requested_us);
"""
