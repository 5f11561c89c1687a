"""Helpers shared by test folders: time, market ids, a keyword guardrails builder and the
registry's invariants with ids. Tests import them from here, never from another folder's
conftest.py."""

from pathlib import Path

#: The repository's root folder.
ROOT = Path(__file__).resolve().parents[2]
