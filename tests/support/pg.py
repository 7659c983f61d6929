"""A real PostgreSQL server for tests and benches: initdb into a temporary directory.

`PostgresServer` runs the Debian package's binaries (/usr/lib/postgresql/<v>/bin): initdb
into a fresh directory, `pg_ctl start` on a free loopback port with its unix socket in the
same directory, `stop()` (fast or immediate, as a crash) and `start()` again on the same
port for restart tests. PostgreSQL refuses to run as root, so under root (CI) the
directory is given to the `postgres` user the package created and the binaries run as it.

The directory lives under /tmp directly, not pytest's tmp_path: that one is 0700 root and
the postgres user could not enter it.
"""

from __future__ import annotations

import atexit
import functools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import free_port


def pg_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (scripts/install-system-deps.sh)."""
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run scripts/install-system-deps.sh")
    return versions[-1]


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PostgresServer:
    """One PostgreSQL cluster; `dsn` points at its `oko` database over loopback TCP."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="oko-pg-")))
    port: int = field(default_factory=free_port)
    database: str = "oko"
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def dsn(self) -> str:
        """libpq URL of the test database (trust auth on loopback, user postgres)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def dsn_for(self, database: str) -> str:
        """libpq URL of another database of this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        subprocess.run(
            _as_owner([str(pg_bin() / argv[0]), *argv[1:]]),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def init(self) -> PostgresServer:
        """initdb (trust auth, UTF-8), start, and create the database."""
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self.start()
        self.create_database(self.database)
        return self

    def create_database(self, name: str) -> None:
        """A new empty database in the cluster."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def start(self) -> None:
        """Start (or restart after `stop`) on the same port; waits until it accepts."""
        options = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "max_connections": "200",
            "fsync": "on",
            "synchronous_commit": "on",
            **self.settings,
        }
        flags = " ".join(f"-c {key}={value}" for key, value in options.items())
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o", flags, "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m fast` (clean) or `-m immediate` (like a crash: recovery on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """Whether the postmaster's pid file is present."""
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        """Stop if running and delete the directory."""
        if self.running():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)


TEMPLATE = "oko_template"
_databases: dict[str, str] = {}


@functools.cache
def shared_cluster() -> PostgresServer:
    """One cluster for the whole test session (started on first use, stopped at exit).

    fsync is off (a commit reaches the OS, not the disk: it survives PostgreSQL being
    killed, not the machine crashing), which is all tests need and keeps them quick.

    Its `oko_template` database holds the migrated schema; each store is a copy of it
    (CREATE DATABASE ... TEMPLATE: a file copy, ~0.1 s, instead of running migrations).
    """
    server = PostgresServer(settings={"fsync": "off"}).init()
    atexit.register(server.close)
    server.create_database(TEMPLATE)
    from fleet.store.pg_migrate import migrate

    # Alembic runs its own event loop; a thread keeps it off any loop the caller runs.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(migrate, server.dsn_for(TEMPLATE)).result()
    return server


def store_url_for(key: str) -> str:
    """The PostgreSQL store of `key` (a fleet's data dir): a fresh database the first time,
    the same one afterwards, so a fleet restarted on its data dir finds its state again."""
    if key not in _databases:
        cluster = shared_cluster()
        name = "t_" + uuid.uuid4().hex[:16]
        cluster._run(
            "createdb", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
            "-T", TEMPLATE, name,
        )  # fmt: skip
        _databases[key] = cluster.dsn_for(name)
    return _databases[key]
