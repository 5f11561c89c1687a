"""Event scans in block ranges a public RPC accepts."""

from __future__ import annotations

from typing import Any

#: Blocks per `eth_getLogs` request: public RPCs refuse wide ranges (10,000 is a common limit).
LOG_CHUNK = 10_000


def scan(event: Any, start: int, end: int, chunk: int = LOG_CHUNK) -> list[Any]:
    """Every log of `event` (a web3 contract event) in blocks [start, end], `chunk` blocks per
    request."""
    logs: list[Any] = []
    for first in range(start, end + 1, chunk):
        logs += event.get_logs(from_block=first, to_block=min(end, first + chunk - 1))
    return logs
