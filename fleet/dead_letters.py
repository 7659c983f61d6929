"""Replaying webhook dead letters: what to send, sending it once, and recording the fate.

A replay POSTs the events again exactly as a normal delivery would (same payload, same
`webhook-id` for the same batch, a fresh signed timestamp), in cursor order, in batches of
`webhook_batch`, once: a failure is recorded and left pending for the next replay rather
than retried here, and the rest of that webhook's batches are skipped so a receiver that is
still down is not hammered. Dead letters already delivered by a replay are not sent again;
those whose event retention deleted are reported gone.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fleet.errors import InvalidRequestError
from fleet.store.base import Store
from fleet.store.records import (
    DEAD_GONE,
    DEAD_REPLAYED,
    DeadLetter,
    ReplayRecord,
    StoredEvent,
    Webhook,
)

ID = re.compile(r"^(wh-[0-9a-f]{1,64}):([1-9][0-9]{0,18})$")
MAX_IDS = 1000
DELIVERED, FAILED, GONE, SKIPPED, DONE = "delivered", "failed", "gone", "skipped", "done"
Send = Callable[[Webhook, list[StoredEvent]], Awaitable[str]]


def parse_id(text: str, field: str) -> tuple[str, int]:
    """`wh-...:<cursor>` -> (webhook_id, cursor); InvalidRequestError naming `field`."""
    match = ID.match(text)
    if not match or int(match[2]) >= 2**63:
        raise InvalidRequestError(
            f"{field}: {text[:80]!r} is not a dead letter id (<webhook_id>:<cursor>, "
            "as `okoctl webhook failures` shows)"
        )
    return match[1], int(match[2])


@dataclass(frozen=True)
class Outcome:
    """What a replay did with one dead letter."""

    letter: DeadLetter
    outcome: str  # DELIVERED, FAILED, GONE, SKIPPED or DONE
    error: str = ""


def _batches(letters: list[DeadLetter], size: int) -> list[list[DeadLetter]]:
    return [letters[i : i + size] for i in range(0, len(letters), size)]


async def _replay_hook(
    hook: Webhook | None,
    letters: list[DeadLetter],
    events: dict[int, StoredEvent],
    send: Send,
    batch: int,
) -> list[Outcome]:
    """One webhook's dead letters (cursor order), batch by batch, stopping at a failure."""
    out: list[Outcome] = []
    ready: list[DeadLetter] = []
    for letter in letters:
        if letter.state == DEAD_REPLAYED:
            out.append(Outcome(letter, DONE))
        elif letter.state == DEAD_GONE or letter.cursor not in events:
            out.append(Outcome(letter, GONE, "event no longer stored (retention)"))
        elif hook is None:
            out.append(Outcome(letter, FAILED, f"webhook {letter.webhook_id} was deleted"))
        else:
            ready.append(letter)
    failure = ""
    for group in _batches(ready, batch):
        if failure:
            why = f"not sent: an earlier batch failed: {failure}"
            out += [Outcome(x, SKIPPED, why) for x in group]
            continue
        assert hook is not None
        failure = await send(hook, [events[x.cursor] for x in group])
        out += [Outcome(x, FAILED if failure else DELIVERED, failure) for x in group]
    return out


async def replay(
    store: Store,
    send: Send,
    letters: Sequence[DeadLetter],
    *,
    actor: str,
    batch: int,
    at_us: int,
) -> list[Outcome]:
    """Replay `letters` (see the module docstring); every attempt is recorded by `actor`."""
    hooks = {h.webhook_id: h for h in await store.list_webhooks()}
    events = {e.cursor: e for e in await store.events_at([x.cursor for x in letters])}
    groups: dict[str, list[DeadLetter]] = {}
    for letter in sorted(letters, key=lambda x: (x.cursor, x.webhook_id)):
        groups.setdefault(letter.webhook_id, []).append(letter)
    outcomes: list[Outcome] = []
    for webhook_id, group in groups.items():
        outcomes += await _replay_hook(hooks.get(webhook_id), group, events, send, batch)
    await store.record_replays(
        [
            ReplayRecord(o.letter.webhook_id, o.letter.cursor, at_us, actor, o.outcome, o.error)
            for o in outcomes
            if o.outcome in (DELIVERED, FAILED, GONE)
        ]
    )
    return sorted(outcomes, key=lambda o: (o.letter.cursor, o.letter.webhook_id))
