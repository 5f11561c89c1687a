"""Speed of `oracle backtest`: one year of 1-minute bars for one market.

The replay runs the keeper's engine and policy every hour (8,760 cycles) on the trailing 90 days,
resampled to hourly closes, and the lending simulator over all 525,600 bars. Baseline, same run:
the same replay with the engine reading the raw 1-minute bars (129,600 per cycle), which is what a
replay without resampling would do. Prices: a seeded Student-t random walk — the shipped real
minute data covers 21 days, and the cost depends on the number of bars, not on their values.
Prints one JSON line; medians of 3 runs each. Run with `make bench-backtest`.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.backtest.baselines import aave_v3
from oracle.backtest.runner import BacktestSettings, replay
from oracle.series import PriceSeries

RUNS = 3
MINUTES_PER_DAY = 1_440


def main() -> None:
    n = (365 + 90) * MINUTES_PER_DAY  # a year to replay and 90 days of history before it
    rng = np.random.default_rng(2020)
    close = 2_000.0 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.0008))
    ts = 1_577_836_800 + 60 * np.arange(n, dtype=np.int64)
    series = PriceSeries("ETH/USD", ts, close, rng.uniform(1.0, 100.0, n))
    start, end = int(ts[90 * MINUTES_PER_DAY]), int(ts[-1]) + 1
    static = aave_v3("ETH")

    def timed(settings: BacktestSettings) -> tuple[float, dict]:
        samples, result = [], {}
        for _ in range(RUNS):
            t0 = time.perf_counter()
            result = replay(series, static, settings, start, end).summary
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples), result

    seconds, result = timed(BacktestSettings())
    baseline, _ = timed(dataclasses.replace(BacktestSettings(), resample=False))
    print(
        json.dumps(
            {
                "bars": result["window"]["bars"],
                "cycles": 365 * 24,
                "seconds": round(seconds, 2),
                "baseline_seconds": round(baseline, 2),
                "speedup": round(baseline / seconds, 1),
                "runs": RUNS,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
