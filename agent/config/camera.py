"""Config sections for one camera, and `CameraSpec`, the whole camera entry.

The sections are its source (and optional detect substream), capture pacing, reconnects and
motion gate; `CameraSpec` adds the analytics rules.

Defaults suit a street camera on a 2-core box: 5 detections a second, retries that back off
to half a minute so a dead camera costs nothing, and a full-frame pass every few seconds so
objects that stopped moving are still seen.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from agent.config.analytics import CameraAnalyticsConfig
from agent.config.base import ID_PATTERN, Section, parse_document, read_yaml
from agent.config.source import parse_source
from agent.errors import SourceError


class MotionConfig(Section):
    """Frame differencing that decides where the detector looks."""

    enabled: bool = Field(
        default=True,
        description="Gate detection on motion; false runs the detector on every full frame.",
    )
    threshold: int = Field(
        default=25,
        ge=1,
        le=255,
        description="Grey-level difference from the background that counts as motion.",
    )
    min_area: int = Field(
        default=300,
        ge=1,
        le=10_000_000,
        description="Smallest motion region kept, in main-stream pixels (area of its box).",
    )
    downscale_width: int = Field(
        default=320, ge=64, le=1920, description="Width the frame is shrunk to before differencing."
    )
    background_alpha: float = Field(
        default=0.1,
        gt=0.0,
        le=1.0,
        description="Learning rate of the running background (per detect frame).",
    )
    dilate_px: int = Field(
        default=3,
        ge=0,
        le=50,
        description="Dilation radius at the downscaled size that joins blobs.",
    )
    full_frame_interval_s: float = Field(
        default=3.0,
        ge=0.1,
        le=3600.0,
        description="Seconds between full-frame detector passes, motion or not.",
    )
    max_crops: int = Field(
        default=4,
        ge=1,
        le=32,
        description="More crops than this in one frame becomes one full-frame pass instead.",
    )
    skip_tracked_frames: int = Field(
        default=1,
        ge=0,
        le=10,
        description="Frames in a row the detector may skip while every live track is "
        "confirmed, was matched in the last pass and together they explain the motion; "
        "on a skipped frame the tracks stand at their predicted boxes (lines and zones "
        "count on detected positions only). 0 detects every frame with motion.",
    )
    still_refresh_s: float = Field(
        default=1.0,
        ge=0.0,
        le=2.5,
        description="With no motion anywhere and every live track confirmed in the last "
        "detector pass (parked cars, a still scene), the detector is skipped and those "
        "tracks stand as they were for up to this many seconds; then one pass refreshes "
        "them. Below the tracker's 3 s buffer so no track is lost meanwhile; 0 detects "
        "the tracks' windows on every frame.",
    )
    track_margin: float = Field(
        default=0.2,
        ge=0.0,
        le=2.0,
        description="Live track boxes are grown by this fraction of their size on each side.",
    )


# Bounds of a declared main-stream size: any sensor a box could be given, and no more.
MIN_SIDE_PX = 16
MAX_SIDE_PX = 16_384


def _parsable_source(value: str) -> str:
    """`value` if it parses as a camera source (main stream or substream), else ValueError."""
    try:
        parse_source(value)
    except SourceError as err:
        raise ValueError(str(err)) from None
    return value


class SubstreamConfig(Section):
    """A camera's low-resolution second profile, read for detection instead of `source`.

    The detector and the motion gate work on this stream's frames; detections are
    scaled up to main-stream pixels as they leave the detector, so lines, zones and every
    event stay in the main stream's coordinates. The main stream is never decoded: its size
    is `main_width` x `main_height` if given, else probed once when the camera starts.
    """

    source: str = Field(
        min_length=1,
        max_length=2048,
        description="The substream: rtsp://, rtsps://, http(s)://, file://, a file path, or "
        "usb:N (e.g. a camera's 352x288 or 384x288 second RTSP profile).",
    )
    main_width: int | None = Field(
        default=None,
        ge=MIN_SIDE_PX,
        le=MAX_SIDE_PX,
        description="Width of the main stream in pixels; with main_height, skips the probe "
        "of the main stream at start. Coordinates in rules and events are in these pixels.",
    )
    main_height: int | None = Field(
        default=None,
        ge=MIN_SIDE_PX,
        le=MAX_SIDE_PX,
        description="Height of the main stream in pixels (give both or neither).",
    )

    @field_validator("source")
    @classmethod
    def _source_parses(cls, value: str) -> str:
        return _parsable_source(value)

    @model_validator(mode="after")
    def _size_whole(self) -> SubstreamConfig:
        if (self.main_width is None) != (self.main_height is None):
            raise ValueError("main_width and main_height: give both or neither")
        return self

    @property
    def main_shape(self) -> tuple[int, int] | None:
        """(height, width) of the main stream if declared, else None (probe it)."""
        if self.main_width is None or self.main_height is None:
            return None
        return self.main_height, self.main_width


class CameraConfig(Section):
    """One camera of the box."""

    id: str = Field(
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="Stable camera id; appears in every event and health report.",
    )
    source: str = Field(
        min_length=1,
        max_length=2048,
        description="rtsp://, rtsps://, http(s)://, file://, a file path, or usb:N.",
    )
    substream: SubstreamConfig | None = Field(
        default=None,
        description="Optional low-resolution stream the detector reads instead of `source`; "
        "events keep main-stream coordinates (docs/pipeline.md, Detect substream).",
    )
    enabled: bool = Field(default=True, description="Disabled cameras are configured but not read.")
    detect_fps: float = Field(
        default=5.0, gt=0.0, le=60.0, description="Frames per second handed to detection."
    )
    realtime: bool = Field(
        default=True,
        description="Play files at their native rate like a camera; false reads files as fast "
        "as the pipeline consumes them, dropping nothing, for offline analysis.",
    )
    reconnect_min_s: float = Field(
        default=0.5,
        ge=0.01,
        le=600.0,
        description="First reconnect delay after a failure, seconds.",
    )
    reconnect_max_s: float = Field(
        default=30.0, ge=0.01, le=3600.0, description="Ceiling of the exponential reconnect delay."
    )
    open_timeout_s: float = Field(
        default=10.0,
        ge=0.1,
        le=300.0,
        description="Give up opening a stream after this many seconds.",
    )
    stall_timeout_s: float = Field(
        default=10.0,
        ge=0.1,
        le=300.0,
        description="A stream with no frame for this long is stalled and reconnected.",
    )
    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion gate.")

    @field_validator("source")
    @classmethod
    def _source_parses(cls, value: str) -> str:
        return _parsable_source(value)

    @model_validator(mode="after")
    def _substream_differs(self) -> CameraConfig:
        if self.substream is not None and self.substream.source.strip() == self.source.strip():
            raise ValueError(
                "substream.source: is the main source itself; leave substream out to "
                "detect on the main stream"
            )
        return self

    @model_validator(mode="after")
    def _backoff_ordered(self) -> CameraConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError(
                f"reconnect_min_s ({self.reconnect_min_s}) must not exceed "
                f"reconnect_max_s ({self.reconnect_max_s})"
            )
        return self


class CameraSpec(CameraAnalyticsConfig, CameraConfig):
    """One camera: its source, capture pacing and motion gate, tracker and analytics rules.

    A camera entry is flat: capture keys (`CameraConfig`: id, source, detect_fps, motion,
    ...) and analytics keys (`CameraAnalyticsConfig`: tracker, lines, zones, traffic,
    abandoned) side by side, so the file `oko-agent analyze --config` reads can be pasted as
    one item of agent.yaml's `cameras:` list unchanged (in that file `source` may be left
    out: the video is the source).
    """

    @model_validator(mode="after")
    def _faces_need_main(self) -> CameraSpec:
        if self.substream is not None and self.faces is not None and self.faces.enabled:
            raise ValueError(
                "faces: face crops need main-stream pixels, which a camera with a substream "
                "does not decode; run faces on a camera without `substream`"
            )
        return self


def load_camera_spec(
    path: str | Path, source: str | None = None, realtime: bool | None = None
) -> CameraSpec:
    """Read one camera's document; `source`/`realtime`, if given, replace what it says.

    Offline analysis passes the video as `source` and `realtime=False` so the file is read
    as fast as the pipeline goes, losing no frame.
    """
    data = read_yaml(path)
    if source is not None:
        data["source"] = source
    if realtime is not None:
        data["realtime"] = realtime
    return parse_document(CameraSpec, data, str(path))
