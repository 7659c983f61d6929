"""Who may import whom: proto <- agent.config <- fleet, proto <- agent; no circle.

The fleet validates the box's documents with the agent's config models and nothing else
of the agent, so a fleet server never loads OpenCV, ONNX Runtime or the pipeline. These
tests read the real import graph: the source files' import statements, and the modules a
fresh interpreter has loaded after importing the fleet's entry points.
"""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# numpy is not here: the fleet matches face embeddings against watchlists with it.
HEAVY = ("cv2", "onnxruntime", "openvino", "agent.pipeline")
#: The one fleet module that may use the agent's face library (enrolment photos go through
#: the boxes' own detector, quality gate, alignment and embedder), and what it may import.
ENROLMENT_ADAPTER = "fleet/watchlists/enrol.py"
ENROLMENT_IMPORTS = ("agent.faces.", "agent.inference.", "agent.errors")


def _imports(package: str) -> list[tuple[str, str]]:
    """(file, imported module) for every absolute import in `package`'s source files."""
    out: list[tuple[str, str]] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out += [(str(path.relative_to(ROOT)), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out.append((str(path.relative_to(ROOT)), node.module))
    return out


def _top(module: str) -> str:
    return module.partition(".")[0]


def test_the_agent_imports_nothing_from_the_fleet() -> None:
    assert [(f, m) for f, m in _imports("agent") if _top(m) == "fleet"] == []


def test_the_fleet_imports_only_the_agents_config_package() -> None:
    wrong = [
        (f, m)
        for f, m in _imports("fleet")
        if _top(m) == "agent"
        and m != "agent.config"
        and not m.startswith("agent.config.")
        and not (f == ENROLMENT_ADAPTER and m.startswith(ENROLMENT_IMPORTS))
    ]
    assert wrong == []


def test_only_the_enrolment_path_loads_the_face_library() -> None:
    """The adapter imports the face library inside functions, never at module level."""
    tree = ast.parse((ROOT / ENROLMENT_ADAPTER).read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert [m for m in names if m.startswith((*ENROLMENT_IMPORTS, "cv2", "numpy"))] == []


def test_the_wire_contract_imports_neither_side() -> None:
    assert [(f, m) for f, m in _imports("proto") if _top(m) in ("agent", "fleet")] == []


def test_the_config_package_imports_no_other_agent_part() -> None:
    allowed = ("agent.config", "agent.errors")
    wrong = [
        (f, m)
        for f, m in _imports("agent/config")
        if _top(m) == "agent" and not m.startswith(allowed)
    ]
    assert wrong == []


@pytest.mark.parametrize("entry", ["fleet.server", "fleet.cli", "fleet.ctl"])
def test_importing_the_fleet_loads_no_agent_internals(entry: str) -> None:
    code = f"import {entry}, json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
    allowed = ("agent", "agent.errors", "agent.config")
    agent = sorted(m for m in loaded if _top(m) == "agent")
    assert [m for m in agent if m not in allowed and not m.startswith("agent.config.")] == []
    if entry == "fleet.server":  # it does validate documents with the agent's models
        assert "agent.config.camera" in agent


def _agent_part(module: str) -> str | None:
    """The agent's top-level package or module that `module` names (None outside the agent).

    `agent.pipeline.box` -> `agent.pipeline`; `agent` itself (its `__init__`) is a part too.
    """
    parts = module.split(".")
    if parts[0] != "agent":
        return None
    return ".".join(parts[:2])


def _agent_part_graph() -> dict[str, dict[str, str]]:
    """part -> {imported part: first file that imports it}, from every import statement.

    `ast.walk` sees module-level, function-level and TYPE_CHECKING imports alike: a circle
    hidden in a function body is still a circle in the design. `from agent import x` counts
    as importing `agent.x` when `x` is a submodule, else `agent` itself.
    """
    graph: dict[str, dict[str, str]] = {}
    for path in sorted((ROOT / "agent").rglob("*.py")):
        names = path.relative_to(ROOT).with_suffix("").parts
        source = _agent_part(".".join(names[:-1] if names[-1] == "__init__" else names))
        assert source is not None
        edges = graph.setdefault(source, {})
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            assert not (isinstance(node, ast.ImportFrom) and node.level), (
                f"{path}: relative import; this test resolves absolute imports only"
            )
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == "agent":
                targets = [
                    f"agent.{a.name}"
                    if (ROOT / "agent" / a.name).is_dir() or (ROOT / f"agent/{a.name}.py").exists()
                    else "agent"
                    for a in node.names
                ]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            for target in filter(None, map(_agent_part, targets)):
                if target != source:
                    edges.setdefault(target, str(path.relative_to(ROOT)))
    return graph


def _cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """One circle (as a closed path) per strongly connected group of parts; [] if none."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, {})):
            if nxt in path:
                cycle = [*path[path.index(nxt) :], nxt]
                if not any(set(cycle) <= set(c) for c in found):
                    found.append(cycle)
            elif nxt not in done:
                visit(nxt, [*path, nxt])
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    return found


# Known circles, each to be deleted here by the change that breaks it (the test fails once
# it is gone, so an entry cannot outlive its circle). None today.
KNOWN_CIRCLES: list[frozenset[str]] = []


def test_the_agents_packages_import_each_other_without_a_circle() -> None:
    graph = _agent_part_graph()
    assert {"agent.config", "agent.capture", "agent.pipeline"} <= graph.keys()
    assert "agent.config" in graph["agent.pipeline"]  # the graph really has edges
    cycles = _cycles(graph)
    # Each step names the file that makes it, e.g. "agent.events (agent/events/ids.py) -> ...".
    circles = [
        " -> ".join(f"{a} ({graph[a][b]})" for a, b in itertools.pairwise(c)) + f" -> {c[-1]}"
        for c in cycles
        if frozenset(c) not in KNOWN_CIRCLES
    ]
    assert not circles, "import circles between agent parts:\n" + "\n".join(circles)
    gone = [sorted(k) for k in KNOWN_CIRCLES if k not in {frozenset(c) for c in cycles}]
    assert not gone, f"circles no longer there; delete them from KNOWN_CIRCLES: {gone}"


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b": "a.py"}, "b": {"c": "b.py"}, "c": {"a": "c.py"}, "d": {"a": "d.py"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b": "a.py"}, "b": {}}) == []


def test_the_fleet_keeps_the_agents_exit_codes() -> None:
    import agent.commands.exits
    import fleet.exits

    assert (fleet.exits.FAILURE, fleet.exits.USAGE) == (
        agent.commands.exits.FAILURE,
        agent.commands.exits.USAGE,
    )
