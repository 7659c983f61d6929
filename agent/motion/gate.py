"""`MotionGate`: decide, per frame, which parts of it the detector must look at.

Most of a street camera's picture is still most of the time. Differencing a small grey copy
of each frame against a running background finds what moved for well under a millisecond,
and only those regions plus the boxes of live tracks (objects that may have stopped moving)
become detector windows. A full-frame pass every few seconds catches whatever the gate
missed: slow changes, and objects that arrived while standing still.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from agent.config.camera import MotionConfig
from agent.motion.windows import cover_windows, crop, plan_windows

# Changes over more than this share of the picture are lighting or a moved camera, not
# objects: the background is re-learnt and the frame gets a full pass.
GLOBAL_CHANGE = 0.5
# Share of the moving pixels that may lie outside live tracks for them to explain it. At
# 5 fps a walker's track box lags its motion blob (shadow, dilation); on vtest 0.3 skips 30 %
# of frames at one skip in a row with person recall 0.915 vs 0.927 (tests/motion).
UNEXPLAINED = 0.3
# Windows covering this share of the frame cost more than one full-frame pass.
FULL_FRAME_AREA = 0.7
STILL = "still"  # plan reason: skipped, nothing moves and the last pass's tracks stand
TRACKED = "tracked"  # plan reason: skipped, live tracks explain the motion (tracker predicts)


@dataclass(frozen=True)
class GatePlan:
    """What to run the detector on for one frame.

    Attributes:
        windows: (k, 4) int32 xyxy detector windows in frame pixels; empty means skip the
            detector; a full-frame pass is one window covering the frame.
        motion: (m, 4) float32 xyxy motion regions found, in frame pixels.
        full_frame: whether this is a full-frame pass.
        reason: why the plan looks as it does ("motion", "tracks", "motion-merged",
            "tracks-merged", "interval", "start", "global-change", "too-many-windows",
            "no-motion", "tracked" (skipped: live tracks explain all motion), "still"
            (skipped: nothing moves and the tracks of the last pass stand; see
            `MotionConfig.still_refresh_s`), "disabled"), for metrics.
    """

    windows: np.ndarray
    motion: np.ndarray
    full_frame: bool
    reason: str

    @property
    def calls(self) -> int:
        """Detector inputs this plan costs (each window is one model input)."""
        return len(self.windows)

    def crops(self, image: np.ndarray) -> list[np.ndarray]:
        """The image regions to detect in (views into `image`)."""
        return crop(image, self.windows)


def grow_boxes(boxes: np.ndarray, margin: float) -> np.ndarray:
    """Boxes (n, 4) grown by `margin` x their width/height on each side."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    wh = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] - margin * wh, boxes[:, 2:] + margin * wh], axis=1)


class MotionGate:
    """Per-camera motion gate; feed it the camera's frames in order.

    Holds only the running background and the time of the last full pass; never writes to
    the frames it is given.
    """

    def __init__(self, config: MotionConfig, model_input: int = 416) -> None:
        self.config = config
        self.model_input = model_input
        self._background: np.ndarray | None = None
        self._last_full: float | None = None
        self._last_pass: float | None = None  # last plan with detector windows
        self._skipped = 0  # frames skipped in a row because tracks explained all motion
        self._mask: np.ndarray | None = None  # last frame's moving pixels (downscaled)
        self._scale = 1.0  # downscaled / frame pixels
        kernel_size = 2 * config.dilate_px + 1
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))

    def reset(self) -> None:
        """Forget the background, e.g. after the camera reconnected or moved."""
        self._background = None
        self._last_full = self._last_pass = None
        self._skipped = 0

    def update(
        self,
        image: np.ndarray,
        t: float,
        tracks: np.ndarray | None = None,
        settled: bool = False,
    ) -> GatePlan:
        """Plan detection for `image` captured at `t` seconds, given live track boxes (n, 4).

        `settled`: every live track was confirmed and matched in the last detector pass,
        so the tracker's last output can stand in for a pass on a frame where nothing
        moves ("still" plans, at most `still_refresh_s` since the last pass), and its
        predictions for a frame whose motion the tracks explain ("tracked" plans, see
        `MotionConfig.skip_tracked_frames`). Unsettled, the detector looks: a tentative
        track is confirmed and a lost one found again only by detections, so skipping
        then would delay a new person's count rather than save a pass.
        """
        h, w = image.shape[:2]
        if not self.config.enabled:
            return self._full((h, w), np.empty((0, 4), np.float32), t, "disabled")
        motion, changed = self._motion(image)
        if self._last_full is None:
            return self._full((h, w), motion, t, "start")
        if changed > GLOBAL_CHANGE:
            self._background = None
            return self._full((h, w), motion, t, "global-change")
        if t - self._last_full >= self.config.full_frame_interval_s:
            return self._full((h, w), motion, t, "interval")
        track_boxes = (
            np.empty((0, 4), np.float32)
            if tracks is None
            else grow_boxes(tracks, self.config.track_margin)
        )
        if settled and self._may_skip(motion, track_boxes):
            self._skipped += 1
            return GatePlan(np.empty((0, 4), np.int32), motion, False, TRACKED)
        self._skipped = 0
        return self._look((h, w), motion, track_boxes, settled, t)

    def _look(
        self, hw: tuple[int, int], motion: np.ndarray, tracks: np.ndarray, settled: bool, t: float
    ) -> GatePlan:
        """A "still" skip if it may be one, else the windows to detect in."""
        if self._still(motion, tracks, settled, t):
            return GatePlan(np.empty((0, 4), np.int32), motion, False, STILL)
        plan = self._windows(hw, motion, tracks, t)
        if len(plan.windows):
            self._last_pass = t
        return plan

    def _still(self, motion: np.ndarray, track_boxes: np.ndarray, settled: bool, t: float) -> bool:
        """Nothing moves, the tracks of a recent pass stand: the detector can skip this frame."""
        refresh = self.config.still_refresh_s
        if not (settled and refresh > 0 and len(track_boxes) and not len(motion)):
            return False
        # A little slack: frame times jitter, and refresh = k frame periods must not
        # become k + 1 frames.
        return self._last_pass is not None and t - self._last_pass < refresh - 1e-3

    def _may_skip(self, motion: np.ndarray, track_boxes: np.ndarray) -> bool:
        """Whether live tracks explain the motion, within the skip budget.

        Explained = there is motion and at most `UNEXPLAINED` of the moving pixels lie
        outside every grown track box. Then the tracker's prediction stands in for one
        detector call; motion outside the tracks (a new object) or `skip_tracked_frames`
        skips in a row end the skipping.
        """
        if self._skipped >= self.config.skip_tracked_frames or not len(track_boxes):
            return False
        if not len(motion) or self._mask is None:
            # Nothing moves: that is a "still" frame's case (the last output stands, up to
            # `still_refresh_s`), not one for predictions.
            return False
        covered = np.zeros_like(self._mask)
        for x1, y1, x2, y2 in np.round(track_boxes * self._scale).astype(int).tolist():
            covered[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = 1
        moving = int(self._mask.sum())
        outside = int(np.count_nonzero(self._mask > covered))
        return outside <= UNEXPLAINED * moving

    def _windows(
        self, hw: tuple[int, int], motion: np.ndarray, track_boxes: np.ndarray, t: float
    ) -> GatePlan:
        """Native-scale windows within the call budget, else fewer larger ones, else the frame.

        The budget (`max_crops` detector calls per frame) is met by merging windows into
        fewer, larger ones before giving up on windows: on a busy scene that keeps looking
        at the moving part of the picture in one or two calls instead of the squeezed frame.
        """
        h, w = hw
        boxes = np.concatenate([motion, track_boxes])
        if not len(boxes):
            return GatePlan(np.empty((0, 4), np.int32), motion, False, "no-motion")
        reason = "motion" if len(motion) else "tracks"
        windows = plan_windows(boxes, hw, self.model_input)
        area = float(np.prod(windows[:, 2:] - windows[:, :2], axis=1).sum())
        if len(windows) <= self.config.max_crops and area < FULL_FRAME_AREA * h * w:
            return GatePlan(windows, motion, False, reason)
        merged = cover_windows(boxes, hw, self.model_input, self.config.max_crops, FULL_FRAME_AREA)
        if merged is not None:
            return GatePlan(merged, motion, False, reason + "-merged")
        return self._full(hw, motion, t, "too-many-windows")

    def _full(self, hw: tuple[int, int], motion: np.ndarray, t: float, reason: str) -> GatePlan:
        self._last_full = self._last_pass = t
        return GatePlan(np.array([[0, 0, hw[1], hw[0]]], np.int32), motion, True, reason)

    def _motion(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Motion boxes (m, 4) in frame pixels and the share of the picture that changed."""
        h, w = image.shape[:2]
        scale = min(1.0, self.config.downscale_width / w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        # Grey first, then a linear resize: ~0.3 ms on 768x576 where INTER_AREA takes ~3 ms,
        # and the blur that follows removes the aliasing that would matter for differencing.
        grey = cv2.resize(
            cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), size, interpolation=cv2.INTER_LINEAR
        )
        grey = cv2.GaussianBlur(grey, (5, 5), 0)
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey.astype(np.float32)
            self._mask = None
            return np.empty((0, 4), np.float32), 0.0
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(self._background))
        mask: np.ndarray = (diff > self.config.threshold).astype(np.uint8)
        changed = float(mask.mean())
        self._mask, self._scale = mask, scale
        cv2.accumulateWeighted(grey, self._background, self.config.background_alpha)
        if self.config.dilate_px:
            mask = cv2.dilate(mask, self._kernel)
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        xywh = stats[1:, :4].astype(np.float32) / scale
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        boxes = np.clip(boxes, 0, [w, h, w, h])
        keep = xywh[:, 2] * xywh[:, 3] >= self.config.min_area
        return boxes[keep].astype(np.float32), changed
