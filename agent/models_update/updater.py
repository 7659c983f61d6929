"""`ModelUpdater`: carries out the fleet's model assignments on a running box.

For a new assignment: pin any newly endorsed signing keys, check the signed entry (before
downloading a byte), download the file and reference frames (resumable), check size,
sha256 and ONNX shapes, warm up on the inference worker's thread, persist the choice
atomically, then swap the detector between two frames. The previous model stays loaded
and on disk: a rollback assignment (or detector failures right after the swap) puts it
back without a download. Every state change is reported (`ModelReport`); a failure at
any step leaves the running model running and says why.

An assignment the box already settled (same `assignment_id`) is not retried after a
reconnect or a restart: it reports the same outcome again, so a broken artifact costs one
download, not one per reconnect. A new assignment from the fleet is a new attempt.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from agent.config.agent import ModelsSection
from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import DetectFn, InferenceWorker
from agent.errors import ModelError, OkoError
from agent.models_update import steps
from agent.models_update.download import Downloader
from agent.models_update.inventory import FLEET, Installed, Inventory, SlotState
from agent.models_update.keys import PinnedKeys
from agent.models_update.loading import detector_like, installed_from_spec, load_installed, tag_of
from agent.models_update.metrics import ModelMetrics
from agent.models_update.verify import ArtifactRefusedError
from agent.models_update.warmup import WarmupOutcome
from models.signing import PublicKey
from proto.oko.v1 import models_pb2

log = logging.getLogger(__name__)

SLOT = "detector"
PROBATION_BATCHES = 50  # detector calls after a swap during which failures roll it back
Reporter = Callable[[models_pb2.ModelReport], None]


@dataclass
class _Attempt:
    """The model being tried now (or last), and how far it got."""

    assignment_id: int = 0
    target: Installed | None = None
    state: models_pb2.ModelState = models_pb2.MODEL_STATE_RUNNING
    error: str = ""
    warmup: WarmupOutcome | None = None
    bytes_done: int = 0
    bytes_total: int = 0


class ModelUpdater:
    """The detector slot of one box: assignments in, swaps and reports out."""

    def __init__(
        self,
        inventory: Inventory,
        keys: PinnedKeys,
        worker: InferenceWorker,
        detector: ObjectDetector,
        *,
        make_detect: Callable[[ObjectDetector], DetectFn],
        on_swap: Callable[[ObjectDetector], None],
        settings: Callable[[], ModelsSection] = ModelsSection,
        metrics: ModelMetrics | None = None,
    ) -> None:
        self.inventory = inventory
        self.keys = keys
        self.worker = worker
        self.detector = detector
        self._make_detect = make_detect
        self._on_swap = on_swap
        self._settings = settings
        self.metrics = metrics
        self._reporter: Reporter | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._previous_detector: ObjectDetector | None = None
        self._probation = 0
        self._failures = 0
        self.connect: Callable[[], grpc.aio.Channel] | None = None
        self.downloader: Downloader | None = None
        self.state = self._adopt(inventory.load(SLOT))
        last = self.state.last
        self.attempt = _Attempt(
            assignment_id=self.state.assignment_id,
            state=_state(last.get("state")),
            error=str(last.get("error", "")),
        )

    def _adopt(self, stored: SlotState) -> SlotState:
        """The persisted state, made to describe the detector the box really started on."""
        running = installed_from_spec(self.detector.model.spec, self.inventory)
        if stored.running is not None and stored.running.sha256 == running.sha256:
            return stored
        previous = stored.previous
        if previous is not None and previous.sha256 == running.sha256:
            previous = None
        state = SlotState(running, previous, stored.assignment_id, stored.last)
        self.inventory.save(state, SLOT)
        return state

    # ----- wiring -------------------------------------------------------------------------
    def set_reporter(self, reporter: Reporter | None) -> None:
        """Where reports go (the uplink's current stream); None while disconnected."""
        self._reporter = reporter

    def tag(self) -> Any:
        """The tag results of the running detector carry."""
        assert self.state.running is not None
        return tag_of(self.state.running)

    def report(self) -> models_pb2.ModelReport:
        """What this slot runs and how the last attempt went."""
        a = self.attempt
        stamp = Timestamp()
        stamp.GetCurrentTime()
        out = models_pb2.ModelReport(
            slot=SLOT,
            assignment_id=a.assignment_id,
            state=a.state,
            error=a.error[:2000],
            at=stamp,
            bytes_done=a.bytes_done,
            bytes_total=a.bytes_total,
        )
        for field, installed in (
            ("running", self.state.running),
            ("previous", self.state.previous),
            ("attempted", a.target),
        ):
            if installed is not None:
                getattr(out, field).CopyFrom(_ref(installed))
        if a.warmup is not None:
            w = a.warmup
            out.warmup.CopyFrom(
                models_pb2.WarmupResult(
                    ok=w.ok,
                    frames=w.frames,
                    expected=w.expected,
                    found=w.found,
                    matched=w.matched,
                    detail=w.detail[:1000],
                    seconds=w.seconds,
                )
            )
        return out

    def _publish(self, **changes: Any) -> None:
        """Update the attempt, persist its outcome if settled, and report it."""
        with self._lock:
            self.attempt = replace(self.attempt, **changes)
            if self.attempt.state in steps.SETTLED:
                last = {"state": self.attempt.state, "error": self.attempt.error}
                self.state = replace(
                    self.state, assignment_id=self.attempt.assignment_id, last=last
                )
                self.inventory.save(self.state, SLOT)
        if self.metrics is not None:
            self.metrics.state.set(self.attempt.state)
            if changes.get("state") == models_pb2.MODEL_STATE_FAILED:
                self.metrics.refused.inc()
        reporter = self._reporter
        if reporter is not None:
            reporter(self.report())

    # ----- assignments (called on the uplink's event loop) ---------------------------------
    def assign(self, message: models_pb2.ModelAssignment) -> None:
        """Start carrying out an assignment; a newer one replaces one still in progress."""
        self._loop = asyncio.get_running_loop()
        if message.slot != SLOT:
            log.warning("ignoring assignment for unknown slot %r", message.slot)
            return
        try:
            self.keys.extend(_offered_keys(message))
        except OkoError as err:  # the pinned set stays as it was; the check below refuses
            log.error("cannot extend the pinned model-signing keys: %s", err)
        same = message.assignment_id == self.attempt.assignment_id
        if same and (self.attempt.state in steps.SETTLED or self._busy()):
            self._publish()  # already done (or on it): say so again
            return
        if self._busy():
            assert self._task is not None
            self._task.cancel()
        self._task = asyncio.create_task(self._carry_out(message), name="model-update")

    def _busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _carry_out(self, message: models_pb2.ModelAssignment) -> None:
        artifact = message.artifact
        target = steps.target_of(artifact)
        self._publish(
            assignment_id=message.assignment_id,
            target=target,
            state=models_pb2.MODEL_STATE_VERIFYING,
            error="",
            warmup=None,
            bytes_done=0,
            bytes_total=artifact.size,
        )
        try:
            await self._dispatch(message, target)
        except asyncio.CancelledError:
            raise
        except (OkoError, OSError) as err:
            log.error("model %s refused: %s", target.label, err)
            self._publish(state=models_pb2.MODEL_STATE_FAILED, error=str(err))
        except Exception as err:  # a bug must not cost the running model or the uplink
            log.exception("model update to %s failed", target.label)
            self._publish(state=models_pb2.MODEL_STATE_FAILED, error=f"internal error: {err!r}")

    async def _dispatch(self, message: models_pb2.ModelAssignment, target: Installed) -> None:
        running, previous = self.state.running, self.state.previous
        if running is not None and target.sha256 == running.sha256:
            done = models_pb2.MODEL_STATE_ROLLED_BACK if message.rollback else None
            self._publish(state=done or models_pb2.MODEL_STATE_RUNNING)
            return
        if previous is not None and target.sha256 == previous.sha256:
            await self._back_to_previous("rollback assigned by the fleet")
            return
        if message.rollback:
            raise ArtifactRefusedError(f"no previous model {target.label} kept on this box")
        await self._install(target)

    async def _install(self, target: Installed) -> None:
        pinned = self.keys.load()
        entry = steps.check_signed(target, pinned, self.detector, self._settings())
        self._publish(state=models_pb2.MODEL_STATE_DOWNLOADING)
        downloader = self._downloader()

        def progress(done: int, total: int) -> None:
            self.attempt = replace(self.attempt, bytes_done=done, bytes_total=total)

        await steps.download(downloader, self.inventory, target, entry, progress)
        self._publish(state=models_pb2.MODEL_STATE_VERIFYING, bytes_done=target_size(entry))
        backend = self.detector.model.backend
        model = await asyncio.to_thread(
            steps.verify_and_load, self.inventory, target, entry, backend
        )
        self._publish(state=models_pb2.MODEL_STATE_WARMING)
        outcome = await asyncio.to_thread(
            self.worker.run_between, lambda: steps.warm_up(model, entry, self.inventory)
        )
        if not outcome.ok:
            self._publish(warmup=outcome)
            raise ArtifactRefusedError(f"warm-up failed: {outcome.detail}")
        detector = detector_like(model, self.detector)
        await asyncio.to_thread(self._swap, detector, target, probation=True)
        self._publish(state=models_pb2.MODEL_STATE_RUNNING, warmup=outcome)
        log.info("now running %s (warm-up: %s)", target.label, outcome.detail)

    def _downloader(self) -> Downloader:
        if self.downloader is None:
            if self.connect is None:
                raise ModelError("no fleet channel to download from (not enrolled?)")
            self.downloader = Downloader(
                self.connect,
                rate_bytes_s=lambda: self._settings().download_bytes_per_s,
                metrics=self.metrics,
            )
        return self.downloader

    # ----- swapping -------------------------------------------------------------------------
    def _swap(self, detector: ObjectDetector, target: Installed, *, probation: bool) -> None:
        """Persist the new choice, then swap it in between two frames; the old one is kept."""
        old_detector, previous = self.detector, self.state.running
        new_state = replace(self.state, running=target, previous=previous)
        self.inventory.save(new_state, SLOT)  # a crash after this comes back on `target`
        self.worker.swap_detector(self._make_detect(detector), tag_of(target))
        with self._lock:
            self.state = new_state
            self.detector = detector
            self._previous_detector = old_detector
            self._probation = PROBATION_BATCHES if probation else 0
            self._failures = 0
        self._on_swap(detector)
        if self.metrics is not None:
            self.metrics.swaps.inc()
            if not probation:
                self.metrics.rollbacks.inc()
        self.inventory.prune(steps.files_of(target, previous))

    async def _back_to_previous(self, why: str, error: str = "") -> None:
        """Swap the kept previous model back in (loading it again if it was not kept loaded)."""
        previous, running = self.state.previous, self.state.running
        assert previous is not None and running is not None
        detector = self._previous_detector
        if detector is None or detector.model.spec.sha256 != previous.sha256:
            backend = self.detector.model.backend
            model = await asyncio.to_thread(
                load_installed, previous, self.inventory, self.keys.load(), backend=backend
            )
            detector = detector_like(model, self.detector)
        await asyncio.to_thread(self._swap, detector, previous, probation=False)
        log.warning("back on %s (was %s): %s", previous.label, running.label, why)
        self._publish(state=models_pb2.MODEL_STATE_ROLLED_BACK, error=error)

    def detector_result(self, ok: bool) -> None:
        """Told by the box after every detector call (worker thread): watch a fresh swap."""
        with self._lock:
            if self._probation <= 0:
                return
            self._probation -= 1
            self._failures = 0 if ok else self._failures + 1
            trip = self._failures >= self._settings().rollback_after_errors
            if trip:
                self._probation = 0
        if trip and self._loop is not None:
            why = f"{self._failures} detector failures in a row right after the swap"
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._auto_rollback(why)))

    async def _auto_rollback(self, why: str) -> None:
        try:
            await self._back_to_previous(why, error=why)
        except Exception as err:  # nothing to go back to: keep running, say so
            log.exception("automatic rollback failed")
            self._publish(
                state=models_pb2.MODEL_STATE_FAILED, error=f"{why}; rollback failed: {err}"
            )


def _state(value: object) -> models_pb2.ModelState:
    """A persisted state number back as the enum (RUNNING when absent or unknown)."""
    number = value if isinstance(value, int) else models_pb2.MODEL_STATE_RUNNING
    if number not in models_pb2.ModelState.values():
        number = models_pb2.MODEL_STATE_RUNNING
    return cast(models_pb2.ModelState, number)


def target_size(entry: Any) -> int:
    """Bytes of the ONNX file a signed entry records."""
    return int(entry.bytes)


def _ref(installed: Installed) -> models_pb2.ModelRef:
    return models_pb2.ModelRef(
        name=installed.name,
        version=installed.version,
        sha256=installed.sha256,
        origin=installed.origin,
    )


def _offered_keys(message: models_pb2.ModelAssignment) -> list[PublicKey]:
    return [
        PublicKey(k.key_id, bytes(k.public_key), k.name, k.endorsed_by, bytes(k.endorsement))
        for k in message.keys
    ]


__all__ = ["FLEET", "ModelUpdater"]
