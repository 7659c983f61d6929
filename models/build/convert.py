"""Convert one upstream TF.js graph into a clean, batch-dynamic ONNX model.

Steps, each fixing a concrete failure seen with these graphs:
1. add the ``TArgs`` attribute that TF.js dropped from fused ops (TensorFlow refuses the
   NodeDef without it) and pin the input to batch 1 so shapes fold to constants;
2. tf2onnx ``--tfjs`` in a subprocess (see `tf2onnx_shim`);
3. ONNX Runtime basic optimisation (constant folding): removes the ``ScatterND`` left over
   from TF ``SparseToDense`` that OpenVINO refuses;
4. make the batch dimension symbolic again and rename tensors to the recipe's names;
5. prove the dynamic batch: a batch of 3 must equal three single runs.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from agent.errors import ModelError
from models.build.recipes import Recipe

log = logging.getLogger(__name__)

OPSET = 17
_FUSED_OPS = {
    "_FusedConv2D",
    "FusedDepthwiseConv2dNative",
    "_FusedMatMul",
    "_FusedDepthwiseConv2dNative",
}


def patch_graph_json(
    model: dict[str, Any], input_name: str, input_shape: tuple[int, ...]
) -> dict[str, Any]:
    """Return a copy of a TF.js model.json that TensorFlow will accept, input shape pinned."""
    patched = copy.deepcopy(model)
    placeholder = input_name.split(":", maxsplit=1)[0]
    found = False
    for node in patched["modelTopology"]["node"]:
        attr = node.setdefault("attr", {})
        if node["op"] in _FUSED_OPS and "TArgs" not in attr:
            extra = int(attr.get("num_args", {}).get("i", "0"))
            attr["TArgs"] = {"list": {"type": ["DT_FLOAT"] * extra}}
        if node["op"] == "Placeholder" and node["name"] == placeholder:
            attr["shape"] = {"shape": {"dim": [{"size": str(d)} for d in input_shape]}}
            found = True
    if not found:
        raise ModelError(f"upstream graph has no input placeholder {placeholder!r}")
    return patched


def run_tf2onnx(model_json: Path, output: Path) -> None:
    """Convert with tf2onnx in a child process; its log tail becomes the error message."""
    cmd = [
        sys.executable,
        "-m",
        "models.build.tf2onnx_shim",
        "--tfjs",
        str(model_json),
        "--output",
        str(output),
        "--opset",
        str(OPSET),
    ]
    # tf2onnx names generated tensors in set-iteration order; a fixed hash seed makes the
    # names, and so the file's sha256, the same on every rebuild.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800, env=env)
    if proc.returncode != 0 or not output.is_file():
        raise ModelError(f"tf2onnx failed on {model_json.name}: {proc.stderr.strip()[-1500:]}")


def optimise_basic(src: Path, dst: Path) -> None:
    """Save the graph once through ONNX Runtime's basic (constant-folding) optimiser."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    return [attr.g for attr in node.attribute if attr.type == onnx.AttributeProto.GRAPH]


def _all_inputs(node: onnx.NodeProto) -> set[str]:
    """A node's inputs including outer-scope names its Loop/If bodies read."""
    names = set(node.input)
    for graph in _subgraphs(node):
        for inner in graph.node:
            names |= _all_inputs(inner)
    return names


def _rename_graph(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
        for sub in _subgraphs(node):
            _rename_graph(sub, mapping)


def _rename(model: onnx.ModelProto, mapping: dict[str, str]) -> None:
    _rename_graph(model.graph, mapping)
    for value in (*model.graph.input, *model.graph.output):
        value.name = mapping.get(value.name, value.name)


def _attr_ints(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
    for attr in node.attribute:
        if attr.name == name:
            return list(attr.ints)
    return default


def fuse_neg_inf_pads(model: onnx.ModelProto) -> int:
    """Fold ``Pad(value=-inf) -> MaxPool`` into the MaxPool's own ``pads``; returns the count.

    TF's SAME max-pool arrives as an explicit -inf pad. The -inf is harmless in float but
    poisons INT8 calibration (range and scales become inf/NaN); MaxPool's implicit padding
    means the same thing without a tensor holding -inf.
    """
    inits = {i.name: i for i in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    fused = 0
    for pad in list(model.graph.node):
        users = consumers.get(pad.output[0], [])
        if pad.op_type != "Pad" or len(users) != 1 or users[0].op_type != "MaxPool":
            continue
        if len(pad.input) < 3 or pad.input[1] not in inits or pad.input[2] not in inits:
            continue
        value = numpy_helper.to_array(inits[pad.input[2]])
        pads = numpy_helper.to_array(inits[pad.input[1]]).astype(int).tolist()
        rank = len(pads) // 2
        if not np.isneginf(value).all() or any(pads[:2] + pads[rank : rank + 2]):
            continue
        pool = users[0]
        own = _attr_ints(pool, "pads", [0] * (2 * (rank - 2)))
        spatial = pads[2:rank] + pads[rank + 2 :]
        merged = [a + b for a, b in zip(own, spatial, strict=True)]
        kept = [a for a in pool.attribute if a.name not in ("pads", "auto_pad")]
        del pool.attribute[:]
        pool.attribute.extend([*kept, onnx.helper.make_attribute("pads", merged)])
        pool.input[0] = pad.input[0]
        model.graph.node.remove(pad)
        fused += 1
    used = {name for node in model.graph.node for name in _all_inputs(node)}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)
    return fused


def prune_to_outputs(model: onnx.ModelProto) -> None:
    """Drop nodes and initializers that no graph output depends on (e.g. unused heads)."""
    needed = {o.name for o in model.graph.output}
    kept: list[onnx.NodeProto] = []
    for node in reversed(model.graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(n for n in _all_inputs(node) if n)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    used = [i for i in model.graph.initializer if i.name in needed]
    del model.graph.initializer[:]
    model.graph.initializer.extend(used)


def canonical_initializers(model: onnx.ModelProto) -> None:
    """Name and order initializers by first use, so rebuilds give byte-identical files.

    ONNX Runtime's constant sharing keeps one of several equal constants under whichever name
    it meets first, which varies between runs; the graph is the same, the bytes are not.
    """
    if any(_subgraphs(node) for node in model.graph.node):
        # Loop bodies may shadow outer names; renaming them safely is not worth it for the
        # one candidate (FaceBoxes) that has loops and is never shipped.
        return
    inits = {i.name: i for i in model.graph.initializer}
    mapping: dict[str, str] = {}
    for node in model.graph.node:
        for name in node.input:
            if name in inits and name not in mapping:
                mapping[name] = f"const_{len(mapping)}"
    _rename(model, mapping)
    ordered = []
    for old, new in mapping.items():
        init = copy.deepcopy(inits[old])
        init.name = new
        ordered.append(init)
    del model.graph.initializer[:]
    model.graph.initializer.extend(ordered)


_GENERATED = re.compile(r"__\d+")


def canonical_generated_names(model: onnx.ModelProto) -> None:
    """Number tf2onnx's generated node and tensor names (``Foo__682``) by graph position.

    tf2onnx draws those suffixes from a global counter whose value depends on the order it
    happened to visit pruned branches, so identical graphs got different bytes.
    """
    graph_io = {v.name for v in (*model.graph.input, *model.graph.output)}
    mapping: dict[str, str] = {}
    for index, node in enumerate(model.graph.node):
        if _GENERATED.search(node.name):
            node.name = _GENERATED.sub(f"__n{index}", node.name)
        for k, name in enumerate(node.output):
            if name not in graph_io and _GENERATED.search(name):
                mapping[name] = f"{_GENERATED.sub('', name).split(':')[0]}__t{index}_{k}"
    _rename(model, mapping)


def finalise_graph(model: onnx.ModelProto, recipe: Recipe) -> onnx.ModelProto:
    """Fuse -inf pads, rename tensors, order outputs as decoders expect, free the batch.

    Reshape targets folded to ``[1, ...]`` get ``0`` ("copy the input's dimension") in the
    batch slot, which is what makes a batch of N run; `check_dynamic_batch` proves it.
    """
    model = copy.deepcopy(model)
    fuse_neg_inf_pads(model)
    mapping = {recipe.upstream_input: recipe.input.name, **dict(recipe.outputs)}
    _rename(model, mapping)
    # tf2onnx writes the (temporary) source path here; a fixed text keeps rebuilds identical.
    model.graph.doc_string = f"{recipe.name}: converted from {recipe.upstream_file}.json"
    by_name = {o.name: o for o in model.graph.output}
    missing = [n for n in recipe.output_names if n not in by_name]
    if missing:
        raise ModelError(f"{recipe.name}: converted graph lacks outputs {missing}")
    ordered = [copy.deepcopy(by_name[n]) for n in recipe.output_names]
    del model.graph.output[:]
    model.graph.output.extend(ordered)
    prune_to_outputs(model)
    canonical_initializers(model)
    if not any(_subgraphs(node) for node in model.graph.node):
        canonical_generated_names(model)
    if recipe.dynamic_batch:
        inits = {i.name: i for i in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type == "Reshape" and node.input[1] in inits:
                target = numpy_helper.to_array(inits[node.input[1]]).copy()
                if target.size and target[0] == 1:
                    target[0] = 0
                    inits[node.input[1]].CopyFrom(numpy_helper.from_array(target, node.input[1]))
        for value in (*model.graph.input, *model.graph.output):
            dim = value.type.tensor_type.shape.dim[0]
            dim.Clear()
            dim.dim_param = "batch"
        del model.graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def check_dynamic_batch(path: Path, recipe: Recipe, batch: int = 3) -> None:
    """Fail the build unless a batch of ``batch`` inputs equals as many single runs."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = (batch, *recipe.input.shape[1:])
    x = np.random.default_rng(0).uniform(-2, 2, shape).astype(np.float32)
    together = session.run(None, {recipe.input.name: x})
    for k in range(batch):
        alone = session.run(None, {recipe.input.name: x[k : k + 1]})
        for name, a, b in zip(recipe.output_names, together, alone, strict=True):
            if a.shape[0] != batch or not np.allclose(a[k : k + 1], b, atol=1e-4, rtol=1e-3):
                raise ModelError(f"{recipe.name}: output {name} differs when batched")


def convert(recipe: Recipe, upstream_models: Path, workdir: Path) -> Path:
    """Produce ``workdir/<name>.fp32.onnx`` from the upstream graph; returns its path."""
    workdir.mkdir(parents=True, exist_ok=True)
    src_json = upstream_models / f"{recipe.upstream_file}.json"
    model_json = json.loads(src_json.read_text())
    patched = patch_graph_json(model_json, recipe.upstream_input, recipe.input.shape)
    tfjs_dir = workdir / "tfjs"
    tfjs_dir.mkdir(exist_ok=True)
    for shard in patched["weightsManifest"][0]["paths"]:
        shutil.copyfile(upstream_models / shard, tfjs_dir / shard)
    patched_json = tfjs_dir / f"{recipe.upstream_file}.json"
    patched_json.write_text(json.dumps(patched))
    raw = workdir / f"{recipe.name}.raw.onnx"
    run_tf2onnx(patched_json, raw)
    folded = workdir / f"{recipe.name}.folded.onnx"
    optimise_basic(raw, folded)
    final = workdir / recipe.file_for("fp32")
    onnx.save(finalise_graph(onnx.load(str(folded)), recipe), str(final))
    if recipe.dynamic_batch:
        check_dynamic_batch(final, recipe)
    log.info("converted %s -> %s", src_json.name, final)
    return final
