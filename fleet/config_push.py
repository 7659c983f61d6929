"""One config document to every box a label selector matches (AdminService.SetConfigs).

What `SetConfig` does for one device, done once for many: the selector is the rollouts'
(`fleet.rollouts.selector`), the document is validated once and rendered per device
(`fleet.twin_batch`), every new version is one store transaction, and the audit log gets
ONE entry naming the selector, the scope, the count and the document's sha256. Boxes
connected here get their document at once; the other replicas are told with `configs`
notices carrying many device ids each (a few notices for thousands of boxes), and each
re-reads the documents of its own boxes, as for a single push.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from fleet import bus, redaction
from fleet.app import FleetApp
from fleet.errors import InvalidRequestError
from fleet.limits import ID_RE, MAX_CONFIG_PUSH_DEVICES, MAX_ID_CHARS
from fleet.model_labels import reported_detector
from fleet.rollouts.selector import parse_selector
from fleet.services import convert
from fleet.store.records import REVOKED, Device
from fleet.twin_batch import BatchOutcome, set_configs

log = logging.getLogger(__name__)
#: Device ids per `configs` notice: ids are at most 64 characters, so a notice stays far
#: below the bus's 64 KiB bound on one notice.
NOTICE_IDS_CHARS = 32_000


@dataclass(frozen=True)
class PushResult:
    """The batch outcome, the normalised selector, and which devices got it at once."""

    selector: str
    outcome: BatchOutcome
    delivered: frozenset[str]


async def matching(app: FleetApp, selector_text: str) -> tuple[str, list[Device]]:
    """(normalised selector, enrolled unrevoked devices it matches, by id); bounded."""
    selector = parse_selector(selector_text)
    chosen = sorted(
        (
            d
            for d in await app.store.list_devices()
            if d.status != REVOKED and selector.matches(d.site, d.labels)
        ),
        key=lambda d: d.device_id,
    )
    if not chosen:
        raise InvalidRequestError(f"selector: no enrolled device matches {selector_text!r}")
    if len(chosen) > MAX_CONFIG_PUSH_DEVICES:
        raise InvalidRequestError(
            f"selector: {selector_text!r} matches {len(chosen)} devices, at most "
            f"{MAX_CONFIG_PUSH_DEVICES} per call; narrow it (e.g. by site)"
        )
    return str(selector), chosen


def notice_batches(device_ids: Sequence[str], max_chars: int = NOTICE_IDS_CHARS) -> list[str]:
    """Comma-joined ids, each string at most `max_chars` long (one `configs` notice each)."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for device_id in device_ids:
        if current and size + len(device_id) + 1 > max_chars:
            out.append(",".join(current))
            current, size = [], 0
        current.append(device_id)
        size += len(device_id) + 1
    if current:
        out.append(",".join(current))
    return out


async def push_configs(
    app: FleetApp, actor: str, *, selector_text: str, scope: str, text: str, dry_run: bool
) -> PushResult:
    """Validate, store, audit and push; InvalidRequestError / ConfigRejectedError otherwise."""
    if scope and not (len(scope) <= MAX_ID_CHARS and ID_RE.match(scope)):
        raise InvalidRequestError(
            f"camera_id: must be a camera id (1-{MAX_ID_CHARS} of letters, digits, '_', '.', '-')"
        )
    if redaction.MARKER in text:
        raise InvalidRequestError(
            f"document: contains {redaction.MARKER!r} (a masked secret); a document for many "
            "devices must carry the real values"
        )
    selector, devices = await matching(app, selector_text)
    detectors = {d.device_id: reported_detector(d.reported) for d in devices}
    outcome = await set_configs(app.store, detectors, scope, text, author=actor, dry_run=dry_run)
    if dry_run:
        return PushResult(selector, outcome, frozenset())
    delivered = set()
    remote = []
    for device_id, rendered in outcome.rendered.items():
        session = app.sessions.get(device_id)
        if session is None:
            remote.append(device_id)
            continue
        session.send(convert.desired_to_proto(rendered))
        delivered.add(device_id)
    for ids in notice_batches(remote):
        await app.replication.notify(bus.CONFIGS, device_ids=ids)
    counts = {k: outcome.count(k) for k in ("changed", "unchanged", "failed")}
    if counts["changed"]:
        await app.audit(
            actor,
            "config.set_many",
            selector,
            f"scope={scope or 'box'} devices={counts['changed']} sha256={outcome.sha256}"
            f" unchanged={counts['unchanged']} failed={counts['failed']}",
        )
    log.info(
        "%s set %s on %r: %d changed, %d unchanged, %d failed, %d sent at once",
        actor,
        f"camera {scope}" if scope else "the box document",
        selector,
        counts["changed"],
        counts["unchanged"],
        counts["failed"],
        len(delivered),
    )
    return PushResult(selector, outcome, frozenset(delivered))
