"""Benchmark every shipped model on both backends and both precisions.

    python -m bench.models [--runs 50] [--batch 4] [--threads 2]

For each model x backend x precision it prints p50/p95 ms per single-image inference,
images/s when batching `--batch` real images per call, and the peak RSS of a process that
loaded only that model (each configuration runs in its own child process, so one model's
memory never inflates another's figure). Inputs are real frames of tests/data/vtest.avi,
preprocessed exactly as the agent does. Figures are comparable within one run only: the
machines are shared, so read them as ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "vtest.avi"


def _real_inputs(spec: object, count: int) -> np.ndarray:
    from agent.inference.preprocess import preprocess
    from agent.media import read_media

    frames = [img for _, img in read_media(CLIP, every=37, max_frames=count)]
    batch, _ = preprocess(frames, spec)  # type: ignore[arg-type]
    return batch


def run_one(name: str, precision: str, backend: str, *, runs: int, batch: int,
            threads: int) -> dict[str, object]:
    """Measure one configuration in this process (called in a child)."""
    from agent.inference.backend import load_model

    model = load_model(name, precision, backend, threads=threads)
    inputs = _real_inputs(model.spec, max(batch, 8))
    for i in range(5):  # warm-up: first calls allocate and pick kernels
        model.run(inputs[i % len(inputs)][None])
    times = []
    for i in range(runs):
        x = inputs[i % len(inputs)][None]
        t0 = time.perf_counter()
        model.run(x)
        times.append((time.perf_counter() - t0) * 1000)
    xb = inputs[:batch]
    model.run(xb)
    t0 = time.perf_counter()
    rounds = max(3, runs // batch)
    for _ in range(rounds):
        model.run(xb)
    throughput = rounds * batch / (time.perf_counter() - t0)
    return {
        "model": name, "precision": precision, "backend": backend,
        "input": "x".join(str(d) for d in model.spec.input_shape),
        "p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
        "batch": batch, "batched_ips": throughput,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", help="names (default: all in the manifest)")
    parser.add_argument("--one", nargs=3, metavar=("NAME", "PRECISION", "BACKEND"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = run_one(*args.one, runs=args.runs, batch=args.batch, threads=args.threads)
        print(json.dumps(result))
        return

    from agent.inference.backend import available_backends
    from agent.inference.manifest import load_manifest
    from bench.machine import describe

    print(f"machine: {describe()}")
    import onnxruntime
    import openvino
    print(f"onnxruntime {onnxruntime.__version__}, openvino {openvino.__version__}, "
          f"threads={args.threads}, runs={args.runs}, batch={args.batch}")
    print()
    print("| model | precision | backend | input | p50 ms | p95 ms | batched img/s "
          "| peak RSS MiB |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    manifest = load_manifest()
    for spec in manifest.specs:
        if args.models and spec.name not in args.models:
            continue
        for backend in available_backends():
            cmd = [sys.executable, "-m", "bench.models", "--one", spec.name, spec.precision,
                   backend, "--runs", str(args.runs), "--batch", str(args.batch),
                   "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
            if proc.returncode != 0:
                err = (proc.stderr.strip().splitlines() or ["?"])[-1]
                print(f"| {spec.name} | {spec.precision} | {backend} | failed: {err} |||||")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"| {r['model']} | {r['precision']} | {r['backend']} | {r['input']} | "
                  f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['batched_ips']:.0f} | "
                  f"{r['peak_rss_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
