"""The box's persistent identity and applied configuration, in its data directory.

Layout (all files mode 0600, the directory 0700):

    <data_dir>/agent.json          tinydb: identity document, applied config, last attempt
    <data_dir>/identity/device.key the box's private key (never leaves the box)
    <data_dir>/identity/device.crt device certificate signed by the fleet CA
    <data_dir>/identity/fleet-ca.pem
    <data_dir>/identity/device.{key,crt}.new  a key pair being installed (renewal, enroll)

Every write is atomic (temp file, fsync, rename, fsync of the directory): a power cut
leaves the old document or the new one, never a torn JSON file that would make the box
forget who it is or which configuration it runs. tinydb's own JSONStorage truncates and
rewrites in place, which is why it gets an atomic storage here.

Key and certificate must change together, and two renames are not one: a new pair is
first written whole beside the old one (`.new`, key first), then renamed into place, key
first. A crash leaves one of four states, each resolved when the store is next opened:
no staged certificate yet (the old pair is intact: the staged key is discarded), both
staged (promote both), only the certificate staged (the key was promoted: promote it). A
pair whose key does not match its certificate is never promoted nor used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tinydb import Query, TinyDB
from tinydb.storages import Storage
from typing_extensions import override

from agent.errors import IdentityError

log = logging.getLogger(__name__)

KEY_FILE = "device.key"
CERT_FILE = "device.crt"
CA_FILE = "fleet-ca.pem"
STAGED = ".new"  # suffix of a key pair being installed


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
    _fsync_dir(path.parent)


def pair_matches(key_pem: bytes, cert_pem: bytes) -> bool:
    """Whether the PEM private key is the one the PEM certificate certifies."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError):
        return False
    return bool(cert.public_key() == key.public_key())


def cert_facts(cert_pem: bytes) -> tuple[float, str]:
    """(not_after as Unix seconds, SHA-256 of the DER) of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    return cert.not_valid_after_utc.timestamp(), hashlib.sha256(der).hexdigest()


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
        self._recover()

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
        """Store the CA, then the key pair (crash-safe), the document last (it marks success)."""
        write_private(self.identity_dir / CA_FILE, credentials.ca)
        self._install_pair(credentials.private_key, credentials.certificate)
        self._save_document(identity)

    def install_certificate(self, key_pem: bytes, cert_pem: bytes) -> Identity:
        """Replace key and certificate as one pair (a renewal); the updated identity.

        A crash at any point leaves a working pair: the old one, or the new one once the
        store is opened again (see the module docstring).
        """
        identity = self.identity()
        if identity is None:
            raise IdentityError(f"{self.data_dir}: not enrolled; nothing to renew")
        if not pair_matches(key_pem, cert_pem):
            raise IdentityError("renewed certificate does not match the new key; not installed")
        not_after, sha = cert_facts(cert_pem)
        updated = dataclasses.replace(identity, not_after=not_after, cert_sha256=sha)
        try:
            self._install_pair(key_pem, cert_pem)
            self._save_document(updated)
        except OSError as err:  # a full disk: finish or undo now if possible, else on reopen
            with contextlib.suppress(IdentityError):
                self._recover()
            raise IdentityError(f"{self.identity_dir}: cannot install the key pair: {err}") from err
        return updated

    def _staged(self, name: str) -> Path:
        return self.identity_dir / (name + STAGED)

    def _install_pair(self, key_pem: bytes, cert_pem: bytes) -> None:
        write_private(self._staged(KEY_FILE), key_pem)
        write_private(self._staged(CERT_FILE), cert_pem)  # from here on the pair is durable
        self._promote()

    def _promote(self) -> None:
        for name in (KEY_FILE, CERT_FILE):  # key first: _recover relies on the order
            staged = self._staged(name)
            if staged.exists():
                os.replace(staged, self.identity_dir / name)
        _fsync_dir(self.identity_dir)

    def _save_document(self, identity: Identity) -> None:
        self._db.table("identity").upsert(
            {"kind": "identity", **asdict(identity)}, Query().kind == "identity"
        )

    def _recover(self) -> None:
        """Finish or discard a key pair installation a crash interrupted (module docstring).

        Then make the identity document describe the certificate on disk, which a crash
        between promoting the pair and writing the document leaves stale.
        """
        key, cert = self._staged(KEY_FILE), self._staged(CERT_FILE)
        try:
            if cert.exists():
                self._finish(key, cert)
            else:
                key.unlink(missing_ok=True)  # staging never completed: the old pair stands
            self._sync_document()
        except OSError as err:
            message = f"{self.identity_dir}: cannot finish key installation: {err}"
            raise IdentityError(message) from err

    def _finish(self, key: Path, cert: Path) -> None:
        key_pem = (key if key.exists() else self.identity_dir / KEY_FILE).read_bytes()
        if not pair_matches(key_pem, cert.read_bytes()):
            log.error("%s: staged certificate does not match its key; discarded", cert)
            key.unlink(missing_ok=True)
            cert.unlink()
            return
        self._promote()
        log.warning("finished installing a key pair that a crash interrupted (%s)", cert)

    def _sync_document(self) -> None:
        cert_path = self.identity_dir / CERT_FILE
        try:
            identity = self.identity()
            if identity is None or not cert_path.exists():
                return
            not_after, sha = cert_facts(cert_path.read_bytes())
        except (IdentityError, ValueError):
            return  # reported, with the file named, where the identity is used
        if (not_after, sha) != (identity.not_after, identity.cert_sha256):
            self._save_document(dataclasses.replace(identity, not_after=not_after, cert_sha256=sha))
            log.warning("identity document updated to the certificate in %s", cert_path)

    def credentials(self) -> Credentials:
        """Read the PEM files, refusing a key that others could read."""
        key_path = self.identity_dir / KEY_FILE
        try:
            mode = stat.S_IMODE(key_path.stat().st_mode)
            if mode & 0o077:
                raise IdentityError(
                    f"{key_path}: private key has mode {mode:o}; run `chmod 600 {key_path}`"
                )
            credentials = Credentials(
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
        if not pair_matches(credentials.private_key, credentials.certificate):
            raise IdentityError(
                f"{key_path} does not match {self.identity_dir / CERT_FILE}; enroll again "
                "(`oko-agent enroll --force`, with a token from `okoctl device reissue`)"
            )
        return credentials

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
