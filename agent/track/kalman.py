"""Constant-velocity Kalman filter for boxes, vectorised over every track at once.

State per track is ``(cx, cy, w, h, vcx, vcy, vw, vh)`` with velocities in pixels per
second. Time is explicit (``dt`` in seconds, per track) because the agent decimates and
motion-gates frames: the interval between two updates of one camera is not constant, and a
filter tuned "per frame" would predict the wrong distance after a skipped frame.

Noise scales with box size (width for x/w, height for y/h) so that one set of parameters
serves a 30 px pedestrian far away and a 300 px bus close up. All maths is batched numpy
over ``n`` tracks; there is no Python loop over tracks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

_DIM = 4
_MIN_SIZE = 1.0  # px; keeps noise positive for degenerate boxes


def xyxy_to_cxcywh(xyxy: npt.ArrayLike) -> F64:
    """Corner boxes (n, 4) to centre and size, the filter's measurement space."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    wh = b[:, 2:] - b[:, :2]
    return np.concatenate([b[:, :2] + wh / 2, wh], axis=1)


def cxcywh_to_xyxy(cxcywh: npt.ArrayLike) -> F64:
    """Back to corner boxes (n, 4); a negative predicted size collapses to a point."""
    b = np.asarray(cxcywh, np.float64).reshape(-1, 4)
    half = np.clip(b[:, 2:], 0, None) / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def _size_scale(mean: F64) -> F64:
    """Per-track (w, h, w, h) scale for noise, shape (n, 4)."""
    wh = np.clip(mean[:, 2:4], _MIN_SIZE, None)
    return np.concatenate([wh, wh], axis=1)


@dataclass(frozen=True)
class KalmanBoxFilter:
    """Batched constant-velocity filter in centre/size space.

    Attributes:
        measurement_std: detector box noise as a fraction of box size.
        position_std: process noise on position, fraction of size per sqrt(second).
        velocity_std: process noise on velocity (how fast objects change speed), fraction
            of size per second per sqrt(second).
        initial_velocity_std: uncertainty of the unknown velocity of a new track, fraction
            of size per second.
    """

    measurement_std: float = 0.05
    position_std: float = 0.05
    velocity_std: float = 0.5
    initial_velocity_std: float = 1.0

    def initiate(self, boxes_xyxy: npt.ArrayLike) -> tuple[F64, F64]:
        """New tracks at rest at the measured boxes: mean (n, 8), covariance (n, 8, 8)."""
        z = xyxy_to_cxcywh(boxes_xyxy)
        n = z.shape[0]
        mean = np.concatenate([z, np.zeros((n, _DIM))], axis=1)
        scale = _size_scale(mean)
        std = np.concatenate(
            [2 * self.measurement_std * scale, self.initial_velocity_std * scale], axis=1
        )
        cov = np.zeros((n, 2 * _DIM, 2 * _DIM))
        idx = np.arange(2 * _DIM)
        cov[:, idx, idx] = std**2
        return mean, cov

    def predict(self, mean: F64, cov: F64, dt: npt.ArrayLike) -> tuple[F64, F64]:
        """Advance every track by its own ``dt`` seconds (scalar or shape (n,))."""
        n = mean.shape[0]
        if n == 0:
            return mean.copy(), cov.copy()
        dt_arr = np.broadcast_to(np.clip(np.asarray(dt, np.float64), 0, None), (n,))
        trans = np.tile(np.eye(2 * _DIM), (n, 1, 1))
        idx = np.arange(_DIM)
        trans[:, idx, idx + _DIM] = dt_arr[:, None]
        new_mean = np.einsum("nij,nj->ni", trans, mean)
        # Keep sizes positive: a shrinking box extrapolated too far must not invert.
        new_mean[:, 2:4] = np.clip(new_mean[:, 2:4], _MIN_SIZE, None)
        scale = _size_scale(mean)
        root = np.sqrt(dt_arr)[:, None]
        std = np.concatenate(
            [self.position_std * scale * root, self.velocity_std * scale * root], axis=1
        )
        noise = np.zeros_like(cov)
        diag = np.arange(2 * _DIM)
        noise[:, diag, diag] = std**2
        new_cov = trans @ cov @ np.transpose(trans, (0, 2, 1)) + noise
        return new_mean, new_cov

    def update(self, mean: F64, cov: F64, boxes_xyxy: npt.ArrayLike) -> tuple[F64, F64]:
        """Correct tracks (row i) with measured boxes (row i); returns new arrays."""
        z = xyxy_to_cxcywh(boxes_xyxy)
        if mean.shape[0] == 0:
            return mean.copy(), cov.copy()
        r_std = self.measurement_std * _size_scale(mean)
        innov_cov = cov[:, :_DIM, :_DIM].copy()
        diag = np.arange(_DIM)
        innov_cov[:, diag, diag] += r_std**2
        cross = cov[:, :, :_DIM]  # P H^T, shape (n, 8, 4)
        # K = P H^T S^-1, solved rather than inverted for stability: S K^T = (P H^T)^T.
        gain = np.transpose(np.linalg.solve(innov_cov, np.transpose(cross, (0, 2, 1))), (0, 2, 1))
        residual = z - mean[:, :_DIM]
        new_mean = mean + np.einsum("nij,nj->ni", gain, residual)
        new_mean[:, 2:4] = np.clip(new_mean[:, 2:4], _MIN_SIZE, None)
        new_cov = cov - gain @ np.transpose(cross, (0, 2, 1))
        new_cov = (new_cov + np.transpose(new_cov, (0, 2, 1))) / 2
        return new_mean, new_cov
