"""Checks that bytes a box sent are one whole baseline JPEG of sane size, in pure Python.

Evidence images come from boxes, and boxes are untrusted: before the fleet keeps one with
an alert, and long before an operator opens it in an image viewer, it must really be the
face shot it claims to be. The fleet does not load OpenCV (tests/test_package_boundaries.py),
and a native image library fed hostile bytes is an attack surface of its own, so this
module walks the file the slow, safe way:

* the marker structure: SOI, segments whose lengths stay inside the file, one frame header,
  quantisation and Huffman tables before the scans that use them, EOI, nothing after it;
* the frame: baseline or extended sequential Huffman, 8-bit, 1 or 3 components with
  sampling factors 1..4, dimensions inside the caller's bounds (no "height in a later
  DNL marker");
* every scan's entropy-coded data, Huffman-decoded block by block (DC difference and up
  to 63 AC coefficients per block), with restart markers where the restart interval says:
  each component covered exactly once, every block present, no bits left over beyond the
  final byte's padding.

It stops short of the inverse DCT (pixel values), which cannot fail once the coefficients
decoded. Progressive, lossless and arithmetic-coded files are refused: the boxes write
baseline (OpenCV's `imencode` default). Cost is linear in the file size (about a second per
100 KiB of entropy data in CPython), which is why callers bound the bytes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_SOI, _EOI, _SOS, _DQT, _DHT, _DRI, _DNL = 0xD8, 0xD9, 0xDA, 0xDB, 0xC4, 0xDD, 0xDC
_SEQUENTIAL = (0xC0, 0xC1)  # baseline, extended sequential (both Huffman)
_OTHER_FRAMES = {0xC2: "progressive", 0xC3: "lossless", 0xC9: "arithmetic-coded"}
_RST = range(0xD0, 0xD8)
_APP_OR_COM = (*range(0xE0, 0xF0), 0xFE)
_MAX_DC_CATEGORY = 11
_MAX_AC_SIZE = 10


class JpegError(ValueError):
    """The bytes are not an acceptable JPEG; the message says what is wrong and where."""


@dataclass(frozen=True)
class JpegInfo:
    """What the check found: the image's size and layout."""

    width: int
    height: int
    components: int
    scans: int


@dataclass(frozen=True)
class _Component:
    ident: int
    h: int
    v: int
    table: int


@dataclass(frozen=True)
class _Huffman:
    """A canonical Huffman table as JPEG's decoding procedure (F.2.2.3) uses it."""

    maxcode: tuple[int, ...]  # per code length 1..16 (index 0 unused); -1: no code that long
    offset: tuple[int, ...]  # value index of a code = offset[length] + code
    values: bytes

    @classmethod
    def parse(cls, counts: bytes, values: bytes) -> _Huffman:
        maxcode, offset = [-1] * 17, [0] * 17
        code = index = 0
        for length in range(1, 17):
            n = counts[length - 1]
            if n:
                offset[length] = index - code
                code += n
                index += n
                maxcode[length] = code - 1
            if code > 1 << length:
                raise JpegError(f"Huffman table has more codes of length {length} than fit")
            code <<= 1
        return cls(tuple(maxcode), tuple(offset), values)


@dataclass
class _State:
    width: int = 0
    height: int = 0
    components: list[_Component] = field(default_factory=list)
    quant: set[int] = field(default_factory=set)
    dc: dict[int, _Huffman] = field(default_factory=dict)
    ac: dict[int, _Huffman] = field(default_factory=dict)
    restart: int = 0
    scanned: set[int] = field(default_factory=set)
    scans: int = 0


class _Bits:
    """MSB-first bit reader over one restart interval's unstuffed entropy-coded bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.acc = 0
        self.count = 0

    def bit(self) -> int:
        if self.count == 0:
            if self.pos >= len(self.data):
                raise JpegError("entropy-coded data ends inside a block (truncated image?)")
            self.acc = self.data[self.pos]
            self.pos += 1
            self.count = 8
        self.count -= 1
        return (self.acc >> self.count) & 1

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def symbol(self, table: _Huffman) -> int:
        code = 0
        maxcode = table.maxcode
        for length in range(1, 17):
            code = (code << 1) | self.bit()
            if code <= maxcode[length]:
                return table.values[table.offset[length] + code]
        raise JpegError("entropy-coded data holds a code that no Huffman table defines")

    def left_over(self) -> int:
        """Bits not consumed: only the last byte's padding (fewer than 8) may remain."""
        return self.count + 8 * (len(self.data) - self.pos)


def _block(bits: _Bits, dc: _Huffman, ac: _Huffman) -> None:
    """Decode (and drop) one 8x8 block's coefficients: DC category + bits, then AC run/size."""
    category = bits.symbol(dc)
    if category > _MAX_DC_CATEGORY:
        raise JpegError(f"DC difference category {category} (at most {_MAX_DC_CATEGORY})")
    bits.bits(category)
    k = 1
    while k < 64:
        rs = bits.symbol(ac)
        run, size = rs >> 4, rs & 15
        if size == 0:
            if run == 15:  # ZRL: sixteen zeros
                k += 16
                continue
            if run:
                raise JpegError(f"AC symbol 0x{rs:02x} is not defined for baseline JPEG")
            return  # end of block
        k += run
        if k > 63 or size > _MAX_AC_SIZE:
            raise JpegError("AC coefficients run past the end of the block")
        bits.bits(size)
        k += 1
    if k > 64:
        raise JpegError("AC coefficients run past the end of the block")


def _unstuff(data: bytes, start: int) -> tuple[list[bytes], int]:
    """The scan's entropy-coded bytes split at restart markers, and where its marker starts."""
    parts: list[bytes] = []
    out = bytearray()
    i = start
    end = len(data)
    while True:
        j = data.find(0xFF, i)
        if j < 0 or j + 1 >= end:
            raise JpegError("file ends inside a scan (no EOI marker)")
        out += data[i:j]
        nxt = data[j + 1]
        if nxt == 0x00:
            out.append(0xFF)
            i = j + 2
        elif nxt in _RST:
            parts.append(bytes(out))
            out.clear()
            i = j + 2
        elif nxt == 0xFF:
            i = j + 1  # fill byte before a marker
        else:
            parts.append(bytes(out))
            return parts, j


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _scan_layout(state: _State, chosen: list[_Component]) -> tuple[int, list[_Component]]:
    """(MCUs in the scan, the component of each block of one MCU, in order)."""
    hmax = max(c.h for c in state.components)
    vmax = max(c.v for c in state.components)
    if len(chosen) == 1:  # non-interleaved: one block per MCU, the component's own grid
        c = chosen[0]
        cols = _ceil(_ceil(state.width * c.h, hmax), 8)
        rows = _ceil(_ceil(state.height * c.v, vmax), 8)
        return cols * rows, [c]
    cols = _ceil(state.width, 8 * hmax)
    rows = _ceil(state.height, 8 * vmax)
    return cols * rows, [c for c in chosen for _ in range(c.h * c.v)]


def _scan_header(state: _State, header: bytes) -> list[tuple[_Component, int, int]]:
    """The scan's components with their DC and AC table ids, each checked against the frame."""
    count = header[0] if header else 0
    by_id = {c.ident: c for c in state.components}
    if not 1 <= count <= len(by_id) or len(header) != 4 + 2 * count:
        raise JpegError(f"scan header names {count} components, the frame has {len(by_id)}")
    if header[-3:] != b"\x00\x3f\x00":
        raise JpegError("scan is not a sequential scan (spectral selection 0..63, no approx.)")
    chosen = []
    for i in range(count):
        ident, td_ta = header[1 + 2 * i], header[2 + 2 * i]
        if ident not in by_id or ident in state.scanned:
            raise JpegError(f"scan names component {ident} unknown to the frame or scanned twice")
        dc_id, ac_id = td_ta >> 4, td_ta & 15
        if dc_id not in state.dc or ac_id not in state.ac:
            raise JpegError(f"component {ident} uses a Huffman table that was never defined")
        if by_id[ident].table not in state.quant:
            raise JpegError(f"component {ident} uses a quantisation table never defined")
        chosen.append((by_id[ident], dc_id, ac_id))
    return chosen


def _scan(state: _State, header: bytes, data: bytes) -> int:
    """Decode one scan whose header is `header`; returns where the next marker starts."""
    chosen = _scan_header(state, header)
    mcus, layout = _scan_layout(state, [c for c, _, _ in chosen])
    tables = {c.ident: (state.dc[dc], state.ac[ac]) for c, dc, ac in chosen}
    blocks = [tables[c.ident] for c in layout]
    parts, marker = _unstuff(data, 0)
    per_part = state.restart or mcus
    expected = _ceil(mcus, per_part)
    if len(parts) != expected:
        raise JpegError(f"scan has {len(parts)} restart intervals, {expected} expected")
    left = mcus
    for part in parts:
        bits = _Bits(part)
        for _ in range(min(per_part, left)):
            for dc, ac in blocks:
                _block(bits, dc, ac)
        left -= min(per_part, left)
        if bits.left_over() >= 8:
            raise JpegError(f"{bits.left_over() // 8} bytes of entropy-coded data after the blocks")
    state.scanned.update(c.ident for c, _, _ in chosen)
    state.scans += 1
    return marker


def _frame(state: _State, marker: int, body: bytes, bounds: tuple[int, int, int]) -> None:
    if state.components:
        raise JpegError("more than one frame header")
    if len(body) < 6 or body[0] != 8:
        raise JpegError("only 8-bit samples are accepted")
    height, width, count = int.from_bytes(body[1:3]), int.from_bytes(body[3:5]), body[5]
    low, high, pixels = bounds
    if height == 0:
        raise JpegError("height 0 (given in a later DNL marker) is not accepted")
    if not (low <= width <= high and low <= height <= high) or width * height > pixels:
        raise JpegError(
            f"image is {width}x{height}; each side must be {low}..{high} px, "
            f"at most {pixels} pixels"
        )
    if count not in (1, 3) or len(body) != 6 + 3 * count:
        raise JpegError(f"frame has {count} components; 1 (grey) or 3 (colour) accepted")
    for i in range(count):
        ident, hv, table = body[6 + 3 * i], body[7 + 3 * i], body[8 + 3 * i]
        h, v = hv >> 4, hv & 15
        if not (1 <= h <= 4 and 1 <= v <= 4) or table > 3:
            raise JpegError(f"component {ident}: sampling {h}x{v} or table {table} out of range")
        state.components.append(_Component(ident, h, v, table))
    if len({c.ident for c in state.components}) != count:
        raise JpegError("frame names one component twice")
    state.width, state.height = width, height


def _quant(state: _State, body: bytes) -> None:
    i = 0
    while i < len(body):
        precision, table = body[i] >> 4, body[i] & 15
        size = 64 * (precision + 1)
        if precision > 1 or table > 3 or i + 1 + size > len(body):
            raise JpegError("quantisation table segment is malformed")
        state.quant.add(table)
        i += 1 + size


def _huffman(state: _State, body: bytes) -> None:
    i = 0
    while i < len(body):
        if i + 17 > len(body):
            raise JpegError("Huffman table segment is malformed")
        kind, table = body[i] >> 4, body[i] & 15
        counts = body[i + 1 : i + 17]
        total = sum(counts)
        if kind > 1 or table > 3 or total > 256 or i + 17 + total > len(body):
            raise JpegError("Huffman table segment is malformed")
        parsed = _Huffman.parse(counts, body[i + 17 : i + 17 + total])
        (state.ac if kind else state.dc)[table] = parsed
        i += 17 + total


def _segment(state: _State, marker: int, body: bytes, bounds: tuple[int, int, int]) -> None:
    """Apply one table/frame/misc segment (everything but SOS)."""
    if marker in _SEQUENTIAL:
        _frame(state, marker, body, bounds)
    elif marker in _OTHER_FRAMES:
        raise JpegError(f"{_OTHER_FRAMES[marker]} JPEG is not accepted (boxes write baseline)")
    elif marker == _DQT:
        _quant(state, body)
    elif marker == _DHT:
        _huffman(state, body)
    elif marker == _DRI:
        if len(body) != 2:
            raise JpegError("restart interval segment is malformed")
        state.restart = int.from_bytes(body)
    elif marker not in _APP_OR_COM:
        raise JpegError(f"marker 0xFF{marker:02X} is not accepted in a baseline JPEG")


def _next_segment(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(marker, body, position after it) of the segment at `pos`; EOI has an empty body."""
    while data[pos : pos + 2] == b"\xff\xff":
        pos += 1  # fill bytes before a marker
    if pos + 2 > len(data) or data[pos] != 0xFF:
        raise JpegError(f"expected a marker at byte {pos}")
    marker = data[pos + 1]
    if marker == _EOI:
        return marker, b"", pos + 2
    if marker in (_SOI, *_RST) or marker == _DNL:
        raise JpegError(f"marker 0xFF{marker:02X} out of place at byte {pos}")
    if pos + 4 > len(data):
        raise JpegError("file ends inside a segment header")
    length = int.from_bytes(data[pos + 2 : pos + 4])
    if length < 2 or pos + 2 + length > len(data):
        raise JpegError(f"segment 0xFF{marker:02X} at byte {pos} runs past the file's end")
    return marker, data[pos + 4 : pos + 2 + length], pos + 2 + length


def check_jpeg(
    data: bytes, *, min_side: int = 8, max_side: int = 4096, max_pixels: int = 4096 * 4096
) -> JpegInfo:
    """The image's size if `data` is one complete baseline JPEG within the bounds.

    Raises `JpegError` naming the first problem: not a JPEG, a structure that does not
    hold, a size outside the bounds, data that does not decode, bytes after the end.
    """
    if data[:2] != b"\xff\xd8":
        raise JpegError("not a JPEG (no start-of-image marker)")
    state = _State()
    bounds = (min_side, max_side, max_pixels)
    marker, pos = 0, 2
    while marker != _EOI:
        marker, body, pos = _next_segment(data, pos)
        if marker == _SOS:
            if not state.components:
                raise JpegError("scan before the frame header")
            pos += _scan(state, body, data[pos:])
        elif marker != _EOI:
            _segment(state, marker, body, bounds)
    if pos != len(data):
        raise JpegError(f"{len(data) - pos} bytes after the end-of-image marker")
    if not state.components or state.scanned != {c.ident for c in state.components}:
        raise JpegError("image ends before every component was scanned")
    return JpegInfo(state.width, state.height, len(state.components), state.scans)
