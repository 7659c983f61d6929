"""A full disk is a counted, reported, recoverable state (real tmpfs, real fleet, real TLS).

The box's data dir lives on a small tmpfs this test mounts (root only: it skips, saying
so, where `mount` is not allowed). The disk is filled to ENOSPC with a filler file while
events wait in the spool: the fleet stores them, the box cannot record the acks, and the
uplink must keep retrying instead of dying; events minted meanwhile are dropped and
counted (`disk_full`); once the filler is removed the spool drains, the fleet holds every
stored event exactly once, and the drop count reaches the fleet in a heartbeat.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config.agent import AgentConfig
from agent.identity import AgentStore
from agent.pipeline.parts import BoxParts
from agent.spool import DROP_DISK_FULL, Spool, SpoolFullError
from agent.uplink.enroll import enroll
from tests.support.events import make_event
from tests.support.fleet import FleetHandle
from tests.support.net import wait_until
from tests.uplink.harness import AgentThread

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs mounted for this test (and unmounted after it)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk says ENOSPC."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def test_full_disk_pauses_the_uplink_counts_drops_and_recovers(
    fleet: FleetHandle, small_disk: Path
) -> None:
    data_dir = small_disk / "agent"
    store = AgentStore(data_dir)
    identity = enroll(store, fleet.api, fleet.enrollment_token(), device_name="full-disk")
    store.close()
    config = AgentConfig.model_validate(
        {
            "data_dir": data_dir,
            "fleet": {"reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "batch_linger_s": 0.05},
        }
    )
    parts = BoxParts.open(config)
    waiting = [make_event(f"cam-{i % 2}", i // 2 + 1) for i in range(40)]
    parts.spool.append(waiting)
    # A running box has reserved its block of batch ids already (one write per 1024
    # batches), so the first write the full disk refuses is an ack - as in the field.
    parts.spool.next_batch_id()
    filler = fill(small_disk)
    thread = AgentThread(parts.uplink).start()
    try:
        # The fleet stores the events; the box cannot record the acks and must keep trying.
        wait_until(lambda: len(fleet.events()) == 40, 30, "the fleet to store the events")
        spool_errors = "oko_agent_uplink_spool_errors_total"
        wait_until(
            lambda: (parts.metrics.registry.get_sample_value(spool_errors) or 0) >= 2,
            30,
            "the uplink to retry after a failed ack",
        )
        assert parts.spool.depth() == 40  # nothing acknowledged was lost from the spool
        lost = [make_event("cam-0", 100 + i) for i in range(5)]
        with pytest.raises(SpoolFullError, match="disk full"):
            parts.spool.append(lost)
        parts.uplink.notify()  # the camera's hand-over still works
        assert parts.spool.drops_by_reason()[("cam-0", DROP_DISK_FULL)].events == 5
        dropped = parts.metrics.registry.get_sample_value(
            "oko_agent_events_dropped_total", {"camera": "cam-0", "reason": DROP_DISK_FULL}
        )
        assert dropped == 5
        filler.unlink()  # space returns
        wait_until(lambda: parts.spool.depth() == 0, 30, "the spool to drain once space returns")
        later = [make_event("cam-1", 100 + i) for i in range(3)]
        parts.spool.append(later)  # the box records events again
        wait_until(lambda: len(fleet.events()) == 43, 30, "events after the recovery")
        device = wait_until(
            lambda: (d := fleet.device(identity.device_id)).dropped_events and d,
            30,
            "the heartbeat's drop count",
        )
    finally:
        thread.stop()  # re-raises anything that killed the uplink
        parts.close()
    assert device.dropped_events == 5
    stored = [e.event.event_id for e in fleet.events()]
    assert sorted(stored) == sorted(e.event_id for e in waiting + later)  # each once
    with Spool(config.spool_path()) as reopened:  # the disk_full drops were persisted
        assert reopened.dropped_total() == 5
