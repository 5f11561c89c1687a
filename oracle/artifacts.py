"""Compiled contracts (ABI + bytecode) exported from ape's build by
`scripts/export_artifacts.py`."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from oracle.errors import ArtifactError

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


@cache
def load(name: str) -> dict[str, Any]:
    """ABI and bytecode of contract `name`."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.exists():
        raise ArtifactError(
            f"no compiled artifact for {name} at {path}: "
            "run `make install` to compile the contracts"
        )
    artifact: dict[str, Any] = json.loads(path.read_text())
    return artifact
