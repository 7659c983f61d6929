"""Backoff, decimation, rate meter and the frame slot: exact rules, no sleeping."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from agent.capture.pacing import Backoff, Decimator, RateMeter
from agent.capture.slot import FrameSlot


def test_backoff_doubles_to_ceiling_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(7))
    ceilings, delays = [], []
    for _ in range(8):
        ceilings.append(backoff.ceiling())
        delays.append(backoff.next_delay())
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert all(0.5 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in delays[3:]}) == 5  # jittered, not lockstep
    backoff.reset()
    assert backoff.ceiling() == 0.5


def test_backoff_survives_days_of_failures() -> None:
    backoff = Backoff(1.0, 30.0)
    for _ in range(10_000):
        assert backoff.next_delay() <= 30.0


def test_backoff_rejects_inverted_bounds() -> None:
    with pytest.raises(ValueError, match="min_s <= max_s"):
        Backoff(5.0, 1.0)


def test_decimator_halves_a_jittery_10fps_stream_exactly() -> None:
    rng = np.random.default_rng(1)
    times = np.arange(100) * 0.1 + rng.uniform(-0.02, 0.02, 100)
    dec = Decimator(5.0)
    kept = [t for t in times if dec.keep(float(t))]
    assert len(kept) == 50
    gaps = np.diff(kept)
    assert gaps.min() > 0.1 and gaps.max() < 0.3


@pytest.mark.parametrize(("source_fps", "target_fps"), [(30.0, 5.0), (25.0, 5.0), (12.5, 5.0)])
def test_decimator_rate_is_exact_for_common_camera_rates(
    source_fps: float, target_fps: float
) -> None:
    dec = Decimator(target_fps)
    kept = sum(dec.keep(i / source_fps) for i in range(int(source_fps * 60)))
    assert kept == pytest.approx(60 * target_fps, abs=1)


def test_decimator_passes_everything_slower_than_its_rate() -> None:
    dec = Decimator(5.0)
    assert all(dec.keep(t * 0.5) for t in range(20))


def test_decimator_restarts_when_time_goes_backwards() -> None:
    dec = Decimator(5.0)
    assert [dec.keep(t) for t in (10.0, 10.1, 10.2)] == [True, False, True]
    assert dec.keep(0.0)  # stream clock reset after a reconnect
    assert not dec.keep(0.1)
    assert dec.keep(0.2)


def test_rate_meter_window() -> None:
    meter = RateMeter(window_s=2.0)
    for i in range(21):
        meter.add(i * 0.1)
    assert meter.rate(2.0) == pytest.approx(10.0, rel=0.1)
    assert meter.rate(10.0) == 0.0


def test_slot_drops_oldest_and_counts() -> None:
    slot: FrameSlot[int] = FrameSlot(2)
    for i in range(5):
        assert slot.put(i)
    assert slot.dropped == 3 and len(slot) == 2
    assert [slot.get(0), slot.get(0), slot.get(0)] == [3, 4, None]


def test_blocking_slot_waits_for_consumer_and_loses_nothing() -> None:
    slot: FrameSlot[int] = FrameSlot(1, block=True)
    got: list[int] = []

    def consume() -> None:
        while (item := slot.get(2.0)) is not None:
            got.append(item)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(200):
        assert slot.put(i)
    slot.close()
    consumer.join(5)
    assert got == list(range(200)) and slot.dropped == 0


def test_closed_slot_refuses_and_blocked_put_honours_stop() -> None:
    slot: FrameSlot[int] = FrameSlot(1, block=True)
    slot.put(1)
    stop = threading.Event()
    stop.set()
    assert not slot.put(2, stop)
    slot.close()
    assert not slot.put(3)
    assert slot.get(0) == 1 and slot.get(0) is None
