"""Decode NanoDet's raw heads into boxes (model-input pixels), in numpy.

NanoDet predicts, per grid cell of each stride, sigmoid class scores and for each box side
a discrete distribution over `reg_max + 1` bins (distribution focal loss); the distance is
the distribution's expectation times the stride, measured from the cell's top-left grid
point. Heads are identified by shape, not by output order, so a re-export that reorders
outputs still decodes correctly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class RawBoxes:
    """Candidate boxes of one image before NMS, in model-input pixels."""

    xyxy: np.ndarray  # (n, 4)
    scores: np.ndarray  # (n,)
    class_id: np.ndarray  # (n,)


def _pair_heads(
    outputs: list[np.ndarray], num_classes: int, reg_max: int, input_size: int
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Group outputs into (stride, scores (b, cells, C), dists (b, cells, 4*(reg_max+1)))."""
    by_cells: dict[int, dict[str, np.ndarray]] = {}
    for out in outputs:
        if out.ndim != 3:
            raise ValueError(f"nanodet output must be (batch, cells, channels), got {out.shape}")
        kind = "scores" if out.shape[2] == num_classes else "dists"
        if kind == "dists" and out.shape[2] != 4 * (reg_max + 1):
            raise ValueError(
                f"nanodet output {out.shape}: neither {num_classes} classes "
                f"nor 4x{reg_max + 1} bins"
            )
        by_cells.setdefault(out.shape[1], {})[kind] = out
    heads = []
    for cells, pair in sorted(by_cells.items(), reverse=True):
        side = round(cells**0.5)
        if side * side != cells or set(pair) != {"scores", "dists"}:
            raise ValueError(f"nanodet heads incomplete for {cells} cells: {sorted(pair)}")
        heads.append((input_size // side, pair["scores"], pair["dists"]))
    return heads


@lru_cache(maxsize=32)
def _grid(stride: int, side: int, offset: float) -> np.ndarray:
    """Cell points (side*side, 2), row-major; cached and read-only (same every frame)."""
    ys, xs = np.mgrid[0:side, 0:side]
    grid = ((np.stack([xs.ravel(), ys.ravel()], axis=1) + offset) * stride).astype(np.float32)
    grid.flags.writeable = False
    return grid


def _expectation(dists: np.ndarray, reg_max: int) -> np.ndarray:
    """(cells, 4*(reg_max+1)) logits -> (cells, 4) expected bin index via softmax."""
    logits = dists.reshape(-1, 4, reg_max + 1)
    logits = logits - logits.max(axis=2, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=2, keepdims=True)
    expected: np.ndarray = (prob * np.arange(reg_max + 1, dtype=np.float32)).sum(axis=2)
    return expected


def decode_nanodet(
    outputs: list[np.ndarray],
    score_threshold: float,
    *,
    num_classes: int = 80,
    reg_max: int = 10,
    input_size: int = 416,
    center_offset: float = 0.0,
) -> list[RawBoxes]:
    """Raw outputs of a batch -> per-image candidate boxes above the score threshold."""
    heads = _pair_heads(outputs, num_classes, reg_max, input_size)
    batch = heads[0][1].shape[0]
    results = []
    for b in range(batch):
        parts_xyxy, parts_score, parts_cls = [], [], []
        for stride, scores, dists in heads:
            cls_scores = scores[b]
            # Only cells whose best class passes the cut are decoded (a few hundred of
            # 3,549 at the tracker's 0.15): argmax, softmax and grid work on those alone.
            keep = np.flatnonzero(cls_scores.max(axis=1) >= score_threshold)
            if not keep.size:
                continue
            kept_scores = cls_scores[keep]
            best = kept_scores.argmax(axis=1)
            side = round(cls_scores.shape[0] ** 0.5)
            centres = _grid(stride, side, center_offset)[keep]
            dist = _expectation(dists[b][keep], reg_max) * stride
            xyxy = np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], axis=1)
            parts_xyxy.append(xyxy)
            parts_score.append(kept_scores[np.arange(len(best)), best])
            parts_cls.append(best)
        if parts_xyxy:
            results.append(
                RawBoxes(
                    np.concatenate(parts_xyxy).astype(np.float32),
                    np.concatenate(parts_score).astype(np.float32),
                    np.concatenate(parts_cls).astype(np.int64),
                )
            )
        else:
            results.append(
                RawBoxes(
                    np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64)
                )
            )
    return results
