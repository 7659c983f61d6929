"""Watchlists: subjects enrolled from photos, 1:N matching of face events, two-operator alerts.

Also the signed audit checkpoints that make the audit log verifiable from outside.
"""
