"""The box's persistent identity and applied configuration, in its data directory.

Layout (all files mode 0600, the directory 0700):

    <data_dir>/agent.json          tinydb: identity document, applied config, last attempt
    <data_dir>/identity/device.key the box's private key (never leaves the box)
    <data_dir>/identity/device.crt device certificate signed by the fleet CA
    <data_dir>/identity/fleet-ca.pem

Every write is atomic (temp file, fsync, rename, fsync of the directory): a power cut
leaves the old document or the new one, never a torn JSON file that would make the box
forget who it is or which configuration it runs. tinydb's own JSONStorage truncates and
rewrites in place, which is why it gets an atomic storage here.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.storages import Storage
from typing_extensions import override

from agent.errors import IdentityError

log = logging.getLogger(__name__)

KEY_FILE = "device.key"
CERT_FILE = "device.crt"
CA_FILE = "fleet-ca.pem"


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, mode 0600 from the first byte on."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class AtomicJSONStorage(Storage):
    """tinydb storage that never leaves a half-written file behind."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    @override
    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise IdentityError(f"{self.path}: not valid JSON ({err}); left untouched") from err
        if not isinstance(data, dict):
            raise IdentityError(f"{self.path}: top level is not an object; left untouched")
        return data

    @override
    def write(self, data: Mapping[str, Mapping[str, Any]]) -> None:
        write_private(self.path, json.dumps(data, indent=1, sort_keys=True).encode())


@dataclass(frozen=True)
class Identity:
    """Who this box is to the fleet; the PEM material lives in files beside the document."""

    device_id: str
    site: str
    fleet_api: str  # host:port enrolled against
    agent_endpoint: str  # host:port of the mTLS agent port
    not_after: float  # certificate expiry, Unix seconds
    enrolled_at: float
    cert_sha256: str


@dataclass(frozen=True)
class Credentials:
    """PEM bytes for a mutual-TLS channel."""

    private_key: bytes
    certificate: bytes
    ca: bytes


@dataclass(frozen=True)
class AppliedConfig:
    """The desired-state document the box runs now."""

    version: int
    document: str
    sha256: str
    applied_at: float


class AgentStore:
    """tinydb-backed store of the identity and the applied config of one data directory."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.identity_dir = self.data_dir / "identity"
        try:
            self.identity_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.data_dir, 0o700)
            os.chmod(self.identity_dir, 0o700)
        except OSError as err:
            raise IdentityError(f"{self.data_dir}: cannot prepare data dir: {err}") from err
        self._db = TinyDB(str(self.data_dir / "agent.json"), storage=AtomicJSONStorage)

    # -- identity --------------------------------------------------------------------------

    def identity(self) -> Identity | None:
        """The enrolled identity, or None when this box has never enrolled."""
        doc = self._db.table("identity").get(Query().kind == "identity")
        if doc is None:
            return None
        fields = {k: v for k, v in dict(doc).items() if k != "kind"}
        try:
            return Identity(**fields)
        except TypeError as err:
            where = self.data_dir / "agent.json"
            raise IdentityError(f"{where}: bad identity document: {err}") from err

    def save_identity(self, identity: Identity, credentials: Credentials) -> None:
        """Store key, certificate and CA files first, the document last (it marks success)."""
        write_private(self.identity_dir / KEY_FILE, credentials.private_key)
        write_private(self.identity_dir / CERT_FILE, credentials.certificate)
        write_private(self.identity_dir / CA_FILE, credentials.ca)
        self._db.table("identity").upsert(
            {"kind": "identity", **asdict(identity)}, Query().kind == "identity"
        )

    def credentials(self) -> Credentials:
        """Read the PEM files, refusing a key that others could read."""
        key_path = self.identity_dir / KEY_FILE
        try:
            mode = stat.S_IMODE(key_path.stat().st_mode)
            if mode & 0o077:
                raise IdentityError(
                    f"{key_path}: private key has mode {mode:o}; run `chmod 600 {key_path}`"
                )
            return Credentials(
                private_key=key_path.read_bytes(),
                certificate=(self.identity_dir / CERT_FILE).read_bytes(),
                ca=(self.identity_dir / CA_FILE).read_bytes(),
            )
        except FileNotFoundError as err:
            raise IdentityError(
                f"{err.filename}: missing; enroll this box with `oko-agent enroll`"
            ) from err
        except OSError as err:
            raise IdentityError(f"{self.identity_dir}: cannot read identity: {err}") from err

    # -- desired state ---------------------------------------------------------------------

    def applied_config(self) -> AppliedConfig | None:
        """The last document applied successfully, or None."""
        doc = self._db.table("config").get(Query().kind == "applied")
        if doc is None:
            return None
        return AppliedConfig(
            version=int(doc["version"]),
            document=str(doc["document"]),
            sha256=str(doc["sha256"]),
            applied_at=float(doc["applied_at"]),
        )

    def save_applied_config(self, applied: AppliedConfig) -> None:
        """Record a newly applied document (one atomic file write)."""
        self._db.table("config").upsert(
            {"kind": "applied", **asdict(applied)}, Query().kind == "applied"
        )

    def record_attempt(self, version: int, error: str) -> None:
        """Remember the last refused document, so `status` can show why."""
        self._db.table("config").upsert(
            {"kind": "refused", "version": version, "error": error, "at": time.time()},
            Query().kind == "refused",
        )

    def last_refused(self) -> tuple[int, str] | None:
        """(version, error) of the last refused document, if any."""
        doc = self._db.table("config").get(Query().kind == "refused")
        return None if doc is None else (int(doc["version"]), str(doc["error"]))

    def close(self) -> None:
        """Release the tinydb handle (every write is already on disk)."""
        self._db.close()
