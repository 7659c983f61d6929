"""The class labels of the detector a box runs, as the box last reported it.

A box sends its detector's name, version and labels in every `StateReport`; an older box
may send only the name, and then the labels come from `models/manifest.json` (read as
JSON: the fleet does not load models). Unknown model and no labels: nothing to check.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.store.records import StateReportRecord
from models import MANIFEST_PATH

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorLabels:
    """A detector's name (as rules' errors name it) and its labels."""

    model: str
    labels: tuple[str, ...]


def manifest_entries(path: Path = MANIFEST_PATH) -> list[dict[str, Any]]:
    """The shipped manifest's entries as JSON objects; [] (logged) when it cannot be read."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("models", [])
    except (OSError, ValueError, AttributeError) as err:
        log.warning("%s: cannot read the model manifest: %s", path, err)
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def manifest_labels(model: str, path: Path = MANIFEST_PATH) -> tuple[str, ...]:
    """Labels of `model` (name or former name) in the manifest, any precision; () if absent."""
    for entry in manifest_entries(path):
        # A box that still runs the detector under a former name (an alias) gets its labels.
        if model in (entry.get("name"), *entry.get("aliases", ())):
            return tuple(str(label) for label in entry.get("labels") or ())
    return ()


def reported_detector(
    report: StateReportRecord | None, path: Path = MANIFEST_PATH
) -> DetectorLabels | None:
    """What the box's rules will be checked against, or None when the fleet cannot know."""
    if report is None or not report.detector_model:
        return None
    labels = report.detector_labels or manifest_labels(report.detector_model, path)
    return DetectorLabels(report.detector_model, tuple(labels)) if labels else None
