"""Benchmark every shipped model on both backends and both precisions.

    python -m bench.models [--runs 50] [--batch 4] [--threads 2] [--models nanodet-g yolov5s]
    python -m bench.models --batch-sweep --models nanodet-m [--runs 20]

For each model x backend x precision it prints p50/p95 ms per single-image inference,
images/s when batching `--batch` real images per call, and the peak RSS of a process that
loaded only that model. Latencies come from one process running every configuration
round-robin, so load from a noisy neighbour falls on all of them alike and the rows compare
as ratios; RSS comes from a child process per configuration, so one model's memory never
inflates another's figure. Inputs are real frames of tests/data/vtest.avi,
preprocessed exactly as the agent does. Figures are comparable within one run only: the
machines are shared, so read them as ratios.

`--batch-sweep` instead prints images/s at batch 1..8 for each backend x precision (calls
interleaved over every batch size and configuration), and each batch's gain over batch 1:
the figure that decides whether the shared worker should form batches on this CPU.

Optional models (yolov5s, built by `make models EXTRA=yolov5s` into models/extra/) are in
the table when built; otherwise the run says they are absent.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported lazily at run time: RSS is measured before the runtimes load
    from agent.inference.backend import Model
    from agent.inference.manifest import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "vtest.avi"


def _real_inputs(spec: object, count: int) -> np.ndarray:
    from agent.inference.preprocess import preprocess
    from agent.media import read_media

    frames = [img for _, img in read_media(CLIP, every=37, max_frames=count)]
    batch, _ = preprocess(frames, spec)  # type: ignore[arg-type]
    return batch


def measure_rss(
    name: str, precision: str, backend: str, *, batch: int, threads: int
) -> dict[str, object]:
    """Peak RSS of a process that loaded one model and ran it (called in a child)."""
    from agent.inference.backend import load_model

    model = load_model(name, precision, backend, threads=threads)
    inputs = _real_inputs(model.spec, batch)
    model.run(inputs[:1])
    model.run(inputs[:batch])
    return {"peak_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so
    a child forked from a big parent would report the parent's peak."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_rss(name: str, precision: str, backend: str, args: argparse.Namespace) -> str:
    cmd = [
        sys.executable,
        "-m",
        "bench.models",
        "--one",
        name,
        precision,
        backend,
        "--batch",
        str(args.batch),
        "--threads",
        str(args.threads),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        return "failed"
    return f"{json.loads(proc.stdout.strip().splitlines()[-1])['peak_rss_mib']:.0f}"


def interleaved_latency(
    configs: Sequence[tuple[Model, np.ndarray]], runs: int, batch: int
) -> list[dict[str, float]]:
    """Round-robin over every loaded model, so a noisy neighbour slows all of them alike."""
    times: list[list[float]] = [[] for _ in configs]
    batched: list[list[float]] = [[] for _ in configs]
    for model, inputs in configs:
        for i in range(5):  # warm-up: first calls allocate and pick kernels
            model.run(inputs[i % len(inputs)][None])
        model.run(inputs[:batch])
    for i in range(runs):
        for k, (model, inputs) in enumerate(configs):
            t0 = time.perf_counter()
            model.run(inputs[i % len(inputs)][None])
            times[k].append((time.perf_counter() - t0) * 1000)
            if i % 5 == 0:
                t0 = time.perf_counter()
                model.run(inputs[:batch])
                batched[k].append(time.perf_counter() - t0)
    return [
        {
            "p50_ms": float(np.percentile(t, 50)),
            "p95_ms": float(np.percentile(t, 95)),
            "batched_ips": batch / float(np.median(b)),
        }
        for t, b in zip(times, batched, strict=True)
    ]


def batch_sweep(configs: Sequence[tuple[Model, np.ndarray]], runs: int) -> list[list[float]]:
    """Images/s at batch 1..8 per configuration, interleaved (median time per call)."""
    sizes = range(1, 9)
    times: list[list[list[float]]] = [[[] for _ in sizes] for _ in configs]
    for model, inputs in configs:
        for b in sizes:
            model.run(inputs[:b])
    for _ in range(runs):
        for k, (model, inputs) in enumerate(configs):
            for j, b in enumerate(sizes):
                t0 = time.perf_counter()
                model.run(inputs[:b])
                times[k][j].append(time.perf_counter() - t0)
    return [[b / float(np.median(t)) for b, t in zip(sizes, row, strict=True)] for row in times]


def _print_sweep(keys: Sequence[tuple[ModelSpec, str]], rates: list[list[float]]) -> None:
    print("| model | precision | backend | " + " | ".join(f"b{b}" for b in range(1, 9)) + " |")
    print("|---|---|---|" + "---:|" * 8)
    for (spec, backend), row in zip(keys, rates, strict=True):
        cells = " | ".join(f"{r:.0f} ({r / row[0]:.2f}x)" for r in row)
        print(f"| {spec.name} | {spec.precision} | {backend} | {cells} |")
    print("images/s (gain over batch 1); batching pays where the gain clearly exceeds 1.0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", help="names (default: all in the manifest)")
    parser.add_argument("--batch-sweep", action="store_true", help="images/s at batch 1..8")
    parser.add_argument(
        "--one", nargs=3, metavar=("NAME", "PRECISION", "BACKEND"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_rss(*args.one, batch=args.batch, threads=args.threads)))
        return

    import onnxruntime
    import openvino

    from agent.inference.backend import available_backends, load_model
    from agent.inference.manifest import OPTIONAL_MODELS, load_manifest
    from bench.machine import describe

    print(f"machine: {describe()}")
    print(
        f"onnxruntime {onnxruntime.__version__}, openvino {openvino.__version__}, "
        f"threads={args.threads}, runs={args.runs} interleaved, batch={args.batch}"
    )
    manifest = load_manifest()
    for name in OPTIONAL_MODELS:
        if name not in manifest.names() and (not args.models or name in args.models):
            print(f"{name}: not built here (optional; `make models EXTRA={name}`), absent below")
    print()
    keys, configs = [], []
    for spec in manifest.specs:
        if args.models and spec.name not in args.models:
            continue
        for backend in available_backends():
            model = load_model(spec.name, spec.precision, backend, threads=args.threads)
            keys.append((spec, backend))
            configs.append((model, _real_inputs(spec, max(args.batch, 8))))
    if args.batch_sweep:
        _print_sweep(keys, batch_sweep(configs, args.runs))
        return
    figures = interleaved_latency(configs, args.runs, args.batch)
    print(
        "| model | precision | backend | input | p50 ms | p95 ms | batched img/s | peak RSS MiB |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|")
    for (spec, backend), fig in zip(keys, figures, strict=True):
        rss = _child_rss(spec.name, spec.precision, backend, args)
        shape = "x".join(str(d) for d in spec.input_shape)
        print(
            f"| {spec.name} | {spec.precision} | {backend} | {shape} | {fig['p50_ms']:.1f} | "
            f"{fig['p95_ms']:.1f} | {fig['batched_ips']:.0f} | {rss} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
