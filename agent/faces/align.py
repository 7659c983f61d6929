"""Similarity alignment of a face to an embedder's template (ArcFace 112 or dlib's 150 chip).

Embedders are trained on crops whose eyes, nose and mouth sit at fixed template points;
feeding them unaligned boxes costs far more accuracy than INT8 ever does. Each embedder's
manifest entry names its template (``decoder.alignment``):

- ``arcface-112``: the widely used 5-point ArcFace layout (eyes, nose tip, mouth corners) for
  112x112, scaled to the embedder's size (FaceRes: 224);
- ``dlib-150``: dlib's face chip, 150x150 with padding 0.25, the crop dlib's ResNet was
  trained on. dlib places a face by fitting its mean 68-point face shape (coordinates in a
  unit square) into the chip at ``(t + padding) / (1 + 2 * padding) * size``. Our detector
  gives five other points, so the template holds the five points *derived* from that mean
  shape: eye centres = the mean of each eye's six contour points (36-41, 42-47), nose tip =
  point 30, mouth corners = points 48 and 54, mapped into the 150 chip. The fit is then the
  same least-squares similarity as for ArcFace; it approximates dlib's own 68-point fit
  (docs/faces.md, "Embedder choice").

CenterFace (the default detector) gives exactly these five points in this order, so its
faces get a true 5-point fit. BlazeFace gives six points (eyes, nose tip, mouth centre, ears),
not mouth corners. Rather
than invent corners, we fit to four honest correspondences: both eyes, the nose tip, and the
mouth centre matched to the midpoint of the template's mouth corners. Ears are not used:
their template positions are undefined and they are often hidden.
"""

from __future__ import annotations

import cv2
import numpy as np

from agent.errors import OkoError

TEMPLATE_SIZE = 112
#: (x, y) in a 112x112 crop: image-left eye, image-right eye, nose tip, left/right mouth corner.
ARCFACE_5 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
#: The four points derivable from BlazeFace: eyes, nose tip, mouth centre.
ARCFACE_4 = np.vstack([ARCFACE_5[:3], ARCFACE_5[3:].mean(axis=0, keepdims=True)])
DLIB_SIZE = 150
#: The same five points in dlib's 150x150 chip, padding 0.25 (derived as the module says).
DLIB_5 = np.array(
    [
        [47.5492, 46.5990],
        [100.4761, 46.5990],
        [74.0127, 76.5625],
        [50.4149, 103.0233],
        [97.6104, 103.0233],
    ],
    dtype=np.float32,
)
#: Template name (manifest ``decoder.alignment``) -> (5 points, the size they are given at).
TEMPLATES: dict[str, tuple[np.ndarray, int]] = {
    "arcface-112": (ARCFACE_5, TEMPLATE_SIZE),
    "dlib-150": (DLIB_5, DLIB_SIZE),
}
DEFAULT_TEMPLATE = "arcface-112"


class AlignmentError(OkoError):
    """Landmarks could not be turned into an alignment (wrong shape or degenerate)."""


def template(name: str) -> tuple[np.ndarray, int]:
    """(5 template points, their reference size) for a template name; unknown names raise."""
    if name not in TEMPLATES:
        raise AlignmentError(f"unknown alignment template {name!r}; known: {sorted(TEMPLATES)}")
    return TEMPLATES[name]


def template_points(
    keypoints: np.ndarray, name: str = DEFAULT_TEMPLATE
) -> tuple[np.ndarray, np.ndarray]:
    """Pick the source points and the matching template points (at its reference size).

    All 5 points for CenterFace, or the 4 honest ones of BlazeFace's 6 (eyes, nose tip,
    mouth centre, matched to the midpoint of the template's mouth corners).
    """
    five, _ = template(name)
    points = np.asarray(keypoints, np.float32)
    if points.ndim != 2 or points.shape[1] != 2:
        raise AlignmentError(f"keypoints must have shape (k, 2), got {points.shape}")
    if points.shape[0] == 5:
        return points, five
    if points.shape[0] == 6:
        return points[:4], np.vstack([five[:3], five[3:].mean(axis=0, keepdims=True)])
    raise AlignmentError(f"need 5 (ArcFace) or 6 (BlazeFace) keypoints, got {points.shape[0]}")


def alignment_matrix(
    keypoints: np.ndarray, size: int = TEMPLATE_SIZE, name: str = DEFAULT_TEMPLATE
) -> np.ndarray:
    """2x3 similarity transform mapping source pixels onto the template scaled to ``size``.

    RANSAC with a huge threshold keeps every point an inlier, so OpenCV's final refinement
    is a least-squares fit over all correspondences; one noisy landmark is averaged, not
    allowed to decide the crop alone.
    """
    src, dst = template_points(keypoints, name)
    dst = dst * (size / template(name)[1])
    if not np.isfinite(src).all() or np.ptp(src, axis=0).max() < 1e-3:
        raise AlignmentError("degenerate landmarks (non-finite or all in one place)")
    matrix, _ = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=1e6, refineIters=20
    )
    if matrix is None:
        raise AlignmentError("OpenCV found no similarity transform for these landmarks")
    return matrix.astype(np.float32)


def align_face(
    image: np.ndarray,
    keypoints: np.ndarray,
    size: int = TEMPLATE_SIZE,
    name: str = DEFAULT_TEMPLATE,
) -> np.ndarray:
    """The aligned ``size`` x ``size`` crop on template ``name`` (channel order of ``image``)."""
    matrix = alignment_matrix(keypoints, size, name)
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def align_faces(
    image: np.ndarray,
    keypoints: np.ndarray,
    size: int = TEMPLATE_SIZE,
    name: str = DEFAULT_TEMPLATE,
) -> np.ndarray:
    """Aligned crops for all faces of one image: keypoints (n, k, 2) -> (n, size, size, 3)."""
    points = np.asarray(keypoints, np.float32)
    if points.ndim != 3:
        raise AlignmentError(f"keypoints must have shape (n, k, 2), got {points.shape}")
    crops = [align_face(image, p, size, name) for p in points]
    if not crops:
        return np.empty((0, size, size, *image.shape[2:]), image.dtype)
    return np.stack(crops)
