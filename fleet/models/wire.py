"""Protobuf <-> records for the model registry, and the check of what a box reports.

Everything a box sends in a `ModelReport` is bounded here before it is stored (names,
versions and digests as short printable text, the error text, counters, the state), with
the reason naming the field, like `fleet.admission` does for the other messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from fleet.admission import ANY_TIME, counter_problem, first, number_problem, text_problem
from fleet.errors import InvalidRequestError
from fleet.limits import MAX_ID_CHARS, MAX_VERSION_CHARS
from fleet.models.records import (
    SLOTS,
    STATES,
    Assignment,
    ModelRefRecord,
    ModelReportRecord,
    ModelStatus,
    ModelVersion,
    SigningKeyRecord,
    WarmupRecord,
)
from fleet.services.convert import ts, us_of
from fleet.store.base import Store
from proto.oko.v1 import agent_pb2, models_pb2

MAX_REPORT_ERROR_CHARS = 2000
MAX_WARMUP_DETAIL_CHARS = 1000
_STATE_NAMES = {
    models_pb2.MODEL_STATE_DOWNLOADING: "downloading",
    models_pb2.MODEL_STATE_VERIFYING: "verifying",
    models_pb2.MODEL_STATE_WARMING: "warming",
    models_pb2.MODEL_STATE_RUNNING: "running",
    models_pb2.MODEL_STATE_FAILED: "failed",
    models_pb2.MODEL_STATE_ROLLED_BACK: "rolled_back",
}
_STATE_VALUES = {v: k for k, v in _STATE_NAMES.items()}
_ORIGINS = ("", "shipped", "fleet")


def manifest_task(version: ModelVersion) -> str:
    """The `task` of a stored version's manifest entry."""
    return str(json.loads(version.manifest).get("task", ""))


def key_to_proto(key: SigningKeyRecord) -> models_pb2.SigningKey:
    """A trusted key as boxes and okoctl see it."""
    return models_pb2.SigningKey(
        key_id=key.key_id,
        public_key=key.public_key,
        name=key.name,
        endorsed_by=key.endorsed_by,
        endorsement=key.endorsement,
    )


def artifact(version: ModelVersion) -> models_pb2.ModelArtifact:
    """What a box needs to download and verify a stored version."""
    return models_pb2.ModelArtifact(
        name=version.name,
        version=version.version,
        sha256=version.sha256,
        size=version.size,
        manifest=version.manifest,
        signature=version.signature,
        key_id=version.key_id,
    )


async def assignment_message(store: Store, assignment: Assignment) -> agent_pb2.FleetMessage:
    """`FleetMessage.models` for one assignment, with every key the fleet trusts.

    A rollback to a model the registry does not hold (the one shipped with the agent) names
    it by name, version and sha256 only: the box uses the copy it kept.
    """
    stored = await store.get_model_version(assignment.name, assignment.version)
    if stored is not None and stored.sha256 == assignment.sha256:
        body = artifact(stored)
    else:
        body = models_pb2.ModelArtifact(
            name=assignment.name, version=assignment.version, sha256=assignment.sha256
        )
    keys = [key_to_proto(k) for k in await store.list_signing_keys()]
    return agent_pb2.FleetMessage(
        models=models_pb2.ModelAssignment(
            assignment_id=assignment.assignment_id,
            slot=assignment.slot,
            artifact=body,
            rollback=assignment.rollback,
            keys=keys,
            assigned_at=ts(assignment.assigned_us),
            assigned_by=assignment.assigned_by,
        )
    )


def _ref_problems(name: str, ref: models_pb2.ModelRef) -> Iterable[str]:
    yield text_problem(f"{name}.name", ref.name, MAX_ID_CHARS)
    yield text_problem(f"{name}.version", ref.version, MAX_VERSION_CHARS)
    yield text_problem(f"{name}.sha256", ref.sha256, 64)
    if ref.origin not in _ORIGINS:
        yield f"{name}.origin {ref.origin[:20]!r} is not shipped or fleet"


def check_report(report: models_pb2.ModelReport) -> None:
    """InvalidRequestError naming the first field of a report outside its bounds."""

    def problems() -> Iterable[str]:
        if report.slot not in SLOTS:
            yield f"model_report.slot {report.slot[:40]!r} is not one of {list(SLOTS)}"
        if report.state not in _STATE_NAMES:
            yield f"model_report.state {report.state} is not a known ModelState"
        yield counter_problem("model_report.assignment_id", report.assignment_id)
        for name in ("running", "previous", "attempted"):
            yield from _ref_problems(f"model_report.{name}", getattr(report, name))
        yield text_problem(
            "model_report.error", report.error, MAX_REPORT_ERROR_CHARS, multiline=True
        )
        warm = report.warmup
        yield text_problem(
            "model_report.warmup.detail", warm.detail, MAX_WARMUP_DETAIL_CHARS, multiline=True
        )
        yield number_problem("model_report.warmup.seconds", warm.seconds, 86_400)
        for name in ("frames", "expected", "found", "matched"):
            yield counter_problem(f"model_report.warmup.{name}", getattr(warm, name))
        yield counter_problem("model_report.bytes_done", report.bytes_done)
        yield counter_problem("model_report.bytes_total", report.bytes_total)
        yield ANY_TIME.problem("model_report.at", report.at)

    problem = first(problems())
    if problem:
        raise InvalidRequestError(problem)


def _ref(ref: models_pb2.ModelRef) -> ModelRefRecord:
    return ModelRefRecord(ref.name, ref.version, ref.sha256, ref.origin)


def report_from_proto(report: models_pb2.ModelReport, received_us: int) -> ModelReportRecord:
    """The record of a report that passed `check_report`."""
    warm = report.warmup
    return ModelReportRecord(
        slot=report.slot,
        assignment_id=report.assignment_id,
        state=_STATE_NAMES[report.state],
        running=_ref(report.running),
        previous=_ref(report.previous),
        attempted=_ref(report.attempted),
        error=report.error,
        warmup=WarmupRecord(
            warm.ok, warm.frames, warm.expected, warm.found, warm.matched, warm.detail, warm.seconds
        ),
        bytes_done=report.bytes_done,
        bytes_total=report.bytes_total,
        at_us=us_of(report.at),
        received_us=received_us,
    )


def _ref_proto(ref: ModelRefRecord) -> models_pb2.ModelRef:
    return models_pb2.ModelRef(
        name=ref.name, version=ref.version, sha256=ref.sha256, origin=ref.origin
    )


def report_to_proto(report: ModelReportRecord) -> models_pb2.ModelReport:
    """A stored report for okoctl (the same message the box sent)."""
    w = report.warmup
    return models_pb2.ModelReport(
        slot=report.slot,
        assignment_id=report.assignment_id,
        running=_ref_proto(report.running),
        previous=_ref_proto(report.previous),
        attempted=_ref_proto(report.attempted),
        state=_STATE_VALUES.get(report.state, models_pb2.MODEL_STATE_UNSPECIFIED),
        error=report.error,
        warmup=models_pb2.WarmupResult(
            ok=w.ok,
            frames=w.frames,
            expected=w.expected,
            found=w.found,
            matched=w.matched,
            detail=w.detail,
            seconds=w.seconds,
        ),
        at=ts(report.at_us),
        bytes_done=report.bytes_done,
        bytes_total=report.bytes_total,
    )


def status_to_proto(status: ModelStatus) -> models_pb2.ModelSlotStatus:
    """One device's slot for okoctl."""
    out = models_pb2.ModelSlotStatus(
        device_id=status.device_id, slot=status.slot, state=status.state
    )
    if status.assignment is not None:
        out.assigned_name = status.assignment.name
        out.assigned_version = status.assignment.version
        out.assignment_id = status.assignment.assignment_id
    if status.report is not None:
        out.report.CopyFrom(report_to_proto(status.report))
    return out


assert set(_STATE_NAMES.values()) <= set(STATES)
