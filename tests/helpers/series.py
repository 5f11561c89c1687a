"""Risk-engine inputs for tests: a constant-product pool at a series' last price, and a seeded
synthetic series for properties that need no real data."""

from __future__ import annotations

import numpy as np

from oracle.risk import ConstantProductPool, MarketInput
from oracle.series import PriceSeries


def pool_input(
    series: PriceSeries, reserve: float, size: float, fee: float = 0.003, **kw
) -> MarketInput:
    """A constant-product pool at the series' last price, `reserve` units of collateral deep."""
    price = float(series.close[-1])
    return MarketInput(
        series, ConstantProductPool(series.market, reserve, reserve * price, fee), size, **kw
    )


def synthetic(
    market: str = "X/USD", n: int = 2000, seed: int = 7, sigma: float = 0.01
) -> PriceSeries:
    """A seeded random-walk series for properties that need no real data (invariants, hashing)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.standard_t(4, n) * sigma / np.sqrt(2)))
    return PriceSeries(market, 1_600_000_000 + 3600 * np.arange(n), close, rng.uniform(1e3, 1e4, n))
