"""The model registry: signed artifacts, trusted signing keys, assignments to boxes.

`registry` stores pushed versions (after checking schema, sizes, sha256s and signature),
`blobs` keeps their files on disk by sha256, `assign` is the contract the rollout engine
and okoctl use to say which box runs which model and to read what the boxes report.
"""
