"""Store-and-forward: the durable on-disk queue between the pipeline and the uplink."""

from agent.spool.policy import Priority, priority_of
from agent.spool.sqlite_spool import (
    DROP_FULL,
    DROP_REJECTED,
    AppendResult,
    DropCount,
    Spool,
    SpooledEvent,
)

__all__ = [
    "DROP_FULL",
    "DROP_REJECTED",
    "AppendResult",
    "DropCount",
    "Priority",
    "Spool",
    "SpooledEvent",
    "priority_of",
]
