"""Sixteen joint stress scenarios per asset set, for portfolio margin on-chain (scenario set
`span16-v1`).

A risk array must be the same 16 rows for every asset, whatever the number of assets, so that the
contract can add positions row by row: row s of every asset is one joint move of the whole market.
The rows, over the margin horizon H (log moves, turned into simple moves at the end):

  - rows 0-5, the main directions of the covariance: the EWMA covariance of one-bar returns
  (`portfolio.ewma_covariance`), its volatility in every direction raised to at least
  `long_run_floor` of the long-run value in that direction, times H, is diagonalised; rows 0/1
  are the first principal component (the market factor: everything falls or rises together) at
  −z and +z of its standard deviation, rows 2/3 and 4/5 the second and third (e.g. BTC against
  the rest, DeFi against layer 1s). z is the Student-t quantile at `confidence` with `dof`
  degrees of freedom, scaled to unit variance, so a row is as far out as the design level of a
  fat-tailed move.
  Row 0 is the one where the equal-weight basket falls.
- rows 6-13, history: the 8 most extreme joint H-bar moves of the shipped past (the 4 worst and 4
  best of the equal-weight basket), each asset's move measured in units of its own EWMA volatility
  at the time and re-scaled to its volatility now (filtered historical simulation), and at least
  H bars apart, so eight distinct episodes. They carry what the normal ellipsoid misses:
  correlations going to one in a crash, and the size of real jumps.
- rows 14/15, SPAN's extreme moves: the market rows at 3 times their size, counted at 35 %
  (`ROW_WEIGHT_PCT`), for the damped far tail.

The rows span the top three directions only; what they miss of each asset's variance (its
residual) becomes the asset's floor, `1 − e^(−z·σ_residual)`, at least `min_floor`: a position
hedged against every row still needs its idiosyncratic risk covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

from oracle.errors import RiskInputError
from oracle.risk.portfolio import ReturnPanel, ewma_covariance
from oracle.series import iso

#: The scenario set these rows define; a change of what any row means is a new set.
SCENARIO_SET_NAME = "span16-v1"
ROWS = 16
PRINCIPAL_ROWS = 6
#: Rows 0/1, 2/3, 4/5 are ± orthogonal factors: the contract takes the norm of a book's losses over
#: rows 0, 2, 4 (its elliptical risk in their span), not only their largest.
FACTOR_PAIRS = PRINCIPAL_ROWS // 2
HISTORY_ROWS = 8
EXTREME_FACTOR = 3.0
#: Weight of each row's loss in percent: the two extreme rows at SPAN's 35 %.
ROW_WEIGHT_PCT: tuple[int, ...] = (100,) * 14 + (35, 35)


@dataclass(frozen=True)
class ScenarioSettings:
    """What the scenario rows are computed with. The defaults are fixed a priori (99 % design
    level, ν = 4 as for single-asset tails, the volatility module's RiskMetrics λ), not fitted."""

    horizon_bars: int = 24
    confidence: float = 0.99
    dof: float = 4.0
    lam: float = 0.94 ** (1 / 24)  # per hourly bar: RiskMetrics' daily 0.94
    long_run_bars: int = 24 * 90
    long_run_floor: float = 0.6
    min_floor: float = 0.005

    def __post_init__(self) -> None:
        if self.horizon_bars < 1 or not 0.5 < self.confidence < 1 or self.dof <= 2:
            raise RiskInputError("(scenarios)", "horizon ≥ 1 bar, confidence in (0.5, 1), dof > 2")
        if not 0 < self.lam < 1 or self.long_run_bars < 2 or not 0 <= self.min_floor < 1:
            raise RiskInputError("(scenarios)", "λ in (0, 1), long-run window ≥ 2, floor in [0, 1)")

    @property
    def z(self) -> float:
        """Student-t quantile at the design level, scaled to unit variance."""
        return float(stdtrit(self.dof, self.confidence) * np.sqrt((self.dof - 2) / self.dof))


@dataclass(frozen=True)
class RiskArrays:
    """The 16 joint rows for a set of assets: simple moves (−0.3 is −30 %) per asset and row, the
    floor per asset, and what each row is."""

    assets: tuple[str, ...]
    moves: np.ndarray  # (N, 16)
    floors: np.ndarray  # (N,)
    labels: tuple[str, ...]
    explained: tuple[float, ...]  # share of total variance of the first three components


def _floored_covariance(panel: ReturnPanel, s: ScenarioSettings) -> np.ndarray:
    """EWMA covariance whose volatility in every direction (every book, not only each asset) is
    at least `long_run_floor` of its long-run value: C + (L − C)⁺, with L the long-run covariance
    scaled by the floor squared and (·)⁺ the positive semidefinite part. Then x'Mx ≥ x'Cx and
    x'Mx ≥ x'Lx for every book x. A per-asset floor alone leaves a spread whose legs moved
    together of late margined on its calm weeks, and the cheapest book on the rows is exactly
    such a spread: the smallest eigenvalue of a short window is the one most biased low."""
    cov = ewma_covariance(panel.returns, s.lam)
    recent = panel.returns[-s.long_run_bars :]
    long_run = s.long_run_floor**2 * (recent.T @ recent) / len(recent)
    gap_values, gap_vectors = np.linalg.eigh(long_run - cov)
    excess = (gap_vectors * np.clip(gap_values, 0, None)) @ gap_vectors.T
    return cov + (excess + excess.T) / 2


def _ewma_sigmas(returns: np.ndarray, lam: float) -> np.ndarray:
    """Per bar and asset, the EWMA volatility known before that bar's return."""
    from scipy.signal import lfilter

    sq = returns**2
    seed = np.mean(sq[: min(len(sq), 30)], axis=0)
    out = np.empty_like(sq)
    out[0] = seed
    filtered, _ = lfilter([1.0 - lam], [1.0, -lam], sq[:-1], axis=0, zi=lam * seed[None, :])
    out[1:] = filtered
    return np.sqrt(np.maximum(out, 1e-18))


def _history_rows(
    panel: ReturnPanel, s: ScenarioSettings, sigma_now: np.ndarray
) -> tuple[list[np.ndarray], list[str]]:
    """The `HISTORY_ROWS` most extreme devolatilised H-bar basket moves, distinct episodes."""
    h = s.horizon_bars
    if len(panel.returns) <= h:
        raise RiskInputError("(scenarios)", "history shorter than the horizon: no stress moves")
    sig = _ewma_sigmas(panel.returns, s.lam)
    z = panel.returns / sig  # each return in units of the volatility known before it
    csum = np.vstack([np.zeros(z.shape[1]), np.cumsum(z, axis=0)])
    windows = csum[h:] - csum[:-h]  # (T−H+1, N): H-bar moves in bar-σ units
    basket = windows.mean(axis=1)
    order = np.argsort(basket, kind="stable")
    rows, labels = [], []
    for picks, kind in ((order, "fall"), (order[::-1], "rise")):
        chosen: list[int] = []
        for j in picks:
            if all(abs(int(j) - c) >= h for c in chosen):
                chosen.append(int(j))
            if len(chosen) == HISTORY_ROWS // 2:
                break
        for j in chosen:
            rows.append(windows[j] * sigma_now)
            labels.append(f"history {kind} from {iso(int(panel.timestamps[j]))}, re-scaled")
    while len(rows) < HISTORY_ROWS:  # a short history: fill with no move
        rows.append(np.zeros(len(panel.assets)))
        labels.append("history (none: too short)")
    return rows, labels


def risk_arrays(panel: ReturnPanel, settings: ScenarioSettings | None = None) -> RiskArrays:
    """The 16 rows and the floors for the panel's assets (see the module docstring)."""
    s = settings or ScenarioSettings()
    if not np.isfinite(panel.returns).all():
        raise RiskInputError("(scenarios)", "returns must be finite")
    n = len(panel.assets)
    cov = _floored_covariance(panel, s) * s.horizon_bars
    eigenvalues, vectors = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = np.clip(eigenvalues[order], 0, None), vectors[:, order]
    z = s.z
    rows: list[np.ndarray] = []
    labels: list[str] = []
    for k in range(PRINCIPAL_ROWS // 2):
        if k < n:
            v = vectors[:, k] * np.sqrt(eigenvalues[k])
            if v.sum() > 0:  # the first row of each pair is the one where the basket falls
                v = -v
        else:
            v = np.zeros(n)
        share = eigenvalues[k] / eigenvalues.sum() if k < n and eigenvalues.sum() > 0 else 0.0
        for sign, word in ((1.0, "−"), (-1.0, "+")):
            rows.append(sign * z * v)
            labels.append(f"component {k + 1} ({share:.0%} of variance) at {word}{z:.2f}σ")
    sigma_now = np.sqrt(np.diag(cov) / s.horizon_bars)
    history, history_labels = _history_rows(panel, s, sigma_now)
    rows += history
    labels += history_labels
    for base, word in ((rows[0], "fall"), (rows[1], "rise")):
        rows.append(EXTREME_FACTOR * base)
        labels.append(f"extreme market {word}: 3× row {0 if word == 'fall' else 1}, at 35 %")
    log_moves = np.column_stack(rows)  # (N, 16)
    k = min(PRINCIPAL_ROWS // 2, n)
    spanned = (vectors[:, :k] ** 2) @ eigenvalues[:k]
    residual = np.sqrt(np.clip(np.diag(cov) - spanned, 0, None))
    floors = np.maximum(-np.expm1(-z * residual), s.min_floor)
    total = eigenvalues.sum()
    explained = tuple(float(e / total) if total > 0 else 0.0 for e in eigenvalues[:3])
    return RiskArrays(panel.assets, np.expm1(log_moves), floors, tuple(labels), explained)
