"""Helpers shared by several test folders (pytest puts the repo root on sys.path)."""
