"""`oko-fleet backup` and `oko-fleet restore`: the fleet's state, consistent and private.

The state is the store (`fleet.db`, or the PostgreSQL database: fleet/backup_pg.py), the
CA directory (`ca/`: the key that signs every box's certificate), the audit checkpoint key
and, on SQLite, the model files (`models/blobs/`; on PostgreSQL they are in the database).
The SQLite store is copied with SQLite's online backup API, so a live fleet keeps
ingesting while a consistent snapshot is taken; the copy is switched out of WAL mode, so
it is one self-contained file. Everything is written mode 0600 in directories of
mode 0700 from the start (the CA key must never be readable by others, not even briefly),
and a manifest records each file's SHA-256, so a restore refuses a damaged or edited
backup, naming the file, instead of starting a fleet on it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from fleet import __version__
from fleet.errors import FleetError

log = logging.getLogger(__name__)

STORE_FILE = "fleet.db"
CA_DIR = "ca"
CHECKPOINT_KEY = "audit-checkpoint-key.pem"
BLOBS_DIR = "models/blobs"
MANIFEST = "manifest.json"
_PAGES_PER_STEP = 1024  # backup in steps, so the live writer is never blocked for long


class BackupError(FleetError):
    """A backup or restore could not be made; the message names the file and why."""


@dataclass(frozen=True)
class BackupSummary:
    """What a backup or restore wrote."""

    directory: Path
    files: int
    events: int
    devices: int


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _empty_target(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{path}: {what} must be a new or empty directory")


def _copy_store(source: Path, target: Path) -> tuple[int, int]:
    """Online backup of `source` into the new file `target`; (events, devices) in it."""
    _write_private(target, b"")  # created 0600 before SQLite writes a byte of it
    try:
        src = sqlite3.connect(source, timeout=30)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=_PAGES_PER_STEP)
            dst.execute("PRAGMA journal_mode=DELETE")
            return _check_store(dst, target)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as err:
        raise BackupError(f"{source}: cannot back up the store: {err}") from err


def _check_store(conn: sqlite3.Connection, path: Path) -> tuple[int, int]:
    verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        raise BackupError(f"{path}: store fails its integrity check: {verdict}")
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    devices = conn.execute("SELECT count(*) FROM devices").fetchone()[0]
    return int(events), int(devices)


def _store_copy(data_dir: Path, out: Path, store_url: str) -> tuple[str, int, int]:
    """Copy the store into `out`: (its file name there, events, devices)."""
    if store_url:
        from fleet import backup_pg  # only a PostgreSQL fleet needs its client tools

        return (backup_pg.DUMP_FILE, *backup_pg.dump(store_url, out / backup_pg.DUMP_FILE))
    return (STORE_FILE, *_copy_store(data_dir / STORE_FILE, out / STORE_FILE))


def _state_files(data_dir: Path, store_url: str) -> list[str]:
    """The files besides the store, relative to `data_dir`."""
    names = [
        f"{CA_DIR}/{p.name}"
        for p in sorted((data_dir / CA_DIR).iterdir())
        if p.is_file() and not p.name.endswith(".tmp")
    ]
    if (data_dir / CHECKPOINT_KEY).is_file():
        names.append(CHECKPOINT_KEY)
    if not store_url and (data_dir / BLOBS_DIR).is_dir():
        names += sorted(
            str(p.relative_to(data_dir)) for p in (data_dir / BLOBS_DIR).rglob("*") if p.is_file()
        )
    return names


def backup(data_dir: Path, out: Path, store_url: str = "") -> BackupSummary:
    """Back up the fleet in `data_dir` (running or not) into the new directory `out`.

    `store_url`: the fleet's PostgreSQL store, when it has one (else `fleet.db`).
    """
    store, ca = data_dir / STORE_FILE, data_dir / CA_DIR
    if not (store_url or store.is_file()) or not (ca / "ca.key").is_file():
        raise BackupError(f"{data_dir}: no fleet here (needs {STORE_FILE} and {CA_DIR}/ca.key)")
    _empty_target(out, "the backup directory")
    _private_dir(out)
    store_name, events, devices = _store_copy(data_dir, out, store_url)
    files = [store_name]
    for name in _state_files(data_dir, store_url):
        _private_dir((out / name).parent)
        _write_private(out / name, (data_dir / name).read_bytes())
        files.append(name)
    manifest = {
        "fleet_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": str(data_dir),
        "store": "postgresql" if store_url else "sqlite",
        "events": events,
        "devices": devices,
        "sha256": {name: _sha256(out / name) for name in files},
    }
    _write_private(out / MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
    log.info("backed up %s into %s: %s events, %s devices", data_dir, out, events, devices)
    return BackupSummary(out, len(files), events, devices)


def _read_manifest(backup_dir: Path) -> dict[str, str]:
    path = backup_dir / MANIFEST
    try:
        sums = json.loads(path.read_text(encoding="utf-8"))["sha256"]
    except FileNotFoundError:
        raise BackupError(f"{path}: missing; not an oko-fleet backup") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BackupError(f"{path}: unreadable manifest ({err})") from None
    stores = {STORE_FILE, "store.pgdump"}
    if not isinstance(sums, dict) or not stores & set(sums) or f"{CA_DIR}/ca.key" not in sums:
        raise BackupError(f"{path}: manifest lists no store or no {CA_DIR}/ca.key")
    return {str(k): str(v) for k, v in sums.items()}


def _checked(backup_dir: Path, sums: dict[str, str]) -> None:
    for name, expected in sums.items():
        path = backup_dir / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BackupError(f"{backup_dir / MANIFEST}: file name {name!r} leaves the backup")
        if not path.is_file():
            raise BackupError(f"{path}: listed in the manifest but missing")
        if _sha256(path) != expected:
            raise BackupError(f"{path}: SHA-256 differs from the manifest (damaged or edited)")


def restore(backup_dir: Path, data_dir: Path, store_url: str = "") -> BackupSummary:
    """Restore a backup into `data_dir` (new or empty); then `oko-fleet serve` it.

    A PostgreSQL backup needs `store_url`: a new, empty database to load it into.
    """
    sums = _read_manifest(backup_dir)
    _checked(backup_dir, sums)
    dumped = "store.pgdump" in sums
    if dumped != bool(store_url):
        raise BackupError(
            f"{backup_dir}: a PostgreSQL backup needs --store (an empty database)"
            if dumped
            else f"{backup_dir}: a SQLite backup restores into the data directory, not --store"
        )
    _empty_target(data_dir, "the data directory to restore into")
    _private_dir(data_dir)
    for name in sums:
        if name != "store.pgdump":
            _private_dir((data_dir / name).parent)
            _write_private(data_dir / name, (backup_dir / name).read_bytes())
    if dumped:
        from fleet import backup_pg  # only a PostgreSQL fleet needs its client tools

        events, devices = backup_pg.load(backup_dir / backup_pg.DUMP_FILE, store_url)
    else:
        try:
            with sqlite3.connect(data_dir / STORE_FILE) as conn:
                events, devices = _check_store(conn, data_dir / STORE_FILE)
        except sqlite3.Error as err:
            raise BackupError(f"{data_dir / STORE_FILE}: not a usable store: {err}") from err
    log.info("restored %s into %s: %s events, %s devices", backup_dir, data_dir, events, devices)
    return BackupSummary(data_dir, len(sums), events, devices)
