"""Model v2's falls: the LTV–LT buffer's historical quantile and the threshold's tail memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.errors import RiskInputError
from oracle.risk import MarketInput, ModelSettings, compute_market
from oracle.risk.moves import fall_expected_shortfall, fall_quantile, falls
from oracle.series import PriceSeries
from tests.helpers.series import pool_input, synthetic


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1, 1_000), min_size=2, max_size=60), st.integers(1, 10))
def test_falls_are_the_largest_fall_within_the_window_after_each_close(closes, window):
    c = np.array(closes)
    expected = [max(0.0, 1 - min(c[t + 1 : t + 1 + window]) / c[t]) for t in range(len(c) - window)]
    np.testing.assert_allclose(falls(c, window), expected, rtol=1e-12)
    if expected:
        assert fall_quantile(c, window, 0.9) == pytest.approx(np.quantile(expected, 0.9))
        scratch = np.full(len(c) + 3, np.nan)  # the engine's buffer: whatever it held before
        assert fall_quantile(c, window, 0.9, scratch) == fall_quantile(c, window, 0.9)
        worst = sorted(expected)[-max(1, -(-len(expected) // 10)) :]
        assert fall_expected_shortfall(c, window, 0.9) == pytest.approx(np.mean(worst))


def test_no_full_window_means_no_fall():
    assert fall_quantile(np.array([1.0, 2.0]), 5, 0.9) == 0.0
    assert fall_expected_shortfall(np.array([1.0, 2.0]), 5, 0.9) == 0.0


def _daily(market: str, closes: np.ndarray) -> PriceSeries:
    return PriceSeries(market, 86_400 * np.arange(len(closes)), closes)


def test_the_tail_memory_keeps_a_crash_a_calm_quarter_forgets():
    # Ninety calm days, and a memory of years with one 40 % day in it: at α = 0.999 the threshold
    # covers the remembered crash (the one worst day of 999), and says so.
    calm = synthetic("M/USD", n=90 * 24, seed=3, sigma=0.002)
    memory = np.full(1_000, 100.0) * np.exp(np.cumsum(np.full(1_000, 0.0005)))
    memory[500:] *= 0.6
    s = ModelSettings(memory_confidence=0.999)
    forgets = compute_market(pool_input(calm, 1e9, 1.0, settings=s))
    remembers = compute_market(
        pool_input(calm, 1e9, 1.0, settings=s, memory=_daily("M/USD", memory))
    )
    d = remembers.explanation.derived
    assert remembers.explanation.tail_memory > 0.3
    assert d.binding["liquidation_threshold"] == "tail_memory"
    assert remembers.liquidation_threshold_bps < forgets.liquidation_threshold_bps - 2_000
    assert remembers.ltv_bps < remembers.liquidation_threshold_bps
    # The memory is an input: it changes the inputs hash a signed update commits to.
    assert remembers.explanation.inputs_hash != forgets.explanation.inputs_hash


def test_the_memory_must_be_daily_closes_of_the_same_market():
    calm = synthetic("M/USD", n=500, seed=1)
    pool = pool_input(calm, 1e9, 1.0).liquidity
    with pytest.raises(RiskInputError, match="daily closes"):
        MarketInput(calm, pool, 1.0, memory=_daily("X/USD", np.full(10, 1.0)))
    with pytest.raises(RiskInputError, match="daily closes"):
        MarketInput(calm, pool, 1.0, memory=calm)


def test_the_buffer_covers_the_historical_falls_when_they_exceed_the_sigma_move():
    s = synthetic("M/USD", n=2_000, seed=4, sigma=0.01)
    sigma_only = compute_market(
        pool_input(s, 1e9, 1.0, settings=ModelSettings(ltv_fall_quantile=0))
    )
    falls_too = compute_market(
        pool_input(s, 1e9, 1.0, settings=ModelSettings(ltv_fall_quantile=0.95, ltv_z=0.1))
    )
    assert falls_too.explanation.derived.binding["ltv"] == "historical_falls"
    assert falls_too.explanation.historical_fall > 0
    lt = falls_too.liquidation_threshold_bps
    assert falls_too.ltv_bps == int(lt * (1 - falls_too.explanation.historical_fall))
    assert sigma_only.explanation.derived.binding["ltv"] == "volatility_buffer"


def test_the_memory_is_the_complete_days_only():
    # What the keeper and the backtest both pass the engine: never the day in progress, at most
    # `days` days back from the last complete one, nothing under two days.
    daily = _daily("M/USD", np.arange(1.0, 11.0))  # days 0 … 9
    now = 7 * 86_400 + 3_600  # an hour into day 7
    memory = daily.complete_days(now, 4)
    assert memory is not None and list(memory.timestamps // 86_400) == [3, 4, 5, 6]
    assert list(daily.complete_days(now, 100).timestamps // 86_400) == list(range(7))
    assert daily.complete_days(86_400 + 5, 100) is None  # one complete day
