"""WebhookService: list webhook dead letters and replay them (proto/oko/v1/webhooks.proto)."""

from __future__ import annotations

import grpc

from fleet import dead_letters
from fleet.app import FleetApp, now_us
from fleet.auth import Principal, Role
from fleet.errors import InvalidRequestError, NotFoundError
from fleet.redaction import mask_text
from fleet.services.common import Context, Guarded, guarded
from fleet.services.convert import ts
from fleet.store.records import DEAD_GONE, DEAD_PENDING, DEAD_REPLAYED, DeadLetter, DeadLetterQuery
from proto.oko.v1 import webhooks_pb2 as pb
from proto.oko.v1 import webhooks_pb2_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["WebhookService"].full_name
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_STATES = {
    DEAD_PENDING: pb.DeadLetter.STATE_PENDING,
    DEAD_REPLAYED: pb.DeadLetter.STATE_REPLAYED,
    DEAD_GONE: pb.DeadLetter.STATE_GONE,
}
_OUTCOMES = {
    dead_letters.DELIVERED: pb.ReplayResult.OUTCOME_DELIVERED,
    dead_letters.FAILED: pb.ReplayResult.OUTCOME_FAILED,
    dead_letters.GONE: pb.ReplayResult.OUTCOME_GONE,
    dead_letters.SKIPPED: pb.ReplayResult.OUTCOME_SKIPPED,
    dead_letters.DONE: pb.ReplayResult.OUTCOME_DONE,
}


def _limit(value: int, default: int) -> int:
    if value > MAX_LIMIT:
        raise InvalidRequestError(f"limit must be <= {MAX_LIMIT}")
    return value or default


def _webhook_id(value: str) -> str:
    if value and not dead_letters.ID.match(f"{value}:1"):
        raise InvalidRequestError(f"webhook_id: {value[:80]!r} is not a webhook id (wh-...)")
    return value


def to_proto(letter: DeadLetter, admin: bool) -> pb.DeadLetter:
    """A dead letter for the wire; delivery errors masked below admin (URLs hold keys)."""

    def shown(text: str) -> str:
        return text if admin else mask_text(text)

    return pb.DeadLetter(
        id=letter.id,
        webhook_id=letter.webhook_id,
        cursor=letter.cursor,
        state=_STATES[letter.state],
        error=shown(letter.error),
        failed_at=ts(letter.failed_us),
        failures=letter.failures,
        event_id=letter.event_id,
        event_type=letter.event_type,
        camera_id=letter.camera_id,
        device_id=letter.device_id,
        site=letter.site,
        replays=letter.replays,
        last_replay_at=ts(letter.last_replay_us),
        last_replay_error=shown(letter.last_replay_error),
    )


class WebhookServicer(Guarded, webhooks_pb2_grpc.WebhookServiceServicer):
    """Dead letters for okoctl (`webhook failures`, `webhook replay`)."""

    def __init__(self, app: FleetApp) -> None:
        self.app = app
        self.access = app.access

    @guarded(Role.VIEWER)
    async def ListDeadLetters(  # noqa: N802
        self, request: pb.ListDeadLettersRequest, context: Context, who: Principal
    ) -> pb.ListDeadLettersResponse:
        """One page of dead letters; `next_after_id` is empty at the end."""
        limit = _limit(request.limit, DEFAULT_LIMIT)
        after = (0, "")
        if request.after_id:
            hook, cursor = dead_letters.parse_id(request.after_id, "after_id")
            after = (cursor, hook)
        query = DeadLetterQuery(
            webhook_id=_webhook_id(request.webhook_id),
            include_done=request.include_done,
            after=after,
            limit=limit,
        )
        letters = await self.app.store.list_dead_letters(query)
        admin = who.role >= Role.ADMIN
        return pb.ListDeadLettersResponse(
            dead_letters=[to_proto(x, admin) for x in letters],
            next_after_id=letters[-1].id if len(letters) == limit else "",
        )

    async def _named(self, ids: list[str]) -> list[DeadLetter]:
        if len(ids) > dead_letters.MAX_IDS:
            raise InvalidRequestError(f"ids: at most {dead_letters.MAX_IDS} per call")
        keys = tuple(
            dict.fromkeys(dead_letters.parse_id(x, f"ids[{i}]") for i, x in enumerate(ids))
        )
        query = DeadLetterQuery(include_done=True, keys=keys, limit=len(keys))
        found = await self.app.store.list_dead_letters(query)
        missing = sorted({f"{h}:{c}" for h, c in keys} - {x.id for x in found})
        if missing:
            raise NotFoundError(f"ids: no such dead letter: {', '.join(missing[:10])}")
        return found

    @guarded(Role.ADMIN)
    async def ReplayDeadLetters(  # noqa: N802
        self, request: pb.ReplayDeadLettersRequest, context: Context, who: Principal
    ) -> pb.ReplayDeadLettersResponse:
        """Send dead letters again once; each outcome is recorded and the call audited."""
        if request.all == bool(request.ids):
            raise InvalidRequestError("give ids or all (not both)")
        more = False
        if request.all:
            limit = _limit(request.limit, MAX_LIMIT)
            query = DeadLetterQuery(webhook_id=_webhook_id(request.webhook_id), limit=limit + 1)
            letters = await self.app.store.list_dead_letters(query)
            more, letters = len(letters) > limit, letters[:limit]
        else:
            letters = await self._named(list(request.ids))
        outcomes = await dead_letters.replay(
            self.app.store,
            self.app.webhooks.send_once,
            letters,
            actor=who.name,
            batch=self.app.settings.webhook_batch,
            at_us=now_us(),
        )
        delivered = sum(o.outcome == dead_letters.DELIVERED for o in outcomes)
        failed = sum(o.outcome in (dead_letters.FAILED, dead_letters.SKIPPED) for o in outcomes)
        target = request.webhook_id or ("all" if request.all else ",".join(request.ids)[:200])
        detail = f"{len(outcomes)} dead letter(s): {delivered} delivered, {failed} failed"
        await self.app.audit(who.name, "webhook.replay", target, detail)
        return pb.ReplayDeadLettersResponse(
            results=[
                pb.ReplayResult(id=o.letter.id, outcome=_OUTCOMES[o.outcome], error=o.error)
                for o in outcomes
            ],
            delivered=delivered,
            failed=failed,
            more=more,
        )


def add_to_server(app: FleetApp, server: grpc.aio.Server) -> None:
    """Register WebhookService on `server`."""
    webhooks_pb2_grpc.add_WebhookServiceServicer_to_server(WebhookServicer(app), server)
