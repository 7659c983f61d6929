"""okoctl output: rich tables for people, JSON (protobuf field names) for scripts."""

from __future__ import annotations

import copy
import functools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fleet.client import ClientError, Connection
from fleet.exits import FAILURE, USAGE, fail

console = Console()
# The range protobuf's JSON mapping (and datetime) can represent: years 0001..9999.
_MIN_TS = -62_135_596_800
_MAX_TS = 253_402_300_799
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Ctl:
    """What the global options decided, handed to every command as ctx.obj."""

    connection: Connection
    json: bool


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` made safe for a terminal: shown as escapes, never interpreted.

    Control characters, escape sequences and invisible format characters (bidi
    overrides...) become visible escapes: ESC is printed as backslash, 'x1b'.

    Every string okoctl prints that a box (or anyone but the operator) could have set
    goes through here, in tables and plain lines alike; JSON output is escaped by json.
    """
    if text.isprintable() or (newlines and text.replace("\n", "").isprintable()):
        return text
    return "".join(c if c.isprintable() or (newlines and c == "\n") else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return _ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def cli_errors(fn: F) -> F:
    """One line on stderr: a refused call exits 1, a bad value or file 2 (`fleet.exits`)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ClientError as err:  # its message may quote what a box sent: escaped
            fail(printable(str(err), newlines=True), FAILURE)
        except ValueError as err:  # a duration, role or file the user gave
            fail(printable(str(err), newlines=True), USAGE)

    return run  # type: ignore[return-value]


Path = tuple[str | int, ...]


def _invalid_times(message: Message, path: Path = ()) -> Iterator[Path]:
    """Where (dict path) every Timestamp is that JSON cannot carry (year > 9999...)."""
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        items = list(enumerate(value)) if field.is_repeated else [(None, value)]
        for index, item in items:
            here = (*path, field.name) if index is None else (*path, field.name, index)
            if isinstance(item, Timestamp):
                if not _MIN_TS <= item.seconds <= _MAX_TS or not 0 <= item.nanos < 10**9:
                    yield here
            else:
                yield from _invalid_times(item, here)


def to_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data for `--json`.

    Proto field names and unset fields included, so scripts always see the same keys. A
    time a box once sent that JSON cannot carry is shown as its raw seconds and nanos,
    flagged, instead of failing the command.
    """
    bad = list(_invalid_times(message))
    raw: list[tuple[Path, dict[str, Any]]] = []
    if bad:
        message = copy.deepcopy(message)
        for path in bad:
            stamp = _at(message, path)
            shown = {"seconds": str(stamp.seconds), "nanos": stamp.nanos, "invalid": "out of range"}
            raw.append((path, shown))
            stamp.Clear()
    out = MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for path, value in raw:
        _put(out, path, value)
    return out


def _at(message: Any, path: Path) -> Any:
    for part in path:
        message = message[part] if isinstance(part, int) else getattr(message, part)
    return message


def _put(out: Any, path: Path, value: dict[str, Any]) -> None:
    for part in path[:-1]:
        out = out[part] if isinstance(part, int) else out.setdefault(part, {})
    out[path[-1]] = value


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
    """Readable time; empty for an unset timestamp; raw seconds for one out of range."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    if not _MIN_TS <= stamp.seconds <= _MAX_TS:
        return f"@{stamp.seconds} (out of range)"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp.seconds))


def clock(seconds: int) -> str:
    """HH:MM:SS (UTC) of an event time, or the raw seconds if out of range."""
    if not _MIN_TS <= seconds <= _MAX_TS:
        return f"@{seconds}"
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


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
        # Text, not str: rich would read '[...]' in a box-sent value as markup.
        out.add_row(*(Text(printable(str(cell))) for cell in row))
    console.print(out)


def fields(title: str, items: Sequence[tuple[str, Any]]) -> None:
    """Print name/value pairs as a two-column table, for one object's details."""
    out = Table(title=Text(printable(title)), title_justify="left", show_header=False)
    out.add_column(style="bold")
    out.add_column()
    for name, value in items:
        out.add_row(name, Text(printable(str(value))))
    console.print(out)
