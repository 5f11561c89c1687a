"""The scorecard's rules: windows, the dominance criterion, the static grid and hindsight, and one
real window scored end to end."""

from __future__ import annotations

import json

import pytest

from oracle.backtest.baselines import aave_v3
from oracle.errors import ConfigError
from oracle.evaluation import settings as settings_file
from oracle.evaluation.scorecard import (
    dominates,
    grid,
    hindsight,
    plan,
    score_window,
    shipped_asset_bars,
    summarise,
)
from oracle.evaluation.settings import Fold
from oracle.evaluation.windows import ASSETS, CRASHES, HISTORY, asset, windows_for
from oracle.risk import ModelSettings
from oracle.types import BPS, Params
from tests.helpers.time import DAY, ts


def side(bad: float, liq: float, ltv: float) -> dict:
    return {"bad_debt": bad, "liquidated": liq, "mean_ltv_bps": ltv}


def test_dominance_criterion_edges():
    # ties count: the baseline scored against itself wins when its bad debt is immaterial
    assert dominates(side(0.00005, 0.4, 8_050), side(0.00005, 0.4, 8_050))[0]
    assert not dominates(side(0.001, 0.4, 8_050), side(0.001, 0.4, 8_050))[0]
    static = side(0.001, 0.40, 8_050)
    # bad debt above 0.01 %: the dynamic side must halve it
    assert dominates(side(0.0005, 0.40, 7_950), static)[0]
    won, misses = dominates(side(0.00051, 0.40, 7_950), static)
    assert not won and misses[0].startswith("bad debt")
    # below 0.01 %: at most the static one is enough
    assert dominates(side(0.00005, 0.40, 8_050), side(0.00005, 0.40, 8_050))[0]
    # liquidated debt may not exceed, mean LTV may be 100 bps lower, not more
    assert not dominates(side(0.0, 0.4001, 8_050), static)[0]
    won, misses = dominates(side(0.0, 0.40, 7_949), static)
    assert not won and misses == ["mean LTV 7949 < 8050 - 100"]


def test_grid_leaves_room_for_the_bonus():
    for bonus in (500, 1_000):
        points = grid(bonus)
        assert points and all(p.valid for p in points)
        assert all(p.liquidation_threshold_bps * (BPS + bonus) <= BPS * BPS for p in points)
    assert len(grid(1_000)) < len(grid(500))  # a larger bonus rules out the highest thresholds
    extra = {p.ltv_bps for p in grid(500, 5_419.0)} - {p.ltv_bps for p in grid(500)}
    assert extra == {5_450}


def test_hindsight_is_the_best_static_at_the_dynamic_borrowing_power():
    frontier = [
        {
            "ltv_bps": 6_000,
            "lt_bps": 8_000,
            "liquidated": 0.1,
            "bad_debt": 0.0,
            "mean_ltv_bps": 6_000,
        },
        {
            "ltv_bps": 7_000,
            "lt_bps": 7_500,
            "liquidated": 0.5,
            "bad_debt": 0.0,
            "mean_ltv_bps": 7_000,
        },
        {
            "ltv_bps": 7_000,
            "lt_bps": 9_000,
            "liquidated": 0.2,
            "bad_debt": 0.01,
            "mean_ltv_bps": 7_000,
        },
    ]
    h = hindsight(frontier, 6_500)  # the 6000 LTV point lends less than the dynamic path
    assert h["liquidated"]["params"] == "7000/9000" and h["bad_debt"]["params"] == "7000/7500"
    assert hindsight(frontier, 7_500) == {"liquidated": None, "bad_debt": None}


def shipped_times(symbol: str):
    a = asset(symbol)
    return shipped_asset_bars(a.file, f"{symbol}/USDT").timestamps


def test_windows_start_after_the_engines_history_and_name_what_is_left_out():
    sol = shipped_times("SOL")  # 2020-08-11 06:00 .. 2022-10-31 23:00
    found, skipped = windows_for("SOL", sol)
    years = [w for w in found if w.kind == "year"]
    assert [w.name for w in years] == ["2020", "2021", "2022"]
    assert years[0].start == int(sol[0]) + HISTORY and years[-1].end == int(sol[-1]) + 3_600
    crashes = [w.name for w in found if w.kind == "crash"]
    assert crashes == ["2021-05-19 crash", "2022-05 LUNA/UST", "2022-06 stETH/3AC"]
    assert any("Black Thursday" in s for s in skipped) and any("USDC depeg" in s for s in skipped)
    black = next(c for c in CRASHES if "Black" in c.name)
    eth, _ = windows_for("ETH", shipped_times("ETH"))
    w = next(w for w in eth if w.name == black.name)
    assert w.start == black.start - 14 * DAY and w.end == black.end + 7 * DAY


def test_a_crash_inside_a_gap_of_the_data_is_not_scored():
    # Binance's USDC/USDT trades again only from 2023-03-11 14:00, mid-depeg, after five months
    # without bars: no borrower was there before the crash, so the window would say nothing.
    found, skipped = windows_for("USDC", shipped_times("USDC"))
    assert "2023-03 USDC depeg" not in [w.name for w in found]
    [why] = [s for s in skipped if "USDC depeg" in s]
    assert "bars for 0 of the 336 hours before the crash" in why
    # a year whose bars fall in a gap is left out the same way
    times = shipped_times("ETH")
    gapped = times[(times < ts("2022-10-01T00:00:00")) | (times >= ts("2023-03-25T00:00:00"))]
    _, skipped = windows_for("ETH", gapped)
    assert any(s.startswith("ETH 2023: 7 day(s) of bars") for s in skipped)


def test_plan_baselines_and_walk_forward_settings(tmp_path):
    tasks, _ = plan(["SOL"], None, {}, kinds=("crash",))
    assert {t.static.source for t in tasks} == {
        "Aave v3 Ethereum LINK, 2023-10-31 (stand-in: Aave lists SOL nowhere)"
    }
    tasks, _ = plan(["SOL"], None, {"SOL": Params(5_000, 6_000, 1_000)}, kinds=("crash",))
    assert {t.static.source for t in tasks} == {"--static"} and len(tasks) == 3
    with pytest.raises(ConfigError, match="no shipped data for 'DOGE'"):
        plan(["DOGE"], None, {})
    assert {a.symbol for a in ASSETS} == {"BTC", "ETH", "LINK", "SOL", "UNI", "AAVE", "USDC"}
    # each window runs the fold valid at its start, or the defaults before the first fold
    folds = [Fold(ts("2022-01-01T00:00:00"), ts("2022-01-01T00:00:00"), {"ltv_z": 2.0}, {})]
    loaded = settings_file.write(tmp_path / "s.json", folds, {})
    tasks, _ = plan(["ETH"], loaded, {})
    by_name = {t.window.name: t for t in tasks}
    assert by_name["2021"].settings_label.startswith("code defaults")
    assert by_name["2021"].settings.model.ltv_z == ModelSettings().ltv_z
    assert by_name["2022"].settings.model.ltv_z == 2.0
    assert by_name["2022-05 LUNA/UST"].settings_label.startswith("fold from 2022-01-01")


def test_a_real_crash_window_end_to_end():
    tasks, _ = plan(["ETH"], None, {}, kinds=("crash",))
    task = next(t for t in tasks if "Black Thursday" in t.window.name)
    row = score_window(task)
    json.dumps(row)  # the row travels from a worker and into --json
    assert row["static_source"].startswith("Aave v3 Ethereum WETH")
    assert row["settings"].startswith("code defaults")
    d, s = row["dynamic"], row["static"]
    assert s["mean_ltv_bps"] == aave_v3("ETH").params.ltv_bps
    assert 0 <= d["param_liquidated"] <= d["liquidated"] <= 1
    assert row["dominates"] == dominates(d, s)[0] and bool(row["misses"]) != row["dominates"]
    # the frontier holds every grid point, and the hindsight choice is on it
    assert len(row["frontier"]) == len(grid(500, d["mean_ltv_bps"]))
    h = row["hindsight"]["liquidated"]
    # measured at the dynamic path's borrowing power: the grid holds its LTV rounded up to 50
    assert d["mean_ltv_bps"] <= h["mean_ltv_bps"] < d["mean_ltv_bps"] + 50
    # Black Thursday: the static baseline leaves bad debt; liquidation events are dated
    assert s["bad_debt"] > 0 and s["liquidation_days"][0][0].startswith("2020-")
    summary = summarise([row])
    assert summary["windows"] == 1
    # Black Thursday leaves static bad debt above 0.01 %: the baseline cannot win it by a tie
    assert summary["static_against_itself"] == 0
