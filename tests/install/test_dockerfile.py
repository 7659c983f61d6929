"""Dockerfile.edge, checked without a Docker engine (none runs on these machines).

The file is parsed and held against the repository; the venv it builds is the one
install.sh builds (same `pip install .` of the same files into /opt/oko), so the shared
installed root stands in for the image's /opt/oko when running its entrypoint.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config.agent import AgentConfig
from agent.config.base import parse_document
from tests.install.helpers import REPO, Installed
from tests.support.net import free_port

DOCKERFILE = REPO / "Dockerfile.edge"


@dataclass
class Stage:
    """One FROM ... AS name block: its instructions as (keyword, argument text)."""

    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages). Comment lines are dropped even inside continuations."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends inside a line continuation"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            assert len(words) == 3 and words[1].upper() == "AS", f"unnamed stage: {line}"
            stages.append(Stage(base=words[0], name=words[2]))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def copy_parts(args: str) -> tuple[str | None, list[str], str]:
    """COPY [--from=stage] src... dest -> (stage, sources, dest)."""
    words = shlex.split(args)
    source_stage = None
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        if flag.startswith("--from="):
            source_stage = flag.split("=", 1)[1]
    return source_stage, words[:-1], words[-1]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:].strip("/") if negate else raw.strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not negate
    return ignored


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(dockerfile: tuple[dict[str, str], list[Stage]]) -> Stage:
    return dockerfile[1][-1]


def ignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


# -- the file against the repository -----------------------------------------------------


def test_every_copied_source_exists_and_is_in_the_context(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    patterns = ignore_patterns()
    copied = [
        src
        for stage in dockerfile[1]
        for args in stage.all("COPY")
        for from_stage, sources, _ in [copy_parts(args)]
        if from_stage is None
        for src in sources
    ]
    assert copied, "no COPY from the build context"
    for src in copied:
        path = REPO / src
        assert path.exists(), f"COPY {src}: not in the repository"
        assert not dockerignored(src, patterns), f"COPY {src}: excluded by .dockerignore"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        shipped = [
            p
            for p in files
            if p.suffix in {".py", ".onnx", ".json", ".proto"}
            and "__pycache__" not in p.parts
            # Optional GPL/AGPL builds (make models EXTRA=...) must stay out of the image.
            and not str(p.relative_to(REPO)).startswith("models/extra/")
        ]
        for file in shipped:
            rel = str(file.relative_to(REPO))
            assert not dockerignored(rel, patterns), f"{rel}: excluded by .dockerignore"
    # The context is small: tests, the local venv and git history stay out.
    for outside in (
        ".venv/bin/python",
        "tests/data/vtest.avi",
        ".git/HEAD",
        "bench",
        "models/extra/yolov5s.int8.onnx",
        "models/extra/manifest.json",
    ):
        assert dockerignored(outside, patterns), f"{outside} would be sent to the daemon"


def test_builder_copies_exactly_what_install_sh_installs(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    match = re.search(r"^SOURCE_ENTRIES=\(([^)]*)\)", (REPO / "install.sh").read_text(), re.M)
    assert match, "install.sh: SOURCE_ENTRIES not found"
    builder = dockerfile[1][0]
    copied = {src.rstrip("/") for args in builder.all("COPY") for src in copy_parts(args)[1]}
    assert copied == set(match.group(1).split())


def test_stages_reference_each_other(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    args, stages = dockerfile
    names = [s.name for s in stages]
    assert len(names) == len(set(names)) >= 2
    for stage in stages:
        base = re.fullmatch(r"\$\{(\w+)\}", stage.base)
        assert base is None or base.group(1) in args, f"FROM {stage.base}: undefined ARG"
    for index, stage in enumerate(stages):
        for args_text in stage.all("COPY"):
            source_stage = copy_parts(args_text)[0]
            assert source_stage is None or source_stage in names[:index], (
                f"stage {stage.name}: COPY --from={source_stage} is not an earlier stage"
            )
    builder, runtime = stages[0], stages[-1]
    # The venv the builder makes is the one the runtime gets, at the same path.
    assert any("python -m venv /opt/oko" in run for run in builder.all("RUN"))
    assert "--from=builder /opt/oko /opt/oko" in " ".join(runtime.all("COPY"))
    assert not any(" -e " in run or "--editable" in run for run in builder.all("RUN"))


def test_runtime_runs_as_a_non_root_user(runtime: Stage) -> None:
    user = runtime.last("USER").split(":")[0]
    assert user not in {"root", "0"}
    created = re.search(r"useradd .*--uid (\d+)", " ".join(runtime.all("RUN")))
    assert created and created.group(1) == user, "USER is not the user the stage creates"


def _image_config(runtime: Stage) -> dict[str, Any]:
    """The agent.yaml the runtime stage writes with printf."""
    for run in runtime.all("RUN"):
        for command in run.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["printf", "%s\\n"] and "/etc/oko/agent.yaml" in words:
                lines = words[2 : words.index(">")]
                return dict(yaml.safe_load("\n".join(lines)))
    raise AssertionError("runtime stage writes no /etc/oko/agent.yaml")


def test_volumes_hold_config_and_data(runtime: Stage) -> None:
    volumes = json.loads(runtime.last("VOLUME"))
    config = parse_document(AgentConfig, _image_config(runtime), "image agent.yaml")
    # With a fleet section, an enrolled container streams to the fleet (see EdgeBox).
    assert "fleet" in config.model_fields_set
    assert str(config.data_dir) in volumes
    cmd = json.loads(runtime.last("CMD"))
    config_path = Path(cmd[cmd.index("--config") + 1])
    assert str(config_path.parent) in volumes


def test_healthcheck_probes_the_health_endpoint(runtime: Stage) -> None:
    health = runtime.last("HEALTHCHECK")
    options, _, probe = health.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(probe)
    assert argv[0] == "/opt/oko/bin/python"
    config = parse_document(AgentConfig, _image_config(runtime), "image agent.yaml")
    url = re.search(r"http://127\.0\.0\.1:(\d+)/healthz", argv[-1])
    assert url and int(url.group(1)) == config.metrics.port
    assert config.metrics.enabled


def test_healthcheck_passes_against_the_running_agent(
    runtime: Stage, installed: Installed, tmp_path: Path
) -> None:
    """The image's command with the image's config (ports and dirs moved), probed as Docker."""
    config = _image_config(runtime)
    port = free_port()
    config["data_dir"] = str(tmp_path / "data")
    config["metrics"] = {**config["metrics"], "host": "127.0.0.1", "port": port}
    config_file = tmp_path / "agent.yaml"
    config_file.write_text(yaml.safe_dump(config))
    command = json.loads(runtime.last("CMD"))
    command[command.index("--config") + 1] = str(config_file)
    entry = installed.path("/opt/oko/bin") / json.loads(runtime.last("ENTRYPOINT"))[0]
    probe = json.loads(runtime.last("HEALTHCHECK").partition("CMD ")[2])
    probe = [str(installed.path(probe[0])), *probe[1:-1], probe[-1].replace(":9464/", f":{port}/")]
    agent = subprocess.Popen(
        [entry, *command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 90
        passed = False
        while not passed and time.monotonic() < deadline and agent.poll() is None:
            passed = (
                subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0
            )
            time.sleep(0.5)
        assert passed, "health check never passed"
    finally:
        agent.terminate()
        out = agent.communicate(timeout=30)[0]
    assert agent.returncode == 0, out
    assert "uplink off" in out  # not enrolled: events go to the JSON Lines file instead


# -- the venv the builder makes, built the same way locally ------------------------------


def test_entrypoint_runs_from_the_venv(runtime: Stage, installed: Installed) -> None:
    env = " ".join(runtime.all("ENV"))
    path = re.search(r"PATH=([^\s]+)", env)
    assert path and path.group(1).split(":")[0] == "/opt/oko/bin"
    entrypoint = json.loads(runtime.last("ENTRYPOINT"))
    program = installed.path("/opt/oko/bin") / entrypoint[0]
    assert program.is_file(), f"{entrypoint[0]} is not in the venv's bin"
    subprocess.run([program, "--help"], capture_output=True, timeout=120, check=True, cwd="/")


def test_default_command_is_a_real_subcommand(runtime: Stage, installed: Installed) -> None:
    program = installed.path("/opt/oko/bin") / json.loads(runtime.last("ENTRYPOINT"))[0]
    command = json.loads(runtime.last("CMD"))
    result = subprocess.run(
        [program, command[0], "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
    )
    assert result.returncode == 0, f"oko-agent {command[0]} --help: {result.stderr}"


def _site_packages(installed: Installed) -> Path:
    return next(installed.path("/opt/oko/lib").glob("python3*/site-packages"))


def test_models_are_baked_into_the_package(installed: Installed) -> None:
    models = _site_packages(installed) / "models"
    manifest = json.loads((models / "manifest.json").read_text())
    source = json.loads((installed.source / "models" / "manifest.json").read_text())
    assert manifest == source
    assert manifest["models"], "manifest lists no models"
    for entry in manifest["models"]:
        blob = (models / entry["file"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == entry["sha256"], entry["file"]
    # Imported from the venv, not from a checkout on the path.
    where = subprocess.run(
        [
            installed.path("/opt/oko/bin/python"),
            "-c",
            "import agent, models; print(agent.__file__); print(models.MANIFEST_PATH)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd="/",
    ).stdout.split()
    assert all(Path(p).is_relative_to(_site_packages(installed)) for p in where), where


# What the wheels may load from the system: all of it is in the python:3.11-slim image.
SLIM_IMAGE_LIBS = {
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libstdc++.so.6",
    "libgcc_s.so.1",
    "libz.so.1",
    "ld-linux-x86-64.so.2",
    "linux-vdso.so.1",
    "libutil.so.1",
}
# GPU inference only; edge boxes run on the CPU plugin.
NOT_NEEDED = {"libopenvino_intel_gpu_plugin.so": "libOpenCL.so.1"}


def test_venv_needs_no_system_library_beyond_the_slim_image(installed: Installed) -> None:
    site = _site_packages(installed)
    extensions = list(site.rglob("*.so*"))
    assert any(p.parent.name == "cv2" for p in extensions)
    foreign: dict[str, set[str]] = {}
    for ext in extensions:
        out = subprocess.run(
            ["ldd", ext], capture_output=True, text=True, timeout=60, check=False
        ).stdout
        for line in out.splitlines():
            name, _, target = line.strip().partition(" => ")
            name = name.split()[0] if name else name
            if not name or "site-packages" in target or name.startswith("/") or "=>" not in line:
                continue
            if (ext.parent / name).exists():  # a bundled sibling (numpy.libs, scipy.libs)
                continue
            if name in SLIM_IMAGE_LIBS or NOT_NEEDED.get(ext.name) == name:
                continue
            foreign.setdefault(name, set()).add(ext.name)
    assert not foreign, f"add the Debian packages for these to Dockerfile.edge: {foreign}"
