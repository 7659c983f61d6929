"""Staged model rollouts: canary, steps, health gates, automatic abort and rollback.

Pure parts (no I/O): `records` (what is stored), `selector`, `plan` (which boxes each step
updates), `stats` and `gates` (health verdicts from measurements), `machine` (the state
machine's decisions). I/O parts: `measure` (reads the store into measurements),
`controller` (the fleet's background task that acts on decisions), `delivery` (the model
assignment contract of `fleet.models`). See docs/operations.md, "Rollouts".
"""
