"""Tracker settings for one camera (ByteTrack-class association).

Kept apart from the analytics rules because a tracker is tuned to the detector and frame
rate, while rules are drawn by an operator on the camera's picture.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from agent.config.base import Section


class TrackerConfig(Section):
    """ByteTrack thresholds. Scores are the detector's confidences in [0, 1]."""

    high_threshold: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        description="Detections at or above this score take part in the first association "
        "stage and may start tracks.",
    )
    low_threshold: float = Field(
        default=0.15,
        ge=0.0,
        le=1.0,
        description="Detections between this and high_threshold only extend existing tracks "
        "(second stage); below it they are ignored. The detector must be run "
        "with a score threshold at or below this for the second stage to work.",
    )
    new_track_threshold: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="An unmatched detection needs at least this score to start a new track.",
    )
    match_iou: float = Field(
        default=0.2,
        gt=0.0,
        le=1.0,
        description="Minimum IoU between a predicted track box and a high-score detection.",
    )
    match_buffer: float = Field(
        default=0.3,
        ge=0.0,
        le=2.0,
        description="High-score stages compare boxes enlarged by this fraction of their size "
        "on each side (buffered IoU), so fast objects at a low frame rate still "
        "overlap their next detection. 0 is plain IoU.",
    )
    low_match_iou: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Minimum IoU for the second stage (low-score detections), stricter "
        "because low scores are often background.",
    )
    unconfirmed_match_iou: float = Field(
        default=0.3, gt=0.0, le=1.0, description="Minimum IoU to extend a not-yet-confirmed track."
    )
    min_hits: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Consecutive matched frames before a track is confirmed and gets an id; "
        "unconfirmed tracks are never reported.",
    )
    track_buffer_seconds: float = Field(
        default=3.0,
        ge=0.0,
        le=600.0,
        description="How long a confirmed track that is no longer detected is kept, so it can "
        "resume with the same id after an occlusion.",
    )
    per_class: bool = Field(
        default=True, description="Associate only detections of the track's own class."
    )
    fuse_score: bool = Field(
        default=True, description="Weight IoU by detection score when choosing first-stage matches."
    )

    @model_validator(mode="after")
    def _ordered(self) -> TrackerConfig:
        if self.low_threshold > self.high_threshold:
            raise ValueError(
                f"low_threshold ({self.low_threshold}) must not exceed high_threshold "
                f"({self.high_threshold})"
            )
        return self
