"""Decode and motion-gate throughput on real footage: what capture costs per camera.

    python -m bench.capture [--repeats 3]

Prints frames/s for decoding tests/data/vtest.avi (MS-MPEG4, 768x576) and an H.264 excerpt
of it made with ffmpeg, through OpenCV's FFmpeg backend the way `CameraReader` uses it (grab
every frame, convert to BGR only the frames kept at 5 of 10 fps) and, if PyAV is installed
(`pip install av`), through PyAV the same two ways; then the motion gate's cost per frame.
Median of `--repeats` runs; the machines are shared, so compare figures within one run.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from agent.config.camera import MotionConfig
from agent.motion.gate import MotionGate
from bench.machine import describe
from tests.support.media import VTEST, make_clip


def opencv_decode(path: Path, keep_every: int) -> int:
    """Frames decoded; BGR conversion (retrieve) only for every `keep_every`-th frame."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    count = 0
    while cap.grab():
        if count % keep_every == 0:
            cap.retrieve()
        count += 1
    cap.release()
    return count


def pyav_decode(path: Path, keep_every: int) -> int:
    import av

    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if count % keep_every == 0:
                frame.to_ndarray(format="bgr24")
            count += 1
    return count


def measure(fn: Callable[[], int], repeats: int) -> float:
    """Median frames per second of `fn` (which returns frames handled)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        frames = fn()
        rates.append(frames / (time.perf_counter() - start))
    return statistics.median(rates)


def gate_ms(frames: list[np.ndarray], repeats: int) -> float:
    """Median milliseconds per `MotionGate.update` over a 5 fps sequence."""
    times = []
    for _ in range(repeats):
        gate = MotionGate(MotionConfig())
        start = time.perf_counter()
        for k, frame in enumerate(frames):
            gate.update(frame, k * 0.2)
        times.append((time.perf_counter() - start) / len(frames) * 1000)
    return statistics.median(times)


def _decoders() -> list[tuple[str, Callable[[Path, int], int]]]:
    decoders: list[tuple[str, Callable[[Path, int], int]]] = [("opencv", opencv_decode)]
    try:
        import av  # noqa: F401

        decoders.append(("pyav", pyav_decode))
    except ImportError:
        print("PyAV not installed: OpenCV figures only (pip install av to compare)")
    return decoders


def main() -> None:
    parser = argparse.ArgumentParser(description="Decode and motion-gate throughput.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {describe()}")
    print(f"OpenCV {cv2.__version__}, cv2 threads {cv2.getNumThreads()}")
    with tempfile.TemporaryDirectory() as tmp:
        h264 = make_clip(Path(tmp) / "vtest-h264.mp4", seconds=60)
        print(f"{'clip':<22} {'decoder':<8} {'all BGR fps':>12} {'5-of-10 BGR fps':>16}")
        for clip_name, clip in (("vtest.avi (msmpeg4)", VTEST), ("vtest excerpt (h264)", h264)):
            for name, decode in _decoders():
                every = measure(functools.partial(decode, clip, 1), args.repeats)
                half = measure(functools.partial(decode, clip, 2), args.repeats)
                print(f"{clip_name:<22} {name:<8} {every:>12.0f} {half:>16.0f}")
    cap = cv2.VideoCapture(str(VTEST))
    frames: list[np.ndarray] = []
    while len(frames) < 200:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    sd = frames[::2]
    hd = [cv2.resize(f, None, fx=2, fy=2) for f in sd]
    print(
        f"motion gate: {gate_ms(sd, args.repeats):.2f} ms/frame at 768x576, "
        f"{gate_ms(hd, args.repeats):.2f} ms/frame at 1536x1152"
    )


if __name__ == "__main__":
    main()
