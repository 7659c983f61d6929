"""Helpers shared by the rules: class filtering and the confirmed-track mask.

Every rule selects rows through `rule_rows`, so the invariant "unconfirmed or untracked
detections never count" lives in one place. Supervision's LineZone once counted every
``tracker_id == -1`` row as one shared phantom track; here such rows are simply invisible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from agent.detections import Detections
from agent.errors import ConfigError

BoolArr = npt.NDArray[np.bool_]


def class_ids(names: Sequence[str], labels: Sequence[str], field: str) -> npt.NDArray[np.int64]:
    """Map configured class names to detector class ids; unknown names are config errors."""
    index = {name: i for i, name in enumerate(labels)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ConfigError(
            f"{field}: {', '.join(map(repr, missing))} not among the detector's "
            f"labels ({len(labels)} labels, e.g. {', '.join(labels[:5])})"
        )
    return np.array(sorted({index[n] for n in names}), np.int64)


def rule_rows(detections: Detections, classes: npt.NDArray[np.int64]) -> BoolArr:
    """Rows that are confirmed tracks (tracker_id >= 0) of the rule's classes."""
    return (detections.tracker_id >= 0) & np.isin(detections.class_id, classes)


def label_of(labels: Sequence[str], class_id: int) -> str:
    """The class's name, or its number as text for an id the label list does not cover."""
    return labels[class_id] if 0 <= class_id < len(labels) else str(class_id)
