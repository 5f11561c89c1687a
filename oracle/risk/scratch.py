"""Reusable scratch arrays for the engine's hot path.

Why: on the machines this project runs on, allocating a fresh 43,200-element float64 array costs
about 0.5 ms (first-touch page faults in the sandbox), 50× the arithmetic done on it. Writing into
per-thread buffers with numpy's `out=` keeps 200 markets of 30 days of minute bars inside the
half-second budget (BENCHMARKS.md). Results never depend on what a buffer held before: every buffer
is fully written before it is read, and no buffer escapes into a result.
"""

from __future__ import annotations

import threading

import numpy as np


class Scratch(threading.local):
    """Named buffers, one set per thread, grown on demand and reused across markets."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, n: int, dtype: type = np.float64) -> np.ndarray:
        arr = self._arrays.get(name)
        if arr is None or len(arr) < n or arr.dtype != dtype:
            arr = np.empty(n, dtype=dtype)
            self._arrays[name] = arr
        return arr[:n]


SCRATCH = Scratch()
