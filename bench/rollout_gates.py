"""What the rollout quality gate's statistics read on real footage: the calibration.

Run from the repository root: ``.venv/bin/python -m bench.rollout_gates``.

On vtest.avi (every 5th frame), person detections at or above the tracker's threshold:
* the same model (INT8) over two stretches of the scene: how much the confidence
  distribution and the detection rate move with the scene alone;
* the INT8 and FP32 builds of nanodet-g on the same frames: what a legitimate update of
  the same detector does.
A model whose outputs are zeroed finds nothing (count ratio 0; tests/rollouts shows the
gate catching it on real boxes).
Prints the KS distance D with its p-value and the detection-count ratio, next to the gate's
default bounds (fleet/rollouts/settings.py), so the defaults can be checked, not trusted.
"""

from __future__ import annotations

import os

import cv2

from agent.config.camera import CameraSpec
from agent.pipeline.detector_setup import make_detector
from bench.machine import describe
from fleet.rollouts import stats
from fleet.rollouts.settings import GateSettings
from tests.support.media import VTEST

THRESHOLD = 0.35
EVERY = 5


def _scores(detector: object, frames: list) -> list[float]:
    out: list[float] = []
    for frame in frames:
        found = detector.detect([frame])[0]  # type: ignore[attr-defined]
        out += [
            float(c)
            for c, k in zip(found.confidence, found.class_id, strict=True)
            if k == 0 and c >= THRESHOLD
        ]
    return out


def _frames() -> list:
    capture = cv2.VideoCapture(str(VTEST))
    frames, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % EVERY == 0:
            frames.append(frame)
        index += 1
    capture.release()
    return frames


def _row(name: str, a: list[float], b: list[float]) -> None:
    ratio = len(b) / len(a) if a else float("nan")
    if a and b:
        ks = stats.ks_test(a, b)
        said = f"KS D={ks.statistic:.3f} (p={ks.p_value:.1e})"
    else:
        said = "KS: no scores on one side"
    print(f"{name:<44} n={len(a):>4} vs {len(b):>4}  count ratio {ratio:5.2f}  {said}")


def main() -> None:
    print(describe())
    gates = GateSettings()
    print(
        f"gate defaults: rate ratio in [{gates.min_rate_ratio}, {gates.max_rate_ratio}], "
        f"max_ks {gates.max_ks}"
    )
    frames = _frames()
    spec = [CameraSpec(id="bench", source="x.avi")]
    int8 = make_detector(spec, precision="int8", backend="onnxruntime")
    fp32 = make_detector(spec, precision="fp32", backend="onnxruntime")
    half = len(frames) // 2
    _row(
        "INT8, first vs second half of the clip",
        _scores(int8, frames[:half]),
        _scores(int8, frames[half:]),
    )
    s8 = _scores(int8, frames)
    _row("INT8 vs FP32, same frames", s8, _scores(fp32, frames))
    one, five, fifteen = os.getloadavg()
    print(f"load average {one:.1f} / {five:.1f} / {fifteen:.1f}")


if __name__ == "__main__":
    main()
