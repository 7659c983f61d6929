"""Offline analysis of a video file through the very pipeline a live camera uses.

`analyze_video` runs reader -> motion gate -> shared inference worker -> tracker + rules ->
event minter on one file, reading it as fast as the pipeline goes and dropping nothing
(`realtime: false`). Iterating the returned `Analysis` yields each processed frame in
order; every minted event is handed to the caller's sinks as soon as it exists, so output
written before a failure stays written.

Edited footage (a recording spliced from several takes) has cuts where everyone jumps; a
camera never does that. `cuts` names the frames that start a new take so no track is joined
across one - the same reset a live camera gets when it reconnects.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.capture.reader import CameraHealth, ReaderState, is_valid_frame
from agent.capture.source import open_capture
from agent.config.camera import CameraSpec, SubstreamConfig
from agent.config.source import SourceKind, parse_source
from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import InferenceWorker
from agent.errors import OkoError, SourceError
from agent.events.convert import EventMinter
from agent.faces.models import FaceModelPair
from agent.pipeline.camera import CameraPipeline, FrameDetections
from agent.pipeline.detector_setup import load_face_models, model_ref
from agent.pipeline.stage import CameraStage, FrameResult
from agent.pipeline.summary import Summary
from proto.oko.v1 import events_pb2

log = logging.getLogger(__name__)

EventSink = Callable[[list[events_pb2.Event]], object]
_END = object()
_POLL_S = 0.1


@dataclass(frozen=True)
class AnalysisResult:
    """What a finished analysis produced."""

    events: tuple[events_pb2.Event, ...]
    summary: Summary
    frames: int
    camera: CameraHealth


class Analysis:
    """An analysis in progress: iterate it once for the frames, then read `result()`."""

    def __init__(
        self,
        video: str | Path,
        spec: CameraSpec,
        detector: ObjectDetector,
        *,
        cuts: Sequence[int] = (),
        sinks: Sequence[EventSink] = (),
        max_batch: int = 4,
        buffer_frames: int = 8,
        face_models: FaceModelPair | None = None,
        substream: str | Path | None = None,
    ) -> None:
        """`face_models`: the face pair to run if the camera runs faces (else loaded here).

        `substream`: a low-resolution recording of the same scene to detect on (frame for
        frame the same timeline as `video`); events stay in `video`'s pixels. Without it any
        substream in `spec` is dropped, since its live URL is not this recording.
        """
        self.video = Path(video)
        self.spec = spec.model_copy(
            update={
                "source": str(video),
                "realtime": False,
                "substream": _offline_substream(spec, substream),
            }
        )
        self.detector = detector
        self.cuts = sorted(set(cuts))
        self.sinks = tuple(sinks)
        self.max_batch = max_batch
        minter = EventMinter(self.spec.id, models=[model_ref(detector)])
        # Face models run on the same worker thread as the detector, as on a box.
        self.worker = InferenceWorker(detector.detect, max_batch=max_batch)
        pair = face_models or load_face_models([self.spec])
        faces = pair.on_worker(self.worker) if pair is not None else None
        self.stage = CameraStage(self.spec, detector.labels, minter, faces)
        self.summary = Summary(self.spec)
        self.events: list[events_pb2.Event] = []
        self._queue: queue.Queue[object] = queue.Queue(maxsize=buffer_frames)
        self._closed = threading.Event()
        self._failure: BaseException | None = None
        self._last_number = -1
        self._health: CameraHealth | None = None
        self._started = False

    # ----- camera thread ---------------------------------------------------------------
    def _on_detections(self, found: FrameDetections) -> None:
        if self._failure is not None or self._closed.is_set():
            return
        try:
            number = found.frame.index - 1
            restart = any(self._last_number < c <= number for c in self.cuts)
            self._last_number = number
            result = self.stage.process(found, restart=restart)
            self._emit(result.wire)
        except BaseException as err:  # re-raised on the consumer's thread
            self._failure = err
            return
        self._hand_over(result)

    def _hand_over(self, item: object) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def add_sink(self, sink: EventSink) -> None:
        """Also hand every event to `sink` (before iterating)."""
        if self._started:
            raise RuntimeError("add sinks before the analysis runs")
        self.sinks = (*self.sinks, sink)

    def _emit(self, wire: Sequence[events_pb2.Event]) -> None:
        if wire:
            self.events.extend(wire)
            for sink in self.sinks:
                sink(list(wire))

    # ----- consumer ----------------------------------------------------------------------
    def __iter__(self) -> Iterator[FrameResult]:
        if self._started:
            raise RuntimeError("an Analysis can be iterated only once")
        self._started = True
        worker = self.worker.start()
        pipeline = CameraPipeline(
            self.spec,
            worker,
            self._on_detections,
            tracks=self.stage.live_boxes,
            settled=self.stage.tracks_settled,
            model_input=self.detector.model.spec.input_hw[1],
        ).start()
        ender = threading.Thread(target=self._wait_end, args=(pipeline,), daemon=True)
        ender.start()
        try:
            while self._failure is None:
                try:
                    item = self._queue.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if item is _END:
                    break
                assert isinstance(item, FrameResult)
                self.summary.add_frame(item.frame.capture_time)
                self.summary.add(item.events)
                yield item
        finally:
            self._closed.set()
            pipeline.stop(5)
            worker.stop(5)
            self._health = pipeline.health().camera
        self._finish(pipeline)

    def _wait_end(self, pipeline: CameraPipeline) -> None:
        pipeline.join()
        self._hand_over(_END)

    def _finish(self, pipeline: CameraPipeline) -> None:
        """Raise what went wrong, else report pending intervals."""
        if self._failure is not None:
            raise self._failure
        health = pipeline.health()
        if health.camera.state is ReaderState.FAILED:
            raise SourceError(health.camera.last_error or f"{self.video}: cannot read video")
        if health.error is not None:
            raise OkoError(f"{self.video}: {health.error}")
        events, wire = self.stage.flush()
        self.summary.add(events)
        self._emit(wire)

    def run(self, on_frame: Callable[[FrameResult], object] | None = None) -> AnalysisResult:
        """Iterate to the end (calling `on_frame` per frame) and return the result."""
        for result in self:
            if on_frame is not None:
                on_frame(result)
        return self.result()

    def result(self) -> AnalysisResult:
        """Events, summary and final health of a finished run; `RuntimeError` before it ran."""
        if self._health is None:
            raise RuntimeError("the analysis has not run yet")
        return AnalysisResult(tuple(self.events), self.summary, self.summary.frames, self._health)


def _offline_substream(spec: CameraSpec, video: str | Path | None) -> SubstreamConfig | None:
    if video is None:
        return None
    declared = spec.substream
    return SubstreamConfig(
        source=str(video),
        main_width=declared.main_width if declared else None,
        main_height=declared.main_height if declared else None,
    )


def probe_video(video: str | Path) -> None:
    """Fail fast, before a model is loaded, if `video` is not a readable video file."""
    spec = parse_source(str(video))
    if spec.kind is not SourceKind.FILE:
        raise SourceError(f"{spec.label}: offline analysis needs a video file")
    cap = open_capture(spec, open_timeout_s=10.0, read_timeout_s=10.0)
    try:
        ok, image = cap.read()
    finally:
        cap.release()
    if not ok or not is_valid_frame(image):
        raise SourceError(f"{spec.label}: no decodable frames")


def analyze_video(
    video: str | Path,
    spec: CameraSpec,
    detector: ObjectDetector,
    *,
    cuts: Sequence[int] = (),
    sinks: Sequence[EventSink] = (),
    max_batch: int = 4,
    face_models: FaceModelPair | None = None,
    substream: str | Path | None = None,
) -> Analysis:
    """Set up the analysis of `video` with camera `spec`'s pacing, gate and rules.

    Nothing runs until the result is iterated (or `run()` is called). Raises, while
    iterating: `SourceError` if the file cannot be read, `ConfigError` if a rule names a
    class the detector lacks (at construction), `OkoError` for a sink that cannot write.
    `substream`: detect on this low-resolution recording of `video` (see `Analysis`).
    """
    probe_video(video)
    if substream is not None:
        probe_video(substream)
    return Analysis(
        video,
        spec,
        detector,
        cuts=cuts,
        sinks=sinks,
        max_batch=max_batch,
        face_models=face_models,
        substream=substream,
    )
