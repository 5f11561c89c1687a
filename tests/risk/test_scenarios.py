"""The 16 joint scenario rows on real hourly returns of six assets: what each row is, and that
they cover what came next."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.errors import RiskInputError
from oracle.feeds.marketdata import shipped
from oracle.risk.portfolio import ReturnPanel
from oracle.risk.scenarios import FACTOR_PAIRS, ROW_WEIGHT_PCT, ScenarioSettings, risk_arrays
from tests.helpers.time import DAY, ts

NAMES = ("BTC", "ETH", "SOL", "LINK", "UNI", "AAVE")


@pytest.fixture(scope="module")
def series():
    return [shipped(f"ohlcv/1h/{n}USDT.csv.gz", f"{n}/USD") for n in NAMES]


def panel_until(series, at: int, days: int = 365) -> ReturnPanel:
    return ReturnPanel.from_series([s.until(at).last(days * DAY) for s in series])


def test_rows_are_what_the_scenario_set_says(series):
    arrays = risk_arrays(panel_until(series, ts("2022-06-01T00:00:00")))
    assert arrays.moves.shape == (len(NAMES), 16)
    assert len(arrays.labels) == 16 and len(ROW_WEIGHT_PCT) == 16
    log = np.log1p(arrays.moves)
    assert log[:, 0].mean() < 0 < log[:, 1].mean()  # row 0: the basket falls
    np.testing.assert_allclose(log[:, 0], -log[:, 1])  # a component at −z and +z
    np.testing.assert_allclose(log[:, 14], 3 * log[:, 0])  # SPAN's extreme rows
    np.testing.assert_allclose(log[:, 15], 3 * log[:, 1])
    assert (log[:, 6:10].mean(axis=0) < 0).all() and (log[:, 10:14].mean(axis=0) > 0).all()
    assert arrays.explained[0] > 0.5  # crypto moves together: the market factor dominates
    assert (arrays.floors >= ScenarioSettings().min_floor).all()
    assert ScenarioSettings().z == pytest.approx(3.7469 * np.sqrt(0.5), rel=1e-4)


def margin(arrays, notionals: np.ndarray) -> float:
    """Worst weighted loss of simple moves, or the norm over the factor rows and the floor sum when
    larger (the contract's formula without units or add-on)."""
    pnl = notionals @ arrays.moves
    losses = -pnl * np.array(ROW_WEIGHT_PCT) / 100
    floor = float(np.abs(notionals) @ arrays.floors)
    norm = float(np.sqrt(np.sum(pnl[0 : 2 * FACTOR_PAIRS : 2] ** 2) + floor**2))
    return max(float(losses.max()), norm)


def test_hedges_net_and_the_floor_holds_them_up(series):
    arrays = risk_arrays(panel_until(series, ts("2022-06-01T00:00:00")))
    long_eth = np.array([0, 1e6, 0, 0, 0, 0])
    hedge = np.array([-1e6, 1e6, 0, 0, 0, 0])
    legs = margin(arrays, long_eth) + margin(arrays, np.array([-1e6, 0, 0, 0, 0, 0]))
    assert margin(arrays, hedge) < 0.5 * legs
    assert margin(arrays, hedge) >= float(arrays.floors[0] + arrays.floors[1]) * 1e6


def test_walk_forward_the_rows_cover_the_next_day(series):
    """Every 10 days from mid-2021 to October 2022, rows from the year before only; a long and a
    short basket and a random long/short book, each against its realised loss over the next 24
    hours. At the 99 % design level, a few breaches in 150 are expected; far more would mean the
    rows miss the tail."""
    rng = np.random.default_rng(7)
    books = [np.ones(6) * 1e6, -np.ones(6) * 1e6]
    breaches = trials = 0
    for at in range(ts("2021-06-01T00:00:00"), ts("2022-10-20T00:00:00"), 10 * DAY):
        arrays = risk_arrays(panel_until(series, at))
        closes = []
        for s in series:
            i = int(np.searchsorted(s.timestamps, at))
            j = int(np.searchsorted(s.timestamps, at + DAY))
            closes.append((s.close[i], s.close[min(j, len(s.close) - 1)]))
        realised = np.array([b / a - 1 for a, b in closes])
        for book in [*books, rng.choice([-1, 1], 6) * rng.uniform(1e5, 1e6, 6)]:
            trials += 1
            breaches += -(book @ realised) > margin(arrays, book)
    assert trials >= 150
    assert breaches <= 0.03 * trials, f"{breaches} breaches in {trials}"


def test_bad_returns_are_refused(series):
    panel = panel_until(series, ts("2022-06-01T00:00:00"))
    broken = ReturnPanel(panel.assets, panel.timestamps, panel.returns.copy(), panel.interval)
    broken.returns[5, 2] = np.nan
    with pytest.raises(RiskInputError, match="finite"):
        risk_arrays(broken)
    with pytest.raises(RiskInputError, match="confidence"):
        ScenarioSettings(confidence=1.2)


def test_a_spread_calm_of_late_keeps_its_long_run_risk():
    """Two assets that moved apart for months and in lockstep for the last 60 days: the EWMA sees
    almost no risk in their spread, which is the book an adversary would hold. Every direction's
    volatility is floored at `long_run_floor` of its long-run value, not only each asset's, so the
    component rows still carry 60 % of the spread's long-run move."""
    rng = np.random.default_rng(11)
    s = ScenarioSettings()
    market = rng.standard_normal(s.long_run_bars) * 0.01
    apart = rng.standard_normal(s.long_run_bars) * 0.01
    returns = np.c_[market + apart, market - apart]
    returns[-24 * 60 :, 1] = returns[-24 * 60 :, 0]  # the last 60 days: one asset twice
    panel = ReturnPanel(("A", "B"), np.arange(len(returns)) * 3_600, returns, 3_600)
    log = np.log1p(risk_arrays(panel, s).moves)
    spread = np.array([1.0, -1.0])
    factor_norm = float(np.linalg.norm(spread @ log[:, 0 : 2 * FACTOR_PAIRS : 2]))
    long_run = float(np.sqrt(np.mean((returns[:, 0] - returns[:, 1]) ** 2) * s.horizon_bars))
    assert factor_norm >= s.z * s.long_run_floor * long_run * (1 - 1e-9)
    assert factor_norm <= s.z * long_run  # floored, not restored: the calm still counts
