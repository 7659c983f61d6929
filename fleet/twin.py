"""Device twin operations: validate a scope document, render, store a new version.

Validation happens entirely before the store is touched, so a bad document changes
nothing: the last good version stays the one the box runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet import desired
from fleet.app import now_us
from fleet.errors import VersionConflictError
from fleet.model_labels import DetectorLabels
from fleet.store.base import Store
from fleet.store.records import ConfigDoc
from fleet.store.sqlite_registry import RENDERED_SCOPE


@dataclass(frozen=True)
class SetOutcome:
    """The scope's document and the rendered box document, and whether anything changed."""

    doc: ConfigDoc
    rendered: ConfigDoc
    unchanged: bool  # same content as stored: no new version (so `apply` is idempotent)


async def set_config(
    store: Store,
    device_id: str,
    scope: str,
    text: str,
    *,
    expected_version: int,
    author: str,
    dry_run: bool = False,
    detector: DetectorLabels | None = None,
) -> SetOutcome:
    """Store `text` as the document of `scope` ('' = box), unless its content is already there.

    "Same content" compares the validated mappings, so re-ordered keys or comments do not
    make a new version. `dry_run` validates and renders but stores nothing. `detector`
    (what the box last reported running) has rule class names checked against its labels.
    """
    where = f"{device_id}/{scope}" if scope else device_id
    validated = desired.validate_scope(scope, desired.parse(text, where), device_id)
    docs = await store.get_config_docs(device_id)
    current = await store.get_desired(device_id)
    current_version = current.version if current else 0
    box = desired.parse(docs[""].document, device_id) if "" in docs else {}
    cameras = {
        s: desired.validate_scope(s, desired.parse(d.document, f"{device_id}/{s}"), device_id)
        for s, d in docs.items()
        if s
    }
    if expected_version and expected_version != current_version:
        # Checked here too, so neither "unchanged" nor a dry run hides a stale read.
        raise VersionConflictError(
            f"{device_id}: config is at version {current_version}, not {expected_version}; "
            "fetch it again and retry"
        )
    stored = docs.get(scope)
    if stored is not None and current is not None:
        before = cameras.get(scope) if scope else box
        if before == validated:
            return SetOutcome(stored, current, unchanged=True)
    if scope:
        cameras[scope] = validated
    else:
        box = validated
    rendered_text = desired.render(box, cameras)
    # The merged document must itself be valid (e.g. no camera twice).
    rendered_data = desired.parse(rendered_text, device_id)
    desired.validate_scope("", rendered_data, device_id)
    if detector is not None:
        desired.check_classes(rendered_data, device_id, detector.model, detector.labels)
    version = current_version + 1
    at = now_us()
    doc = ConfigDoc(device_id, scope, version, text, desired.sha256_text(text), at, author)
    rendered = ConfigDoc(
        device_id,
        RENDERED_SCOPE,
        version,
        rendered_text,
        desired.sha256_text(rendered_text),
        at,
        author,
    )
    if not dry_run:
        await store.put_config(doc, rendered, expected_version or current_version)
    return SetOutcome(doc, rendered, unchanged=False)
