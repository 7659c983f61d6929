"""Webhooks for simple consumers: signed JSON POSTs, retried, dead-lettered, resumable.

Each webhook is a durable subscriber: it follows the event stream from its stored cursor
(like Subscribe), POSTs batches, and advances the cursor only after a 2xx or after giving
the batch up (dead letter, listed by `okoctl webhook failures` and sent again by `okoctl
webhook replay`). A fleet restart therefore resumes where the last delivery ended.

Signatures follow Standard Webhooks (https://www.standardwebhooks.com), so receivers can
use its verifier libraries: headers `webhook-id` (the message: the same for every retry and
replay of the same batch), `webhook-timestamp` (Unix seconds) and `webhook-signature:
v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`. The key is the webhook's secret:
for secrets of the standard form `whsec_<base64>` (what the fleet generates) the decoded
bytes, for any other secret chosen at creation its UTF-8 bytes. docs/webhooks.md has the
payload and a verifier.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time

import httpx
from google.protobuf import json_format
from google.protobuf.json_format import MessageToDict

from fleet import __version__
from fleet.broadcast import Broadcaster, follow
from fleet.config import FleetSettings
from fleet.errors import InvalidRequestError, StoreError
from fleet.fleet_metrics import FleetMetrics
from fleet.store.base import Store
from fleet.store.records import StoredEvent, Webhook, WebhookProgress
from proto.oko.v1 import events_pb2

log = logging.getLogger(__name__)

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
MAX_RESTART_DELAY_S = 60.0
MAX_SECRET_CHARS = 256
#: Standard Webhooks asks for keys of 24..64 bytes; the fleet makes 32.
SECRET_KEY_BYTES = (24, 64)


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: `whsec_` + base64(32 bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key of `secret`: base64-decoded for `whsec_...`, else its UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    return secret.encode()


def check_secret(secret: str) -> str:
    """`secret` if it can sign; InvalidRequestError naming the field otherwise."""
    if len(secret) > MAX_SECRET_CHARS:
        raise InvalidRequestError(f"secret: at most {MAX_SECRET_CHARS} characters")
    if not secret.isprintable() or secret != secret.strip():
        raise InvalidRequestError("secret: printable characters only, no surrounding spaces")
    if secret.startswith(SECRET_PREFIX):
        try:
            size = len(signing_key(secret))
        except (binascii.Error, ValueError) as err:
            raise InvalidRequestError(f"secret: {SECRET_PREFIX}... must be base64 ({err})") from err
        low, high = SECRET_KEY_BYTES
        if not low <= size <= high:
            raise InvalidRequestError(f"secret: {SECRET_PREFIX} key of {low}..{high} bytes")
    return secret


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value a receiver recomputes to verify a delivery."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def message_id(webhook_id: str, events: list[dict[str, object]]) -> str:
    """The `webhook-id` of a batch: the same batch always has the same id (idempotency)."""
    return f"msg_{webhook_id}_{events[0]['cursor']}_{events[-1]['cursor']}"


def headers(hook: Webhook, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """Every header of one POST: content type, agent and the three Standard Webhooks ones."""
    stamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": f"oko-fleet/{__version__}",
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(hook.secret, msg_id, stamp, body),
    }


def event_json(event: StoredEvent) -> dict[str, object]:
    """One delivered event, as JSON-ready data.

    Raises json_format.Error for an event JSON cannot carry (a time beyond year 9999,
    stored before the fleet bounded capture times).
    """
    return {
        "cursor": event.cursor,
        "received_at_us": event.received_us,
        "event": MessageToDict(events_pb2.Event.FromString(event.payload)),
    }


def payload(hook_id: str, events: list[dict[str, object]]) -> bytes:
    """The JSON body of one delivery: events (`event_json`) in cursor order.

    The cursor lets a receiver drop the duplicates that at-least-once delivery can send.
    """
    return json.dumps({"webhook_id": hook_id, "events": events}, separators=(",", ":")).encode()


class WebhookManager:
    """One delivery task per webhook, on the one replica that holds the `webhooks` lease.

    `set_active(True)` (lease taken: always, on SQLite) starts every stored webhook from
    its cursor; `set_active(False)` (lease lost) stops them, so no two replicas deliver.
    """

    def __init__(
        self, store: Store, broadcaster: Broadcaster, metrics: FleetMetrics, settings: FleetSettings
    ) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._metrics = metrics
        self._settings = settings
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        self.active = False

    async def start(self) -> None:
        """Open the HTTP client; deliveries start with `set_active(True)`."""
        self._client = httpx.AsyncClient(timeout=self._settings.webhook_timeout_s)

    async def set_active(self, active: bool) -> None:
        """Deliver (resume every stored webhook from its cursor) or stop delivering."""
        self.active = active
        if active:
            await self.resync()
        else:
            for webhook_id in list(self._tasks):
                await self.stop_hook(webhook_id)

    async def resync(self) -> None:
        """Start stored webhooks not yet running and stop deleted ones (when active)."""
        if not self.active:
            return
        stored = {hook.webhook_id: hook for hook in await self._store.list_webhooks()}
        for webhook_id in [w for w in self._tasks if w not in stored]:
            await self.stop_hook(webhook_id)
        for webhook_id, hook in stored.items():
            if webhook_id not in self._tasks:
                self.start_hook(hook)

    def start_hook(self, hook: Webhook) -> None:
        """Start delivering to a newly added webhook (if this replica delivers)."""
        if not self.active or hook.webhook_id in self._tasks:
            return
        self._tasks[hook.webhook_id] = asyncio.get_running_loop().create_task(
            self._run(hook), name=f"webhook-{hook.webhook_id}"
        )

    async def stop_hook(self, webhook_id: str) -> None:
        """Stop one webhook's deliveries (it was deleted); unknown ids are ignored."""
        task = self._tasks.pop(webhook_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop(self) -> None:
        """Stop every delivery task and close the HTTP client."""
        for webhook_id in list(self._tasks):
            await self.stop_hook(webhook_id)
        if self._client is not None:
            await self._client.aclose()

    async def _run(self, hook: Webhook) -> None:
        size = self._settings.webhook_batch
        failures = 0  # in a row: the first is logged with its traceback, the rest in a line
        while True:
            try:
                async for chunk in follow(self._store, self._broadcaster, hook.filter, hook.cursor):
                    for start in range(0, len(chunk), size):
                        await self._deliver(hook, chunk[start : start + size])
                        failures = 0
            except StoreError as err:
                log.warning("webhook %s paused, store unavailable: %s", hook.webhook_id, err)
            except Exception as err:  # a bug must not silently end deliveries for good
                if not failures:
                    log.exception("webhook %s delivery loop failed; restarting it", hook.webhook_id)
                else:
                    log.warning(
                        "webhook %s failed again (%s in a row): %r",
                        hook.webhook_id,
                        failures + 1,
                        err,
                    )
                failures += 1
            delay = self._settings.webhook_backoff_s * 2 ** min(failures, 10)
            await asyncio.sleep(min(delay, MAX_RESTART_DELAY_S))
            try:  # resume from the last cursor the store has for this hook
                hook = next(
                    (
                        h
                        for h in await self._store.list_webhooks()
                        if h.webhook_id == hook.webhook_id
                    ),
                    hook,
                )
            except StoreError:
                continue

    async def _post(self, hook: Webhook, body: bytes, msg_id: str) -> str:
        """'' on a 2xx, else why not. Signed afresh each time (the timestamp is now)."""
        assert self._client is not None
        try:
            response = await self._client.post(
                hook.url, content=body, headers=headers(hook, msg_id, body)
            )
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"
        if 200 <= response.status_code < 300:
            return ""
        return f"HTTP {response.status_code}"

    async def _encode(self, hook: Webhook, events: list[StoredEvent]) -> list[dict[str, object]]:
        """The events JSON can carry; the others become dead letters at once.

        Retrying cannot help them; each is recorded once, with the reason.
        """
        encoded: list[dict[str, object]] = []
        for event in events:
            try:
                encoded.append(event_json(event))
            except (ValueError, json_format.Error) as err:
                reason = f"cannot encode event {event.event_id!r} as JSON: {err}"
                log.warning("webhook %s: %s; dead-lettered", hook.webhook_id, reason)
                self._metrics.webhook_dead.inc()
                await self._store.webhook_progress(
                    WebhookProgress(
                        webhook_id=hook.webhook_id,
                        cursor=0,  # the cursor moves with the batch's delivery below
                        dead=(event.cursor,),
                        error=reason,
                        at_us=time.time_ns() // 1000,
                    )
                )
        return encoded

    async def _deliver(self, hook: Webhook, all_events: list[StoredEvent]) -> None:
        encoded = await self._encode(hook, all_events)
        kept = {item["cursor"] for item in encoded}
        events = [e for e in all_events if e.cursor in kept]
        if not events:
            await self._store.webhook_progress(
                WebhookProgress(hook.webhook_id, cursor=all_events[-1].cursor)
            )
            return
        body = payload(hook.webhook_id, encoded)
        msg_id = message_id(hook.webhook_id, encoded)
        attempts = self._settings.webhook_attempts
        failed = 0
        error = ""
        for attempt in range(attempts):
            error = await self._post(hook, body, msg_id)
            if not error:
                break
            failed += 1
            self._metrics.webhook_failures.inc()
            log.info(
                "webhook %s attempt %s/%s failed: %s", hook.webhook_id, attempt + 1, attempts, error
            )
            if attempt + 1 < attempts:
                await asyncio.sleep(self._settings.webhook_backoff_s * 2**attempt)
        dead: tuple[int, ...] = tuple(e.cursor for e in events) if error else ()
        if error:
            self._metrics.webhook_dead.inc(len(dead))
            log.warning(
                "webhook %s: %s event(s) dead-lettered: %s", hook.webhook_id, len(dead), error
            )
        else:
            self._metrics.webhook_delivered.inc(len(events))
        await self._store.webhook_progress(
            WebhookProgress(
                webhook_id=hook.webhook_id,
                cursor=all_events[-1].cursor,
                delivered=0 if error else len(events),
                failed=failed,
                dead=dead,
                error=error,
                at_us=time.time_ns() // 1000,
            )
        )

    async def send_once(self, hook: Webhook, events: list[StoredEvent]) -> str:
        """POST `events` to `hook` once, as a normal delivery would: '' on a 2xx, else why.

        For replays of dead letters: no retries (the operator replays again) and no
        cursor or counter changes (the caller records the outcome).
        """
        try:
            encoded = [event_json(e) for e in events]
        except (ValueError, json_format.Error) as err:
            return f"cannot encode as JSON: {err}"
        error = await self._post(
            hook, payload(hook.webhook_id, encoded), message_id(hook.webhook_id, encoded)
        )
        if error:
            self._metrics.webhook_failures.inc()
        else:
            self._metrics.webhook_delivered.inc(len(events))
        return error
