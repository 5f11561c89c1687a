"""Each formula against an independent computation: EWMA, gap scaling, expected shortfall, slippage,
horizon."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from oracle.risk import ConstantProductPool, OrderBook
from oracle.risk.liquidity import horizon_seconds, slippage
from oracle.risk.tail import filtered_historical_es, student_t_es
from oracle.risk.volatility import ewma_variance, log_returns
from oracle.series import PriceSeries


def test_ewma_matches_the_recursion_written_out():
    r = np.random.default_rng(1).normal(0, 0.01, 500)
    lam = 0.97
    v = [np.mean(r[:30] ** 2)]
    for x in r:
        v.append(lam * v[-1] + (1 - lam) * x * x)
    np.testing.assert_allclose(ewma_variance(r, lam), v, rtol=1e-12)


def test_returns_across_a_gap_are_scaled_to_one_bar():
    ts = np.array([0, 3600, 4 * 3600])  # the second step spans 3 bars
    s = PriceSeries("X", ts, np.array([100.0, 110.0, 121.0]))
    np.testing.assert_allclose(log_returns(s), [np.log(1.1), np.log(1.1) / np.sqrt(3)])
    assert s.interval == 3600


def test_historical_es_of_normal_residuals_matches_the_normal_formula():
    z = np.random.default_rng(2).standard_normal(400_000)
    sigma, h, alpha = 0.01, 4, 0.99
    got = filtered_historical_es(z, sigma, h, alpha).expected_shortfall
    # Sum of 4 unit normals has sd 2: R ~ N(0, (σ·2)²); ES of 1 − e^R by the same tail integration.
    probs = (np.arange(20_000) + 0.5) / 20_000 * (1 - alpha)
    expected = np.mean(-np.expm1(sigma * 2 * stats.norm.ppf(probs)))
    assert got == pytest.approx(expected, rel=0.03)


def test_student_t_es_is_fatter_than_normal_and_grows_with_horizon():
    t1 = student_t_es(0.01, 1, 0.99, 4.0)
    t4 = student_t_es(0.01, 4, 0.99, 4.0)
    normal = np.mean(-np.expm1(0.01 * stats.norm.ppf((np.arange(2000) + 0.5) / 2000 * 0.01)))
    assert t1.expected_shortfall > normal
    assert t4.expected_shortfall > t1.expected_shortfall
    assert t1.value_at_risk < t1.expected_shortfall


def test_order_book_walk():
    book = OrderBook("X", np.array([[100.0, 1.0], [99.0, 2.0], [95.0, 10.0]]), best_ask=102.0)
    s = slippage(book, 2.5)  # 1 @ 100 + 1.5 @ 99 = 248.5
    assert s.mid == 101.0
    assert s.average_price == pytest.approx(248.5 / 2.5)
    assert s.fraction == pytest.approx(1 - 99.4 / 101.0)
    assert s.unfilled == 0.0
    thin = slippage(book, 20.0)  # 13 sold, 7 have no bid: counted at zero
    assert thin.unfilled == 7.0
    assert thin.average_price == pytest.approx((100 + 198 + 950) / 20.0)


def test_constant_product_pool():
    pool = ConstantProductPool("X", 1_000.0, 2_000_000.0, fee=0.003)  # mid 2000
    s = slippage(pool, 10.0)
    net = 10 * 0.997
    assert s.average_price == pytest.approx(2_000_000 * net / (1_000 + net) / 10)
    assert s.fraction == pytest.approx(1 - s.average_price / 2000)
    assert 0.012 < s.fraction < 0.014  # ≈ 1 % impact + 0.3 % fee


def test_horizon_grows_with_size_relative_to_volume_and_depth():
    base, cap = 12 * 3600, 7 * 86_400
    assert horizon_seconds(1.0, 1e6, 1e6, 3600, base, cap, 0.1) == (base, "base")
    h, why = horizon_seconds(
        50_000.0, 10_000.0, 1e9, 3600, base, cap, 0.1
    )  # 50 h of 10 % participation
    assert (h, why) == (base + 50 * 3600, "volume")
    h, why = horizon_seconds(30.0, None, 10.0, 3600, base, cap, 0.1)  # 3× the book: 3 base horizons
    assert (h, why) == (3 * base, "book_depth")
    assert horizon_seconds(1e12, 1.0, 1.0, 3600, base, cap, 0.1) == (cap, "max_horizon")
