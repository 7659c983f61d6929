"""install.sh, run for real with bash against temporary roots.

`--root DIR` puts every file under DIR and prints (instead of running) the useradd and
systemctl calls, so these tests exercise the whole script except the service manager.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.config.agent import AgentConfig
from agent.config.base import load_yaml
from tests.install.helpers import (
    PIP_ARGS,
    REPO,
    Installed,
    output_of,
    run_script,
    snapshot_checkout,
    tree_state,
)

UNIT = "/etc/systemd/system/oko-agent.service"
CONFIG = "/etc/oko/agent.yaml"


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if not p.is_dir())


def unit_sections(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


# -- a fresh install ---------------------------------------------------------------------


def test_install_lays_out_venv_config_data_and_unit(installed: Installed) -> None:
    agent = installed.path("/opt/oko/bin/oko-agent")
    version = subprocess.run(
        [agent, "version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    init = (installed.source / "agent" / "__init__.py").read_text()
    assert f'__version__ = "{version}"' in init
    assert stat.S_IMODE(installed.path("/etc/oko").stat().st_mode) == 0o750
    assert stat.S_IMODE(installed.path("/var/lib/oko").stat().st_mode) == 0o700
    assert stat.S_IMODE(installed.path(CONFIG).stat().st_mode) == 0o640
    config = load_yaml(AgentConfig, installed.path(CONFIG))
    assert config.data_dir == Path("/var/lib/oko")
    # Under --root the system user and the service are recorded, not touched.
    out = installed.output
    assert re.search(
        r"skipped \(--root\): useradd --system .*--home-dir /var/lib/oko .* oko\n", out
    ), out
    assert "skipped (--root): systemctl daemon-reload" in out
    assert "skipped (--root): systemctl enable oko-agent.service" in out
    assert "not enrolled (--no-enroll)" in out
    assert "journalctl -u oko-agent.service" in out


def test_unit_restarts_limits_and_sandboxes(installed: Installed) -> None:
    unit = unit_sections(installed.path(UNIT))
    service = unit["Service"]
    assert service["User"] == "oko"
    assert service["Restart"] == "on-failure"
    assert int(service["RestartSec"]) > 0
    assert service["MemoryMax"] == "1536M"
    assert service["CPUQuota"] == "180%"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/oko"
    exec_start = service["ExecStart"].split()
    assert exec_start[:2] == ["/opt/oko/bin/oko-agent", "run"]
    assert exec_start[2:] == ["--config", CONFIG, "--require-uplink"]
    assert os.access(installed.path(exec_start[0]), os.X_OK)
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    # Only our unit: the temporary root has none of the system's targets to recurse into.
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "--recursive-errors=no", f"--root={root}", UNIT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (Debian package systemd)",
)
def test_unit_passes_systemd_analyze_verify(installed: Installed, tmp_path: Path) -> None:
    result = _verify(installed.root)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    # The same check on a damaged copy fails, so the pass above means something.
    broken = tmp_path / "broken"
    (broken / "opt/oko/bin").mkdir(parents=True)
    shutil.copy(installed.path("/opt/oko/bin/oko-agent"), broken / "opt/oko/bin/oko-agent")
    unit_dir = broken / "etc/systemd/system"
    unit_dir.mkdir(parents=True)
    text = installed.path(UNIT).read_text().replace("CPUQuota=180%", "CPUQuota=lots")
    (unit_dir / "oko-agent.service").write_text(text)
    bad = _verify(broken)
    assert bad.returncode != 0 and "CPU quota" in bad.stderr, bad.stderr


# -- running it again --------------------------------------------------------------------


def test_second_run_changes_nothing(installed: Installed) -> None:
    before = tree_state(installed.root)
    result = run_script(
        "--root",
        installed.root,
        "--no-enroll",
        "--pip-args",
        PIP_ARGS,
        source=installed.source,
        timeout=300,
    )
    assert result.returncode == 0, output_of(result)
    assert tree_state(installed.root) == before
    out = output_of(result)
    assert "already has this source installed" in out
    assert f"{installed.path(UNIT)} unchanged" in out
    assert "kept as it is" in out
    assert "pip" not in out


def test_rerun_keeps_edited_config_and_names_a_bad_one(installed: Installed) -> None:
    config = installed.path(CONFIG)
    original = config.read_text()
    try:
        document = yaml.safe_load(original)
        document["metrics"]["port"] = 9555
        config.write_text(yaml.safe_dump(document))
        result = run_script("--root", installed.root, "--no-enroll", source=installed.source)
        assert result.returncode == 0, output_of(result)
        assert load_yaml(AgentConfig, config).metrics.port == 9555

        document["metrics"]["port"] = 99999
        config.write_text(yaml.safe_dump(document))
        result = run_script("--root", installed.root, "--no-enroll", source=installed.source)
        assert result.returncode != 0
        assert "metrics.port" in result.stderr, output_of(result)
        assert "step 'check /etc/oko/agent.yaml' failed" in result.stderr
    finally:
        config.write_text(original)


def test_dry_run_on_a_fresh_root_writes_nothing(tmp_path: Path) -> None:
    token = "oko1.tokenid.s3cret.pin"
    result = run_script(
        "--root", tmp_path, "--dry-run", "--fleet", "fleet.example:7443", "--token", token
    )
    out = output_of(result)
    assert result.returncode == 0, out
    assert list(tmp_path.iterdir()) == []
    assert "would run: python3 -m venv" in out
    assert f"would write {tmp_path}{UNIT}" in out
    assert "enroll --fleet fleet.example:7443 --token <token>" in out
    assert token not in out
    assert "nothing was changed" in out
    assert "see below" not in out and "would start oko-agent.service once the enrollment" in out


def test_dry_run_without_enrolling_prints_the_enroll_command_it_refers_to(tmp_path: Path) -> None:
    result = run_script("--root", tmp_path, "--dry-run", "--no-enroll")
    out = output_of(result)
    assert result.returncode == 0, out
    assert "the command is printed below" in out
    below = out.split("the command is printed below", 1)[1]
    assert "oko-agent enroll --fleet HOST:PORT" in below, out


# -- upgrade and uninstall ---------------------------------------------------------------


def test_upgrade_in_place_then_uninstall_everything(installed: Installed, tmp_path: Path) -> None:
    """The life of a box after the first install, on a copy of the shared root."""
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    marker = "# upgraded by test_upgrade_in_place_then_uninstall_everything"

    def edit(src: Path) -> None:
        with (src / "agent" / "__init__.py").open("a") as handle:
            handle.write(marker + "\n")

    # A release as a wheel of the same version number: only its content differs.
    newer = snapshot_checkout(tmp_path / "newer", edit)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(newer),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("oko_vision-*.whl"))
    result = run_script(
        "--root", root, "--no-enroll", "--pip-args", PIP_ARGS, "--source", wheel, timeout=300
    )
    out = output_of(result)
    assert result.returncode == 0, out
    assert "--no-deps --force-reinstall" in out
    assert "-m venv" not in out  # upgraded in place, not rebuilt
    site = next((root / "opt/oko/lib").glob("python3*/site-packages"))
    assert marker in (site / "agent" / "__init__.py").read_text()

    keep = run_script("--uninstall", "--keep-data", "--root", root)
    assert keep.returncode == 0, output_of(keep)
    assert not (root / "opt/oko").exists()
    assert not (root / UNIT.lstrip("/")).exists()
    assert (root / CONFIG.lstrip("/")).is_file()
    assert "skipped (--root): systemctl disable --now oko-agent.service" in keep.stdout

    result = run_script("--uninstall", "--root", root)
    assert result.returncode == 0, output_of(result)
    assert files_under(root) == []
    assert "skipped (--root): userdel oko" in result.stdout
    again = run_script("--uninstall", "--root", root)
    assert again.returncode == 0, output_of(again)
    assert "rm " not in again.stdout


# -- every failure says what went wrong --------------------------------------------------


def _not_python(tmp_path: Path) -> Path:
    fake = tmp_path / "python-2.7"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    return fake


def _not_pem(tmp_path: Path) -> Path:
    path = tmp_path / "ca.txt"
    path.write_text("not a certificate\n")
    return path


def _no_pyproject(tmp_path: Path) -> Path:
    path = tmp_path / "empty-src"
    path.mkdir()
    return path


BAD_OPTIONS = [
    ([], "--fleet HOST:PORT is required"),
    (["--fleet", "fleet.example:7443"], "--token is required"),
    (["--fleet", "fleet.example", "--token", "t"], "'fleet.example' is not HOST:PORT"),
    (["--fleet", "f.example:70000", "--token", "t"], "port must be 1..65535"),
    (["--fleet", "f.example:1", "--token", "a b"], "--token contains spaces"),
    (["--no-enroll", "--frobnicate"], "unknown option '--frobnicate'"),
    (["--no-enroll", "--fleet"], "--fleet needs a value"),
    (["--no-enroll", "--ca-file", "/nonexistent/ca.pem"], "not a readable file"),
    (["--no-enroll", "--ca-file", _not_pem], "no PEM certificate in it"),
    (["--no-enroll", "--source", "/nonexistent/src"], "not a checkout directory or a .whl"),
    (["--no-enroll", "--source", _no_pyproject], "no pyproject.toml there"),
    (["--no-enroll", "--python", "/nonexistent/python3"], "--python /nonexistent/python3: not"),
    (["--no-enroll", "--python", _not_python], "the agent needs Python 3.11+"),
    (["--no-enroll", "--memory-max", "lots"], "--memory-max 'lots'"),
    (["--no-enroll", "--cpu-quota", "2"], "--cpu-quota '2'"),
    (["--no-enroll", "--keep-data"], "--keep-data only goes with --uninstall"),
]


@pytest.mark.parametrize(("args", "message"), BAD_OPTIONS, ids=[m for _, m in BAD_OPTIONS])
def test_bad_options_are_named(args: list[object], message: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    argv = [a(tmp_path) if callable(a) else str(a) for a in args]
    result = run_script("--root", root, *argv)
    assert result.returncode != 0
    assert message in result.stderr, output_of(result)
    assert list(root.iterdir()) == []


def test_missing_root_dir_is_named(tmp_path: Path) -> None:
    result = run_script("--root", tmp_path / "nope", "--no-enroll")
    assert result.returncode != 0
    assert f"--root {tmp_path}/nope: no such directory" in result.stderr


def test_real_install_needs_root() -> None:
    user = "65534" if os.geteuid() == 0 else None  # nobody, when we could be anybody
    result = run_script("--no-enroll", user=user)
    assert result.returncode != 0
    assert "run as root" in result.stderr, output_of(result)


def test_failed_upgrade_names_the_step_and_keeps_the_install(
    installed: Installed, tmp_path: Path
) -> None:
    def break_pyproject(src: Path) -> None:
        (src / "pyproject.toml").write_text("[project\nname = 'oko-vision'\n")

    broken = snapshot_checkout(tmp_path / "src", break_pyproject)
    stamp = installed.path("/opt/oko/.oko-install").read_text()
    result = run_script("--root", installed.root, "--no-enroll", source=broken, timeout=300)
    assert result.returncode != 0
    assert re.search(
        r"step 'install the agent into /opt/oko' failed: `.*pip.* install .*` "
        r"exited with status \d+",
        result.stderr,
    ), output_of(result)
    # The running install is untouched and still claims its own source, not the broken one.
    assert installed.path("/opt/oko/.oko-install").read_text() == stamp
    agent = installed.path("/opt/oko/bin/oko-agent")
    subprocess.run([agent, "version"], capture_output=True, timeout=60, check=True)


def test_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (Debian package shellcheck)")
    result = subprocess.run(
        ["shellcheck", str(REPO / "install.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout
