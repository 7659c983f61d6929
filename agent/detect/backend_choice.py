"""Which backend x precision x thread count runs the detector here, chosen by measurement.

The CPU vendor is a poor guide: on one AVX2-only AMD, ONNX Runtime INT8 is fastest; on an
AVX-512 VNNI Intel, OpenVINO is; and whether 1 or 2 intra-op threads wins depends on what
else the box runs. So each installed combination is timed on real frames for a few seconds
and its detections are compared with the FP32 reference by `precision_agreement` (the bar
the accuracy tests hold INT8 to); the fastest that passes is chosen. The result, with the
figures and a fingerprint of what they depend on (CPU, models, backend versions), is what
`ChoiceStore` records and `oko-agent doctor` prints. Measuring is I/O-free apart from
loading the models; frames come from the caller.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from agent.cpuinfo import cpu_flags, cpu_model
from agent.detect.evaluation import precision_agreement
from agent.detect.object_detector import ObjectDetector
from agent.detections import Detections
from agent.errors import ModelError
from agent.inference.backend import available_backends, load_spec
from agent.inference.manifest import Manifest, ModelSpec

log = logging.getLogger(__name__)

# The accuracy tests' bar for INT8 against FP32 (tests/accuracy): every class, allowing a
# 0.05 score margin, agrees >= 0.95. Strict one-to-one person matching at one threshold is
# held to 0.90 here, not the tests' 0.95: on the dozen-odd frames a box measures on, one
# walker scored just either side of the threshold moves it by 0.02-0.04 (ONNX Runtime INT8
# measured 0.922 on 12 vtest frames and 0.974 on the 27 labelled ones).
AGREEMENT_BAR = 0.95
PERSONS_BAR = 0.90
AGREEMENT_MARGIN = 0.05
# Batching costs latency (a camera's frame waits for the others'); it is used only where a
# batch of BATCH_PROBE images runs at least BATCH_PAYS times the images/s of one at a time.
BATCH_PROBE = 4
BATCH_PAYS = 1.15
BATCHED = 8
SIMD_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Candidate:
    """One way to run the detector."""

    backend: str
    precision: str
    threads: int

    @property
    def label(self) -> str:
        """Short `backend/precision/Nt` form for logs and metric labels."""
        return f"{self.backend}/{self.precision}/{self.threads}t"


@dataclass(frozen=True)
class Trial:
    """What one candidate measured: speed on the frames and agreement with the reference."""

    candidate: Candidate
    frames_per_s: float
    persons_agreement: float
    all_classes_agreement: float
    compared: int  # detections compared over every class
    error: str | None = None

    @property
    def passed(self) -> bool:
        """Ran without error and agreed with the reference at least as well as the bars."""
        return (
            self.error is None
            and self.persons_agreement >= PERSONS_BAR
            and self.all_classes_agreement >= AGREEMENT_BAR
        )


@dataclass(frozen=True)
class BackendChoice:
    """The measured choice for one model on this box, and everything it was based on."""

    model: str
    chosen: Candidate | None
    trials: tuple[Trial, ...]
    fingerprint: dict[str, str]
    reference: str
    frames: int
    seconds_per_trial: float
    batch_gain: float = 1.0  # chosen candidate: images/s at BATCH_PROBE over batch 1
    measured_at: float = field(default_factory=time.time)

    @property
    def max_batch(self) -> int:
        """Images per detector call the shared worker should gather: batch only if it pays."""
        return BATCHED if self.batch_gain >= BATCH_PAYS else 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form; `from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> BackendChoice:
        """Rebuild from `to_dict`'s output; a malformed record is a `ValueError`."""
        try:
            chosen = Candidate(**doc["chosen"]) if doc.get("chosen") else None
            trials = tuple(
                Trial(**{**t, "candidate": Candidate(**t["candidate"])}) for t in doc["trials"]
            )
            return cls(
                model=str(doc["model"]),
                chosen=chosen,
                trials=trials,
                fingerprint={str(k): str(v) for k, v in doc["fingerprint"].items()},
                reference=str(doc["reference"]),
                frames=int(doc["frames"]),
                seconds_per_trial=float(doc["seconds_per_trial"]),
                batch_gain=float(doc.get("batch_gain", 1.0)),
                measured_at=float(doc["measured_at"]),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"malformed backend choice record: {err!r}") from err


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def fingerprint(specs: Sequence[ModelSpec]) -> dict[str, str]:
    """What a measurement depends on; when any of it changes, measure again."""
    flags = cpu_flags()
    doc = {
        "cpu": cpu_model(),
        "simd": "+".join(f for f in SIMD_FLAGS if f in flags) or "none",
        "cores": str(usable_cores()),
        "onnxruntime": _version("onnxruntime"),
        "openvino": _version("openvino"),
    }
    for spec in specs:
        doc[f"model:{spec.key}"] = spec.sha256
    return doc


def candidates(
    specs: Sequence[ModelSpec],
    backends: Sequence[str] | None = None,
    threads: Sequence[int] | None = None,
) -> list[Candidate]:
    """Every installed backend x shipped precision x thread count (1 and all cores)."""
    backends = list(backends) if backends is not None else available_backends()
    counts = sorted(set(threads)) if threads else sorted({1, usable_cores()})
    return [
        Candidate(backend, spec.precision, n)
        for spec in specs
        for backend in backends
        for n in counts
    ]


def model_specs(manifest: Manifest, model: str, precision: str | None = None) -> list[ModelSpec]:
    """The shipped precisions of `model` (or just `precision`); `ModelError` if none."""
    specs = [s for s in manifest.specs if s.name == manifest.canonical(model)]
    if precision is not None:
        specs = [s for s in specs if s.precision == precision]
    if not specs:
        raise ModelError(f"no model {model}{':' + precision if precision else ''} in the manifest")
    return specs


def time_interleaved(
    detectors: Sequence[ObjectDetector], frames: Sequence[np.ndarray], seconds: float
) -> list[float]:
    """Frames/s of each detector, one frame each in turn until each has run `seconds`.

    Round-robin, and the median frame time rather than the mean, so a neighbour's burst
    of load falls on every candidate alike and the figures compare as ratios.
    """
    times: list[list[float]] = [[] for _ in detectors]
    spent = [0.0] * len(detectors)
    index = 0
    while detectors and min(spent) < seconds:
        frame = [frames[index % len(frames)]]
        for k, detector in enumerate(detectors):
            t0 = time.perf_counter()
            detector.detect(frame)
            dt = time.perf_counter() - t0
            times[k].append(dt)
            spent[k] += dt
        index += 1
    return [1.0 / float(np.median(t)) for t in times]


def batch_gain(detector: ObjectDetector, frames: Sequence[np.ndarray], seconds: float) -> float:
    """Images/s with BATCH_PROBE frames per call over images/s with one, interleaved."""
    batch = [frames[k % len(frames)] for k in range(BATCH_PROBE)]
    one: list[float] = []
    many: list[float] = []
    spent = 0.0
    while spent < seconds or len(one) < 2:
        t0 = time.perf_counter()
        for image in batch:
            detector.detect([image])
        t1 = time.perf_counter()
        detector.detect(batch)
        t2 = time.perf_counter()
        one.append(t1 - t0)
        many.append(t2 - t1)
        spent += t2 - t0
    return float(np.median(one) / np.median(many))


def _reference(specs: Sequence[ModelSpec], backends: Sequence[str]) -> Candidate:
    """FP32 on ONNX Runtime where shipped and installed: what INT8 is held to in tests."""
    precisions = [s.precision for s in specs]
    precision = "fp32" if "fp32" in precisions else precisions[0]
    backend = "onnxruntime" if "onnxruntime" in backends else backends[0]
    return Candidate(backend, precision, usable_cores())


def _detector(spec: ModelSpec, candidate: Candidate, score_threshold: float) -> ObjectDetector:
    model = load_spec(spec, candidate.backend, candidate.threads)
    return ObjectDetector(model, score_threshold=score_threshold)


def measure_backends(
    manifest: Manifest,
    model: str,
    frames: Sequence[np.ndarray],
    *,
    seconds: float = 3.0,
    score_threshold: float = 0.15,
    only: Sequence[Candidate] | None = None,
    progress: Progress | None = None,
) -> BackendChoice:
    """Time every candidate on `frames`, check agreement, pick the fastest that passes.

    Detectors run at `score_threshold` (the tracker's, as on the box, so NMS costs what it
    will cost); agreement is taken at the manifest's shipped threshold. A candidate that
    fails to load or run is recorded with its error and never chosen.
    """
    if not frames:
        raise ValueError("measuring backends needs at least one real frame")
    specs = model_specs(manifest, model)
    by_precision = {s.precision: s for s in specs}
    backends = available_backends()
    if not backends:
        raise ModelError("no inference backend installed (onnxruntime, openvino)")
    todo = list(only) if only is not None else candidates(specs, backends)
    ref = _reference(specs, backends)
    shipped = float(by_precision[ref.precision].defaults.get("score_threshold", 0.45))
    say = progress or (lambda _msg: None)
    say(f"reference {ref.label} on {len(frames)} frames")
    reference = [
        _detector(by_precision[ref.precision], ref, score_threshold).detect([f])[0] for f in frames
    ]
    loaded = [(c, _load(by_precision.get(c.precision), c, score_threshold)) for c in todo]
    trials = _trials(loaded, frames, reference, shipped=shipped, seconds=seconds, say=say)
    passed = [t for t in trials if t.passed]
    chosen = max(passed, key=lambda t: t.frames_per_s).candidate if passed else None
    gain = 1.0
    if chosen is not None:
        detector = _detector(by_precision[chosen.precision], chosen, score_threshold)
        gain = batch_gain(detector, frames, seconds)
        say(f"{chosen.label}: batch of {BATCH_PROBE} gives {gain:.2f}x the images/s of one")
    return BackendChoice(
        model=model,
        chosen=chosen,
        trials=tuple(trials),
        fingerprint=fingerprint(specs),
        reference=ref.label,
        frames=len(frames),
        seconds_per_trial=seconds,
        batch_gain=round(gain, 3),
    )


def _trials(
    loaded: Sequence[tuple[Candidate, ObjectDetector | str]],
    frames: Sequence[np.ndarray],
    reference: Sequence[Detections],
    *,
    shipped: float,
    seconds: float,
    say: Progress,
) -> list[Trial]:
    """Detections of every loaded candidate, then their interleaved timing, as trials."""
    found: dict[Candidate, list[Detections]] = {}
    errors = {c: d for c, d in loaded if isinstance(d, str)}
    ready: list[tuple[Candidate, ObjectDetector]] = []
    for candidate, detector in loaded:
        if isinstance(detector, str):
            continue
        try:  # the first pass is also each candidate's warm-up
            found[candidate] = [detector.detect([f])[0] for f in frames]
            ready.append((candidate, detector))
        except ModelError as err:
            errors[candidate] = str(err)
    say(f"timing {len(ready)} candidates interleaved, {seconds:g} s each")
    rates = time_interleaved([d for _, d in ready], frames, seconds)
    rate_of = {c: r for (c, _), r in zip(ready, rates, strict=True)}
    trials = []
    for candidate, _ in loaded:
        if candidate in errors:
            trials.append(Trial(candidate, 0.0, 0.0, 0.0, 0, errors[candidate]))
        else:
            agreement = precision_agreement(reference, found[candidate], shipped, AGREEMENT_MARGIN)
            trials.append(
                Trial(
                    candidate,
                    round(rate_of[candidate], 2),
                    round(agreement.persons, 4),
                    round(agreement.all_classes, 4),
                    agreement.total,
                )
            )
        say(_describe(trials[-1]))
    return trials


def _load(
    spec: ModelSpec | None, candidate: Candidate, score_threshold: float
) -> ObjectDetector | str:
    """The candidate's detector, or why it cannot run here."""
    if spec is None:
        return f"{candidate.precision} not shipped"
    try:
        return _detector(spec, candidate, score_threshold)
    except ModelError as err:
        log.warning("backend candidate %s failed to load: %s", candidate.label, err)
        return str(err)


def _describe(trial: Trial) -> str:
    if trial.error:
        return f"{trial.candidate.label}: failed ({trial.error})"
    verdict = "passes" if trial.passed else "below the agreement bar"
    return (
        f"{trial.candidate.label}: {trial.frames_per_s:.1f} frames/s, agreement persons "
        f"{trial.persons_agreement:.3f} all {trial.all_classes_agreement:.3f} ({verdict})"
    )
