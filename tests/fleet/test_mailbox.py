"""fleet.mailbox: the per-stream FIFO that replaced asyncio.Queue (memory per box).

Order, the bound (put waits, put_nowait refuses), and cancellation losing nothing."""

from __future__ import annotations

import asyncio

import pytest

from fleet.mailbox import Mailbox

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def test_items_come_out_in_order_and_get_waits_for_one() -> None:
    box: Mailbox[int] = Mailbox()
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    assert not reader.done()
    for i in range(5):
        box.put_nowait(i)
    assert await reader == 0
    assert [await box.get() for _ in range(4)] == [1, 2, 3, 4]
    assert len(box) == 0


async def test_a_bounded_mailbox_makes_put_wait_and_put_nowait_refuse() -> None:
    box: Mailbox[str] = Mailbox(2)
    await box.put("a")
    await box.put("b")
    with pytest.raises(asyncio.QueueFull):
        box.put_nowait("x")
    third = asyncio.create_task(box.put("c"))
    fourth = asyncio.create_task(box.put("d"))
    await asyncio.sleep(0.01)
    assert not third.done() and box.full()
    assert await box.get() == "a"
    await asyncio.sleep(0.01)
    assert third.done() and not fourth.done()
    assert [await box.get() for _ in range(3)] == ["b", "c", "d"]
    await fourth


async def test_cancelled_waiters_lose_nothing() -> None:
    box: Mailbox[int] = Mailbox(1)
    getter = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    getter.cancel()
    await asyncio.gather(getter, return_exceptions=True)
    box.put_nowait(1)
    blocked = asyncio.create_task(box.put(2))
    waiting = asyncio.create_task(box.put(3))
    await asyncio.sleep(0.01)
    assert await box.get() == 1  # wakes `blocked` ...
    blocked.cancel()  # ... which is cancelled before it runs: its turn passes to `waiting`
    await asyncio.gather(blocked, return_exceptions=True)
    await asyncio.wait_for(waiting, 1)
    assert await box.get() == 3 and len(box) == 0
