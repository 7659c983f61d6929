"""What a box's answer to an evidence request is worth: pure checks, no I/O.

The box is untrusted. An answer is only looked at if it names a request the fleet sent
to this very device and still waits for (the caller checks that); here it must also
name the same camera, track and face event, stay within the byte bound, carry a sane
capture time, and be one complete baseline JPEG of sane size (`fleet.watchlists.jpeg`).
An answer that fails any check is not kept as an image: the request is closed as
unavailable with the reason, so an operator sees why and a broken box is not asked again
and again.
"""

from __future__ import annotations

import hashlib
from typing import Final

from fleet.admission import TimeWindow, first, text_problem
from fleet.limits import Limits
from fleet.services.convert import us_of
from fleet.watchlists.evidence_records import (
    PRESENT,
    UNAVAILABLE,
    EvidenceAnswer,
    EvidenceRequestRecord,
)
from fleet.watchlists.jpeg import JpegError, check_jpeg
from proto.oko.v1 import watchlists_pb2 as pb

#: Largest evidence JPEG kept. A box's best shot is an aligned 112x112 face (about 10 KiB at
#: quality 92, 17 KiB at 100); the bound leaves room for larger shots and bounds the cost
#: of the pure-Python check (linear in the bytes, ~0.5 s at this size on a loaded core).
MAX_EVIDENCE_BYTES: Final = 128 * 1024
MIN_SIDE: Final = 16
MAX_SIDE: Final = 1024
INVALID: Final = "invalid answer from the box: "


def identity_problem(msg: pb.Evidence, request: EvidenceRequestRecord) -> str:
    """Why the answer is not about the requested camera, track and face event, or ''."""
    for name, got, wanted in (
        ("camera_id", msg.camera_id, request.camera_id),
        ("track_id", msg.track_id, request.track_id),
        ("face_event_id", msg.face_event_id, request.face_event_id),
    ):
        if got != wanted:
            return f"evidence.{name} {str(got)[:64]!r} is not the requested {wanted!r}"
    return ""


def _refused(reason: str, now_us: int) -> EvidenceAnswer:
    return EvidenceAnswer(UNAVAILABLE, INVALID + reason, now_us, refused=True)


def _image(msg: pb.Evidence, now_us: int, limits: Limits) -> EvidenceAnswer:
    size = len(msg.jpeg)
    if size == 0:
        return _refused("status OK without an image", now_us)
    if size > MAX_EVIDENCE_BYTES:
        return _refused(f"evidence.jpeg is {size} bytes, limit {MAX_EVIDENCE_BYTES}", now_us)
    captured_us = 0
    if msg.HasField("captured_at"):
        problem = TimeWindow.around(now_us, limits).problem("evidence.captured_at", msg.captured_at)
        if problem:
            return _refused(problem, now_us)
        captured_us = us_of(msg.captured_at)
    try:
        info = check_jpeg(
            msg.jpeg, min_side=MIN_SIDE, max_side=MAX_SIDE, max_pixels=MAX_SIDE * MAX_SIDE
        )
    except JpegError as err:
        return _refused(f"evidence.jpeg is not an acceptable JPEG: {err}", now_us)
    return EvidenceAnswer(
        PRESENT,
        "",
        now_us,
        jpeg=bytes(msg.jpeg),
        sha256=hashlib.sha256(msg.jpeg).hexdigest(),
        width=info.width,
        height=info.height,
        captured_us=captured_us,
    )


def judge(
    msg: pb.Evidence, request: EvidenceRequestRecord, now_us: int, limits: Limits
) -> EvidenceAnswer:
    """What to record for `msg`, the answer to `request`: the image, or why there is none.

    CPU-bound for images (the JPEG is decoded): run it off the event loop.
    """
    problem = identity_problem(msg, request)
    if problem:
        return _refused(problem, now_us)
    if msg.status == pb.Evidence.STATUS_OK:
        return _image(msg, now_us, limits)
    if msg.status == pb.Evidence.STATUS_UNAVAILABLE:
        problem = first(
            (
                "evidence.jpeg must be empty when the status is UNAVAILABLE" if msg.jpeg else "",
                text_problem("evidence.reason", msg.reason, limits.max_text_chars),
            )
        )
        if problem:
            return _refused(problem, now_us)
        return EvidenceAnswer(UNAVAILABLE, msg.reason or "the box gave no reason", now_us)
    return _refused("evidence.status unspecified", now_us)
