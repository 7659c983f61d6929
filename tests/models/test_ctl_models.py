"""The operator's path with the real CLIs against a real `oko-fleet serve` process.

`okoctl model key generate` (offline) -> `key add` -> `oko-agent model package` (records
the warm-up by running the model) -> `okoctl model sign` (offline: no fleet address
given at all) -> `push` -> `list` / `show` -> `assign` -> `status`; refusals are one line
naming the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app as agent_app
from fleet.ctl import app as ctl_app
from tests.support.fleet import FleetCli
from tests.support.model_artifacts import FP32, reference_frames


def _ctl(fleet: FleetCli | None, *args: str) -> tuple[int, str, str]:
    env = {"COLUMNS": "200"}
    if fleet is not None:
        env |= {
            "OKO_FLEET": fleet.api,
            "OKO_TOKEN": fleet.admin_token,
            "OKO_CA_FILE": str(fleet.ca_file),
        }
    else:  # nowhere to connect to: offline commands must not need it
        env |= {"OKO_FLEET": "127.0.0.1:9", "OKO_TOKEN": ""}
    result = CliRunner().invoke(ctl_app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_the_operator_path_with_okoctl_and_oko_agent(fleet_cli: FleetCli, tmp_path: Path) -> None:
    key = tmp_path / "release.pem"
    code, out, err = _ctl(None, "model", "key", "generate", "--out", str(key))
    assert code == 0, err
    assert oct(key.stat().st_mode & 0o777) == "0o600" and "key " in out
    code, _, err = _ctl(None, "model", "key", "generate", "--out", str(key))
    assert code == 2 and "refusing to overwrite" in err
    code, out, err = _ctl(fleet_cli, "model", "key", "add", f"{key}.pub", "--name", "release")
    assert code == 0 and "trusted key" in out, err

    frames = reference_frames(tmp_path / "frames", (300,))
    bundle = tmp_path / "bundle"
    packaged = CliRunner().invoke(
        agent_app,
        ["model", "package", str(FP32), "--name", "nanodet-g", "--version", "4.0.0",
         "--like", "nanodet-g:fp32", "--frame", str(frames[0]), "--out", str(bundle)],
    )  # fmt: skip
    assert packaged.exit_code == 0, packaged.output
    model = bundle / FP32.name
    code, out, err = _ctl(None, "model", "sign", str(model), "--key", str(key))
    assert code == 0, err
    assert (bundle / (FP32.name + ".sig")).exists()

    args = ("model", "push", str(model), "--name", "nanodet-g", "--version")
    code, _, err = _ctl(fleet_cli, *args, "4.0.1")
    assert code == 2 and "describes nanodet-g@4.0.0, not nanodet-g@4.0.1" in err
    code, out, err = _ctl(fleet_cli, *args, "4.0.0")
    assert code == 0 and "stored nanodet-g@4.0.0" in out, err
    code, _, err = _ctl(fleet_cli, *args, "4.0.0")
    # The refusal is stderr's last line: a slow push prints its progress lines before it.
    last = err.splitlines()[-1]
    assert code == 1 and last.startswith("error: ALREADY_EXISTS: model nanodet-g@4.0.0 exists")

    code, out, err = _ctl(fleet_cli, "--json", "model", "list")
    listed = json.loads(out)
    assert [(m["name"], m["version"], m["frames"]) for m in listed] == [("nanodet-g", "4.0.0", 1)]
    code, out, err = _ctl(fleet_cli, "model", "show", "nanodet-g@4.0.0")
    assert code == 0 and '"warmup"' in out and FP32.name in out
    code, _, err = _ctl(fleet_cli, "model", "show", "nanodet-g@9")
    assert code == 1 and "NOT_FOUND" in err
    code, _, err = _ctl(fleet_cli, "model", "assign", "nanodet-g@4.0.0", "dev-nope")
    assert code == 1 and "device 'dev-nope' not found" in err
    code, out, _ = _ctl(fleet_cli, "model", "key", "list")
    assert "release" in out
