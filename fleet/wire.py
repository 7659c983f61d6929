"""Protobuf wire-format helpers for the two hot paths that write bytes directly.

Those are stamping stored events at ingest and building envelopes for subscribers. Tested
against the generated classes, which remain the reference.
"""

from __future__ import annotations

_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer (fast paths for the common short ones)."""
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    if value < 0x200000:
        return bytes((value & 0x7F | 0x80, value >> 7 & 0x7F | 0x80, value >> 14))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def length_delimited(number: int, payload: bytes) -> bytes:
    """One field of wire type 2 (string, bytes, message) with a field number below 16."""
    return bytes([number << 3 | 2]) + varint(len(payload)) + payload
