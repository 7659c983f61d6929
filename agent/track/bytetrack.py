"""ByteTrack-class multi-object tracker: Kalman prediction + two-stage IoU association.

Why two stages: occluded objects get low detector scores. Matching high-score detections
first and only then offering low-score ones to the tracks still unmatched keeps tracks
alive through partial occlusion without letting low-score background start new tracks.

Why tracks must be confirmed: a single spurious detection would otherwise become a "track"
that crosses a line or enters a zone. Only tracks matched ``min_hits`` consecutive times get
a public id and are ever returned; the ids count up from 1 per camera and are only spent on
confirmed tracks, so an id jump means a real new object, not detector noise.

Track state lives in parallel numpy arrays (struct of arrays) so prediction, IoU and the
Kalman update run once per frame for all tracks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from agent.config.tracking import TrackerConfig
from agent.detections import NO_TRACK, Detections, box_iou
from agent.track.kalman import KalmanBoxFilter, cxcywh_to_xyxy

log = logging.getLogger(__name__)

IntArr = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]


@dataclass
class _Tracks:
    """Struct of arrays, one row per live track (confirmed or not)."""

    mean: F64 = field(default_factory=lambda: np.zeros((0, 8)))
    cov: F64 = field(default_factory=lambda: np.zeros((0, 8, 8)))
    class_id: IntArr = field(default_factory=lambda: np.zeros(0, np.int64))
    public_id: IntArr = field(default_factory=lambda: np.zeros(0, np.int64))
    hits: IntArr = field(default_factory=lambda: np.zeros(0, np.int64))
    last_seen: F64 = field(default_factory=lambda: np.zeros(0))
    active: BoolArr = field(default_factory=lambda: np.zeros(0, bool))  # matched last update
    birth: F64 = field(default_factory=lambda: np.zeros((0, 4)))  # first detected box
    score: F64 = field(default_factory=lambda: np.zeros(0))  # confidence of the last match

    def __len__(self) -> int:
        return int(self.class_id.shape[0])

    @property
    def confirmed(self) -> BoolArr:
        confirmed: BoolArr = self.public_id != NO_TRACK
        return confirmed

    def boxes(self) -> F64:
        return cxcywh_to_xyxy(self.mean[:, :4])

    def keep(self, mask: BoolArr) -> _Tracks:
        return _Tracks(*(a[mask] for a in self._fields()))

    def append(self, other: _Tracks) -> _Tracks:
        return _Tracks(
            *(np.concatenate([a, b]) for a, b in zip(self._fields(), other._fields(), strict=True))
        )

    def _fields(self) -> tuple[np.ndarray, ...]:
        return (
            self.mean,
            self.cov,
            self.class_id,
            self.public_id,
            self.hits,
            self.last_seen,
            self.active,
            self.birth,
            self.score,
        )


def _expand(xyxy: npt.ArrayLike, buffer: float) -> F64:
    """Grow boxes by `buffer` x their size on every side (buffered IoU).

    At the agent's 5 fps a brisk walker or a car moves a large part of its own size between
    frames; a new track has no velocity yet to predict that, so plain IoU with the next
    detection can be near zero. Comparing enlarged boxes keeps such pairs matchable while
    the optimal assignment still prefers the closest.
    """
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    if buffer <= 0:
        return b
    pad = (b[:, 2:] - b[:, :2]) * buffer
    return np.concatenate([b[:, :2] - pad, b[:, 2:] + pad], axis=1)


def _assign(sim: F64, iou: F64, min_iou: float) -> tuple[IntArr, IntArr]:
    """Optimal one-to-one matching maximising `sim`, keeping pairs with IoU >= min_iou."""
    if sim.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty
    gated = np.where(iou >= min_iou, sim, 0.0)
    rows, cols = linear_sum_assignment(gated, maximize=True)
    ok = iou[rows, cols] >= min_iou
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)


# Labels the detector confuses on one and the same object: with `per_class`, a track may
# take detections of any label of its family. Measured on the traffic clips
# (docs/traffic.md): NanoDet labels one van "truck", then "bus", then "truck" again frame by
# frame, and strict per-label association split every such vehicle into several tracks.
CLASS_FAMILIES = (("car", "truck", "bus"),)
DUPLICATE_IOU = 0.7  # boxes of one family overlapping this much are one object


def class_families(labels: Sequence[str]) -> IntArr:
    """Family id per class id: its own id, or the first member's id for CLASS_FAMILIES."""
    family = np.arange(len(labels), dtype=np.int64)
    index = {name: i for i, name in enumerate(labels)}
    for names in CLASS_FAMILIES:
        ids = [index[n] for n in names if n in index]
        family[ids] = min(ids, default=0)
    return family


class ByteTrack:
    """Tracker for one camera. Call `update` once per processed frame, in time order."""

    def __init__(
        self,
        config: TrackerConfig | None = None,
        kalman: KalmanBoxFilter | None = None,
        labels: Sequence[str] = (),
    ) -> None:
        """Track with `config` and `kalman` (defaults when None).

        `labels`: the detector's labels, so `per_class` can treat CLASS_FAMILIES as one
        class; without them every class id is its own.
        """
        self.config = config or TrackerConfig()
        self.kalman = kalman or KalmanBoxFilter()
        self._family = class_families(labels)
        self._tracks = _Tracks()
        self._time: float | None = None
        self._next_id = 1

    def reset(self) -> None:
        """Forget all tracks, e.g. after the camera reconnected to a different view."""
        self._tracks = _Tracks()
        self._time = None

    @property
    def confirmed_count(self) -> int:
        """Confirmed tracks currently held, including ones lost within the buffer."""
        return int(self._tracks.confirmed.sum())

    @property
    def settled(self) -> bool:
        """Every live track is confirmed and was matched by the last update.

        Then the last update's output is the whole of what the tracker holds, and can stand
        for a frame the detector skipped because nothing moved (`MotionGate` "still").
        """
        tr = self._tracks
        return bool(tr.confirmed.all() and tr.active.all())

    def live_boxes(self) -> npt.NDArray[np.float32]:
        """Filtered boxes (n, 4) of every live track, tentative and lost ones included.

        For the motion gate: where to keep looking although nothing moves there (a stopped
        car, a person standing still, a new object not yet confirmed).
        """
        return self._tracks.boxes().astype(np.float32)

    def birth_boxes(self, track_ids: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """First detected box of each given confirmed track (NaN rows for unknown ids).

        A track is confirmed only after ``min_hits`` frames, by which time a walker may
        already be across a line; rules use where it was born to judge what it did while it
        was still tentative, and count it once it is confirmed.
        """
        ids = np.asarray(track_ids, np.int64).reshape(-1)
        out = np.full((ids.size, 4), np.nan, np.float32)
        tr = self._tracks
        order = np.argsort(tr.public_id)
        pos = np.searchsorted(tr.public_id[order], ids)
        pos = np.clip(pos, 0, max(len(tr) - 1, 0))
        if len(tr):
            rows = order[pos]
            found = (tr.public_id[rows] == ids) & (ids != NO_TRACK)
            out[found] = tr.birth[rows[found]]
        return out

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """Associate this frame's detections; return only rows of confirmed tracks.

        The returned rows are copies of input rows (same boxes, scores, classes, keypoints)
        with ``tracker_id`` set; the input is not modified. Timestamps are seconds and must
        not go backwards.
        """
        bad = ~(np.isfinite(detections.xyxy).all(axis=1) & np.isfinite(detections.confidence))
        if bad.any():
            # Checked before any state changes: one NaN would poison every Kalman state.
            raise ValueError(
                f"non-finite input at t={timestamp}: detection rows {np.flatnonzero(bad).tolist()}"
            )
        self._advance(timestamp)
        det_track = self._associate(detections)
        self._retire(timestamp, det_track)
        self._spawn(detections, det_track, timestamp)

        rows = np.flatnonzero(det_track >= 0)
        ids = self._tracks.public_id[det_track[rows]] if rows.size else np.zeros(0, np.int64)
        keep = ids != NO_TRACK
        rows, ids = rows[keep], ids[keep]
        out = detections[rows]
        return Detections(out.xyxy, out.confidence, out.class_id, ids, out.keypoints)

    def coast(self, timestamp: float, bounds: tuple[int, int] | None = None) -> Detections:
        """Advance to a frame the detector skipped; return the tracks it would have reported.

        For the motion gate's "tracked" frames (skipped because live tracks explain all
        the motion): every track moves on to its Kalman prediction at `timestamp`, and the
        confirmed tracks matched by the last update (the ones `update` reported) come back
        at their predicted boxes, with their ids, classes and last matched confidence.
        A skipped frame is no evidence that anything left, so unlike `update` with no
        detections nothing counts as missed: hits, the "matched last update" flags, the
        time each track was last seen and tentative tracks all stay, and lost tracks stay
        lost (not reported). The result has no keypoints.

        `bounds` (height, width): the frame; predicted boxes are clipped to it as detected
        ones are, and a track predicted wholly out of the picture is not reported (it is
        kept: the next pass decides whether it left).
        """
        self._advance(timestamp)
        tr = self._tracks
        boxes = tr.boxes()
        if bounds is not None:
            h, w = bounds
            boxes = np.clip(boxes, 0.0, [w, h, w, h])
        inside = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        rows = np.flatnonzero(tr.confirmed & tr.active & inside)
        return Detections(
            boxes[rows].astype(np.float32),
            tr.score[rows].astype(np.float32),
            tr.class_id[rows].copy(),
            tr.public_id[rows].copy(),
        )

    def _advance(self, timestamp: float) -> None:
        """Check `timestamp` and move every track's Kalman state on to it."""
        if not np.isfinite(timestamp):
            raise ValueError(f"non-finite timestamp {timestamp}")
        if self._time is not None and timestamp < self._time:
            raise ValueError(
                f"timestamp went backwards: {timestamp} after {self._time}; "
                "call reset() when a source restarts"
            )
        dt = 0.0 if self._time is None else timestamp - self._time
        self._time = timestamp
        tr = self._tracks
        tr.mean, tr.cov = self.kalman.predict(tr.mean, tr.cov, dt)

    def _similarity(
        self, track_idx: IntArr, dets: Detections, det_idx: IntArr, *, fuse: bool, buffer: float
    ) -> tuple[F64, F64]:
        boxes = _expand(self._tracks.boxes()[track_idx], buffer)
        iou = box_iou(
            boxes.astype(np.float32), _expand(dets.xyxy[det_idx], buffer).astype(np.float32)
        ).astype(np.float64)
        if self.config.per_class:
            a = self._family_of(self._tracks.class_id[track_idx])
            b = self._family_of(dets.class_id[det_idx])
            iou = np.where(a[:, None] == b[None, :], iou, 0.0)
        sim = iou * dets.confidence[det_idx][None, :] if fuse else iou
        return sim, iou

    def _family_of(self, class_id: IntArr) -> IntArr:
        """Family ids; class ids outside the known labels stay themselves."""
        if self._family.size == 0:
            return class_id
        known = (class_id >= 0) & (class_id < self._family.size)
        return np.where(known, self._family[np.clip(class_id, 0, self._family.size - 1)], class_id)

    def _match(
        self,
        track_idx: IntArr,
        dets: Detections,
        det_idx: IntArr,
        *,
        min_iou: float,
        fuse: bool,
        det_track: IntArr,
        buffer: float = 0.0,
    ) -> None:
        """One association stage: fills det_track[det] = track row for matches."""
        if track_idx.size == 0 or det_idx.size == 0:
            return
        sim, iou = self._similarity(track_idx, dets, det_idx, fuse=fuse, buffer=buffer)
        r, c = _assign(sim, iou, min_iou)
        det_track[det_idx[c]] = track_idx[r]

    def _associate(self, dets: Detections) -> IntArr:
        """Run the three stages; return, per detection, the matched track row or -1."""
        cfg = self.config
        tr = self._tracks
        det_track = np.full(len(dets), -1, np.int64)
        score = dets.confidence
        high = np.flatnonzero(score >= cfg.high_threshold)
        low = np.flatnonzero((score >= cfg.low_threshold) & (score < cfg.high_threshold))
        confirmed = np.flatnonzero(tr.confirmed)
        # Stage 1: all confirmed tracks (active and lost) against high-score detections.
        self._match(
            confirmed,
            dets,
            high,
            min_iou=cfg.match_iou,
            fuse=cfg.fuse_score,
            det_track=det_track,
            buffer=cfg.match_buffer,
        )
        # Stage 2: tracks active last frame that are still free, against low-score ones.
        taken = np.zeros(len(tr), bool)
        taken[det_track[det_track >= 0]] = True
        free_active = confirmed[tr.active[confirmed] & ~taken[confirmed]]
        self._match(
            free_active, dets, low, min_iou=cfg.low_match_iou, fuse=False, det_track=det_track
        )
        # Stage 3: tentative tracks against high-score detections nobody took.
        tentative = np.flatnonzero(~tr.confirmed)
        high_free = high[det_track[high] < 0]
        self._match(
            tentative,
            dets,
            high_free,
            min_iou=cfg.unconfirmed_match_iou,
            fuse=cfg.fuse_score,
            det_track=det_track,
            buffer=cfg.match_buffer,
        )
        self._correct(dets, det_track)
        return det_track

    def _correct(self, dets: Detections, det_track: IntArr) -> None:
        tr = self._tracks
        matched_det = np.flatnonzero(det_track >= 0)
        rows = det_track[matched_det]
        matched = np.zeros(len(tr), bool)
        matched[rows] = True
        if rows.size:
            mean, cov = self.kalman.update(tr.mean[rows], tr.cov[rows], dets.xyxy[matched_det])
            tr.mean[rows], tr.cov[rows] = mean, cov
            tr.hits[rows] += 1
            tr.score[rows] = dets.confidence[matched_det]
        tr.hits[~matched] = 0
        # A lost track keeps drifting on its velocity but should not keep growing or shrinking.
        tr.mean[~matched, 6:8] = 0.0
        tr.active = matched
        self._confirm(matched & ~tr.confirmed & (tr.hits >= self.config.min_hits))

    def _confirm(self, rows: BoolArr) -> None:
        """Give public ids to tracks that just earned them, in row order."""
        idx = np.flatnonzero(rows)
        self._tracks.public_id[idx] = self._next_id + np.arange(idx.size)
        self._next_id += int(idx.size)

    def _retire(self, timestamp: float, det_track: IntArr) -> None:
        """Drop tentative tracks that missed a frame and confirmed ones lost too long."""
        tr = self._tracks
        matched = np.zeros(len(tr), bool)
        matched[det_track[det_track >= 0]] = True
        tr.last_seen[matched] = timestamp
        expired = tr.confirmed & (timestamp - tr.last_seen > self.config.track_buffer_seconds)
        keep = matched | (tr.confirmed & ~expired)
        if keep.all():
            return
        # Re-number det_track rows to the compacted table.
        new_row = np.cumsum(keep) - 1
        hit = det_track >= 0
        det_track[hit] = new_row[det_track[hit]]
        self._tracks = tr.keep(keep)

    def _drop_family_duplicates(self, dets: Detections, det_track: IntArr, new: IntArr) -> IntArr:
        """Candidates that are not a second label on an object already taken.

        The detector suppresses overlaps per label only, so one van comes out as "truck"
        and "bus" boxes on top of each other; with families both are the same object, and
        the weaker one must not start a second track on it.
        """
        if new.size == 0 or not self.config.per_class or self._family.size == 0:
            return new
        family = self._family_of(dets.class_id)
        kept: list[int] = []
        taken = np.flatnonzero(det_track >= 0).tolist()
        for i in new[np.argsort(-dets.confidence[new], kind="stable")].tolist():
            others = [j for j in taken + kept if family[j] == family[i]]
            if others:
                iou = box_iou(dets.xyxy[i : i + 1], dets.xyxy[others])[0]
                if float(iou.max()) >= DUPLICATE_IOU:
                    continue
            kept.append(i)
        return np.asarray(sorted(kept), np.int64)

    def _spawn(self, dets: Detections, det_track: IntArr, timestamp: float) -> None:
        """Start tentative tracks from strong detections that matched nothing."""
        new = np.flatnonzero(
            (det_track < 0)
            & (dets.confidence >= self.config.new_track_threshold)
            & (dets.confidence >= self.config.high_threshold)
        )
        new = self._drop_family_duplicates(dets, det_track, new)
        if new.size == 0:
            return
        mean, cov = self.kalman.initiate(dets.xyxy[new])
        n = new.size
        born = _Tracks(
            mean,
            cov,
            dets.class_id[new].copy(),
            np.full(n, NO_TRACK, np.int64),
            np.ones(n, np.int64),
            np.full(n, timestamp),
            np.ones(n, bool),
            dets.xyxy[new].astype(np.float64),
            dets.confidence[new].astype(np.float64),
        )
        start = len(self._tracks)
        self._tracks = self._tracks.append(born)
        det_track[new] = start + np.arange(n)
        if self.config.min_hits <= 1:
            self._confirm(np.arange(len(self._tracks)) >= start)
        log.debug("spawned %s tentative track(s) at t=%s", n, timestamp)
