"""`oracle calibrate`: a seeded search of model and policy settings on training windows only,
written as walk-forward folds to a versioned settings file (`oracle.evaluation.settings`).

Folds. For every calendar year Y from the third year of data on, a fold valid from 1 January Y is
searched on the year windows of the `train_years` calendar years before Y (every asset). A last
fold, valid from the day after the data ends, is searched on the windows of that year and the
`train_years` before it that end by then: the keeper runs it. `oracle evaluate --settings` scores
each window with the fold valid at its start, so no window is scored with settings that saw it.

Candidates. The code's defaults, then `candidates − 1` points of a Latin hypercube over `SPACE`
drawn with `seed` (scipy.stats.qmc): the same seed gives the same candidates, and since every
candidate is scored on every training window and ranked by a total order, the same file, on one
process or on any cluster.

Objective (declared in the file, `OBJECTIVE`). On a fold's training windows, with the static
baseline (Aave v3's parameters, or `--static`) in the same reference market: first, the most
windows the dynamic path dominates by the scorecard's own criterion (`scorecard.dominates`), so the
search aims at what `evaluate` scores. Then a candidate is *admissible* when its mean bad debt and
its mean liquidated debt over the windows are no higher than the baseline's; among admissible
candidates the highest mean LTV wins (then the least debt liquidated by parameter cuts); among the
others the smallest excess (liquidated excess + 10 × bad-debt excess); last, the lowest index. The
defaults are candidate 0, so a fold never scores below them on its own training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy.stats import qmc

from oracle.backtest.baselines import StaticParameters
from oracle.backtest.runner import BacktestSettings, replay
from oracle.errors import ConfigError
from oracle.evaluation import scorecard
from oracle.evaluation.cluster import Engine
from oracle.evaluation.scorecard import dominates, shipped_asset_bars
from oracle.evaluation.settings import Fold, apply
from oracle.evaluation.windows import Window, asset, cost, year_start
from oracle.types import Params

#: The searched settings: "owner.field" -> (low, high, type). Owner "model" is ModelSettings,
#: "policy" PolicySettings. The ranges bracket the defaults (README "The model").
SPACE: dict[str, tuple[float, float, type]] = {
    "model.confidence": (0.95, 0.995, float),
    "model.ltv_z": (0.5, 2.5, float),
    "model.ltv_buffer": (24 * 3_600, 72 * 3_600, int),
    "model.ltv_fall_quantile": (0.5, 0.95, float),
    "model.memory_confidence": (0.9, 0.995, float),
    "model.base_horizon": (3 * 3_600, 48 * 3_600, int),
    "model.long_run_floor": (0.3, 1.0, float),
    "policy.loosen_after_cycles": (1, 12, int),
}
OBJECTIVE = (
    "most training windows where the dynamic path dominates the static baseline (the scorecard's "
    "criterion, reference market); then admissible before not (mean bad debt and mean liquidated "
    "debt over the windows <= the baseline's); admissible: highest mean LTV, then least debt "
    "liquidated by parameter cuts; not admissible: least liquidated excess + 10 x bad-debt "
    "excess, then highest mean LTV; then the lowest candidate index"
)
BAD_DEBT_WEIGHT = 10.0


def candidates(n: int, seed: int) -> list[dict[str, dict[str, Any]]]:
    """Candidate 0 is the defaults ({} overrides); the rest a seeded Latin hypercube over SPACE."""
    if n < 1:
        raise ConfigError("--candidates", "need at least 1 candidate")
    out: list[dict[str, dict[str, Any]]] = [{"model": {}, "policy": {}}]
    if n == 1:
        return out
    points = qmc.LatinHypercube(d=len(SPACE), seed=seed).random(n - 1)
    for row in points:
        c: dict[str, dict[str, Any]] = {"model": {}, "policy": {}}
        for u, (name, (low, high, kind)) in zip(row, SPACE.items(), strict=True):
            owner, key = name.split(".")
            value = low + float(u) * (high - low)
            c[owner][key] = round(value) if kind is int else round(value, 4)
        out.append(c)
    return out


@dataclass(frozen=True)
class Trial:
    """One candidate on one training window: a task for the cluster."""

    candidate: int
    overrides: dict[str, dict[str, Any]]
    window: Window
    file: str
    static: StaticParameters


def trial_cost(t: Trial) -> float:
    return cost(t.window)


def run_trial(t: Trial) -> dict[str, float]:
    bars = shipped_asset_bars(t.file, f"{t.window.asset}/USDT")
    s = apply(t.overrides, BacktestSettings())
    out = replay(bars.series, t.static, s, t.window.start, t.window.end, "reference", bars).summary
    d, st = out["dynamic"], out["static"]
    return {
        "dominates": float(dominates(d, st)[0]),
        "bad_debt": d["bad_debt"],
        "liquidated": d["liquidated"],
        "param_liquidated": d["param_liquidated"],
        "mean_ltv_bps": d["mean_ltv_bps"],
        "static_bad_debt": st["bad_debt"],
        "static_liquidated": st["liquidated"],
        "static_mean_ltv_bps": st["mean_ltv_bps"],
    }


def rank(scores: list[list[dict[str, float]]]) -> tuple[int, list[dict[str, Any]]]:
    """The winning candidate and every candidate's aggregate (see OBJECTIVE); `scores[c]` holds
    candidate c's trial results."""
    table = []
    for c, trials in enumerate(scores):

        def mean(key: str, trials: list[dict[str, float]] = trials) -> float:
            return float(np.mean([t[key] for t in trials]))

        liq_excess = mean("liquidated") - mean("static_liquidated")
        bad_excess = mean("bad_debt") - mean("static_bad_debt")
        table.append(
            {
                "candidate": c,
                "dominated": int(sum(t["dominates"] for t in trials)),
                "admissible": liq_excess <= 0 and bad_excess <= 0,
                "mean_ltv_bps": round(mean("mean_ltv_bps"), 1),
                "static_mean_ltv_bps": round(mean("static_mean_ltv_bps"), 1),
                "liquidated": round(mean("liquidated"), 6),
                "static_liquidated": round(mean("static_liquidated"), 6),
                "bad_debt": round(mean("bad_debt"), 6),
                "static_bad_debt": round(mean("static_bad_debt"), 6),
                "param_liquidated": round(mean("param_liquidated"), 6),
                "excess": round(max(0.0, liq_excess) + BAD_DEBT_WEIGHT * max(0.0, bad_excess), 6),
            }
        )

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        if row["admissible"]:
            rest: tuple[Any, ...] = (0, -row["mean_ltv_bps"], row["param_liquidated"])
        else:
            rest = (1, row["excess"], -row["mean_ltv_bps"])
        return (-row["dominated"], *rest, row["candidate"])

    best = min(table, key=key)
    return int(best["candidate"]), table


@dataclass(frozen=True)
class FoldPlan:
    valid_from: int
    windows: tuple[tuple[Window, str, StaticParameters], ...]


def fold_plans(
    symbols: list[str],
    statics: dict[str, Params],
    train_years: int,
    years: list[int] | None = None,
) -> tuple[list[FoldPlan], list[str]]:
    """Each fold's start and training windows (see the module docstring); and what was left out."""
    tasks, _ = scorecard.plan(symbols, None, statics, kinds=("year",))  # the scorecard's windows
    per_asset = [(t.window, t.file, t.static) for t in tasks]
    if not per_asset:
        raise ConfigError("--assets", "no year window of these assets to calibrate on")
    skipped: list[str] = []
    last_bar = max(
        int(shipped_asset_bars(asset(x).file, f"{asset(x).symbol}/USDT").timestamps[-1])
        for x in symbols
    )
    first_year = min(int(w.name) for w, _, _ in per_asset)
    live = (last_bar // 86_400 + 1) * 86_400
    chosen_years = sorted(set(years)) if years else range(first_year + 2, _last_year(last_bar) + 1)
    starts = [year_start(y) for y in chosen_years]
    late = [y for y in chosen_years if year_start(y) >= live]
    if late:
        raise ConfigError(
            "--folds",
            f"{late[0]}: the data ends {datetime.fromtimestamp(last_bar, UTC):%Y-%m-%d}; the fold "
            "after it is the keeper's and always searched",
        )
    plans = []
    for valid_from in [*starts, live]:
        since = _last_year(valid_from) - train_years  # the first calendar year trained on
        chosen = tuple(x for x in per_asset if x[0].end <= valid_from and int(x[0].name) >= since)
        if chosen:
            plans.append(FoldPlan(valid_from, chosen))
        else:
            skipped.append(
                f"fold from {datetime.fromtimestamp(valid_from, UTC):%Y-%m-%d}: no "
                "training window ends before it"
            )
    return plans, skipped


def _last_year(t: int) -> int:
    return datetime.fromtimestamp(t, UTC).year


def calibrate(plans: list[FoldPlan], n: int, seed: int, eng: Engine) -> list[Fold]:
    """Searches every fold. Each (candidate, window) runs once, in one map over the cluster, even
    when folds share training windows (the keeper's fold shares the last year's)."""
    cands = candidates(n, seed)
    unique: dict[tuple[int, str], Trial] = {}
    for plan in plans:
        for w, file, static in plan.windows:
            for c, overrides in enumerate(cands):
                unique.setdefault((c, w.key), Trial(c, overrides, w, file, static))
    ran = eng.map(run_trial, list(unique.values()), cost=trial_cost)
    results = dict(zip(unique, ran, strict=True))
    folds = []
    for plan in plans:
        per_candidate = [[results[(c, w.key)] for w, _, _ in plan.windows] for c in range(n)]
        best, table = rank(per_candidate)
        folds.append(
            Fold(
                valid_from=plan.valid_from,
                trained_until=max(w.end for w, _, _ in plan.windows),
                model=cands[best]["model"],
                policy=cands[best]["policy"],
                training=tuple(w.key for w, _, _ in plan.windows),
                score={"chosen": best, "backtests": len(unique), "candidates": table},
            )
        )
    return folds


def search_description(
    symbols: list[str], n: int, seed: int, train_years: int, statics: dict[str, Params]
) -> dict[str, Any]:
    """What goes into the file's `search` section: enough to re-run it (not where it ran)."""
    return {
        "engine": "dask.distributed",
        "method": "defaults + seeded Latin hypercube (scipy.stats.qmc)",
        "seed": seed,
        "candidates": candidates(n, seed),
        "space": {k: [lo, hi, kind.__name__] for k, (lo, hi, kind) in SPACE.items()},
        "objective": OBJECTIVE,
        "scenario": "reference",
        "assets": symbols,
        "train_years": train_years,
        "statics": {k: str(v) for k, v in sorted(statics.items())},
    }
