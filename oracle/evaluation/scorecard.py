"""The walk-forward scorecard: in every window, the dynamic path against a static baseline and
against the best static choice in hindsight.

Per window (`score_window`, one task for the distributed engine):

- the dynamic side: the product's engine and policy on the window, with the settings of the
  settings file's fold valid at the window's start (walk-forward: trained only on data before it),
  or the code's defaults when no fold is valid yet;
- the static side: Aave v3's parameters for the asset (`--static` where Aave lists it nowhere);
- the static grid: every (LTV, LT) of `grid()` held for the whole window, with the baseline's
  bonus. It gives the frontier (liquidated debt against borrowing power) and the best static in
  hindsight: the lowest liquidated debt, and separately the lowest bad debt, that any static
  choice reaches at no less than the dynamic path's mean LTV. No real protocol could pick it in
  advance; it bounds what any parameter choice could have done.

A window is *dominated* (the dynamic side wins it) when the dynamic bad debt is at most the static
one (at most half of it where the static one exceeds 0.01 % of debt), the dynamic liquidated debt at
most the static one, and the dynamic mean LTV at least the static one minus 100 bps (`dominates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from oracle.backtest.baselines import StaticParameters, aave_v3
from oracle.backtest.runner import BacktestSettings, market_side, replay
from oracle.evaluation.settings import SettingsFile, backtest_settings
from oracle.evaluation.windows import Asset, Window, asset, windows_for
from oracle.feeds.marketdata import Bars, shipped_bars
from oracle.types import BPS, Params

#: Where a static bad debt counts as material: above it the dynamic side must halve it.
MATERIAL_BAD_DEBT = 0.0001
#: How much lower the dynamic mean LTV may be and still count as the same borrowing power.
LTV_TOLERANCE_BPS = 100
#: The static grid: LTVs, and the LT's distance above the LTV.
GRID_LTV_BPS = tuple(range(1_000, 9_001, 500))
GRID_GAP_BPS = (250, 500, 1_000, 2_000)
MAX_GRID_LT_BPS = 9_500


def grid(bonus_bps: int, at_ltv: float | None = None) -> list[Params]:
    """Static (LTV, LT) pairs of the grid whose LT leaves room for the bonus (LT·(1+LB) ≤ 1).
    `at_ltv`: the dynamic path's mean LTV, rounded up to 50 bps, is added to the grid's LTVs, so
    the hindsight choice is measured at the dynamic path's borrowing power, not up to 499 bps
    above it."""
    ltvs = set(GRID_LTV_BPS)
    if at_ltv is not None:
        ltvs.add(min(MAX_GRID_LT_BPS - GRID_GAP_BPS[0], int(-(-at_ltv // 50) * 50)))
    out = []
    for ltv in sorted(ltvs):
        for gap in GRID_GAP_BPS:
            lt = ltv + gap
            if lt <= MAX_GRID_LT_BPS and lt * (BPS + bonus_bps) <= BPS * BPS:
                out.append(Params(ltv, lt, bonus_bps))
    return out


def dominates(dynamic: dict[str, Any], static: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether the dynamic side wins the window, and, when it does not, each criterion it misses."""
    misses = []
    bad_cap = (
        static["bad_debt"] / 2 if static["bad_debt"] > MATERIAL_BAD_DEBT else static["bad_debt"]
    )
    if dynamic["bad_debt"] > bad_cap:
        misses.append(f"bad debt {dynamic['bad_debt']:.4%} > {bad_cap:.4%}")
    if dynamic["liquidated"] > static["liquidated"]:
        misses.append(f"liquidated {dynamic['liquidated']:.2%} > {static['liquidated']:.2%}")
    if dynamic["mean_ltv_bps"] < static["mean_ltv_bps"] - LTV_TOLERANCE_BPS:
        misses.append(
            f"mean LTV {dynamic['mean_ltv_bps']:.0f} < {static['mean_ltv_bps']:.0f} - "
            f"{LTV_TOLERANCE_BPS}"
        )
    return not misses, misses


@lru_cache(maxsize=8)
def shipped_asset_bars(file: str, market: str) -> Bars:
    """Bars of a shipped file, read once per process (a worker scores many windows of one asset)."""
    return shipped_bars(file, market)


@dataclass(frozen=True)
class WindowTask:
    """Everything one window's scoring needs; picklable, so a cluster worker can run it."""

    window: Window
    file: str
    static: StaticParameters
    settings: BacktestSettings
    settings_label: str
    scenario: str = "reference"


def score_window(task: WindowTask) -> dict[str, Any]:
    """One window's row of the scorecard (see the module docstring)."""
    w = task.window
    bars = shipped_asset_bars(task.file, f"{w.asset}/USDT")
    result = replay(
        bars.series, task.static, task.settings, w.start, w.end, task.scenario, bars
    ).summary
    dynamic, static = result["dynamic"], result["static"]
    lo, hi = np.searchsorted(bars.timestamps, [w.start, w.end])
    frontier = []
    n = hi - lo
    for p in grid(task.static.params.liquidation_bonus_bps, dynamic["mean_ltv_bps"]):
        side = market_side(
            bars,
            (int(lo), int(hi)),
            np.full(n, p.ltv_bps),
            np.full(n, p.liquidation_threshold_bps / BPS),
            np.full(n, p.liquidation_bonus_bps),
            task.scenario,
            task.settings,
        )
        frontier.append(
            {
                "ltv_bps": p.ltv_bps,
                "lt_bps": p.liquidation_threshold_bps,
                "liquidated": side["liquidated"],
                "bad_debt": side["bad_debt"],
                "mean_ltv_bps": side["mean_ltv_bps"],
            }
        )
    won, misses = dominates(dynamic, static)
    return {
        "asset": w.asset,
        "window": w.name,
        "kind": w.kind,
        "start": result["window"]["start"],
        "end": result["window"]["end"],
        "bars": result["window"]["bars"],
        "settings": task.settings_label,
        "static_source": result["static_source"],
        "static_params": str(task.static.params),
        "dynamic": dynamic,
        "static": static,
        "hindsight": hindsight(frontier, dynamic["mean_ltv_bps"]),
        "frontier": frontier,
        "on_frontier": on_frontier(dynamic, frontier),
        "static_on_frontier": on_frontier(static, frontier),
        "dominates": won,
        "misses": misses,
    }


#: The ceiling on the debt parameter cuts may liquidate in a window (issue 16).
MAX_PARAM_LIQUIDATED = 0.01


def on_frontier(side: dict[str, Any], frontier: list[dict[str, Any]]) -> bool:
    """Whether no static grid choice lending at least as much (mean LTV) does at least as well on
    both liquidated and bad debt and strictly better on one: the side is on or beyond the
    best-static-in-hindsight frontier."""
    liq, bad = side["liquidated"], side["bad_debt"]
    return not any(
        f["mean_ltv_bps"] >= side["mean_ltv_bps"]
        and f["liquidated"] <= liq
        and f["bad_debt"] <= bad
        and (f["liquidated"] < liq or f["bad_debt"] < bad)
        for f in frontier
    )


def hindsight(frontier: list[dict[str, Any]], mean_ltv_bps: float) -> dict[str, Any]:
    """The lowest liquidated debt and the lowest bad debt of static grid choices whose LTV is at
    least `mean_ltv_bps` (None when no grid LTV reaches it)."""
    feasible = [f for f in frontier if f["mean_ltv_bps"] >= mean_ltv_bps]
    if not feasible:
        return {"liquidated": None, "bad_debt": None}
    by_liq = min(feasible, key=lambda f: (f["liquidated"], f["bad_debt"]))
    by_bad = min(feasible, key=lambda f: (f["bad_debt"], f["liquidated"]))
    return {
        "liquidated": {**by_liq, "params": f"{by_liq['ltv_bps']}/{by_liq['lt_bps']}"},
        "bad_debt": {**by_bad, "params": f"{by_bad['ltv_bps']}/{by_bad['lt_bps']}"},
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Headline figures over the scored windows: how many the dynamic side wins, and the medians
    of the differences a risk council reads first."""
    if not rows:
        return {"windows": 0, "dominated": 0}

    def med(key: str) -> float:
        return float(np.median([r["dynamic"][key] - r["static"][key] for r in rows]))

    return {
        "windows": len(rows),
        "dominated": sum(r["dominates"] for r in rows),
        # The same criterion with the static side in place of the dynamic one: ties count, so
        # keeping the baseline wins every window whose static bad debt is immaterial. The line any
        # dynamic path must beat before "dominates" says more than "changes nothing".
        "static_against_itself": sum(dominates(r["static"], r["static"])[0] for r in rows),
        "on_frontier": sum(r["on_frontier"] for r in rows),
        "static_on_frontier": sum(r["static_on_frontier"] for r in rows),
        "param_liquidated_over_ceiling": sum(
            r["dynamic"]["param_liquidated"] > MAX_PARAM_LIQUIDATED for r in rows
        ),
        "max_lt_drop_7d_bps": max(r["dynamic"]["max_lt_drop_7d_bps"] for r in rows),
        "years": sum(r["kind"] == "year" for r in rows),
        "years_dominated": sum(r["dominates"] and r["kind"] == "year" for r in rows),
        "crashes": sum(r["kind"] == "crash" for r in rows),
        "crashes_dominated": sum(r["dominates"] and r["kind"] == "crash" for r in rows),
        "median_bad_debt_diff": round(med("bad_debt"), 6),
        "median_liquidated_diff": round(med("liquidated"), 6),
        "median_param_liquidated": round(
            float(np.median([r["dynamic"]["param_liquidated"] for r in rows])), 6
        ),
        "median_mean_ltv_diff_bps": round(med("mean_ltv_bps"), 1),
        "means": {k: _means([r for r in rows if r["kind"] == k]) for k in ("year", "crash")},
    }


def _means(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each side's mean over windows of the metrics the README's scorecard table quotes."""
    keys = ("bad_debt", "liquidated", "param_liquidated", "mean_ltv_bps")
    return {
        side: {k: round(float(np.mean([r[side][k] for r in rows])), 6) for k in keys}
        for side in ("dynamic", "static")
        if rows
    }


def baseline(a: Asset, statics: dict[str, Params]) -> StaticParameters:
    """The asset's static baseline: `--static` when given, else Aave v3's parameters (another
    asset's where Aave lists this one nowhere, said so in the source)."""
    if a.symbol in statics:
        return StaticParameters(statics[a.symbol], "--static")
    static = aave_v3(a.aave_symbol)
    if a.stand_in:
        return StaticParameters(
            static.params, f"{static.source} (stand-in: Aave lists {a.symbol} nowhere)"
        )
    return static


def plan(
    symbols: list[str],
    settings: SettingsFile | None,
    statics: dict[str, Params],
    scenario: str = "reference",
    kinds: tuple[str, ...] = ("year", "crash"),
    base: BacktestSettings | None = None,
) -> tuple[list[WindowTask], list[str]]:
    """The windows to score, each with its baseline and its walk-forward settings, and the ones
    left out with the reason."""
    tasks: list[WindowTask] = []
    skipped: list[str] = []
    for symbol in symbols:
        a = asset(symbol)
        static = baseline(a, statics)
        bars = shipped_asset_bars(a.file, f"{a.symbol}/USDT")
        found, left_out = windows_for(a.symbol, bars.timestamps)
        skipped.extend(left_out)
        for w in found:
            if w.kind not in kinds:
                continue
            fold = settings.fold_for(w.start) if settings is not None else None
            label = fold.label if fold is not None else "code defaults (no fold before this window)"
            tasks.append(
                WindowTask(w, a.file, static, backtest_settings(fold, base), label, scenario)
            )
    return tasks, skipped
