"""Real market data shared by the risk-engine tests (files shipped in oracle/data, sources in
SOURCES.md)."""

from __future__ import annotations

import pytest

from oracle.feeds.marketdata import shipped
from oracle.series import PriceSeries, pair_series


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
