"""Bad input gets a clear error naming the market and the problem; nothing is computed from it."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.errors import NoSafeParameters, RiskInputError
from oracle.risk import (
    ConstantProductPool,
    MarketInput,
    ModelSettings,
    OrderBook,
    compute_market,
)
from oracle.series import PriceSeries
from tests.helpers.series import pool_input, synthetic

T0 = 1_600_000_000


def series(close, ts=None, volume=None):
    ts = T0 + 3600 * np.arange(len(close)) if ts is None else np.asarray(ts)
    return PriceSeries("ETH/USD", ts, np.asarray(close, dtype=float), volume)


@pytest.mark.parametrize(
    ("close", "message"),
    [
        ([100.0, float("nan"), 101.0], "price is nan at 2020-09-13T13:26:40Z (index 1)"),
        ([100.0, float("inf"), 101.0], "price is inf at"),
        ([100.0, 0.0, 101.0], "non-positive price 0.0 at"),
        ([100.0, 101.0, -5.0], "non-positive price -5.0 at"),
        ([100.0], "history too short: 1 price(s)"),
    ],
)
def test_bad_prices(close, message):
    with pytest.raises(RiskInputError) as err:
        series(close)
    assert str(err.value).startswith("market ETH/USD: ")
    assert message in str(err.value)


def test_duplicate_and_non_monotonic_timestamps():
    with pytest.raises(RiskInputError, match=r"duplicate timestamp .* at index 2"):
        series([1.0, 2.0, 3.0], ts=[T0, T0 + 60, T0 + 60])
    with pytest.raises(RiskInputError, match=r"non-monotonic timestamp .* at index 1"):
        series([1.0, 2.0, 3.0], ts=[T0 + 60, T0, T0 + 120])


def test_bad_volume():
    with pytest.raises(RiskInputError, match=r"bad volume -1.0"):
        series([1.0, 2.0], volume=[1.0, -1.0])
    with pytest.raises(RiskInputError, match=r"one value per bar"):
        series([1.0, 2.0], volume=[1.0])


def test_history_too_short_for_the_model():
    short = synthetic(n=30)
    with pytest.raises(RiskInputError, match=r"market X/USD: history too short: 30 bars, need 48"):
        compute_market(pool_input(short, 1e6, 10.0))


@pytest.mark.parametrize(
    ("bids", "ask", "message"),
    [
        ([], None, "order book has no bids"),
        ([[100.0, 0.0]], None, "non-positive or non-finite level"),
        ([[100.0, float("nan")]], None, "non-positive or non-finite level"),
        ([[99.0, 1.0], [100.0, 1.0]], None, "strictly decreasing"),
        ([[100.0, 1.0]], 99.0, "best ask 99.0 is not above the best bid"),
    ],
)
def test_bad_order_books(bids, ask, message):
    with pytest.raises(RiskInputError, match=message):
        OrderBook("ETH/USD", np.array(bids, dtype=float), ask)


def test_bad_pool_size_and_market_mismatch():
    with pytest.raises(RiskInputError, match=r"pool reserve_debt must be positive"):
        ConstantProductPool("ETH/USD", 10.0, 0.0)
    s = synthetic("ETH/USD")
    with pytest.raises(RiskInputError, match=r"size to liquidate must be positive, got nan"):
        MarketInput(s, ConstantProductPool("ETH/USD", 10.0, 10.0), float("nan"))
    with pytest.raises(RiskInputError, match=r"liquidity describes BTC/USD, not ETH/USD"):
        MarketInput(s, ConstantProductPool("BTC/USD", 10.0, 10.0), 1.0)


def test_bad_settings_list_every_problem():
    with pytest.raises(RiskInputError) as err:
        ModelSettings(confidence=1.5, participation=0.0, volatility_model="magic")
    text = str(err.value)
    assert "confidence must be in (0.5, 1)" in text
    assert "participation must be in (0, 1]" in text
    assert "volatility_model must be 'ewma' or 'garch'" in text


def test_book_too_thin_for_the_size_is_no_safe_parameters():
    s = synthetic("ETH/USD")
    price = float(s.close[-1])
    book = OrderBook("ETH/USD", [[price * 0.999, 5.0], [price * 0.99, 5.0]])
    with pytest.raises(
        NoSafeParameters, match=r"market ETH/USD: slippage .* exceed the maximum bonus"
    ):
        compute_market(MarketInput(s, book, size=20.0))  # half the size cannot be sold at all


def test_too_volatile_is_no_safe_parameters():
    wild = synthetic(sigma=0.2)  # ~20 % hourly moves: nothing is safe to lend against
    with pytest.raises(NoSafeParameters, match=r"market X/USD: LTV .* is not positive"):
        compute_market(pool_input(wild, 1e9, 1.0))


def test_threshold_below_the_minimum_is_no_safe_parameters():
    strict = ModelSettings(min_threshold_bps=9_000)
    with pytest.raises(
        NoSafeParameters, match=r"liquidation threshold .* is below the minimum 9000 bps"
    ):
        compute_market(pool_input(synthetic(sigma=0.01), 1e9, 1.0, settings=strict))


def test_gappy_recent_history_is_refused_not_loosened():
    # Binance's USDC/USDT has no bars from 10 March 2023 until 11 March 13:00 (trading halted in the
    # depeg): three hours after it resumes, 21 of the last 24 hours are missing.
    from oracle.feeds.marketdata import shipped
    from tests.helpers.time import ts

    usdc = shipped("ohlcv/1h/USDCUSDT.csv.gz", "USDC/USDT").until(ts("2023-03-11T16:00:00"))
    with pytest.raises(RiskInputError, match=r"USDC/USDT: 21 of the last 24 bars are missing"):
        compute_market(pool_input(usdc, 1e8, 1e6))
