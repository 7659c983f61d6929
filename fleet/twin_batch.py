"""One scope document for many devices: validate once, render per device, store in one go.

`fleet.twin.set_config` is the one-device path (a read, a validation and a transaction
each); pushing the same document to 2,000 boxes that way took a round trip and a full
validation per box. Here the document is validated once, and every device's rendered
document is made from its own current documents as `set_config` makes it. Devices with
the same inputs (the same other documents and the same detector) share one rendering and
one validation of it, which in a city is nearly all of them. Every new version is
written by one `Store.put_configs` transaction. A device whose rendering is refused (a
camera twice, a rule naming a class its detector lacks) is reported with the reason and
gets nothing; the others still get their new version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet import desired
from fleet.app import now_us
from fleet.errors import ConfigRejectedError
from fleet.model_labels import DetectorLabels
from fleet.store.base import Store
from fleet.store.records import ConfigDoc
from fleet.store.sqlite_registry import RENDERED_SCOPE

CONFLICT = "its config changed during this call (another edit); run again"
_RENDERED = "rendered document"


@dataclass(frozen=True)
class DeviceOutcome:
    """What one device got: its version after the call, or why it got nothing."""

    device_id: str
    version: int
    unchanged: bool = False
    error: str = ""

    @property
    def kind(self) -> str:
        """`failed`, `unchanged` or `changed`."""
        if self.error:
            return "failed"
        return "unchanged" if self.unchanged else "changed"


@dataclass(frozen=True)
class BatchOutcome:
    """Per-device outcomes (in the order asked) and the new rendered documents to push."""

    sha256: str
    outcomes: list[DeviceOutcome]
    rendered: dict[str, ConfigDoc] = field(default_factory=dict)

    def count(self, what: str) -> int:
        """How many devices were `changed`, `unchanged` or `failed`."""
        return sum(1 for o in self.outcomes if o.kind == what)


def validate_document(scope: str, text: str) -> dict[str, Any]:
    """The document checked once for all devices; ConfigRejectedError naming the field."""
    where = f"document/{scope}" if scope else "document"
    return desired.validate_scope(scope, desired.parse(text, where), where)


class _Renderer:
    """Renders devices' documents, sharing work between devices with equal inputs."""

    def __init__(self, scope: str, validated: dict[str, Any]) -> None:
        self.scope = scope
        self.validated = validated
        self._parsed: dict[tuple[str, str], dict[str, Any]] = {}
        self._rendered: dict[tuple[Any, ...], str | ConfigRejectedError] = {}

    def mapping(self, device_id: str, doc: ConfigDoc) -> dict[str, Any]:
        """A stored document as a validated mapping (parsed once per distinct content)."""
        key = (doc.scope, doc.sha256)
        if key not in self._parsed:
            where = f"{device_id}/{doc.scope}" if doc.scope else device_id
            data = desired.parse(doc.document, where)
            self._parsed[key] = (
                desired.validate_scope(doc.scope, data, device_id) if doc.scope else data
            )
        return self._parsed[key]

    def render(
        self, device_id: str, docs: Mapping[str, ConfigDoc], detector: DetectorLabels | None
    ) -> str:
        """The device's new rendered text; ConfigRejectedError if it is not a valid box."""
        others = tuple(
            sorted((s, d.sha256) for s, d in docs.items() if s not in (self.scope, RENDERED_SCOPE))
        )
        key = (others, detector)
        if key not in self._rendered:
            self._rendered[key] = self._render_new(device_id, docs, detector)
        found = self._rendered[key]
        if isinstance(found, ConfigRejectedError):
            raise found
        return found

    def _render_new(
        self, device_id: str, docs: Mapping[str, ConfigDoc], detector: DetectorLabels | None
    ) -> str | ConfigRejectedError:
        box = self.mapping(device_id, docs[""]) if "" in docs else {}
        cameras = {
            s: self.mapping(device_id, d) for s, d in docs.items() if s not in ("", RENDERED_SCOPE)
        }
        if self.scope:
            cameras[self.scope] = self.validated
        else:
            box = self.validated
        text = desired.render(box, cameras)
        try:
            data = desired.parse(text, _RENDERED)
            desired.validate_scope("", data, _RENDERED)
            if detector is not None:
                desired.check_classes(data, _RENDERED, detector.model, detector.labels)
        except ConfigRejectedError as err:
            return err
        return text


def _unchanged(renderer: _Renderer, device_id: str, docs: Mapping[str, ConfigDoc]) -> bool:
    stored, current = docs.get(renderer.scope), docs.get(RENDERED_SCOPE)
    return (
        stored is not None
        and current is not None
        and renderer.mapping(device_id, stored) == renderer.validated
    )


async def set_configs(
    store: Store,
    devices: Mapping[str, DetectorLabels | None],
    scope: str,
    text: str,
    *,
    author: str,
    dry_run: bool = False,
) -> BatchOutcome:
    """Give every device in `devices` (id -> its reported detector) `text` as `scope`.

    Raises ConfigRejectedError (nothing stored) if the document itself is invalid.
    """
    renderer = _Renderer(scope, validate_document(scope, text))
    sha = desired.sha256_text(text)
    current = await store.config_docs_of(list(devices))
    at = now_us()
    outcomes: dict[str, DeviceOutcome] = {}
    pairs: list[tuple[ConfigDoc, ConfigDoc]] = []
    for device_id, detector in devices.items():
        docs = current.get(device_id, {})
        version = docs[RENDERED_SCOPE].version if RENDERED_SCOPE in docs else 0
        if _unchanged(renderer, device_id, docs):
            outcomes[device_id] = DeviceOutcome(device_id, version, unchanged=True)
            continue
        try:
            rendered_text = renderer.render(device_id, docs, detector)
        except ConfigRejectedError as err:
            outcomes[device_id] = DeviceOutcome(device_id, version, error=str(err))
            continue
        doc = ConfigDoc(device_id, scope, version + 1, text, sha, at, author)
        rendered = ConfigDoc(
            device_id,
            RENDERED_SCOPE,
            version + 1,
            rendered_text,
            desired.sha256_text(rendered_text),
            at,
            author,
        )
        pairs.append((doc, rendered))
        outcomes[device_id] = DeviceOutcome(device_id, version + 1)
    conflicts = set(await store.put_configs(pairs)) if pairs and not dry_run else set()
    for device_id in conflicts:
        outcomes[device_id] = DeviceOutcome(
            device_id, outcomes[device_id].version - 1, error=CONFLICT
        )
    new = {} if dry_run else {r.device_id: r for _, r in pairs if r.device_id not in conflicts}
    return BatchOutcome(sha, [outcomes[d] for d in devices], new)
