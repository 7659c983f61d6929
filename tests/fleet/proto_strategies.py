"""Hypothesis strategies for any protobuf message, built from its descriptor.

Values lean hostile: control characters and escape sequences in strings, overlong ids,
the extremes of every integer type, NaN and infinities, absurd timestamps, long lists.
"""

from __future__ import annotations

from typing import Any, Literal

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

F = FieldDescriptor
_NASTY_TEXT = [
    "",
    "cam-1",
    "a b",
    "x" * 65,
    "\x1b[2J",
    "line\nFAKE",
    "\u202e",
    "[bold]x[/]",
    "y" * 5000,
    "face",
    "zone",
]
_INTS = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
    F.TYPE_ENUM: (-(2**31), 2**31 - 1),  # proto3 enums are open: any int32 arrives
}


_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # not encodable: protobuf refuses them locally


def _text() -> st.SearchStrategy[str]:
    chars = st.characters(exclude_categories=_SURROGATES)
    return st.one_of(st.sampled_from(_NASTY_TEXT), st.text(chars, max_size=40))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == F.TYPE_STRING:
        return _text()
    if kind == F.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind == F.TYPE_FLOAT:
        return st.floats(width=32)
    if kind == F.TYPE_DOUBLE:
        return st.floats()
    low, high = _INTS[kind]
    return st.one_of(st.sampled_from([low, high, 0, 1]), st.integers(low, high))


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is None:
        return _scalar(field)
    return messages(field.message_type, depth + 1)


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        key, value = message.fields_by_name["key"], message.fields_by_name["value"]
        return st.dictionaries(_value(key, depth), _value(value, depth), max_size=4)
    if field.is_repeated:
        return st.lists(_value(field, depth), max_size=4)
    return _value(field, depth)


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    msg = cls()
    for name, value in values.items():
        field = cls.DESCRIPTOR.fields_by_name[name]
        target: Any = getattr(msg, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if field.message_type.fields_by_name["value"].message_type is None:
                    target[key] = item
                else:
                    target[key].CopyFrom(item)
        elif field.is_repeated:
            target.extend(value)
        elif field.message_type is not None:
            target.CopyFrom(value)
        else:
            setattr(msg, name, value)
    return msg


def messages(descriptor: Descriptor | Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Any message of this type: each field present or not, values as above."""
    cls = GetMessageClass(descriptor)
    if depth > 4:
        return st.just(cls())
    optional = {f.name: _field(f, depth) for f in descriptor.fields}
    return st.fixed_dictionaries({}, optional=optional).map(lambda values: _build(cls, values))
