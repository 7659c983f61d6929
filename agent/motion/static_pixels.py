"""Pixel tests of the static-object model (`agent.motion.static_objects`), pure numpy/cv2.

Each answers one question about a small grey work image against its backgrounds: how the
exposure changed, whether a darker patch is a shadow, whether a static pixel is background
uncovered (a ghost), how much of the scene changed, whether a region's outline is drawn in
the frame or only in the background.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

FloatImage = npt.NDArray[np.float32]

# A region is a ghost when the edges along its outline in the frame are weaker than this
# share of the edges there in the background (a real object brings its own outline).
GHOST_EDGE_RATIO = 0.7
# Local normalised correlation above which a darkened patch still shows the background's
# texture (a shadow), and the variance under which both patches count as plain.
SHADOW_TEXTURE_NCC = 0.6
PLAIN_VARIANCE = 6.0
PLAIN_SHADOW_RATIO = 0.75
# Ghost test: neighbours (dy, dx, direction) a static pixel is compared with, in work
# pixels (8 directions, two distances), and in how many directions it must fit in.
DIRECTIONS = 8
NEIGHBOURS = tuple(
    (round(r * math.sin(a)), round(r * math.cos(a)), k)
    for r in (4, 7)
    for k, a in enumerate(np.linspace(0, 2 * math.pi, DIRECTIONS, endpoint=False))
)
FIT_DIRECTIONS = 3
# Scene-change test: background pixels with an edge this strong (Sobel |gx|+|gy|), and the
# weight that puts "share of edges changed" on the scale of "share of the picture changed"
# (people walking cover a tenth of the edges at most; a bump moves nearly all).
EDGE_STRENGTH = 120.0
EDGE_SHARE_WEIGHT = 0.8
SURROUNDED_DIRECTIONS = 6  # fits in this many: uncovered background whatever it was before


def follow(
    model: FloatImage,
    grey: FloatImage,
    dt: float,
    tau: float,
    where: npt.NDArray[np.bool_] | None = None,
) -> None:
    """Move `model` towards `grey` with time constant `tau` (in place)."""
    alpha = 1.0 - math.exp(-max(dt, 0.0) / tau)
    if where is None:
        model += alpha * (grey - model)
    else:
        model[where] += alpha * (grey[where] - model[where])


def exposure_gain(grey: FloatImage, long: FloatImage) -> float:
    """Global exposure ratio frame / background (robust: most of the picture is background)."""
    sample = (slice(None, None, 2), slice(None, None, 2))
    ratio = grey[sample] / np.maximum(long[sample], 1.0)
    return float(np.clip(np.median(ratio), 0.2, 5.0))


def texture_kept(grey: FloatImage, ref: FloatImage, ratio: FloatImage) -> npt.NDArray[np.bool_]:
    """Where 5x5 patches of frame and background correlate, or are both plain and darker.

    On a plain floor a soft shadow and a dark object differ only in depth, so plain patches
    that are only a little darker count as shadow too.
    """
    size = (5, 5)
    mg, mr = cv2.blur(grey, size), cv2.blur(ref, size)
    vg = cv2.blur(grey * grey, size) - mg * mg
    vr = cv2.blur(ref * ref, size) - mr * mr
    cov = cv2.blur(grey * ref, size) - mg * mr
    ncc = cov / np.sqrt(np.maximum(vg * vr, 1e-6))
    plain = (vg < PLAIN_VARIANCE) & (vr < PLAIN_VARIANCE) & (ratio >= PLAIN_SHADOW_RATIO)
    return np.asarray((ncc >= SHADOW_TEXTURE_NCC) | plain)


def uncovered_background(
    grey: FloatImage,
    long: FloatImage,
    fg: npt.NDArray[np.bool_],
    static: npt.NDArray[np.bool_],
    threshold: float,
) -> npt.NDArray[np.bool_]:
    """Static pixels that fit their surroundings now better than they did in the background.

    That is background uncovered by something that stood there when the model learnt it
    (a ghost): the uncovered road looks like the road around it, while the person the model
    remembers did not. An object left there is the other way round. Neighbours are compared
    one by one (8 directions, two distances, only where the frame matches the background)
    rather than by their mean, so kerbs, gravel and a dark van's shadow next to a black bag
    do not fool it; pixel-wise, so a ghost touching a real object goes without taking it.
    """
    if not static.any():
        return static
    pad = max(max(abs(dy), abs(dx)) for dy, dx, _ in NEIGHBOURS)
    # Only around the static pixels (usually a small part of the picture).
    ys, xs = np.nonzero(static)
    y1, y2 = max(int(ys.min()) - pad, 0), min(int(ys.max()) + pad + 1, grey.shape[0])
    x1, x2 = max(int(xs.min()) - pad, 0), min(int(xs.max()) + pad + 1, grey.shape[1])
    region = (slice(y1, y2), slice(x1, x2))
    g, bg, clear_px = grey[region], long[region], ~fg[region]
    h, w = g.shape
    now_pad, before_pad = np.pad(g, pad, mode="edge"), np.pad(bg, pad, mode="edge")
    clear = np.pad(clear_px, pad, constant_values=False)
    fits_now = np.zeros((h, w), np.uint8)
    fitted = np.zeros((h, w), np.uint8)
    for direction in range(DIRECTIONS):
        now = np.zeros((h, w), bool)
        before = np.zeros((h, w), bool)
        for dy, dx, _ in NEIGHBOURS[direction::DIRECTIONS]:
            window = (slice(pad + dy, pad + dy + h), slice(pad + dx, pad + dx + w))
            now |= clear[window] & (np.abs(g - now_pad[window]) <= threshold)
            before |= clear[window] & (np.abs(bg - before_pad[window]) <= threshold)
        fits_now += now
        fitted += before
    better = (fits_now >= FIT_DIRECTIONS) & (fits_now.astype(np.int16) >= fitted + 2)
    out = np.zeros_like(static)
    out[region] = static[region] & (better | (fits_now >= SURROUNDED_DIRECTIONS))
    return out


def changed_share(fg: npt.NDArray[np.bool_], ref: FloatImage) -> float:
    """How much of the scene changed: of the whole picture, or of its edges if more.

    A bumped camera moves every edge while plain road and grass still match, so the
    share of the background's edge pixels now foreground is what gives a bump away.
    """
    edges = sobel_edges(ref)
    strong = edges > EDGE_STRENGTH
    on_edges = float(fg[strong].mean()) if strong.sum() > 0.01 * fg.size else 0.0
    return max(float(fg.mean()), on_edges * EDGE_SHARE_WEIGHT)


def sobel_edges(image: FloatImage) -> FloatImage:
    """Gradient magnitude |gx| + |gy| (3x3 Sobel)."""
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(np.abs(gx) + np.abs(gy), np.float32)


def is_ghost(mask: npt.NDArray[np.bool_], frame_edges: FloatImage, bg_edges: FloatImage) -> bool:
    """True if the region's outline is drawn in the background, not in the frame."""
    m8 = mask.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    outline = (cv2.dilate(m8, kernel) - cv2.erode(m8, kernel)).astype(bool)
    now, before = float(frame_edges[outline].sum()), float(bg_edges[outline].sum())
    return now < GHOST_EDGE_RATIO * before
