"""The wire contract: `oko/v1/*.proto` and the Python code generated from them.

Everything under `proto/oko/` ending in `_pb2.py`, `_pb2_grpc.py` or `_pb2.pyi` is generated
by `python -m proto.generate` and must not be edited by hand; CI regenerates it and fails
on any difference.
"""
