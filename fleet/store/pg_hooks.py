"""Webhook subscriptions, the hash-chained audit log and replica leases on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from fleet.audit_chain import GENESIS, entry_hash
from fleet.errors import NotFoundError
from fleet.store.records import AuditEntry, EventFilter, Webhook, WebhookProgress

Conn = asyncpg.Connection
# Every replica appends to one chain: this lock makes read-last-hash + insert atomic
# across them (without it two appends could both chain onto the same predecessor).
_AUDIT_LOCK = 0x6F6B6F02


def _filter_json(flt: EventFilter) -> str:
    return json.dumps(
        {
            "camera_ids": sorted(flt.camera_ids),
            "sites": sorted(flt.sites),
            "types": sorted(flt.types),
            "device_ids": sorted(flt.device_ids),
        }
    )


def _webhook(row: asyncpg.Record) -> Webhook:
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


async def add_webhook(conn: Conn, hook: Webhook) -> None:
    """Insert a webhook with its filter as JSON; it starts at `hook.cursor`."""
    await conn.execute(
        "INSERT INTO webhooks (webhook_id, url, secret, filter, created_us, cursor)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        hook.webhook_id,
        hook.url,
        hook.secret,
        _filter_json(hook.filter),
        hook.created_us,
        hook.cursor,
    )


async def list_webhooks(conn: Conn) -> list[Webhook]:
    """Every webhook with cursor and counters, oldest first."""
    rows = await conn.fetch(
        "SELECT webhook_id, url, secret, filter, created_us, cursor, delivered, failed_attempts,"
        " dead_letters FROM webhooks ORDER BY created_us, webhook_id"
    )
    return [_webhook(row) for row in rows]


async def delete_webhook(conn: Conn, webhook_id: str) -> None:
    """Delete a webhook (its dead letters stay for inspection); NotFoundError if unknown."""
    status = await conn.execute("DELETE FROM webhooks WHERE webhook_id = $1", webhook_id)
    if status == "DELETE 0":
        raise NotFoundError(f"webhook {webhook_id!r} not found")


async def webhook_progress(conn: Conn, p: WebhookProgress) -> None:
    """Apply one delivery round; the cursor only moves forward, even if rounds race."""
    await conn.execute(
        "UPDATE webhooks SET cursor = greatest(cursor, $1), delivered = delivered + $2,"
        " failed_attempts = failed_attempts + $3, dead_letters = dead_letters + $4"
        " WHERE webhook_id = $5",
        p.cursor,
        p.delivered,
        p.failed,
        len(p.dead),
        p.webhook_id,
    )
    if p.dead:
        await conn.executemany(
            "INSERT INTO webhook_dead_letters (webhook_id, cursor, error, at_us)"
            " VALUES ($1, $2, $3, $4)",
            [(p.webhook_id, c, p.error, p.at_us) for c in p.dead],
        )


async def dead_letter_total(conn: Conn) -> int:
    """Events given up on, over all webhooks."""
    return int(await conn.fetchval("SELECT coalesce(sum(dead_letters), 0) FROM webhooks"))


def _entry_hash(prev: str, e: AuditEntry) -> str:
    return entry_hash(prev, e.at_us, e.actor, e.action, e.target, e.detail)


async def audit(conn: Conn, entries: Sequence[AuditEntry]) -> None:
    """Append entries in order, each hash covering the previous one (caller's transaction).

    One lock, one read of the last hash and one multi-row insert for all of them: the
    chain is the same as appending them one by one, at one commit instead of one each.
    """
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _AUDIT_LOCK)
    prev = await conn.fetchval("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1") or GENESIS
    rows = []
    for entry in entries:
        digest = _entry_hash(prev, entry)
        rows.append(
            (entry.at_us, entry.actor, entry.action, entry.target, entry.detail, prev, digest)
        )
        prev = digest
    await conn.executemany(
        "INSERT INTO audit (at_us, actor, action, target, detail, prev_hash, hash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        rows,
    )


async def verify_audit(conn: Conn) -> int:
    """Number of entries, or -(seq) of the first entry whose chain is broken."""
    prev = GENESIS
    count = 0
    rows = await conn.fetch(
        "SELECT seq, at_us, actor, action, target, detail, prev_hash, hash FROM audit ORDER BY seq"
    )
    for seq, at_us, actor, action, target, detail, prev_hash, digest in rows:
        entry = AuditEntry(actor, action, target, detail, at_us)
        if prev_hash != prev or digest != _entry_hash(prev, entry):
            return -int(seq)
        prev = digest
        count += 1
    return count


async def acquire_lease(conn: Conn, name: str, holder: str, now_us: int, ttl_us: int) -> bool:
    """Take the lease if free or expired, renew it if `holder` has it; whether it is held."""
    got = await conn.fetchval(
        "INSERT INTO leases (name, holder, expires_us) VALUES ($1, $2, $3)"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
        " expires_us = excluded.expires_us"
        " WHERE leases.holder = excluded.holder OR leases.expires_us < $4"
        " RETURNING holder",
        name,
        holder,
        now_us + ttl_us,
        now_us,
    )
    return bool(got == holder)


async def release_lease(conn: Conn, name: str, holder: str) -> None:
    """Delete the lease row if `holder` has it."""
    await conn.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder)
