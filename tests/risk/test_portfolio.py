"""Portfolio margin on real ETH and BTC returns: hedges net, a correlated crash does not."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.errors import RiskInputError
from oracle.risk import ModelSettings
from oracle.risk.portfolio import ReturnPanel, ewma_covariance, portfolio_margin, scenario_grid
from oracle.risk.volatility import bar_lambda
from tests.helpers.time import ts

LAM = bar_lambda(ModelSettings(), 3600)
YEAR = 365 * 86_400


@pytest.fixture(scope="module")
def panel(eth_1h, btc_1h):
    at = ts("2020-03-20T00:00:00")
    return ReturnPanel.from_series([eth_1h.until(at).last(YEAR), btc_1h.until(at).last(YEAR)])


def test_ewma_covariance_matches_the_recursion(panel):
    r = panel.returns[-2000:]
    c = np.cov(r[:30].T, bias=True)
    for x in r:
        c = LAM * c + (1 - LAM) * np.outer(x, x)
    np.testing.assert_allclose(ewma_covariance(r, LAM), c, rtol=1e-9)


def test_hedged_basket_needs_less_than_its_legs(panel):
    grid = scenario_grid(panel, LAM, horizon_bars=12)
    long_eth = portfolio_margin({"ETH/USDT": 1e6}, grid).requirement
    short_btc = portfolio_margin({"BTC/USDT": -1e6}, grid).requirement
    hedged = portfolio_margin({"ETH/USDT": 1e6, "BTC/USDT": -1e6}, grid).requirement
    assert hedged < 0.5 * (long_eth + short_btc)


def test_correlated_crash_needs_more(panel):
    both_long = {"ETH/USDT": 1e6, "BTC/USDT": 1e6}
    with_history = portfolio_margin(both_long, scenario_grid(panel, LAM, horizon_bars=12))
    scans_only = portfolio_margin(both_long, scenario_grid(panel, LAM, 12, include_history=False))
    assert with_history.requirement > 1.1 * scans_only.requirement
    assert with_history.worst_scenario.startswith("history 2020-03-12"), with_history.worst_scenario
    legs = sum(
        portfolio_margin({a: 1e6}, scenario_grid(panel, LAM, 12)).requirement for a in both_long
    )
    assert with_history.requirement > 0.9 * legs  # no diversification credit when everything falls


def test_unknown_asset_is_an_error(panel):
    with pytest.raises(RiskInputError, match="no scenarios for \\['SOL/USDT'\\]"):
        portfolio_margin({"SOL/USDT": 1.0}, scenario_grid(panel, LAM, 12))
