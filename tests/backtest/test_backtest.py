"""The backtester: the simulator against a brute-force loop, Black Thursday, the CLI."""

from __future__ import annotations

import bisect
import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.backtest.baselines import aave_v3
from oracle.backtest.runner import BacktestSettings, _in_force_per_bar, dynamic_path, replay
from oracle.backtest.simulator import Population, simulate
from oracle.errors import ConfigError
from oracle.feeds.marketdata import DATA_DIR, shipped
from oracle.policy import PolicySettings
from oracle.types import BPS, Params
from tests.helpers.time import ts


def brute_force(prices, lt, population, delay, slippage):
    bad = liquidated = 0.0
    count = 0
    for c, d in zip(population.collateral, population.debt, strict=True):
        for t in range(len(prices)):
            if d > c * prices[t] * lt[t]:
                exec_price = prices[min(t + delay, len(prices) - 1)]
                bad += max(0.0, d - c * exec_price * (1 - slippage))
                liquidated += d
                count += 1
                break
    total = population.debt.sum()
    return bad / total, liquidated / total, count


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    delay=st.integers(0, 5),
    slippage=st.floats(0, 0.1),
)
def test_simulator_matches_a_brute_force_loop(seed, delay, slippage):
    rng = np.random.default_rng(seed)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.05, 200)))
    lt = rng.uniform(0.5, 0.9, 200)
    population = Population.spread(100.0, 8_000, 40, 0.3, 1.0)
    got = simulate(prices, lt, population, delay, slippage)
    bad, liquidated, count = brute_force(prices, lt, population, delay, slippage)
    assert got.bad_debt == pytest.approx(bad, abs=1e-12)
    assert got.liquidated == pytest.approx(liquidated, abs=1e-12)
    assert got.liquidations == count


def test_static_baseline_is_aave_v3_weth():
    p = aave_v3("ETH")
    assert p.params == Params(8_050, 8_300, 500)
    with pytest.raises(ConfigError, match="no Aave v3 Ethereum collateral parameters for DOGE"):
        aave_v3("DOGE")


def test_black_thursday_dynamic_has_less_bad_debt():
    eth = shipped("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")
    out = replay(
        eth,
        aave_v3("ETH"),
        BacktestSettings(),
        ts("2020-03-01T00:00:00"),
        ts("2020-04-01T00:00:00"),
    ).summary
    dyn, sta = out["dynamic"], out["static"]
    assert sta["bad_debt"] > 0 and dyn["bad_debt"] < sta["bad_debt"]
    assert dyn["min_lt_bps"] < sta["min_lt_bps"] and dyn["updates"] > 0
    assert dyn["path"][0]["timestamp"] == "2020-03-01T00:00:00Z"
    # The price of safety: a lower LTV on average than the static market allows.
    assert dyn["mean_ltv_bps"] < sta["mean_ltv_bps"]


@pytest.fixture
def eth_csv(tmp_path):
    """The shipped ETH/USDT bars as a plain CSV, as a user would pass them."""
    csv = tmp_path / "eth.csv"
    csv.write_bytes(gzip.decompress((DATA_DIR / "ohlcv/1h/ETHUSDT.csv.gz").read_bytes()))
    return csv


def backtest_cli(csv, *args, check=True):
    """`oracle backtest CSV --asset ETH ARGS…` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "oracle.cli", "backtest", str(csv), "--asset", "ETH", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def test_cli_json(eth_csv):
    csv = eth_csv
    out = backtest_cli(csv, "--start", "2020-03-05", "--end", "2020-03-20", "--json")
    result = json.loads(out.stdout)
    for side in ("dynamic", "static"):
        for key in (
            "bad_debt",
            "liquidated",
            "mean_ltv_bps",
            "min_ltv_bps",
            "min_lt_bps",
            "updates",
        ):
            assert key in result[side]
    assert set(result["dynamic"]["path"][0]) == {
        "timestamp",
        "ltv_bps",
        "lt_bps",
        "lb_bps",
        "lt_in_force_bps",
    }
    assert result["scenario"] == "reference"  # the default lending market
    bad = backtest_cli(csv, "--static", "80,nope", check=False)
    assert bad.returncode == 1 and "--static" in bad.stderr


def test_cli_table_and_html_report(eth_csv, tmp_path):
    csv = eth_csv
    report = tmp_path / "out" / "bt.html"
    out = backtest_cli(csv, "--start", "2020-03-05", "--end", "2020-03-20", "--report", str(report))
    assert "dynamic" in out.stdout and "static" in out.stdout
    assert f"report written to {report}" in out.stdout
    page = report.read_text()
    assert page.count('<img alt="') == 5 and page.count("data:image/png;base64,") == 5
    for title in ("Price", "Volatility", "LTV and LT", "Liquidated", "Bad debt"):
        assert f"<h2>{title}" in page


def test_the_backtester_reads_the_parameters_in_force_as_the_registry_does():
    # Each bar's LT and LTV are what the registry's mirror reads at that time from the last state
    # written at or before it: ramps included, to the basis point.
    eth = shipped("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")
    start, end = ts("2020-03-10T00:00:00"), ts("2020-03-16T00:00:00")
    # Threshold cuts not held back by the open positions' exposure, so the window holds ramps.
    s = BacktestSettings(policy=PolicySettings(max_induced_share=1.0))
    path = dynamic_path(eth, start, end, s)
    assert any(state.ramp_end for _, state in path)  # the window holds ramps
    bars = eth.timestamps[(eth.timestamps >= start) & (eth.timestamps < end)]
    lt, ltv, _ = _in_force_per_bar(bars, path)
    times = [t for t, _ in path]
    for i, t in enumerate(bars):
        state = path[max(bisect.bisect_right(times, int(t)) - 1, 0)][1]
        read = state.in_force(int(t))
        assert round(lt[i] * BPS) == read.liquidation_threshold_bps and ltv[i] == read.ltv_bps


def test_cli_reference_scenario_and_a_path_readable_bar_by_bar(eth_csv):
    out = backtest_cli(
        eth_csv, "--start", "2020-02-27", "--end", "2020-03-21", "--scenario", "reference", "--json"
    )
    result = json.loads(out.stdout)
    assert result["scenario"] == "reference"
    for side in ("dynamic", "static"):
        assert {"bad_debt", "liquidated", "param_liquidated", "mean_ltv_bps", "updates"} <= set(
            result[side]
        )
    assert result["static"]["param_liquidated"] == 0  # a static threshold never cuts
    path = result["dynamic"]["path"]
    # While a cut ramps in, the path holds every bar, so the LT in force is read from it alone.
    ramping = [e for e in path if e["lt_in_force_bps"] > e["lt_bps"]]
    assert ramping
    times = [e["timestamp"] for e in path]
    assert times == sorted(times) and len(set(times)) == len(times)
    first = path.index(ramping[0])
    assert path[first + 1]["lt_in_force_bps"] <= path[first]["lt_in_force_bps"]


def test_a_window_inside_a_gap_names_the_gap_and_the_default_window_runs(eth_csv):
    inside = backtest_cli(eth_csv, "--start", "2022-12-01", "--end", "2023-01-15", check=False)
    assert inside.returncode == 1
    assert (
        "holds 0 bar(s)" in inside.stderr
        and "2022-10-31T23:00:00Z .. 2023-02-25T00:00:00Z" in inside.stderr
    )
    # No --start: the last year of the data, across the Nov 2022 - Feb 2023 gap (the engine holds
    # while its 90-day history is short; the market runs on the bars that exist).
    result = json.loads(backtest_cli(eth_csv, "--json").stdout)
    assert result["window"]["start"] == "2022-04-01T00:00:00Z"
    assert result["dynamic"]["updates"] > 0


def test_cli_realistic_scenario_reads_in_dollars(eth_csv):
    out = backtest_cli(
        eth_csv, "--start", "2020-03-05", "--end", "2020-03-20", "--scenario", "realistic", "--json"
    )
    result = json.loads(out.stdout)
    assert result["scenario"] == "realistic"
    for side in ("dynamic", "static"):
        s = result[side]
        assert s["originated"] > 0 and s["borrowing_power"] > 0
        assert abs(s["bad_debt_usd"] - s["bad_debt"] * s["originated"]) <= 0.01 * s["originated"]
        assert s["penalty_usd"] >= 0 and 0 <= s["param_liquidated"] <= s["liquidated"]
    assert result["static"]["updates"] == 0 < result["dynamic"]["updates"]
