"""`CameraStage`: everything after detection for one camera - track, rules, wire events.

It runs on the camera's own thread (the `on_detections` callback of `CameraPipeline`), so
the tracker the motion gate asks for live boxes is never touched by two threads, and one
slow camera delays only itself. The face analytic's models are the exception: they are the
box's one pair and run on its inference worker, the stage waiting for its turn there
(`agent.faces.models`). It never writes anywhere: the caller decides whether wire
events go to the spool, a JSON Lines file or both, which keeps the pipeline one-way.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from agent.analytics.camera import CameraAnalytics
from agent.analytics.faces import FaceAnalyzer
from agent.capture.frame import Frame
from agent.config.camera import CameraSpec
from agent.detections import Detections
from agent.events.convert import EventMinter
from agent.events.types import AnalyticsEvent
from agent.faces.models import FaceModelSource
from agent.faces.shots import FaceShotStore
from agent.motion.gate import STILL, TRACKED, GatePlan
from agent.pipeline.camera import FrameDetections
from proto.oko.v1 import events_pb2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameResult:
    """One processed frame of one camera.

    Attributes:
        frame: the decoded frame (image and capture time).
        plan: what the motion gate had the detector look at.
        detections: the detector's output in frame pixels (all classes, all scores kept).
        tracks: confirmed tracks only - what the rules saw.
        events: analytics results of this frame.
        wire: the same events as minted `oko.v1.Event`s (ids, sequence numbers).
        error: the detector's error for this frame, if it failed (then nothing was found).
    """

    frame: Frame
    plan: GatePlan
    detections: Detections
    tracks: Detections
    events: tuple[AnalyticsEvent, ...]
    wire: tuple[events_pb2.Event, ...]
    error: str | None = None

    @property
    def number(self) -> int:
        """0-based frame number in the source (as OpenCV and the hand labels count)."""
        return self.frame.index - 1


@dataclass
class StageStats:
    """Running totals of one camera's stage, read by metrics and health."""

    frames: int = 0
    detector_errors: int = 0
    restarts: int = 0
    events: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # tracking + rules + minting, summed


class CameraStage:
    """Tracker + rules + event minter of one camera."""

    def __init__(
        self,
        spec: CameraSpec,
        labels: Sequence[str],
        minter: EventMinter,
        face_models: FaceModelSource | None = None,
    ) -> None:
        """`face_models`: the box's face model pair, needed if the camera runs faces.

        Raises `ConfigError` if a rule names a class the detector does not have.
        """
        self.spec = spec
        self.camera_id = spec.id
        faces = spec.faces if spec.faces is not None and spec.faces.enabled else None
        analyzer = None
        if faces is not None:
            if face_models is None:
                raise ValueError(f"camera {spec.id} runs faces but was given no face models")
            analyzer = FaceAnalyzer(faces, face_models.for_camera(spec.id), labels)
        self.analytics = CameraAnalytics(spec, labels, faces=analyzer)
        # Face images stay on the box: the one write this stage does, and only if asked.
        self.shots = (
            FaceShotStore(faces.best_shot_dir, retention_s=faces.shot_retention_hours * 3600)
            if faces is not None and faces.best_shot_dir
            else None
        )
        self.minter = minter
        self._reads_pixels = analyzer is not None or spec.abandoned is not None
        self.stats = StageStats()
        self._last_time: float | None = None

    def live_boxes(self) -> npt.NDArray[np.float32]:
        """Boxes of every live track, for the motion gate (same thread as `process`)."""
        return self.analytics.tracker.live_boxes()

    def tracks_settled(self) -> bool:
        """Whether the tracker's last output is all it holds (`ByteTrack.settled`), for the gate."""
        return self.analytics.tracker.settled

    def restart(self) -> None:
        """A new recording or a reconnected camera: no track continues across it.

        Rules keep their totals; they key per-track state by id and ids are never reused.
        """
        self.analytics.tracker.reset()
        self._last_time = None
        self.stats.restarts += 1

    def process(self, found: FrameDetections, *, restart: bool = False) -> FrameResult:
        """Track and run the rules on one frame's detections; mint its events."""
        started = time.perf_counter()
        now = found.frame.capture_time
        if restart:
            self.restart()
        elif self._last_time is not None and now < self._last_time:
            # Wall clocks step back (NTP): the tracker must not see time reverse.
            log.warning(
                "camera %s: capture time went back %.3f s; tracks restart",
                self.camera_id,
                self._last_time - now,
            )
            self.restart()
        self._last_time = now
        if found.error is not None:
            self.stats.detector_errors += 1
        if found.model is not None and self.minter.models[:1] != (found.model,):
            # The box swapped its detector: this frame's events carry the model that made
            # its detections (the worker tags every result with the detector that ran).
            self.minter.models = (found.model, *self.minter.models[1:])
        hold = found.plan.reason == STILL
        # Skipped because live tracks explain the motion: their predictions stand in.
        predict = found.plan.reason == TRACKED
        # Nothing moved: the gate measured motion (it is on) and found none.
        still = not len(found.plan.motion) and found.plan.reason != "disabled"
        # Rules that read pixels do so under main-stream boxes (a substream is upscaled).
        pixels = found.frame.event_image() if self._reads_pixels else found.frame.image
        out = self.analytics.update(
            found.detections,
            now,
            pixels,
            hold=hold,
            predict=predict,
            motion=not still,
            bounds=found.frame.event_shape,
        )
        wire = self.minter.mint_all(out.events)
        if self.shots is not None:
            self.shots.save(out.events, wire)
        self.stats.frames += 1
        self.stats.events.update(e.kind.value for e in out.events)
        self.stats.seconds += time.perf_counter() - started
        return FrameResult(
            found.frame,
            found.plan,
            found.detections,
            out.tracks,
            tuple(out.events),
            tuple(wire),
            found.error,
        )

    def flush(self) -> tuple[list[AnalyticsEvent], list[events_pb2.Event]]:
        """Report what is still pending (partial traffic intervals) when the camera stops."""
        if self._last_time is None:
            return [], []
        events = self.analytics.flush(self._last_time)
        self.stats.events.update(e.kind.value for e in events)
        wire = self.minter.mint_all(events)
        if self.shots is not None:
            self.shots.save(events, wire)
        return events, wire
