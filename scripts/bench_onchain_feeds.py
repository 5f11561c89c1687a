"""Seconds and RPC requests to read 50, 200 and 500 Chainlink aggregators on one node in one
collection of feeds: every source in one Multicall3 request against each source's own calls, in
the same run.

One Anvil on 127.0.0.1 (Multicall3 at its canonical address) with 500 `MockV3Aggregator`s, read
through the keeper's kind of client (`http_web3`) by `collect_all` on `FEED_WORKERS` threads, as a
keeper cycle reads its markets' feeds:

- `batched`: one `Node` for every source: one block read and one `aggregate3` per `CHUNK` calls
  a collection;
- `per_source`: the same sources on a node without Multicall3 (`chain.multicall: null`, the path
  every on-chain source took before): a block read and a `latestRoundData` call per source.

A first collection of each (untimed) reads the decimals, which are cached from then on; then
`--repeats` collections of each, alternated, are timed. Both paths must give the same readings.
Prints one JSON line per size (`{"feeds": N, "seconds": S, "per_source_seconds": B,
"speedup": B/S, "requests": {...}, "per_source_requests": {...}, ...}`, requests by method for
one timed collection) and one with the wall time. Run with `make bench-onchain-feeds`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.chain import deploy_contract
from oracle.devnet.anvil import AnvilNode, count_requests
from oracle.feeds import Reading, SourceResult, collect_all
from oracle.feeds.base import FEED_WORKERS
from oracle.feeds.chainlink import ChainlinkSource
from oracle.feeds.onchain import Node
from oracle.multicall import CHUNK, MULTICALL3_ADDRESS

HEARTBEAT = 86_400  # no round goes stale during the run


def aggregators(w3, n: int) -> list[str]:
    """`n` aggregators with 8 decimals, each with a price of its own."""
    gov = w3.eth.accounts[0]
    return [
        deploy_contract(w3, gov, "MockV3Aggregator", 8, (1_000 + i) * 10**8, f"F{i}")[0].address
        for i in range(n)
    ]


def collection(
    sources: list[ChainlinkSource], now: int, counts: Counter[str]
) -> tuple[float, list[SourceResult], dict[str, int]]:
    """Seconds, results and requests (by method; `http_web3` answers `eth_chainId` from its
    cache) of one collection of every source."""
    counts.clear()
    started = time.perf_counter()
    results = [r for [r] in collect_all([[s] for s in sources], now, 30.0, FEED_WORKERS)]
    seconds = time.perf_counter() - started
    return seconds, results, {m: c for m, c in counts.items() if m != "eth_chainId"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    wall = time.perf_counter()
    node = AnvilNode(extra_args=["--gas-limit", "30000000"])
    w3 = node.start()
    try:
        addresses = aggregators(w3, max(args.sizes))
        counts = count_requests(w3)
        for n in args.sizes:
            now = int(w3.eth.get_block("latest")["timestamp"])
            paths = {
                mode: [
                    ChainlinkSource(f"chainlink{i}", f"M{i}/USD", shared, a, heartbeat=HEARTBEAT)
                    for i, a in enumerate(addresses[:n])
                ]
                for mode, shared in (
                    ("batched", Node(w3, MULTICALL3_ADDRESS)),
                    ("per_source", Node(w3, None)),
                )
            }
            seconds: dict[str, list[float]] = {mode: [] for mode in paths}
            requests: dict[str, dict[str, int]] = {}
            readings: dict[str, list[SourceResult]] = {}
            for sources in paths.values():  # the decimals, read once
                collection(sources, now, counts)
            for _ in range(args.repeats):
                for mode, sources in paths.items():
                    s, readings[mode], requests[mode] = collection(sources, now, counts)
                    seconds[mode].append(s)
            assert all(isinstance(r, Reading) for r in readings["batched"]), readings["batched"]
            assert readings["batched"] == readings["per_source"]
            batched = statistics.median(seconds["batched"])
            per_source = statistics.median(seconds["per_source"])
            row = {
                "feeds": n,
                "seconds": round(batched, 4),
                "per_source_seconds": round(per_source, 4),
                "speedup": round(per_source / batched, 1),
                "requests": requests["batched"],
                "per_source_requests": requests["per_source"],
                "repeats": args.repeats,
                "feed_workers": FEED_WORKERS,
                "multicall_chunk": CHUNK,
            }
            print(json.dumps(row), flush=True)
    finally:
        node.stop()
    print(json.dumps({"seconds": round(time.perf_counter() - wall, 1)}))


if __name__ == "__main__":
    main()
