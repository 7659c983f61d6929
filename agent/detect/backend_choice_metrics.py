"""Prometheus view of the detector's backend choice and the figures it was chosen by."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.detect.backend_choice_store import DetectorSettings

_LABELS = ["backend", "precision", "threads"]


class BackendChoiceCollector(Collector):
    """`oko_agent_detector_backend_info` plus one gauge set per measured candidate."""

    def __init__(self, model: str, settings: DetectorSettings, loaded_backend: str) -> None:
        self._model = model
        self._settings = settings
        self._backend = loaded_backend

    def collect(self) -> Iterator[Metric]:
        """Yield the info gauge and the measured candidates' gauges at scrape time."""
        s = self._settings
        info = GaugeMetricFamily(
            "oko_agent_detector_backend_info",
            "The detector's backend, precision and threads; source = measured, stored "
            "(an earlier measurement still current), requested or default.",
            labels=["model", *_LABELS, "source"],
        )
        info.add_metric(
            [self._model, self._backend, s.precision or "", str(s.threads or 0), s.source], 1.0
        )
        yield info
        if s.choice is None:
            return
        rate = GaugeMetricFamily(
            "oko_agent_backend_trial_frames_per_second",
            "Detect-step frames/s each candidate reached when the backend was measured.",
            labels=_LABELS,
        )
        agreement = GaugeMetricFamily(
            "oko_agent_backend_trial_agreement",
            "Agreement of each candidate's detections with the FP32 reference.",
            labels=[*_LABELS, "kind"],
        )
        passed = GaugeMetricFamily(
            "oko_agent_backend_trial_passed",
            "1 if the candidate met the agreement bar (and ran).",
            labels=_LABELS,
        )
        for trial in s.choice.trials:
            c = trial.candidate
            key = [c.backend, c.precision, str(c.threads)]
            rate.add_metric(key, trial.frames_per_s)
            agreement.add_metric([*key, "persons"], trial.persons_agreement)
            agreement.add_metric([*key, "all_classes"], trial.all_classes_agreement)
            passed.add_metric(key, 1.0 if trial.passed else 0.0)
        when = GaugeMetricFamily(
            "oko_agent_backend_measured_timestamp_seconds",
            "Unix time of the measurement the backend choice rests on.",
        )
        when.add_metric([], s.choice.measured_at)
        yield from (rate, agreement, passed, when)
