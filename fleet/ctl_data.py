"""What okoctl prints for scripts: messages as plain data, and text made safe for a terminal.

`to_dict` is protobuf's JSON mapping with three changes that scripts need:

* 64-bit integers are numbers, not strings (`"spool_depth": 5`, not `"5"`): every count
  and cursor the fleet sends is far below 2**53, where JSON readers lose precision;
* an unset message field is `null` rather than missing, so every object of a kind has the
  same keys (`"last_seen": null` for a box never seen);
* a time a box once sent that RFC 3339 cannot carry (year > 9999) is shown as its raw
  seconds and nanos, flagged, instead of failing the command.

Times are RFC 3339 in UTC (`2026-05-01T12:00:03.250Z`), enums their names, bytes base64.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

# The range protobuf's JSON mapping (and datetime) can represent: years 0001..9999.
MIN_TS = -62_135_596_800
MAX_TS = 253_402_300_799
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
Path = tuple[str | int, ...]


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


def _invalid_times(message: Message, path: Path = ()) -> Iterator[Path]:
    """Where (dict path) every Timestamp is that JSON cannot carry (year > 9999...)."""
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        items = list(enumerate(value)) if field.is_repeated else [(None, value)]
        for index, item in items:
            here = (*path, field.name) if index is None else (*path, field.name, index)
            if isinstance(item, Timestamp):
                if not MIN_TS <= item.seconds <= MAX_TS or not 0 <= item.nanos < 10**9:
                    yield here
            else:
                yield from _invalid_times(item, here)


def _well_known(descriptor: Descriptor) -> bool:
    """Types protobuf's JSON mapping renders as one value (Timestamp as a string...)."""
    return descriptor.full_name.startswith("google.protobuf.")


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type in _INT64 and isinstance(value, str):
        return int(value)
    if field.message_type is not None and not _well_known(field.message_type):
        return _typed(field.message_type, value) if isinstance(value, dict) else value
    return value


def _typed(descriptor: Descriptor, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (MessageToDict output) with numbers as numbers and unset messages as null."""
    for field in descriptor.fields:
        name = field.name
        if name not in data:
            plain = field.message_type is not None and not field.is_repeated
            if plain and field.containing_oneof is None:
                data[name] = None
            continue
        value = data[name]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            inner = field.message_type.fields_by_name["value"]
            data[name] = {k: _scalar(inner, v) for k, v in value.items()}
        elif field.is_repeated:
            data[name] = [_scalar(field, v) for v in value]
        else:
            data[name] = _scalar(field, value)
    return data


def to_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data (see the module docstring for how it differs)."""
    bad = list(_invalid_times(message))
    raw: list[tuple[Path, dict[str, Any]]] = []
    if bad:
        message = copy.deepcopy(message)
        for path in bad:
            stamp = _at(message, path)
            shown = {"seconds": stamp.seconds, "nanos": stamp.nanos, "invalid": "out of range"}
            raw.append((path, shown))
            stamp.Clear()
    out = MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    out = _typed(cast(Descriptor, message.DESCRIPTOR), out)
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


def as_data(item: Any) -> Any:
    """Anything a command prints for scripts as JSON-ready data.

    Messages through `to_dict`, dataclasses as their fields, lists and dicts item by item;
    other values as they are.
    """
    if isinstance(item, Message):
        return to_dict(item)
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return {f.name: as_data(getattr(item, f.name)) for f in dataclasses.fields(item)}
    if isinstance(item, dict):
        return {k: as_data(v) for k, v in item.items()}
    if isinstance(item, Iterable) and not isinstance(item, str | bytes):
        return [as_data(v) for v in item]  # lists, tuples, repeated message fields
    return item
