"""okoctl output: rich tables for people, JSON (protobuf field names) for scripts."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table

from fleet.client import ClientError, Connection
from fleet.exits import FAILURE, USAGE, fail

console = Console()
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Ctl:
    """What the global options decided, handed to every command as ctx.obj."""

    connection: Connection
    json: bool


def cli_errors(fn: F) -> F:
    """One line on stderr: a refused call exits 1, a bad value or file 2 (`fleet.exits`)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ClientError as err:
            fail(err, FAILURE)
        except ValueError as err:  # a duration, role or file the user gave
            fail(err, USAGE)

    return run  # type: ignore[return-value]


def to_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data for `--json`.

    Proto field names and unset fields included, so scripts always see the same keys.
    """
    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def print_json(data: Message | Sequence[Message] | dict[str, Any]) -> None:
    """Print messages or data as indented, key-sorted JSON for `--json`."""
    if isinstance(data, Message):
        out: Any = to_dict(data)
    elif isinstance(data, dict):
        out = data
    else:
        out = [to_dict(m) for m in data]
    # Plain print, not rich: scripts need exact JSON without markup or wrapping.
    print(json.dumps(out, indent=2, sort_keys=True))


def when(stamp: Timestamp) -> str:
    """Readable time; empty for an unset timestamp."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp.seconds))


def ago(stamp: Timestamp) -> str:
    """How long ago, coarsest unit first ("3h ago"); "never" for an unset timestamp."""
    if not stamp.seconds:
        return "never"
    seconds = max(0, int(time.time()) - stamp.seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as a rich table under `title`; cells are shown with str()."""
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(str(cell) for cell in row))
    console.print(out)


def fields(title: str, items: Sequence[tuple[str, Any]]) -> None:
    """Print name/value pairs as a two-column table, for one object's details."""
    out = Table(title=title, title_justify="left", show_header=False)
    out.add_column(style="bold")
    out.add_column()
    for name, value in items:
        out.add_row(name, str(value))
    console.print(out)
