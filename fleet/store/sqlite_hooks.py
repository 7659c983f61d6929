"""Webhook subscriptions and the hash-chained audit log on a SQLite connection."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from fleet.audit_chain import GENESIS, entry_hash
from fleet.errors import NotFoundError
from fleet.store.records import AuditEntry, EventFilter, Webhook, WebhookProgress

_GENESIS = GENESIS


def _filter_json(flt: EventFilter) -> str:
    return json.dumps(
        {
            "camera_ids": sorted(flt.camera_ids),
            "sites": sorted(flt.sites),
            "types": sorted(flt.types),
            "device_ids": sorted(flt.device_ids),
        }
    )


def _webhook(row: tuple[Any, ...]) -> Webhook:
    return Webhook(
        webhook_id=row[0],
        url=row[1],
        secret=row[2],
        filter=EventFilter.of(**json.loads(row[3])),
        created_us=row[4],
        cursor=row[5],
        delivered=row[6],
        failed_attempts=row[7],
        dead_letters=row[8],
    )


def add_webhook(conn: sqlite3.Connection, hook: Webhook) -> None:
    """Insert a webhook with its filter as JSON; it starts at `hook.cursor`."""
    conn.execute(
        "INSERT INTO webhooks (webhook_id, url, secret, filter, created_us, cursor)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            hook.webhook_id,
            hook.url,
            hook.secret,
            _filter_json(hook.filter),
            hook.created_us,
            hook.cursor,
        ),
    )


def list_webhooks(conn: sqlite3.Connection) -> list[Webhook]:
    """Every webhook with cursor and counters, oldest first."""
    rows = conn.execute(
        "SELECT webhook_id, url, secret, filter, created_us, cursor, delivered, failed_attempts,"
        " dead_letters FROM webhooks ORDER BY created_us"
    )
    return [_webhook(row) for row in rows]


def delete_webhook(conn: sqlite3.Connection, webhook_id: str) -> None:
    """Delete a webhook (its dead letters stay for inspection); NotFoundError if unknown."""
    if conn.execute("DELETE FROM webhooks WHERE webhook_id = ?", (webhook_id,)).rowcount == 0:
        raise NotFoundError(f"webhook {webhook_id!r} not found")


def webhook_progress(conn: sqlite3.Connection, p: WebhookProgress) -> None:
    """Apply one delivery round; the cursor only moves forward, even if rounds race."""
    conn.execute(
        "UPDATE webhooks SET cursor = max(cursor, ?), delivered = delivered + ?,"
        " failed_attempts = failed_attempts + ?, dead_letters = dead_letters + ?"
        " WHERE webhook_id = ?",
        (p.cursor, p.delivered, p.failed, len(p.dead), p.webhook_id),
    )
    conn.executemany(
        "INSERT INTO webhook_dead_letters (webhook_id, cursor, error, at_us) VALUES (?, ?, ?, ?)",
        [(p.webhook_id, c, p.error, p.at_us) for c in p.dead],
    )


def dead_letter_total(conn: sqlite3.Connection) -> int:
    """Events given up on, over all webhooks."""
    row = conn.execute("SELECT coalesce(sum(dead_letters), 0) FROM webhooks").fetchone()
    return int(row[0])


def audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    """Append one entry whose hash covers the previous entry's hash.

    Editing or deleting any row breaks every hash after it, which `verify_audit` detects.
    """
    row = conn.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    prev = row[0] if row else _GENESIS
    conn.execute(
        "INSERT INTO audit (at_us, actor, action, target, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            entry.at_us,
            entry.actor,
            entry.action,
            entry.target,
            entry.detail,
            prev,
            _entry_hash(prev, entry),
        ),
    )


def _entry_hash(prev: str, e: AuditEntry) -> str:
    return entry_hash(prev, e.at_us, e.actor, e.action, e.target, e.detail)


def verify_audit(conn: sqlite3.Connection) -> int:
    """Number of entries, or -(seq) of the first entry whose chain is broken."""
    prev = _GENESIS
    count = 0
    for seq, at_us, actor, action, target, detail, prev_hash, digest in conn.execute(
        "SELECT seq, at_us, actor, action, target, detail, prev_hash, hash FROM audit ORDER BY seq"
    ):
        entry = AuditEntry(actor, action, target, detail, at_us)
        if prev_hash != prev or digest != _entry_hash(prev, entry):
            return -int(seq)
        prev = digest
        count += 1
    return count
