"""Store-and-forward: the durable on-disk queue between the pipeline and the uplink."""

from agent.spool.policy import Priority, priority_of
from agent.spool.sqlite_spool import (
    DROP_DISK_FULL,
    DROP_FULL,
    DROP_REJECTED,
    DROP_WRITE_FAILED,
    AppendResult,
    DropCount,
    Spool,
    SpooledEvent,
    SpoolFullError,
)

__all__ = [
    "DROP_DISK_FULL",
    "DROP_FULL",
    "DROP_REJECTED",
    "DROP_WRITE_FAILED",
    "AppendResult",
    "DropCount",
    "Priority",
    "Spool",
    "SpoolFullError",
    "SpooledEvent",
    "priority_of",
]
