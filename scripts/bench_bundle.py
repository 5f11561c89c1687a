"""What publishing a batch's inputs costs the keeper, and what checking one costs a verifier,
against the engine's own computation of the same markets in the same run.

Prints one JSON object per line for batches of 1, 10 and 50 markets, each market a keeper-shaped
input (2,000 hourly bars of real Binance ETH/USDT closes and volumes, 1,000 daily closes of tail
memory, an order book, open positions): `write_ms`, the median time to encode, hash, compress
and durably write the bundle (`BundleStore.write`); `verify_offline_ms`, the median time to read
it back, check every recorded digest and the inputsHash, and rerun the engine (the chain reads of
`oracle verify` come on top); `baseline_engine_ms`, the median time of `compute_market` over the
same markets (what every cycle already spends); `bytes`, the compressed size. Run with
`make bench-bundle`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.audit.bundle import BundleStore, Context, InputsBundle, MarketInputs
from oracle.feeds.base import Reading
from oracle.feeds.marketdata import shipped
from oracle.policy import OnChain, PolicySettings
from oracle.policy.impact import OpenPositions
from oracle.risk import ModelSettings, compute_market
from oracle.series import PriceSeries
from oracle.snapshot import HealthPolicy, aggregate
from oracle.types import BLUE_CHIP_GUARDRAILS, Params

SIZES = (1, 10, 50)
RUNS = 7


def markets(n: int) -> list[MarketInputs]:
    hourly_all = shipped("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")
    days = hourly_all.close[::24]
    out = []
    for i in range(n):
        end = len(hourly_all.close) - 24 * i
        volume = hourly_all.volume
        hourly = PriceSeries(
            f"M{i}/USDT",
            hourly_all.timestamps[end - 2_000 : end],
            hourly_all.close[end - 2_000 : end],
            None if volume is None else volume[end - 2_000 : end],
        )
        day_end = end // 24
        memory = PriceSeries(
            hourly.market,
            int(hourly.timestamps[0]) - 86_400 * 1_000 + 86_400 * np.arange(1_000),
            days[day_end - 1_000 : day_end],
        )
        now = int(hourly.timestamps[-1]) + 3_600
        price = float(hourly.close[-1])
        book = tuple((price * (1 - 0.001 * k), 50.0 + k) for k in range(100))
        snap = aggregate(
            hourly.market,
            [
                Reading("a", hourly.market, price, now - 5, bids=book, best_ask=price * 1.0005),
                Reading("b", hourly.market, price * 1.0002, now - 7, bids=book),
            ],
            now,
            HealthPolicy(),
        )
        rng = np.random.default_rng(i)
        out.append(
            MarketInputs(
                hourly.market,
                snap,
                hourly,
                1_000.0,
                ModelSettings(),
                OnChain(Params(7_000, 8_000, 500), now - 3_600, 0, BLUE_CHIP_GUARDRAILS, 0),
                0,
                memory,
                positions=OpenPositions(rng.uniform(5_000, 8_000, 200), rng.uniform(1e3, 1e5, 200)),
            )
        )
    return out


def median_ms(fn, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1_000


def measure(n: int) -> dict[str, float | int]:
    inputs = markets(n)
    bundle = InputsBundle(
        Context(1_700_000_000, 1, HealthPolicy(), PolicySettings(), "risk-2.0.0"), tuple(inputs)
    )
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))
        write_ms = median_ms(lambda: BundleStore(Path(tmp) / str(next(counter))).write(bundle))
        store = BundleStore(Path(tmp) / "check")
        inputs_hash, path = store.write(bundle)

        def verify_offline() -> None:
            loaded = store.read(inputs_hash)
            b = loaded.bundle
            assert b.field_digests() == loaded.claimed_fields
            assert b.inputs_hash() == inputs_hash
            for m in b.markets:
                compute_market(m.risk_input())

        verify_ms = median_ms(verify_offline)
        size = path.stat().st_size

    def engine() -> None:
        for m in inputs:
            compute_market(m.risk_input())

    return {
        "markets": n,
        "write_ms": round(write_ms, 1),
        "verify_offline_ms": round(verify_ms, 1),
        "baseline_engine_ms": round(median_ms(engine), 1),
        "bytes": size,
    }


def main() -> None:
    for n in SIZES:
        print(json.dumps(measure(n)), flush=True)


if __name__ == "__main__":
    main()
