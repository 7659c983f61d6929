"""The fleet's pure-Python JPEG check on real encodings and on broken or hostile bytes.

Real JPEGs come from OpenCV's encoder (libjpeg, what the boxes use) on a real photo; the
broken ones are those same files cut, edited and mutated.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.watchlists.jpeg import JpegError, check_jpeg
from tests.fleet import watchlist_helpers as wh


@functools.cache
def photo() -> np.ndarray:
    return wh.image("astronaut.png")


def encode(width: int, height: int, *params: int, grey: bool = False) -> bytes:
    image = cv2.resize(photo(), (width, height), interpolation=cv2.INTER_AREA)
    if grey:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ok, data = cv2.imencode(".jpg", image, list(params))
    assert ok
    return data.tobytes()


@functools.cache
def shot() -> bytes:
    return encode(112, 112, cv2.IMWRITE_JPEG_QUALITY, 92)


@pytest.mark.parametrize(
    ("width", "height", "params", "grey"),
    [
        (112, 112, (cv2.IMWRITE_JPEG_QUALITY, 92), False),
        (112, 112, (cv2.IMWRITE_JPEG_QUALITY, 100), False),
        (113, 77, (cv2.IMWRITE_JPEG_QUALITY, 30), False),  # partial MCUs at both edges
        (
            96,
            160,
            (cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
            False,
        ),
        (
            100,
            50,
            (cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422),
            False,
        ),
        (120, 90, (cv2.IMWRITE_JPEG_RST_INTERVAL, 3), False),  # restart markers
        (120, 90, (cv2.IMWRITE_JPEG_OPTIMIZE, 1), False),  # optimised Huffman tables
        (50, 60, (), True),
        (640, 480, (), False),
    ],
)
def test_real_baseline_jpegs_are_accepted_with_their_size(
    width: int, height: int, params: tuple[int, ...], grey: bool
) -> None:
    info = check_jpeg(encode(width, height, *params, grey=grey))
    assert (info.width, info.height) == (width, height)
    assert info.components == (1 if grey else 3) and info.scans == 1


def _with_sof(data: bytes, height: int, width: int) -> bytes:
    out = bytearray(data)
    sof = out.index(b"\xff\xc0")
    out[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(out)


def _without_segment(data: bytes, marker: bytes) -> bytes:
    at = data.index(marker)
    length = int.from_bytes(data[at + 2 : at + 4], "big")
    return data[:at] + data[at + 2 + length :]


def _png() -> bytes:
    ok, data = cv2.imencode(".png", photo())
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b"", "not a JPEG"),
        (_png, "not a JPEG"),
        (lambda: b"\xff\xd8\xff\xd9", "before every component was scanned"),
        (lambda: shot()[:-2], "file ends inside a scan"),
        (lambda: shot()[: len(shot()) // 2], "file ends inside a scan"),
        (lambda: shot()[:200], "runs past the file's end"),
        (lambda: shot() + b"\x00trailing", "bytes after the end-of-image marker"),
        (lambda: shot() + shot(), "bytes after the end-of-image marker"),
        (lambda: _with_sof(shot(), 60000, 60000), "image is 60000x60000"),
        (lambda: _with_sof(shot(), 0, 112), "height 0"),
        (lambda: _with_sof(shot(), 224, 224), "entropy-coded data ends inside a block"),
        (lambda: _with_sof(shot(), 56, 56), "bytes of entropy-coded data after the blocks"),
        (lambda: _without_segment(shot(), b"\xff\xc4"), "Huffman table that was never defined"),
        (lambda: _without_segment(shot(), b"\xff\xdb"), "quantisation table never defined"),
        (lambda: _without_segment(shot(), b"\xff\xc0"), "scan before the frame header"),
        (lambda: encode(112, 112, cv2.IMWRITE_JPEG_PROGRESSIVE, 1), "progressive JPEG"),
        (lambda: encode(12, 12), "each side must be 16..1024 px"),
        (lambda: encode(1100, 200), "each side must be 16..1024 px"),
    ],
)
def test_broken_or_unusual_files_are_refused_naming_the_problem(make, reason: str) -> None:
    with pytest.raises(JpegError, match=reason):
        check_jpeg(make(), min_side=16, max_side=1024, max_pixels=1024 * 1024)


def test_restart_markers_must_be_where_the_interval_says() -> None:
    with_rst = encode(120, 90, cv2.IMWRITE_JPEG_RST_INTERVAL, 3)
    dri = with_rst.index(b"\xff\xdd")
    wrong = with_rst[: dri + 4] + (5).to_bytes(2, "big") + with_rst[dri + 6 :]
    with pytest.raises(JpegError, match="restart intervals"):
        check_jpeg(wrong)


@settings(max_examples=150, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=8,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_mutated_files_are_accepted_or_refused_never_crash(
    edits: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(shot())
    for where, value in edits:
        data[where % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        info = check_jpeg(bytes(data), min_side=16, max_side=1024, max_pixels=1024 * 1024)
    except JpegError:
        return
    assert 16 <= info.width <= 1024 and 16 <= info.height <= 1024
