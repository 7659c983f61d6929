"""Faults with real processes: replicas over one PostgreSQL and one NATS while real agents
(spool + uplink, through a TCP balancer) produce and a Subscribe client resumes by cursor.

In one run: a replica is SIGKILLed and restarted, NATS is stopped and restarted, one
replica is cut off from NATS (its connection goes through a TCP proxy that drops every
connection and refuses new ones) while the others keep theirs, and PostgreSQL is stopped
(immediate: a crash, recovery on start) and restarted. Every
acknowledged event must be stored once and reach the subscriber exactly once, in cursor
order, each camera's sequence without a hole; the agents spool meanwhile and drain after.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fleet.store.pg_migrate import migrate
from tests.fleet.processes import ResumingSubscriber, assert_delivered_once_in_order
from tests.scale.replicas import Replicas
from tests.support.balancer import TcpBalancer
from tests.support.nats import NatsServer
from tests.support.net import wait_until
from tests.support.pg import PostgresServer
from tests.uplink.processes import AgentProcess, enrolled_agent

pytestmark = pytest.mark.timeout(300)

EVENTS_PER_AGENT = 8000
AGENTS = 2


def test_replica_kill_nats_restart_and_postgres_restart_lose_and_repeat_nothing(
    tmp_path: Path,
) -> None:
    pg = PostgresServer().init()  # its own cluster: this test restarts it
    migrate(pg.dsn)
    nats = NatsServer().start()
    replicas = Replicas(tmp_path / "fleet", count=2, nats=nats, store=pg.dsn)
    nats_port = int(nats.url.rsplit(":", 1)[1])
    to_nats = TcpBalancer([nats_port]).start()  # r0's only way to NATS: partitioned below
    r0_args = replicas.fleets[0].args
    r0_args[r0_args.index(nats.url)] = f"nats://127.0.0.1:{to_nats.port}"
    balancer = TcpBalancer([f.agent_port for f in replicas.fleets]).start()
    replicas.advertise(f"localhost:{balancer.port}")
    agents: list[AgentProcess] = []
    subscriber: ResumingSubscriber | None = None
    try:
        replicas.start()
        agents = [enrolled_agent(replicas.fleets[0].handle(), tmp_path, i) for i in range(AGENTS)]
        watcher = replicas.fleets[1]  # the subscriber's replica stays up
        subscriber = ResumingSubscriber(watcher.api, watcher.ca, replicas.admin).start()
        for agent in agents:
            agent.start(events=EVENTS_PER_AGENT, per_append=25, interval=0.1)

        def reached(n: int) -> None:
            assert subscriber is not None
            wait_until(lambda: len(subscriber.received) >= n, 90, f"{n} events")

        reached(1500)
        replicas.fleets[0].kill()  # kill -9 a replica under load
        time.sleep(1.0)
        replicas.fleets[0].start()
        reached(4500)
        nats.stop()  # every replica goes on without NATS
        time.sleep(2.0)
        nats.start()
        reached(6500)
        to_nats.cut()  # r0 alone loses NATS: it still ingests; r1 reads r0's events from PG
        time.sleep(3.0)
        to_nats.heal()
        reached(8000)
        pg.stop("immediate")  # nothing can be acknowledged now; boxes spool
        time.sleep(2.0)
        pg.start()
        assert not all(a.produced() for a in agents), "production ended before the last fault"
        wait_until(lambda: all(a.produced() for a in agents), 120, "the sources to finish")
        total = sum(a.spooled()[-1][0] for a in agents)
        wait_until(lambda: len(subscriber.received) >= total, 120, "every event at the subscriber")
        time.sleep(1.0)  # a duplicate would arrive now
        received = list(subscriber.received)
        stored = replicas.fleets[1].handle().events()
    finally:
        if subscriber is not None:
            subscriber.stop()
        for agent in agents:
            agent.stop()
        replicas.close()
        balancer.close()
        to_nats.close()
        nats.close()
        pg.close()

    assert total == AGENTS * EVENTS_PER_AGENT
    assert_delivered_once_in_order(received, total)
    stored_ids = sorted(e.event.event_id for e in stored)
    assert stored_ids == sorted(e.event.event_id for e in received)  # stored once each
    assert len(balancer.connections) == 2  # boxes reached both replicas through it
    assert to_nats.connections[nats_port] >= 3  # r0 connected, after the restart, after the cut
