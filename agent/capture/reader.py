"""`CameraReader`: one thread per camera that turns a flaky source into a steady frame slot.

A reader owns its capture outright, so a dead, stalled or garbage stream costs only its own
thread: it is reported in the camera's health and retried with backoff, and no other camera
notices. Decoded frames are decimated to the detect rate before colour conversion (grab, then
retrieve only the frames kept), which is most of the decode cost a 2-core box can save.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from agent.capture.frame import Frame
from agent.capture.pacing import Backoff, Decimator, RateMeter
from agent.capture.slot import FrameSlot
from agent.capture.source import open_capture, probe_shape
from agent.config.camera import CameraConfig
from agent.config.source import SourceKind, SourceSpec, parse_source
from agent.errors import SourceError

log = logging.getLogger(__name__)

# This many undecodable frames in a row means the stream, not one frame, is broken.
MAX_CONSECUTIVE_CORRUPT = 25
# A read that blocked for this share of the stall timeout was cut short by FFmpeg's timeout.
STALL_FRACTION = 0.9
# How far a network source's pts may run ahead of the clock before it is paced: more than
# FFmpeg's connect-time probe burst (~1 s), so live cameras are never delayed.
LIVE_LEAD_S = 2.0


class ReaderState(StrEnum):
    """Where a camera reader is; shown in health reports and the box's metrics.

    A live source cycles CONNECTING -> STREAMING (-> STALLED) -> BACKOFF -> CONNECTING; a file
    ends in ENDED, a source that cannot be opened for good in FAILED, and `stop()` gives STOPPED.
    """

    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    BACKOFF = "backoff"
    FAILED = "failed"
    ENDED = "ended"
    STOPPED = "stopped"


@dataclass(frozen=True)
class CameraHealth:
    """What a camera's reader reports; `last_error` says what went wrong, credentials redacted.

    `source` is the stream read for detection: the substream's label ("substream ...") on a
    camera that has one; `main_shape` is then the main stream's (height, width), once known.
    """

    camera_id: str
    source: str
    state: ReaderState
    fps_in: float
    fps_out: float
    frames_decoded: int
    frames_delivered: int
    frames_dropped: int
    frames_corrupt: int
    reconnects: int
    last_error: str | None
    last_frame_time: float | None
    substream: bool = False
    main_shape: tuple[int, int] | None = None


class _Outcome(StrEnum):
    ENDED = "ended"
    LOST = "lost"
    STOPPED = "stopped"


class CameraReader:
    """Reads one camera on its own thread into a bounded slot of the newest frames.

    Live sources reconnect forever with jittered exponential backoff; files end (or fail, if
    unreadable) without retry. With `config.realtime` false a file is read as fast as the
    consumer takes frames and nothing is dropped; otherwise the slot keeps the newest
    `slot_capacity` frames and counts the ones it had to drop.

    A camera with a `substream` is read from the substream only (retried, reported and
    failed exactly like a main stream, its errors saying "substream"; there is no silent
    fallback to the main stream). The main stream is opened once, before the first
    connection, to learn its size, unless the config declares it.
    """

    def __init__(
        self, config: CameraConfig, slot_capacity: int = 1, backoff: Backoff | None = None
    ) -> None:
        self.config = config
        self.camera_id = config.id
        self.spec = _detect_spec(config)
        self.main_spec = parse_source(config.source)
        self._main_shape = config.substream.main_shape if config.substream else None
        self._offline = self.spec.kind is SourceKind.FILE and not config.realtime
        self.slot: FrameSlot[Frame] = FrameSlot(slot_capacity, block=self._offline)
        self._backoff = backoff or Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"reader-{config.id}", daemon=True)
        self._state = ReaderState.CONNECTING
        self._last_error: str | None = None
        self._rate_in = RateMeter()
        self._rate_out = RateMeter()
        self._last_progress = time.monotonic()
        self._last_frame_time: float | None = None
        self._index = 0
        self.frames_decoded = 0
        self.frames_delivered = 0
        self.frames_corrupt = 0
        self.reconnects = 0

    # ----- consumer side -------------------------------------------------------------
    def start(self) -> CameraReader:
        """Start the reading thread; returns self so construction and start chain."""
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to end and wait up to `timeout` (a blocked read ends by its timeout)."""
        self._stop.set()
        self.slot.close()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None on timeout or once the reader is finished and drained."""
        return self.slot.get(timeout)

    @property
    def offline(self) -> bool:
        """A file read as fast as it is consumed, losing nothing (config `realtime` false)."""
        return self._offline

    @property
    def finished(self) -> bool:
        """True once the reader has stopped producing (ended, failed or stopped)."""
        return not self._thread.is_alive() and self._thread.ident is not None

    def health(self) -> CameraHealth:
        """A snapshot; a streaming camera with no frame for `stall_timeout_s` reads "stalled"."""
        now = time.monotonic()
        with self._lock:
            state, error = self._state, self._last_error
            if (
                state is ReaderState.STREAMING
                and now - self._last_progress > self.config.stall_timeout_s
            ):
                state = ReaderState.STALLED
            return CameraHealth(
                camera_id=self.camera_id,
                source=self.spec.label,
                state=state,
                fps_in=round(self._rate_in.rate(now), 2),
                fps_out=round(self._rate_out.rate(now), 2),
                frames_decoded=self.frames_decoded,
                frames_delivered=self.frames_delivered,
                frames_dropped=self.slot.dropped,
                frames_corrupt=self.frames_corrupt,
                reconnects=self.reconnects,
                last_error=error,
                last_frame_time=self._last_frame_time,
                substream=self.config.substream is not None,
                main_shape=self._main_shape,
            )

    # ----- reader thread ---------------------------------------------------------------
    def _set_state(self, state: ReaderState, error: str | None = None) -> None:
        with self._lock:
            if state is not self._state:
                log.info("camera %s: %s -> %s", self.camera_id, self._state, state)
            self._state = state
            if error is not None:
                # A camera dead for days repeats one error each retry: warn when it changes.
                level = logging.DEBUG if error == self._last_error else logging.WARNING
                log.log(level, "camera %s: %s", self.camera_id, error)
                self._last_error = error

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as err:  # a bug here must show in health, not kill silently
            log.exception("camera %s: reader crashed", self.camera_id)
            self._set_state(ReaderState.FAILED, f"reader crashed: {err!r}")
        finally:
            if self._stop.is_set() and self._state not in (ReaderState.FAILED, ReaderState.ENDED):
                self._set_state(ReaderState.STOPPED)
            self.slot.close()

    def _loop(self) -> None:
        first = True
        while not self._stop.is_set():
            if not first:
                self.reconnects += 1
            first = False
            self._set_state(ReaderState.CONNECTING)
            try:
                self._learn_main_shape()
                cap = open_capture(
                    self.spec, self.config.open_timeout_s, self.config.stall_timeout_s
                )
            except SourceError as err:
                if not self.spec.is_live:
                    self._set_state(ReaderState.FAILED, str(err))
                    return
                self._set_state(ReaderState.BACKOFF, str(err))
                self._stop.wait(self._backoff.next_delay())
                continue
            try:
                outcome = self._stream(cap)
            finally:
                cap.release()
            if outcome is not _Outcome.LOST:
                return
            if not self.spec.is_live:
                return
            self._set_state(ReaderState.BACKOFF)
            self._stop.wait(self._backoff.next_delay())

    def _learn_main_shape(self) -> None:
        """Probe the main stream's size once, if this camera detects on a substream."""
        if self.config.substream is None or self._main_shape is not None:
            return
        try:
            shape = probe_shape(
                self.main_spec, self.config.open_timeout_s, self.config.stall_timeout_s
            )
        except SourceError as err:
            raise SourceError(
                f"main stream size unknown (set substream.main_width/height): {err}"
            ) from err
        with self._lock:
            self._main_shape = shape

    def _stream(self, cap: cv2.VideoCapture) -> _Outcome:
        """Read one connection until it ends, breaks or we are stopped."""
        self._set_state(ReaderState.STREAMING)
        decimator = Decimator(self.config.detect_fps)
        opened_wall, opened_mono = time.time(), time.monotonic()
        self._last_progress = opened_mono
        first_pts: float | None = None
        good, bad_run = 0, 0
        stall_s = self.config.stall_timeout_s
        while not self._stop.is_set():
            ok = cap.grab()
            now_mono, now_wall = time.monotonic(), time.time()
            # FFmpeg's read timeout (= stall timeout) can make grab return True with no new
            # picture, so a grab that blocked that long is a stall whatever it returned.
            blocked = now_mono - self._last_progress >= STALL_FRACTION * stall_s
            if not ok or (blocked and self.spec.is_live):
                return self._end_of_stream(good)
            self._last_progress = now_mono
            self._index += 1
            self.frames_decoded += 1
            self._rate_in.add(now_mono)
            pts = _pts_seconds(cap)
            if first_pts is None and pts is not None:
                first_pts = pts
            offset = None if pts is None or first_pts is None else pts - first_pts
            t, capture_time = self._timeline(offset, opened_wall, opened_mono, now_mono, now_wall)
            if not decimator.keep(t):
                continue
            ok, image = cap.retrieve()
            if not ok or not is_valid_frame(image):
                self.frames_corrupt += 1
                bad_run += 1
                if bad_run >= MAX_CONSECUTIVE_CORRUPT:
                    state = ReaderState.BACKOFF if self.spec.is_live else ReaderState.FAILED
                    error = f"{self.spec.label}: {bad_run} undecodable frames in a row"
                    self._set_state(state, error)
                    return _Outcome.LOST
                continue
            bad_run = 0
            good += 1
            if good == 1:
                self._backoff.reset()
            frame = Frame(self.camera_id, self._index, capture_time, pts, image, self._main_shape)
            self._deliver(frame)
        return _Outcome.STOPPED

    def _timeline(
        self,
        offset: float | None,
        opened_wall: float,
        opened_mono: float,
        now_mono: float,
        now_wall: float,
    ) -> tuple[float, float]:
        """(decimation time, capture time) of a frame; paces sources that run ahead.

        Live sources use the clock at decode. A file's own timeline is exact, so it drives
        decimation; a realtime file is held back to its native rate, an offline one is
        stamped as if recording had started when it was opened.
        """
        if offset is None:
            return now_mono, now_wall
        if self.spec.kind is not SourceKind.FILE:
            # A live camera's pts keep pace with the clock; a recording served over HTTP or
            # RTSP runs ahead of it, and is held to real time past a short connect burst.
            ahead = offset - (now_mono - opened_mono) - LIVE_LEAD_S
            if ahead > 0:
                self._stop.wait(ahead)
                self._last_progress = time.monotonic()
                return self._last_progress, time.time()
            return now_mono, now_wall
        if self.config.realtime:
            self._stop.wait(max(0.0, opened_mono + offset - time.monotonic()))
            self._last_progress = time.monotonic()
            return offset, time.time()
        return offset, opened_wall + offset

    def _deliver(self, frame: Frame) -> None:
        if self.slot.put(frame, self._stop):
            self.frames_delivered += 1
            self._last_frame_time = frame.capture_time
            now = time.monotonic()
            self._rate_out.add(now)
            # Waiting on a slow offline consumer is not a stalled camera.
            self._last_progress = now

    def _end_of_stream(self, good: int) -> _Outcome:
        if self.spec.kind is SourceKind.FILE:
            if self.frames_decoded == 0:
                self._set_state(ReaderState.FAILED, f"{self.spec.label}: no decodable frames")
            else:
                self._set_state(ReaderState.ENDED)
            return _Outcome.ENDED
        silent = time.monotonic() - self._last_progress
        if silent >= STALL_FRACTION * self.config.stall_timeout_s:
            error = f"{self.spec.label}: stalled, no frame for {silent:.1f} s"
        else:
            error = f"{self.spec.label}: stream lost after {good} frames"
        self._set_state(ReaderState.BACKOFF, error)
        return _Outcome.LOST


def _detect_spec(config: CameraConfig) -> SourceSpec:
    """What the reader opens: the substream if the camera has one (labelled so), else `source`."""
    if config.substream is None:
        return parse_source(config.source)
    spec = parse_source(config.substream.source)
    return dataclasses.replace(spec, label=f"substream {spec.label}")


def _pts_seconds(cap: cv2.VideoCapture) -> float | None:
    msec = cap.get(cv2.CAP_PROP_POS_MSEC)
    return msec / 1000.0 if msec is not None and msec >= 0 and np.isfinite(msec) else None


def is_valid_frame(image: np.ndarray | None) -> bool:
    """A decoded picture later stages can use: non-empty BGR uint8 of shape (h, w, 3)."""
    return (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
        and image.size > 0
    )
