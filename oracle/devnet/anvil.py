"""Starts a local Anvil node on a free loopback port and stops it by PID (benchmarks, demo, keeper
and CLI tests).

Tests of contracts use ape-foundry's own Anvil; this is for the plain-web3.py tools that need a
chain without ape.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from web3 import Web3
from web3.middleware import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

from oracle.chain import http_web3
from oracle.errors import ChainError
from oracle.multicall import MULTICALL3_ADDRESS

ROOT = Path(__file__).resolve().parents[2]
NPM_ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


def anvil_binary() -> str:
    found = shutil.which("anvil") or (str(NPM_ANVIL) if NPM_ANVIL.exists() else None)
    if found is None:
        raise ChainError("anvil not found: run `make install` (it installs Anvil from npm)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def install_multicall3(w3: Web3) -> None:
    """Multicall3's canonical runtime code at its canonical address, as on a public chain (the
    code ape ships for its own local networks; imported here, the only user, as ape is heavy)."""
    from ape_ethereum.multicall.constants import MULTICALL3_CODE

    w3.provider.make_request(
        RPCEndpoint("anvil_setCode"), [MULTICALL3_ADDRESS, "0x" + bytes(MULTICALL3_CODE).hex()]
    )


def count_requests(w3: Web3) -> Counter[str]:
    """The JSON-RPC requests `w3` sends from now on, counted by method as they leave (answered
    or not): what a read costs in round trips, for tests and benchmarks."""
    counts: Counter[str] = Counter()

    class Counting(Web3Middleware):
        def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
            def counted(method: RPCEndpoint, params: Any) -> RPCResponse:
                counts[method] += 1
                return make_request(method, params)

            return counted

    w3.middleware_onion.add(Counting, "count_requests")
    return counts


class AnvilNode:
    """Context manager around one Anvil process bound to 127.0.0.1."""

    def __init__(
        self,
        *,
        block_time: float | None = None,
        extra_args: list[str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = [anvil_binary(), "--host", "127.0.0.1", "--port", str(self.port), "--silent"]
        if block_time is not None:
            self._args += ["--block-time", str(block_time)]
        self._args += extra_args or []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Web3:
        self.process = subprocess.Popen(
            self._args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        w3 = http_web3(self.url, 30)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise ChainError(f"anvil exited at start: {err.strip()}")
            try:
                if w3.is_connected():
                    install_multicall3(w3)
                    return w3
            except Exception:  # not listening yet: poll again until the deadline
                time.sleep(0.05)
                continue
            time.sleep(0.05)
        self.stop()
        raise ChainError(f"anvil did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no state dump on exit, the mempool is lost."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Web3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
