"""Replicas of one fleet as real processes: `oko-fleet serve` x N over one PostgreSQL
database and one NATS JetStream server, sharing the CA and the audit checkpoint key."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.fleet import FleetCli
from tests.support.nats import NatsServer
from tests.support.net import free_port
from tests.support.pg import pg_bin, store_url_for

SHARED_FILES = ("ca/ca.key", "ca/ca.pem", "audit-checkpoint-key.pem")


class Replicas:
    """`count` replicas named r0, r1, ...; r0 starts first (CA, bootstrap admin token)."""

    def __init__(
        self, root: Path, count: int = 2, nats: NatsServer | None = None, store: str = ""
    ) -> None:
        self.root = root
        self.store = store or store_url_for(str(root))
        self.nats = nats or NatsServer().start()
        self._own_nats = nats is None
        self.fleets = [self._replica(i) for i in range(count)]
        self.admin = ""

    def _replica(self, index: int) -> FleetCli:
        fleet = FleetCli(self.root / f"r{index}", free_port(), free_port())
        fleet.args += ["--store", self.store, "--nats", self.nats.url, "--replica-id", f"r{index}"]
        return fleet

    def advertise(self, agent_address: str) -> None:
        """Tell boxes (at enrollment) to connect to `agent_address`, e.g. a balancer."""
        for fleet in self.fleets:
            fleet.args += ["--advertise-agent", agent_address]

    def start(self) -> Replicas:
        """Start r0, give the others its keys, start them; keep r0's admin token."""
        first = self.fleets[0].start()
        self.admin = first.admin_token
        for fleet in self.fleets[1:]:
            self._share_keys(fleet)
            fleet.start()
            fleet.admin_token = self.admin
        return self

    def _share_keys(self, fleet: FleetCli) -> None:
        for name in SHARED_FILES:
            source = self.fleets[0].data_dir / name
            if source.exists():
                target = fleet.data_dir / name
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                shutil.copy2(source, target)
        fleet.data_dir.chmod(0o700)

    def add(self) -> FleetCli:
        """One more replica (started)."""
        fleet = self._replica(len(self.fleets))
        self._share_keys(fleet)
        fleet.start()
        fleet.admin_token = self.admin
        self.fleets.append(fleet)
        return fleet

    @property
    def ca(self) -> bytes:
        return self.fleets[0].ca

    def sql(self, query: str) -> str:
        """Run one query on the replicas' database (psql), for what tests inspect."""
        out = subprocess.run(
            [str(pg_bin() / "psql"), self.store, "-Atc", query],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return out.stdout.strip()

    def lease_holder(self, name: str) -> str:
        """The replica id holding lease `name` ('' if none)."""
        return self.sql(f"SELECT holder FROM leases WHERE name = '{name}'")

    def fleet(self, replica_id: str) -> FleetCli:
        return self.fleets[int(replica_id.removeprefix("r"))]

    def close(self) -> None:
        for fleet in self.fleets:
            fleet.stop()
        if self._own_nats:
            self.nats.close()
