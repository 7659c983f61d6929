"""Desired-state documents: parse, validate, render the box document. Pure logic.

A device has one box-level document and one document per camera. The box receives a single
rendered document: the box mapping with each camera document put into its `cameras:` list
(replacing an entry with the same `id`). Documents are validated with the agent's own
models (`AgentConfig` for the box, cameras and unique ids included; `CameraSpec` per camera:
capture settings and analytics rules, exactly what `oko-agent run` reads) and its YAML
reader, so the fleet refuses what the agent would refuse, with the same dotted field paths,
before anything is stored or sent.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import yaml
from pydantic import BaseModel

from agent.config import AgentConfig, CameraSpec, ConfigError, parse_document, parse_yaml
from agent.config.labels import label_errors
from fleet.errors import ConfigRejectedError

BOX_SCOPE = ""
MAX_DOCUMENT_BYTES = 256 * 1024


def sha256_text(text: str) -> str:
    """Hex digest of a document's UTF-8 text: the version check the box reports back."""
    return hashlib.sha256(text.encode()).hexdigest()


def parse(text: str, where: str) -> dict[str, Any]:
    """YAML (or JSON) text to a mapping; ConfigRejectedError naming `where` otherwise."""
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise ConfigRejectedError(f"{where}: document larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return parse_yaml(text, where)
    except ConfigError as err:
        raise ConfigRejectedError(str(err)) from err


def _check(model: type[BaseModel], entry: dict[str, Any], where: str) -> None:
    try:
        parse_document(model, entry, where)
    except ConfigError as err:
        raise ConfigRejectedError(str(err)) from err


def validate_scope(scope: str, data: dict[str, Any], device_id: str) -> dict[str, Any]:
    """Check one scope's document; returns it (camera documents get their `id` set)."""
    if scope == BOX_SCOPE:
        # render() indexes the box's camera entries by id, so they must be mappings here;
        # AgentConfig accepts only a list of camera mappings with unique ids.
        if not isinstance(data.get("cameras", []), list):
            raise ConfigRejectedError(f"{device_id}: cameras: must be a list")
        _check(AgentConfig, data, device_id)
        return data
    if data.get("id", scope) != scope:
        raise ConfigRejectedError(
            f"{device_id}/{scope}: id: {data['id']!r} does not match the camera scope {scope!r}"
        )
    entry = {"id": scope, **{k: v for k, v in data.items() if k != "id"}}
    _check(CameraSpec, entry, f"{device_id}/{scope}")
    return entry


def check_classes(
    rendered: dict[str, Any], device_id: str, model: str, labels: tuple[str, ...]
) -> None:
    """Refuse rules naming classes `model` lacks, as the box would (`agent.config.labels`)."""
    config = AgentConfig.model_validate(rendered)  # already validated: this cannot fail
    errors = label_errors(config.cameras, labels, model)
    if errors:
        raise ConfigRejectedError(f"{device_id}: " + "; ".join(errors))


def render(box: dict[str, Any], cameras: dict[str, dict[str, Any]]) -> str:
    """The document the agent receives. Deterministic, so equal inputs give equal hashes."""
    out = copy.deepcopy(box)
    entries: list[dict[str, Any]] = list(out.get("cameras", []))
    index = {entry["id"]: i for i, entry in enumerate(entries)}
    for cam_id in sorted(cameras):
        if cam_id in index:
            entries[index[cam_id]] = cameras[cam_id]
        else:
            entries.append(cameras[cam_id])
    if entries:
        out["cameras"] = entries
    return yaml.safe_dump(out, sort_keys=False, allow_unicode=True)
