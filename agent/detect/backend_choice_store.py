"""Where the measured backend choice lives, and when to measure again.

    <data_dir>/inference.json   tinydb: one record per model (see `BackendChoice`)

At start the box reuses the record whose fingerprint (CPU, model checksums, backend
versions, cores) matches the machine as it is now; otherwise it measures on a few frames of
its own cameras and stores the result. A box whose cameras give no frame at start runs the
vendor default for now and says so, rather than delay every camera for a measurement.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from tinydb import Query, TinyDB

from agent.capture.source import open_capture
from agent.config.source import SourceSpec, parse_source, redact
from agent.detect.backend_choice import (
    BackendChoice,
    Candidate,
    Progress,
    candidates,
    fingerprint,
    measure_backends,
    model_specs,
)
from agent.errors import IdentityError, ModelError, OkoError
from agent.identity import AtomicJSONStorage
from agent.inference.backend import resolve_backend
from agent.inference.manifest import Manifest, load_manifest

if TYPE_CHECKING:  # the box's config type only; inference does not depend on the pipeline
    from agent.config.agent import BoxConfig

log = logging.getLogger(__name__)

CHOICE_FILE = "inference.json"
SAMPLE_FRAMES = 16  # per measurement: enough scenes to compare detections
SOURCE_TIMEOUT_S = 3.0  # a camera that gives nothing in this long is left out


class ChoiceStore:
    """The per-model records of measured backend choices in the agent's data dir."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / CHOICE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _db(self) -> TinyDB:
        return TinyDB(str(self.path), storage=AtomicJSONStorage)

    def load(self, model: str) -> BackendChoice | None:
        """The stored record for `model`; None if absent or unreadable (then re-measured)."""
        try:
            doc = self._db().table("choices").get(Query().model == model)
        except IdentityError as err:  # the atomic storage's "not valid JSON"
            log.warning("%s: ignoring unreadable backend choice record: %s", self.path, err)
            return None
        if doc is None:
            return None
        try:
            return BackendChoice.from_dict(dict(doc))
        except ValueError as err:
            log.warning("%s: ignoring record for %s: %s", self.path, model, err)
            return None

    def save(self, choice: BackendChoice) -> None:
        """Store `choice` for its model; an unreadable file is set aside as *.corrupt first."""
        record = choice.to_dict()
        try:
            self._db().table("choices").upsert(record, Query().model == choice.model)
        except IdentityError as err:
            aside = self.path.with_suffix(".json.corrupt")
            log.warning("%s: %s; moved to %s", self.path, err, aside)
            self.path.replace(aside)
            self._db().table("choices").upsert(record, Query().model == choice.model)


@dataclass(frozen=True)
class DetectorSettings:
    """What the detector is loaded with, and the measurement behind it (if any)."""

    backend: str
    precision: str | None
    threads: int | None
    choice: BackendChoice | None
    source: str  # "measured", "stored", "requested" or "default"

    @property
    def max_batch(self) -> int | None:
        """The measured batch size for the shared worker, or None (not measured)."""
        return self.choice.max_batch if self.choice is not None else None


def is_current(choice: BackendChoice, manifest: Manifest) -> bool:
    """Whether the record was measured on this CPU, these models and backend versions."""
    return choice.fingerprint == fingerprint(model_specs(manifest, choice.model))


def _restricted(
    manifest: Manifest,
    model: str,
    backend: str,
    precision: str | None,
    threads: int | None,
) -> list[Candidate]:
    """Candidates left once the operator's explicit options are honoured."""
    specs = model_specs(manifest, model, precision)
    backends = None if backend == "auto" else [resolve_backend(backend)]
    return candidates(specs, backends, [threads] if threads else None)


def choose_settings(
    data_dir: str | Path,
    model: str,
    frames: Callable[[], Sequence[np.ndarray]],
    *,
    backend: str = "auto",
    precision: str | None = None,
    threads: int | None = None,
    seconds: float = 3.0,
    remeasure: bool = False,
    manifest: Manifest | None = None,
    progress: Progress | None = None,
) -> DetectorSettings:
    """The settings to load the detector with: stored if current, else measured now.

    Options the operator gave (backend, precision, threads) are kept; only what is left
    open is measured. `frames()` is called only when a measurement is needed.
    """
    manifest = manifest or load_manifest()
    todo = _restricted(manifest, model, backend, precision, threads)
    if len(todo) == 1 and not remeasure:
        only = todo[0]
        return DetectorSettings(only.backend, only.precision, only.threads, None, "requested")
    store = ChoiceStore(data_dir)
    stored = store.load(model)
    if (
        not remeasure
        and stored is not None
        and stored.chosen in todo
        and is_current(stored, manifest)
    ):
        return _settings(stored, "stored")
    sample = list(frames())
    if not sample:
        log.warning(
            "no camera frame to measure backends on; using the default backend for now "
            "(run `oko-agent doctor --measure` once a camera streams)"
        )
        return DetectorSettings(backend, precision, threads, stored, "default")
    choice = measure_backends(
        manifest, model, sample, seconds=seconds, only=todo, progress=progress
    )
    if choice.chosen is None:
        raise ModelError(
            f"{model}: no backend passed the agreement bar on this box's frames: "
            + "; ".join(f"{t.candidate.label} {t.error or 'disagrees'}" for t in choice.trials)
        )
    store.save(choice)
    log.info("backend chosen by measurement: %s", choice.chosen.label)
    return _settings(choice, "measured")


def _settings(choice: BackendChoice, source: str) -> DetectorSettings:
    assert choice.chosen is not None
    c = choice.chosen
    return DetectorSettings(c.backend, c.precision, c.threads, choice, source)


def sample_frames(
    sources: Sequence[str],
    count: int = SAMPLE_FRAMES,
    timeout_s: float = SOURCE_TIMEOUT_S,
    every: int = 10,
) -> list[np.ndarray]:
    """Up to `count` frames spread over the given camera sources (every `every`-th frame).

    A camera that cannot be opened or read in `timeout_s` is skipped with a warning: the
    measurement uses whatever real frames the box can get.
    """
    frames: list[np.ndarray] = []
    for k, text in enumerate(sources):
        left = len(sources) - k
        share = -(-(count - len(frames)) // left)  # what is still missing, over those left
        try:
            spec = parse_source(text)
            cap = _quiet_open(spec, timeout_s)
        except OkoError as err:  # messages name the source with its password redacted
            log.warning("backend measurement: skipping source %s: %s", redact(text), err)
            continue
        try:
            frames.extend(_read_some(cap, share, every, time.monotonic() + timeout_s))
        finally:
            cap.release()
        if len(frames) >= count:
            break
    return frames[:count]


def detector_settings(
    box: BoxConfig, model: str, backend: str, precision: str | None, threads: int | None
) -> DetectorSettings:
    """`oko-agent run`'s choice: measured on this box's cameras unless turned off."""
    if not box.agent.inference.measure:
        source = "default" if backend == "auto" else "requested"
        return DetectorSettings(backend, precision, threads, None, source)
    sources = [c.source for c in box.cameras if c.enabled and c.source]
    return choose_settings(
        box.agent.data_dir,
        model,
        lambda: sample_frames(sources),
        backend=backend,
        precision=precision,
        threads=threads,
        seconds=box.agent.inference.measure_seconds,
    )


def _quiet_open(spec: SourceSpec, timeout_s: float) -> cv2.VideoCapture:
    """Open without OpenCV's own warnings on stderr: a failure is our logged warning."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return open_capture(spec, timeout_s, timeout_s)
    finally:
        cv2.utils.logging.setLogLevel(level)


def _read_some(cap: cv2.VideoCapture, wanted: int, every: int, deadline: float) -> list[np.ndarray]:
    taken: list[np.ndarray] = []
    index = 0
    while len(taken) < wanted and time.monotonic() < deadline:
        ok, image = cap.read()
        if not ok or image is None:
            break
        if index % every == 0:
            taken.append(image)
        index += 1
    return taken
