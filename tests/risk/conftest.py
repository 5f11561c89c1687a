"""Real market data shared by the risk-engine tests (files shipped in oracle/data, sources in
SOURCES.md)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from oracle.marketdata import shipped
from oracle.risk import ConstantProductPool, MarketInput, PriceSeries, pair_series


def ts(iso: str) -> int:
    return int(datetime.fromisoformat(iso + "+00:00").timestamp())


@pytest.fixture(scope="session")
def eth_1h() -> PriceSeries:
    return shipped("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")


@pytest.fixture(scope="session")
def btc_1h() -> PriceSeries:
    return shipped("ohlcv/1h/BTCUSDT.csv.gz", "BTC/USDT")


@pytest.fixture(scope="session")
def usdc_usd_1m() -> PriceSeries:
    """USDC priced in USD through the March 2023 depeg: Binance.US BTC/USD ÷ BTC/USDC, minute by
    minute."""
    usd = shipped("ohlcv/1m/binanceus-BTCUSD-1m.csv.gz", "BTC/USD")
    usdc = shipped("ohlcv/1m/binanceus-BTCUSDC-1m.csv.gz", "BTC/USDC")
    pair = pair_series("USDC/USD", usd, usdc)
    return PriceSeries("USDC/USD", pair.timestamps, pair.close)  # BTC volume says nothing of USDC's


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
