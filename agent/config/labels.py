"""Class names in a camera's rules, checked against the labels of the model that runs them.

Pure logic over validated models, shared by the box (before it applies a pushed document)
and the fleet (before it stores one), so both refuse the same mistake with the same words:
``cameras[0].lines[0].classes[0]: 'persn' is not a label of nanodet-g``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from agent.config.camera import CameraSpec
from agent.errors import ConfigError


def _named_classes(spec: CameraSpec) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(field path inside the camera, class names) of every rule that names classes."""
    for i, line in enumerate(spec.lines):
        yield f"lines[{i}].classes", line.classes
    for i, zone in enumerate(spec.zones):
        yield f"zones[{i}].classes", zone.classes
    for i, traffic in enumerate(spec.traffic):
        yield f"traffic[{i}].classes", traffic.classes
    if spec.abandoned is not None:
        yield "abandoned.classes", spec.abandoned.classes
        yield "abandoned.person_classes", spec.abandoned.person_classes


def label_errors(
    cameras: Sequence[CameraSpec], labels: Sequence[str], model: str, prefix: str = "cameras"
) -> list[str]:
    """One message per class name that `model` (with `labels`) does not have."""
    known = set(labels)
    errors = []
    for c, spec in enumerate(cameras):
        for path, names in _named_classes(spec):
            for k, name in enumerate(names):
                if name not in known:
                    errors.append(f"{prefix}[{c}].{path}[{k}]: {name!r} is not a label of {model}")
    return errors


def check_labels(
    cameras: Sequence[CameraSpec], labels: Sequence[str], model: str, prefix: str = "cameras"
) -> None:
    """Raise `ConfigError` listing every unknown class name (all of them, not the first)."""
    errors = label_errors(cameras, labels, model, prefix)
    if errors:
        raise ConfigError("; ".join(errors))
