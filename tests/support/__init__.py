"""Helpers shared by every test folder: ports and polling, media, the fleet process, events.

Fixtures defined here are registered once, by the root `conftest.py`.
"""
