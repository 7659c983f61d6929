"""Fixtures: a real fleet process with a trusted signing key, packaged models, a long clip."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fleet import FleetCli, FleetHandle
from tests.support.media import VTEST
from tests.support.model_artifacts import (
    FP32,
    INT8,
    SigningKey,
    make_key,
    packaged,
    reference_frames,
    trust,
)
from tests.support.net import free_port

V2 = "2.0.0-fp32"  # the shipped FP32 file as a new version of the running model


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vtest.avi four times over (5 min at 10 fps): a camera that outlasts each test."""
    out = tmp_path_factory.mktemp("clips") / "vtest-long.avi"
    cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-stream_loop", "3"]
    subprocess.run([*cmd, "-i", str(VTEST), "-c", "copy", str(out)], check=True, timeout=60)
    return out


@pytest.fixture(scope="session")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    """The release signing key (kept off the fleet: only its public half is trusted)."""
    return make_key(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return reference_frames(tmp_path_factory.mktemp("frames"))


@pytest.fixture(scope="session")
def fp32_v2(tmp_path_factory: pytest.TempPathFactory, key: SigningKey, frames: list[Path]) -> Path:
    """nanodet-g FP32 packaged (warm-up recorded) and signed as nanodet-g@2.0.0-fp32."""
    out = tmp_path_factory.mktemp("fp32-v2")
    return packaged(FP32, "nanodet-g", V2, frames=frames, out=out, key=key)


@pytest.fixture(scope="session")
def int8_path() -> Path:
    return INT8


@pytest.fixture
def fleet_cli(tmp_path: Path, key: SigningKey) -> Iterator[FleetCli]:
    """`oko-fleet serve` that trusts `key` (before any box enrolls, so boxes pin it)."""
    cli = FleetCli(tmp_path / "fleet", free_port(), free_port()).start()
    handle = cli.handle()
    try:
        trust(handle, key, "release")
        yield cli
    finally:
        handle.close()
        cli.stop()


@pytest.fixture
def fleet(fleet_cli: FleetCli) -> Iterator[FleetHandle]:
    handle = fleet_cli.handle()
    try:
        yield handle
    finally:
        handle.close()
