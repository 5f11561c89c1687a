"""Correlation and portfolio stress: margin for a basket of long and short positions, netting what
moves together.

  - EWMA covariance of one-bar log returns (RiskMetrics, the same λ_bar as the volatility module):
  C_t = λ·C_{t-1} + (1−λ)·r_{t-1} r_{t-1}ᵀ, started from the sample covariance of the first 30 bars.
  Scaled to the horizon: C_H = H · C.
- A SPAN-like scenario grid over the horizon, each scenario a vector of log moves, one per asset:
    * price scans: asset i moves by k·σ_i (k in `scan_sigmas`, both signs) and every other asset by
    its regression on i, C_ji/C_ii · k·σ_i — one asset leads, the others follow by correlation —
    under the covariance scaled by each volatility factor (`vol_factors`, e.g. 0.7 for vol down and
    1.5 for vol up);
    * historical joint stress: the `stress_count` worst and best H-bar joint moves of the
    equal-weight basket in the data (e.g. 12 March 2020), taken as they happened, correlations and
    all.
  - portfolio_margin(positions) = max(0, max over scenarios of −Σ_i n_i·(e^{m_i} − 1)), with n_i the
  signed notional in the debt asset (long > 0, short < 0). Correlated legs offset in each scenario,
  so a hedged basket needs less than the sum of its legs; a scenario where everything falls together
  needs at least as much as the legs' losses add up to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from oracle.errors import RiskInputError
from oracle.risk.volatility import WARMUP, log_returns
from oracle.series import PriceSeries, iso


@dataclass(frozen=True)
class ReturnPanel:
    """One-bar log returns of several assets on their common bars (rows: bars, columns: assets)."""

    assets: tuple[str, ...]
    timestamps: np.ndarray  # bar of each return
    returns: np.ndarray  # (T, N)
    interval: int

    @classmethod
    def from_series(cls, series: Sequence[PriceSeries]) -> ReturnPanel:
        if not series:
            raise RiskInputError("(portfolio)", "no assets given")
        common = series[0].timestamps
        for s in series[1:]:
            common = np.intersect1d(common, s.timestamps, assume_unique=True)
        if len(common) < WARMUP + 2:
            raise RiskInputError("(portfolio)", f"only {len(common)} common bars across the assets")
        aligned = []
        for s in series:
            idx = np.searchsorted(s.timestamps, common)
            aligned.append(PriceSeries(s.market, common, s.close[idx]))
        returns = np.column_stack([log_returns(a) for a in aligned])
        return cls(tuple(s.market for s in series), common[1:], returns, aligned[0].interval)


def ewma_covariance(returns: np.ndarray, lam: float) -> np.ndarray:
    """RiskMetrics EWMA covariance after the last bar (see module docstring)."""
    cov = np.cov(returns[:WARMUP].T, bias=True).reshape(returns.shape[1], returns.shape[1])
    weights = (1.0 - lam) * lam ** np.arange(len(returns) - 1, -1, -1, dtype=np.float64)
    # Closed form of the recursion: C_T = λ^T·C_0 + Σ_t (1−λ)·λ^(T−1−t)·r_t r_tᵀ.
    return lam ** len(returns) * cov + (returns * weights[:, None]).T @ returns


@dataclass(frozen=True)
class ScenarioGrid:
    assets: tuple[str, ...]
    moves: np.ndarray  # (S, N) log moves over the horizon
    labels: tuple[str, ...]


@dataclass(frozen=True)
class MarginResult:
    requirement: float  # in the debt asset
    worst_scenario: str
    scenario_losses: np.ndarray


def scenario_grid(
    panel: ReturnPanel,
    lam: float,
    horizon_bars: int,
    scan_sigmas: Sequence[float] = (1.0, 2.0, 3.0),
    vol_factors: Sequence[float] = (0.7, 1.0, 1.5),
    stress_count: int = 5,
    include_history: bool = True,
) -> ScenarioGrid:
    cov = ewma_covariance(panel.returns, lam) * horizon_bars
    n = len(panel.assets)
    moves, labels = [], []
    for factor in vol_factors:
        scaled = cov * factor * factor
        for i, asset in enumerate(panel.assets):
            sigma_i = float(np.sqrt(scaled[i, i]))
            if sigma_i == 0:
                continue
            beta = scaled[:, i] / scaled[i, i]
            for k in scan_sigmas:
                for sign in (-1.0, 1.0):
                    moves.append(beta * sign * k * sigma_i)
                    labels.append(f"scan {asset} {sign * k:+.0f}σ, vol×{factor}")
    if include_history:
        if len(panel.returns) <= horizon_bars:
            raise RiskInputError(
                "(portfolio)", "history shorter than the horizon: no joint stress moves"
            )
        csum = np.vstack([np.zeros(n), np.cumsum(panel.returns, axis=0)])
        windows = csum[horizon_bars:] - csum[:-horizon_bars]  # (T−H+1, N)
        basket = windows.mean(axis=1)
        order = np.argsort(basket, kind="stable")
        picks = list(order[:stress_count]) + list(order[::-1][:stress_count])
        for j in picks:
            moves.append(windows[j])
            labels.append(f"history {iso(panel.timestamps[j])} (+{horizon_bars} bars)")
    return ScenarioGrid(panel.assets, np.array(moves), tuple(labels))


def portfolio_margin(positions: Mapping[str, float], grid: ScenarioGrid) -> MarginResult:
    """Worst scenario loss of signed notionals (debt-asset units; long > 0, short < 0), floored at
    zero."""
    unknown = set(positions) - set(grid.assets)
    if unknown:
        raise RiskInputError("(portfolio)", f"no scenarios for {sorted(unknown)}")
    notional = np.array([float(positions.get(a, 0.0)) for a in grid.assets])
    if not np.isfinite(notional).all():
        raise RiskInputError("(portfolio)", "position notionals must be finite")
    losses = -(np.expm1(grid.moves) @ notional)
    worst = int(np.argmax(losses))
    return MarginResult(max(0.0, float(losses[worst])), grid.labels[worst], losses)
