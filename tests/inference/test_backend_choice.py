"""The backend is chosen by measurement on real frames, stored, reused, and re-measured.

Real models on real frames of vtest.avi; timing figures are only checked to exist and to
decide the choice as documented (the fastest passing candidate), never against a number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from agent.cli import app
from agent.detect.backend_choice import BackendChoice, Candidate, measure_backends
from agent.detect.backend_choice_metrics import BackendChoiceCollector
from agent.detect.backend_choice_store import (
    CHOICE_FILE,
    ChoiceStore,
    choose_settings,
    sample_frames,
)
from agent.inference.manifest import load_manifest
from tests.support.media import VTEST

MODEL = "nanodet-g"
FAST: dict[str, Any] = {"seconds": 0.3, "backend": "onnxruntime", "precision": "int8"}


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return sample_frames([str(VTEST)], count=4, every=60)


@pytest.fixture(scope="module")
def choice(frames: list[np.ndarray]) -> BackendChoice:
    only = [Candidate("onnxruntime", "int8", 1), Candidate("onnxruntime", "int8", 2)]
    return measure_backends(load_manifest(), MODEL, frames, seconds=0.3, only=only)


def _never(_: str = "") -> Sequence[np.ndarray]:
    raise AssertionError("frames were read although a current record exists")


def test_sample_frames_reads_real_frames_and_skips_a_missing_source(tmp_path: Path) -> None:
    got = sample_frames([str(tmp_path / "gone.avi"), str(VTEST)], count=3, every=10)
    assert len(got) == 3 and all(f.shape == (576, 768, 3) for f in got)


def test_fastest_candidate_that_agrees_with_fp32_is_chosen(choice: BackendChoice) -> None:
    assert choice.reference == "onnxruntime/fp32/2t" or choice.reference.startswith(
        "onnxruntime/fp32/"
    )
    assert len(choice.trials) == 2 and all(t.error is None for t in choice.trials)
    assert all(t.frames_per_s > 0 and t.compared > 0 for t in choice.trials)
    # INT8 against FP32 on real frames: the accuracy tests' kind of agreement
    assert all(t.passed for t in choice.trials), choice.trials
    fastest = max(choice.trials, key=lambda t: t.frames_per_s)
    assert choice.chosen == fastest.candidate
    assert choice.fingerprint[f"model:{MODEL}:int8"] == load_manifest().get(MODEL, "int8").sha256
    # Batching is used only where it measured faster than one image per call.
    assert choice.batch_gain > 0
    assert choice.max_batch == (8 if choice.batch_gain >= 1.15 else 1)


def test_a_candidate_that_cannot_run_is_recorded_and_never_chosen(
    frames: list[np.ndarray],
) -> None:
    only = [Candidate("onnxruntime", "int4", 2), Candidate("onnxruntime", "int8", 2)]
    result = measure_backends(load_manifest(), MODEL, frames[:2], seconds=0.2, only=only)
    failed = result.trials[0]
    assert failed.error == "int4 not shipped" and not failed.passed
    assert result.chosen == Candidate("onnxruntime", "int8", 2)


def test_record_round_trips_and_is_reused_until_the_machine_changes(
    tmp_path: Path, frames: list[np.ndarray], choice: BackendChoice
) -> None:
    assert BackendChoice.from_dict(json.loads(json.dumps(choice.to_dict()))) == choice
    calls: list[int] = []

    def counted() -> list[np.ndarray]:
        calls.append(1)
        return frames

    first = choose_settings(tmp_path, MODEL, counted, **FAST)
    assert first.source == "measured" and calls == [1]
    assert (tmp_path / CHOICE_FILE).is_file()
    again = choose_settings(tmp_path, MODEL, _never, **FAST)
    assert again.source == "stored" and again.choice == first.choice
    assert (again.backend, again.precision, again.threads) == (
        first.backend,
        first.precision,
        first.threads,
    )
    # A new backend version (or CPU, or model file) makes the record stale: measure again.
    doc = json.loads((tmp_path / CHOICE_FILE).read_text())
    doc["choices"]["1"]["fingerprint"]["onnxruntime"] = "0.0.1"
    (tmp_path / CHOICE_FILE).write_text(json.dumps(doc))
    assert choose_settings(tmp_path, MODEL, counted, **FAST).source == "measured"
    assert calls == [1, 1]


def test_explicit_options_are_kept_and_need_no_measurement(tmp_path: Path) -> None:
    settings = choose_settings(
        tmp_path, MODEL, _never, backend="onnxruntime", precision="int8", threads=1
    )
    assert (settings.backend, settings.precision, settings.threads, settings.source) == (
        "onnxruntime",
        "int8",
        1,
        "requested",
    )


def test_no_frames_falls_back_to_the_default_and_stores_nothing(tmp_path: Path) -> None:
    settings = choose_settings(tmp_path, MODEL, list, **FAST)
    assert settings.source == "default" and settings.choice is None
    assert ChoiceStore(tmp_path).load(MODEL) is None


def test_a_corrupt_record_is_measured_again_and_replaced(
    tmp_path: Path, frames: list[np.ndarray]
) -> None:
    (tmp_path / CHOICE_FILE).write_text("{not json")
    assert ChoiceStore(tmp_path).load(MODEL) is None
    settings = choose_settings(tmp_path, MODEL, lambda: frames, **FAST)
    assert settings.source == "measured"
    assert ChoiceStore(tmp_path).load(MODEL) == settings.choice
    assert (tmp_path / f"{CHOICE_FILE}.corrupt").read_text() == "{not json"


def test_metrics_and_doctor_show_the_choice_and_its_figures(
    tmp_path: Path, choice: BackendChoice
) -> None:
    ChoiceStore(tmp_path).save(choice)
    settings = choose_settings(tmp_path, MODEL, _never, **FAST)
    registry = CollectorRegistry()
    registry.register(BackendChoiceCollector(MODEL, settings, settings.backend))
    text = generate_latest(registry).decode()
    assert choice.chosen is not None
    chosen = choice.chosen
    assert (
        f'oko_agent_detector_backend_info{{backend="onnxruntime",model="{MODEL}",'
        f'precision="int8",source="stored",threads="{chosen.threads}"}} 1.0'
    ) in text
    assert text.count("oko_agent_backend_trial_frames_per_second{") == 2
    assert 'kind="persons"' in text and "oko_agent_backend_measured_timestamp_seconds" in text

    out = CliRunner().invoke(app, ["doctor", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "chosen" in out.output and "record current" in out.output
    assert f"chosen: {chosen.label}" in out.output
    assert f"batches up to {choice.max_batch}" in out.output
    empty = CliRunner().invoke(app, ["doctor", "--data-dir", str(tmp_path / "none")])
    assert empty.exit_code == 0 and "no measured backend choice" in empty.output
