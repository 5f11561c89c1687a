"""Speed of the risk engine against a naive per-market implementation, in the same run.

Prints one JSON object per line for N = 1, 50, 200 markets of 43,200 points each (30 days of
1-minute bars): `seconds` is the median of several runs of `compute_markets` (parameters,
explanations and input hashes of every market); `baseline_seconds` the median of a plain pandas +
Python-loop version of the same EWMA and expected shortfall per market. Run with `make bench-risk`.

Prices: real Binance 1h closes of ETH/USDT and BTC/USDT (oracle/data), each market a different
43,200-bar window, laid on a 1-minute grid. The cost depends on the number of points and on the
horizon in bars (720 one-minute bars for 12 h), not on where the prices come from; the real 1-minute
files cover 21 days only.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.feeds.marketdata import shipped
from oracle.risk import (
    ConstantProductPool,
    MarketInput,
    ModelSettings,
    compute_markets,
)
from oracle.risk.moves import fall_quantile
from oracle.risk.volatility import bar_lambda, ewma_variance
from oracle.series import PriceSeries

POINTS = 43_200
MARKETS = (1, 50, 200)
RUNS = 7
BASELINE_RUNS = 3


def build_inputs(n: int) -> list[MarketInput]:
    sources = [shipped("ohlcv/1h/ETHUSDT.csv.gz", "ETH"), shipped("ohlcv/1h/BTCUSDT.csv.gz", "BTC")]
    grid = 1_600_000_000 + 60 * np.arange(POINTS, dtype=np.int64)
    inputs = []
    for i in range(n):
        src = sources[i % 2]
        start = (i // 2) * 15
        hourly = src.close[start : start + POINTS]
        # Real hourly moves scaled to a minute's size (÷ √60): the shape of the returns is real, and
        # model v2's 48-hour buffer (2,880 bars here) sees two days of moves, not four months.
        log_moves = np.diff(np.log(hourly)) / np.sqrt(60.0)
        close = hourly[0] * np.exp(np.concatenate(([0.0], np.cumsum(log_moves))))
        volume = src.volume[start : start + POINTS] / 60.0  # per minute
        market = f"{src.market}{i}/USD"
        prices = PriceSeries(market, grid, close, volume)
        pool = ConstantProductPool(market, 50_000.0, 50_000.0 * float(close[-1]))
        inputs.append(MarketInput(prices, pool, size=1_000.0))
    return inputs


def naive_falls(close: np.ndarray, window: int, q: float) -> float:
    """Model v2's buffer, the q-quantile of the largest fall within `window` bars after each
    close, written the obvious way: a pandas rolling minimum, then a quantile."""
    ahead = pd.Series(close[1:]).rolling(window).min().shift(-(window - 1)).dropna()
    falls = (1.0 - ahead.to_numpy() / close[: len(ahead)]).clip(min=0.0)
    return float(pd.Series(falls).quantile(q))


def naive_es(
    close: np.ndarray, lam: float, horizon: int, alpha: float
) -> tuple[float, list[float]]:
    """The same EWMA and filtered-historical ES, written the obvious way: pandas and a loop."""
    r = np.log(pd.Series(close)).diff().dropna()
    variances = []
    v = float((r.iloc[:30] ** 2).mean())
    for x in r:
        variances.append(v)
        v = lam * v + (1 - lam) * x * x
    z = r / np.sqrt(pd.Series(variances, index=r.index))
    sums = z.rolling(horizon).sum().dropna()
    losses = (-np.expm1(math.sqrt(v) * sums)).sort_values(ascending=False)
    k = max(1, math.ceil((1 - alpha) * len(losses)))
    return float(losses.iloc[:k].mean()), [*variances, v]


def median_seconds(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    settings = ModelSettings()
    lam = bar_lambda(settings, 60)
    horizon = settings.base_horizon // 60
    everything = build_inputs(max(MARKETS))
    # The baseline computes the same EWMA as the engine: check before timing either.
    check = everything[0].prices
    _, naive_var = naive_es(check.close, lam, horizon, settings.confidence)
    r = np.diff(np.log(check.close))
    assert np.allclose(naive_var, ewma_variance(r, lam), rtol=1e-9), "baseline EWMA differs"
    window = settings.ltv_buffer // 60
    engine_fall = fall_quantile(check.close, window, settings.ltv_fall_quantile)
    naive_fall = naive_falls(check.close, window, settings.ltv_fall_quantile)
    assert math.isclose(engine_fall, naive_fall, rel_tol=1e-9), "baseline falls differ"
    for n in MARKETS:
        inputs = everything[:n]
        compute_markets(inputs)  # warm-up: imports, scratch buffers
        seconds = median_seconds(lambda inputs=inputs: compute_markets(inputs), RUNS)

        def baseline(inputs=inputs) -> None:
            for inp in inputs:
                naive_es(inp.prices.close, lam, horizon, settings.confidence)
                naive_falls(inp.prices.close, window, settings.ltv_fall_quantile)

        base = median_seconds(baseline, BASELINE_RUNS)
        row = {
            "markets": n,
            "points": POINTS,
            "seconds": round(seconds, 4),
            "baseline_seconds": round(base, 4),
            "speedup": round(base / seconds, 1),
            "runs": RUNS,
            "baseline_runs": BASELINE_RUNS,
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
