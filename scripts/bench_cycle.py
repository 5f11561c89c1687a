"""Seconds per keeper cycle for 50, 200 and 500 markets, batched reads against today's sequential
path, in the same run.

One Anvil (with Multicall3 at its canonical address) and three emulated venues on 127.0.0.1
replaying Binance ETH/USDT from 1 February 2020. For each size, two keepers on their own
registries, each with every market listed:

- `baseline`: the sequential path — each market's three venues read in its own `collect`, and its
  registry state in three `eth_call`s through web3.py;
- `batched`: every market's feeds on one pool of `FEED_WORKERS` threads within one deadline, and
  every market's registry state in Multicall3 requests of `CHUNK` calls.

All markets read the same three venue sources and share one cached history (the load test's
shape; incremental history is not measured here). After a first cycle that pushes every market,
`--cycles` cycles an hour of simulated time apart are timed; the median is reported. Prints one
JSON line per size (`{"markets": N, "seconds": S, "baseline_seconds": B, "speedup": B/S, …}`)
and one with the wall time; `unhealthy` counts market snapshots a read failed in (0 expected).
Run with `make bench-cycle`.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.chain.multicall import CHUNK, MULTICALL3_ADDRESS
from oracle.devnet.accounts import dev_account
from oracle.devnet.anvil import AnvilNode
from oracle.devnet.emulator import ExchangeEmulator
from oracle.devnet.registry import deploy_registry
from oracle.feeds.base import FEED_WORKERS
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.marketdata import shipped_bars
from oracle.keeper.cycle import Keeper, MarketSetup
from oracle.keeper.store import Store
from oracle.signing import Signer
from oracle.snapshot import Health
from oracle.types import BLUE_CHIP_GUARDRAILS

SYMBOL = "ETH/USDT"
START = "2020-02-01T00:00:00"
HOUR = 3_600


def epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso + "+00:00").timestamp())


class Clock:
    """The keepers', the venues' and the chain's shared simulated time."""

    def __init__(self, w3, venues: list[ExchangeEmulator], now: int) -> None:
        self.w3, self.venues, self.now = w3, venues, now

    def advance(self, seconds: int) -> None:
        self.now += seconds
        for v in self.venues:
            v.now = self.now
        self.w3.provider.make_request("evm_mine", [self.now])


def keeper(w3, clock: Clock, sources, history, n: int, batched: bool, workdir: Path) -> Keeper:
    markets = [f"B{i:03d}/USDT" for i in range(n)]
    signer = Signer(dev_account(5))
    registry = deploy_registry(
        w3,
        w3.eth.accounts[0],
        signers=[signer.address],
        markets=markets,
        guardrails=BLUE_CHIP_GUARDRAILS,
    )
    setups = [
        MarketSetup(m, sources, partial(replace, history, market=m), size=1_000.0) for m in markets
    ]
    mode = "batched" if batched else "baseline"
    return Keeper(
        registry,
        [signer],
        dev_account(1),
        Store(workdir / f"{mode}-{n}.db"),
        setups,
        clock=lambda: clock.now,
        multicall=MULTICALL3_ADDRESS if batched else None,
        feed_workers=FEED_WORKERS if batched else 0,
    )


def timed_cycles(k: Keeper, clock: Clock, cycles: int) -> tuple[list[float], int, int]:
    """Seconds of each of `cycles` cycles an hour apart, after an untimed first one; how many
    batches they mined; and how many market snapshots were not healthy (a read timed out or
    failed: a fast cycle that dropped reads would not be a fast cycle)."""
    k.cycle()
    seconds, mined, unhealthy = [], 0, 0
    for _ in range(cycles):
        clock.advance(HOUR)
        started = time.perf_counter()
        report = k.cycle()
        seconds.append(time.perf_counter() - started)
        mined += sum(p.status == "mined" for p in report.pushes)
        unhealthy += sum(s.health != Health.OK for s in report.snapshots.values())
    return seconds, mined, unhealthy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("oracle").setLevel(logging.ERROR)
    wall = time.perf_counter()
    bars = shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", SYMBOL)
    node = AnvilNode(extra_args=["--gas-limit", "30000000"])
    w3 = node.start()
    venues: list[ExchangeEmulator] = []
    try:
        now = int(w3.eth.get_block("latest")["timestamp"]) + 10
        venues = [
            ExchangeEmulator(
                {"ETHUSDT": ("ETH", "USDT", bars)}, now=now, offset=now - epoch(START)
            ).start()
            for _ in range(3)
        ]
        clock = Clock(w3, venues, now)
        sources = [
            ExchangeSource(f"venue{i}", SYMBOL, "binance", SYMBOL, api_url=v.url, max_age=7_200)
            for i, v in enumerate(venues)
        ]
        for src in sources:  # no client-side spacing on a local emulator
            src.exchange.enableRateLimit = False
        history = sources[0].history("1h", 1_000)
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                row: dict[str, object] = {"markets": n}
                for batched in (False, True):
                    k = keeper(w3, clock, sources, history, n, batched, Path(tmp))
                    try:
                        seconds, mined, unhealthy = timed_cycles(k, clock, args.cycles)
                    finally:
                        k.store.close()
                    key = "seconds" if batched else "baseline_seconds"
                    row[key] = round(statistics.median(seconds), 3)
                    row[f"{key}_all"] = [round(s, 3) for s in seconds]
                    row["batches_mined" if batched else "baseline_batches_mined"] = mined
                    row["unhealthy" if batched else "baseline_unhealthy"] = unhealthy
                row["speedup"] = round(float(row["baseline_seconds"]) / float(row["seconds"]), 2)
                row.update(cycles=args.cycles, feed_workers=FEED_WORKERS, multicall_chunk=CHUNK)
                print(json.dumps(row), flush=True)
    finally:
        for v in venues:
            v.stop()
        node.stop()
    print(json.dumps({"seconds": round(time.perf_counter() - wall, 1)}))


if __name__ == "__main__":
    main()
