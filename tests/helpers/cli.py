"""Runs the `oracle` command as a subprocess, as an operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def oracle(
    cfg: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oracle.cli", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
        env={**os.environ, **(env or {})},
    )


def stop(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    """Stops a long-running `oracle` command (node, emulator, serve) as an operator would, by
    SIGTERM to its PID, and kills its process group if it does not exit in `timeout`; returns
    its exit status and stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    return proc.returncode, err
