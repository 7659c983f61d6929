"""Group commit for the audit chain on PostgreSQL.

Every audit append takes one advisory lock (the chain is one sequence across replicas,
pg_hooks.audit), so appends are serial: each waits for the previous one's commit and its
fsync. A config push to 2,000 boxes is 2,000 appends; one at a time, at ~10-25 ms a
commit on a loaded machine, that alone took most of a minute, and every append waiting
for the lock held a pooled connection that ingest then lacked. Here appends that arrive
while a commit runs wait for the next one, which writes them all in one transaction
(same chain, same order). A caller's `await` still returns only after its entry is
durable; if a group fails, its entries are retried one by one, so only an entry the
store refuses fails (with the store's error), not its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from fleet.store.records import AuditEntry

MAX_GROUP = 500

Writer = Callable[[Sequence[AuditEntry]], Awaitable[None]]


class AuditGroups:
    """Queue of audit entries written by one task, many per transaction."""

    def __init__(self, write: Writer) -> None:
        self._write = write
        self._queue: list[tuple[AuditEntry, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def append(self, entry: AuditEntry) -> None:
        """Append `entry`; returns after the transaction holding it committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((entry, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="audit")
        await future

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            await self._commit(group)

    async def _commit(self, group: list[tuple[AuditEntry, asyncio.Future[None]]]) -> None:
        try:
            await self._write([entry for entry, _ in group])
        except asyncio.CancelledError:
            for _, future in group:
                future.cancel()
            raise
        except Exception as err:
            if len(group) > 1:  # one entry the store refuses must not fail the others
                for one in group:
                    await self._commit([one])
                return
            if not group[0][1].done():
                group[0][1].set_exception(err)
            return
        for _, future in group:
            if not future.done():
                future.set_result(None)
