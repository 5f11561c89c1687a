"""Volatility estimates, all per bar of the series' own interval.

  - Log returns r_t = ln(P_t / P_{t-1}); across a gap of k bars the return is divided by √k, so
  every r_t is a one-bar return in distribution (a 38-hour gap does not look like a one-hour crash).
  - EWMA (RiskMetrics): v_t = λ_bar · v_{t-1} + (1 − λ_bar) · r²_{t-1}, with λ_bar = λ^(interval /
  period), so one λ means the same memory at any bar size; v_1 is the mean of the first min(n, 30)
  squared returns. v_t uses returns up to t−1 only: it is the forecast for bar t, which is what
  filtered historical simulation needs.
- Realized volatility over each window W: √(mean of r² over the bars in W).
- Long-run floor: κ · realized volatility over the long-run window (90 days by default).
  - σ used by the model: max(EWMA forecast, realized windows, long-run floor, GARCH, implied) — the
  most conservative, so a quiet spell never loosens parameters below the long-run level, and a jump
  is seen at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.errors import RiskInputError
from oracle.risk.inputs import ModelSettings
from oracle.risk.scratch import SCRATCH
from oracle.series import PriceSeries

SECONDS_PER_YEAR = 365 * 86_400
WARMUP = 30


def log_returns(prices: PriceSeries, out: np.ndarray | None = None) -> np.ndarray:
    """One-bar log returns; returns across gaps are scaled by 1/√(bars spanned)."""
    logs = np.log(prices.close, out=SCRATCH.get("log_close", len(prices.close)))
    out = np.subtract(logs[1:], logs[:-1], out=out)
    if not prices.gapless:
        out /= np.sqrt(np.diff(prices.timestamps) / prices.interval)
    return out


def ewma_variance(
    returns: np.ndarray,
    lam: float,
    squares: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Forecast variance for each bar and one more: out[t] uses returns[:t]; out[-1] is the next
    bar's. `squares` (returns², when the caller has them) saves a pass.

    An IIR filter (scipy's lfilter runs the recursion in C): v = λ·v_prev + (1−λ)·r²_prev.
    """
    sq = returns * returns if squares is None else squares
    v0 = float(np.mean(sq[:WARMUP]))
    if out is None:
        out = np.empty(len(returns) + 1)
    out[0] = v0
    # y[t] = λ·y[t-1] + (1−λ)·sq[t], started from y[-1] = v0, is the variance after seeing sq[t].
    from scipy.signal import lfilter  # here: scipy.signal costs 1 s to import; CLI commands
    # that never run the engine should not pay it

    out[1:], _ = lfilter([1.0 - lam], [1.0, -lam], sq, zi=[lam * v0])
    return out


def bar_lambda(settings: ModelSettings, interval: int) -> float:
    return float(settings.ewma_lambda ** (interval / settings.ewma_period))


@dataclass(frozen=True)
class VolatilityEstimate:
    """Per-bar volatilities (fractions) behind σ, and which one binds."""

    ewma: float
    realized: dict[str, float]
    long_run: float
    floor: float
    garch: float | None
    implied: float | None
    sigma: float
    binding: str

    def annualised(self, interval: int) -> float:
        return self.sigma * float(np.sqrt(SECONDS_PER_YEAR / interval))


def estimate(
    market: str,
    returns: np.ndarray,
    squares: np.ndarray,
    variance: np.ndarray,
    interval: int,
    settings: ModelSettings,
    implied_vol: float | None,
) -> VolatilityEstimate:
    """Combines the estimates into the σ the model uses (the largest; see the module docstring)."""
    candidates: dict[str, float] = {"ewma": float(np.sqrt(variance[-1]))}
    realized = {}
    for window in settings.realized_windows:
        bars = max(1, window // interval)
        realized[f"{window // 3600}h"] = float(np.sqrt(np.mean(squares[-bars:])))
    candidates.update({f"realized_{k}": v for k, v in realized.items()})
    long_bars = max(1, settings.long_run_window // interval)
    long_run = float(np.sqrt(np.mean(squares[-long_bars:])))
    floor = settings.long_run_floor * long_run
    candidates["long_run_floor"] = floor
    garch = None
    if settings.volatility_model == "garch":
        garch = garch_forecast(market, returns)
        candidates["garch"] = garch
    implied = None
    if implied_vol is not None:
        implied = implied_vol * float(np.sqrt(interval / SECONDS_PER_YEAR))
        candidates["implied"] = implied
    binding = max(candidates, key=lambda k: candidates[k])  # first of equals, in insertion order
    return VolatilityEstimate(
        ewma=candidates["ewma"],
        realized=realized,
        long_run=long_run,
        floor=floor,
        garch=garch,
        implied=implied,
        sigma=candidates[binding],
        binding=binding,
    )


def garch_forecast(market: str, returns: np.ndarray) -> float:
    """One-bar-ahead GARCH(1,1) volatility from the `arch` package (optional dependency).

    Returns are scaled to percent for the optimiser's sake and the forecast scaled back. The fit is
    a deterministic optimisation from fixed starting values, so equal inputs give equal outputs.
    """
    try:
        from arch import arch_model
    except ImportError:
        raise RiskInputError(
            market, "volatility_model 'garch' needs the optional 'arch' package (pip install arch)"
        ) from None
    model = arch_model(returns * 100.0, mean="Zero", vol="GARCH", p=1, q=1, rescale=False)
    fitted = model.fit(disp="off", show_warning=False)
    variance = float(fitted.forecast(horizon=1, reindex=False).variance.values[-1, 0])
    if not np.isfinite(variance) or variance <= 0:
        raise RiskInputError(market, "GARCH(1,1) fit did not converge to a positive variance")
    return float(np.sqrt(variance)) / 100.0
