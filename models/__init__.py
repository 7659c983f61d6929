"""Shipped quantised models, their manifest, and the reproducible build that made them.

The `.onnx` files and `manifest.json` in this folder are data, installed with the package;
`python -m models.build` remakes them from upstream weights (needs the ``build`` extra).
"""

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
MANIFEST_PATH = MODELS_DIR / "manifest.json"
# Optional models built on request (`make models EXTRA=yolov5s`) whose licences forbid
# shipping them: their files and manifest live here, are git-ignored and never packaged.
EXTRA_DIR = MODELS_DIR / "extra"
EXTRA_MANIFEST_PATH = EXTRA_DIR / "manifest.json"
