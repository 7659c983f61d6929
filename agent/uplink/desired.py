"""Apply a desired-state document from the fleet, or refuse it and keep the last good one.

Order matters for "a bad document never half-applies": parse and validate everything
(YAML, then `AgentConfig` with every camera in it, then any registered checker)
*before* anything is stored; only then is the document written (one atomic tinydb write)
and the listeners told. The report always says what actually runs.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

from agent.config.agent import AgentConfig
from agent.config.base import parse_document, parse_yaml
from agent.errors import ConfigError
from agent.identity import AgentStore, AppliedConfig
from proto.oko.v1 import agent_pb2

log = logging.getLogger(__name__)

# Raises ConfigError (naming the field) when the document cannot run on this box.
Checker = Callable[[AgentConfig], None]
# Told about a stored document; must not fail (checks belong in a Checker).
Listener = Callable[[AgentConfig, int], None]


@dataclass(frozen=True)
class ApplyOutcome:
    """What one attempt did: the report for the fleet and, on success, the new config."""

    report: agent_pb2.StateReport
    config: AgentConfig | None


def validate_document(document: str, source: str) -> AgentConfig:
    """YAML text -> `AgentConfig`, every failure a `ConfigError` naming the field."""
    return parse_document(AgentConfig, parse_yaml(document, source), source)


class DesiredStateApplier:
    """Turns `DesiredState` messages into applied configs and `StateReport`s."""

    def __init__(self, store: AgentStore) -> None:
        self._store = store
        self._checkers: list[Checker] = []
        self._listeners: list[Listener] = []
        self._detector: tuple[str, str, tuple[str, ...]] = ("", "", ())

    def describe_detector(self, name: str, version: str, labels: Sequence[str]) -> None:
        """Report the detector this box runs, so the fleet checks rule classes against it."""
        self._detector = (name, version, tuple(labels))

    def add_checker(self, checker: Checker) -> None:
        """Register an extra validation step (runs before anything is stored)."""
        self._checkers.append(checker)

    def add_listener(self, listener: Listener) -> None:
        """Register a callback run after a document is stored."""
        self._listeners.append(listener)

    def applied_version(self) -> int:
        """The running desired-state version (0 = none yet)."""
        applied = self._store.applied_config()
        return applied.version if applied else 0

    def current(self) -> AgentConfig | None:
        """The running config, re-validated from the store (None before the first apply)."""
        applied = self._store.applied_config()
        if applied is None:
            return None
        return validate_document(applied.document, f"applied config v{applied.version}")

    def apply(self, desired: agent_pb2.DesiredState) -> ApplyOutcome:
        """Validate and apply; never raises for a bad document, reports it instead."""
        applied = self._store.applied_config()
        if (
            applied is not None
            and applied.version == desired.version
            and applied.sha256 == _sha256(desired.document)
        ):
            # Sent again after every reconnect: already running, just confirm.
            return ApplyOutcome(self._report(desired.version, None), None)
        source = f"desired state v{desired.version}"
        try:
            config = self._validate(desired, source)
        except ConfigError as err:
            log.warning("refused %s: %s", source, err)
            self._store.record_attempt(desired.version, str(err))
            return ApplyOutcome(self._report(desired.version, str(err)), None)
        self._store.save_applied_config(
            AppliedConfig(
                version=desired.version,
                document=desired.document,
                sha256=_sha256(desired.document),
                applied_at=time.time(),
            )
        )
        for listener in self._listeners:
            try:
                listener(config, desired.version)
            except Exception:  # a listener bug must not hide that the config is stored
                log.exception("config listener %r failed for %s", listener, source)
        log.info("applied %s", source)
        return ApplyOutcome(self._report(desired.version, None), config)

    def _validate(self, desired: agent_pb2.DesiredState, source: str) -> AgentConfig:
        if desired.format not in ("", "yaml"):
            raise ConfigError(f"{source}: format {desired.format!r} unsupported (yaml)")
        if desired.sha256 and desired.sha256.lower() != _sha256(desired.document):
            raise ConfigError(f"{source}: sha256 does not match the document (corrupted?)")
        config = validate_document(desired.document, source)
        for checker in self._checkers:
            checker(config)
        return config

    def report(self) -> agent_pb2.StateReport:
        """A report of what runs now (sent after connecting and on request)."""
        return self._report(self.applied_version(), None)

    def _report(self, attempted: int, error: str | None) -> agent_pb2.StateReport:
        applied = self._store.applied_config()
        stamp = Timestamp()
        stamp.GetCurrentTime()
        return agent_pb2.StateReport(
            applied_version=applied.version if applied else 0,
            document=applied.document if applied else "",
            attempted_version=attempted,
            ok=error is None,
            error=error or "",
            reported_at=stamp,
            detector_model=self._detector[0],
            detector_version=self._detector[1],
            detector_labels=self._detector[2],
        )


def stored_fleet_config(data_dir: Path) -> AgentConfig | None:
    """The fleet document an enrolled box applied last (None: not enrolled, or none yet).

    Read at start, before the box is built, so the detector is chosen for the cameras the
    box will really run; raises `ConfigError` naming the stored version if it no longer parses.
    """
    if not (data_dir / "agent.json").exists():  # never enrolled: create nothing
        return None
    store = AgentStore(data_dir)
    try:
        if store.identity() is None:
            return None
        return DesiredStateApplier(store).current()
    finally:
        store.close()


def _sha256(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()
