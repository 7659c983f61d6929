"""`FaceAnalyzer`: one best face shot per person track, embedded, reported once.

Per frame, for confirmed person tracks only (an unconfirmed track may be noise, and a face
event is the most sensitive thing the box sends):

1. budget: at most ``max_faces_per_frame`` head crops, tracks without a shot yet first,
   then larger (closer) persons; heads too small to hold a ``min_face_px`` face are never
   cropped, so distant CCTV walkers cost nothing;
2. one batched face-detector call over the head crops; per crop the best face whose centre
   lies inside the person's box, above ``score_threshold`` and ``min_face_px``;
3. quality (`agent.faces.quality`): size, sharpness of the aligned crop, pose, score;
4. only faces above ``min_quality`` and better than the track's current best are aligned
   at the embedder's size and embedded (one batched call): embedding is the expensive step;
5. a track reports its best shot when it ends (unseen for ``track_lost_seconds``), on
   `flush`, or at once when quality reaches ``emit_quality`` - and then never again.

The event's capture time, person box and face box are those of the frame the best shot
came from. The aligned 112x112 shot travels in the event (`FaceShot.shot`) for the box's
own storage (`agent.faces.shots.FaceShotStore`); the wire conversion never reads it, so the
image never leaves the box. Nothing here does I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.config.analytics import FaceConfig
from agent.detections import Detections
from agent.events.types import (
    AnalyticsEvent,
    Box,
    FaceReason,
    FaceShot,
    QualityParts,
)
from agent.faces.align import AlignmentError, align_face
from agent.faces.embedding import encode_float16, encode_int8
from agent.faces.models import FaceModels
from agent.faces.quality import MAX_FACE_SHARE, face_quality, head_regions, head_side, sharpness

log = logging.getLogger(__name__)

RULE_ID = "faces"
PERSON = "person"
SHOT_SIZE = 112
_ENCODERS = {"float16": encode_float16, "int8": encode_int8}


@dataclass(frozen=True)
class _Shot:
    time: float
    quality: float
    parts: QualityParts
    score: float
    face_box: Box
    person_box: Box
    person_score: float
    embedding: np.ndarray
    crop: np.ndarray


@dataclass
class _TrackState:
    last_seen: float
    best: _Shot | None = None
    done: bool = False


@dataclass(frozen=True)
class _Faces:
    """The chosen face of each examined track (parallel arrays, source pixels)."""

    rows: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray


def _box(values: np.ndarray) -> Box:
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


class FaceAnalyzer:
    """Best-shot face events for person tracks. One per camera; not thread-safe."""

    def __init__(
        self, config: FaceConfig, models: FaceModels, labels: Sequence[str] = (PERSON,)
    ) -> None:
        """Set up the analytic over `models`, which it does not own.

        `models`: the face detector + embedder pair (`agent.faces.models`), shared by the
        box's cameras; the analytic only decides what to crop, keep and report.
        """
        self.config = config
        self.models = models
        self._person = np.array([i for i, name in enumerate(labels) if name == PERSON], np.int64)
        self._embedder_id = models.embedder_id
        self._encode = _ENCODERS[config.encoding]
        self._tracks: dict[int, _TrackState] = {}
        self.crops_examined = 0
        self.faces_embedded = 0

    def update(
        self, frame: np.ndarray, tracks: Detections, timestamp: float
    ) -> list[AnalyticsEvent]:
        """`FaceShot` events caused by this frame: early best shots and tracks that ended."""
        _check_frame(frame)
        if not self.config.enabled:
            return []
        rows = np.flatnonzero((tracks.tracker_id >= 0) & np.isin(tracks.class_id, self._person))
        for tid in tracks.tracker_id[rows].tolist():
            state = self._tracks.setdefault(tid, _TrackState(timestamp))
            state.last_seen = timestamp
        events = self._examine(
            frame, tracks, self._select(tracks, rows, frame.shape[:2]), timestamp
        )
        return events + self._ended(timestamp)

    def flush(self, timestamp: float) -> list[AnalyticsEvent]:
        """Report every pending best shot (e.g. the camera stops) and forget all tracks."""
        events = [
            self._event(tid, s.best, "flush")
            for tid, s in self._tracks.items()
            if s.best is not None and not s.done
        ]
        self._tracks.clear()
        return events

    # ----- per frame ---------------------------------------------------------------------
    def _select(
        self, tracks: Detections, rows: np.ndarray, frame_hw: tuple[int, ...]
    ) -> np.ndarray:
        """Rows to examine this frame: big enough heads, within budget, neediest first."""
        big = head_side(tracks.xyxy[rows]) * MAX_FACE_SHARE >= self.config.min_face_px
        rows = rows[big]
        pending = np.array(
            [not self._tracks[t].done for t in tracks.tracker_id[rows].tolist()], bool
        )
        rows = rows[pending] if rows.size else rows
        if rows.size == 0:
            return rows
        has_shot = np.array(
            [self._tracks[t].best is not None for t in tracks.tracker_id[rows].tolist()]
        )
        order = np.lexsort((-tracks.area[rows], has_shot))
        return rows[order[: self.config.max_faces_per_frame]]

    def _examine(
        self, frame: np.ndarray, tracks: Detections, rows: np.ndarray, timestamp: float
    ) -> list[AnalyticsEvent]:
        if rows.size == 0:
            return []
        regions = head_regions(tracks.xyxy[rows], (frame.shape[0], frame.shape[1]))
        usable = ((regions[:, 2] - regions[:, 0]) >= self.config.min_face_px) & (
            (regions[:, 3] - regions[:, 1]) >= self.config.min_face_px
        )
        rows, regions = rows[usable], regions[usable]
        crops = [frame[y1:y2, x1:x2] for x1, y1, x2, y2 in regions.tolist()]
        self.crops_examined += len(crops)
        found = self._choose(self.models.detect(crops), rows, regions, tracks)
        return self._keep_best(frame, tracks, found, timestamp)

    def _choose(
        self, per_crop: list[Detections], rows: np.ndarray, regions: np.ndarray, tracks: Detections
    ) -> _Faces:
        """Per crop the best-scoring face that passes the gates and belongs to the person."""
        picked: list[tuple[int, np.ndarray, np.ndarray, float]] = []
        for row, region, faces in zip(rows.tolist(), regions, per_crop, strict=True):
            if not len(faces) or faces.keypoints is None:
                continue
            offset = np.tile(region[:2], 2).astype(np.float32)
            boxes = faces.xyxy + offset
            cx = (boxes[:, 0] + boxes[:, 2]) / 2
            px1, _, px2, _ = tracks.xyxy[row]
            ok = (
                (faces.confidence >= self.config.score_threshold)
                & (boxes[:, 2] - boxes[:, 0] >= self.config.min_face_px)
                & (cx >= px1)
                & (cx <= px2)
            )
            if ok.any():
                k = int(np.flatnonzero(ok)[np.argmax(faces.confidence[ok])])
                picked.append(
                    (row, boxes[k], faces.keypoints[k] + region[:2], float(faces.confidence[k]))
                )
        if not picked:
            return _Faces(
                np.empty(0, np.int64),
                np.empty((0, 4), np.float32),
                np.empty((0, 6, 2), np.float32),
                np.empty(0, np.float32),
            )
        return _Faces(
            np.array([p[0] for p in picked]),
            np.stack([p[1] for p in picked]),
            np.stack([p[2] for p in picked]).astype(np.float32),
            np.array([p[3] for p in picked], np.float32),
        )

    def _keep_best(
        self, frame: np.ndarray, tracks: Detections, found: _Faces, timestamp: float
    ) -> list[AnalyticsEvent]:
        shots, keep = [], []
        for k in range(len(found.rows)):
            try:
                shots.append(align_face(frame, found.keypoints[k], SHOT_SIZE))
                keep.append(k)
            except AlignmentError as err:
                log.debug("face of track %s not aligned: %s", tracks.tracker_id[found.rows[k]], err)
        if not keep:
            return []
        idx = np.array(keep)
        parts = face_quality(
            found.boxes[idx], found.keypoints[idx], found.scores[idx], sharpness(np.stack(shots))
        )
        quality = parts.quality
        better = [
            i
            for i, k in enumerate(keep)
            if self._improves(int(tracks.tracker_id[found.rows[k]]), float(quality[i]))
        ]
        if not better:
            return []
        big = np.stack(
            [
                align_face(
                    frame,
                    found.keypoints[keep[i]],
                    self.models.embed_size,
                    self.models.embed_alignment,
                )
                for i in better
            ]
        )
        vectors = self.models.embed(big)
        self.faces_embedded += len(better)
        events = []
        for vector, i in zip(vectors, better, strict=True):
            k = keep[i]
            row = int(found.rows[k])
            tid = int(tracks.tracker_id[row])
            crop = shots[i]
            crop.setflags(write=False)
            shot = _Shot(
                timestamp,
                float(quality[i]),
                QualityParts(
                    float(parts.size[i]),
                    float(parts.sharpness[i]),
                    float(parts.pose[i]),
                    float(parts.score[i]),
                ),
                float(found.scores[k]),
                _box(found.boxes[k]),
                _box(tracks.xyxy[row]),
                float(tracks.confidence[row]),
                vector,
                crop,
            )
            state = self._tracks[tid]
            state.best = shot
            if shot.quality >= self.config.emit_quality:
                state.done = True
                events.append(self._event(tid, shot, "quality"))
        return events

    def _improves(self, tid: int, quality: float) -> bool:
        best = self._tracks[tid].best
        return quality >= self.config.min_quality and (best is None or quality > best.quality)

    def _ended(self, timestamp: float) -> list[AnalyticsEvent]:
        lost = [
            t
            for t, s in self._tracks.items()
            if timestamp - s.last_seen >= self.config.track_lost_seconds
        ]
        events = []
        for tid in lost:
            state = self._tracks.pop(tid)
            if state.best is not None and not state.done:
                events.append(self._event(tid, state.best, "track_lost"))
        return events

    def _event(self, tid: int, shot: _Shot, reason: FaceReason) -> AnalyticsEvent:
        detail = FaceShot(
            embedding=self._encode(shot.embedding[None]),
            encoding=self.config.encoding,
            dimensions=int(shot.embedding.shape[0]),
            embedder=self._embedder_id,
            quality=shot.quality,
            quality_parts=shot.parts,
            detector_score=shot.score,
            face_box=shot.face_box,
            shot=shot.crop,
            reason=reason,
        )
        return AnalyticsEvent(
            detail, RULE_ID, shot.time, tid, PERSON, shot.person_box, shot.person_score
        )


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", type(frame).__name__)
        raise ValueError(f"faces: frame must be a BGR image of shape (h, w, 3), got {shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"faces: frame must be uint8, got {frame.dtype}")
