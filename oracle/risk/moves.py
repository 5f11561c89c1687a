"""Falls in the price history: what the LTV–LT buffer and the threshold's tail memory are sized on.

The fall after close t within T bars is

    m_t = 1 − min(close_{t+1} … close_{t+T}) / close_t

The buffer (`fall_quantile`): a borrower at the LTV limit must survive the move the protocol cannot
react to, so the LTV–LT gap covers buffer_q = quantile_q(m_t) over the recent history.

A σ-based buffer (z·σ·√T) assumes moves scale with the square root of time and are thin-tailed;
the empirical quantile of T-window falls carries the fat tails and the momentum of real sell-offs
(a 72-hour crash is not three independent 24-hour draws), so the LTV–LT gap is the larger of the
two (`derive`).

The tail memory (`fall_expected_shortfall`): the recent history's tail is scaled to today's
volatility, so after a calm spell it forgets the crashes the asset has had. The threshold also
covers ES_α of the falls within the liquidation horizon over a multi-year memory of daily closes,
unscaled: a thin or jumpy asset is not lent against more than its own history can bear, and a
calm quarter cannot loosen the threshold below what the last crash showed.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def falls(close: np.ndarray, window_bars: int) -> np.ndarray:
    """m_t for every close with a full window after it (empty when there is none)."""
    if window_bars < 1 or len(close) <= window_bars:
        return np.zeros(0)
    ahead = sliding_window_view(close[1:], window_bars).min(axis=1)  # ahead[t] = min c[t+1..t+T]
    return np.maximum(0.0, 1.0 - ahead / close[: len(ahead)])


def fall_quantile(close: np.ndarray, window_bars: int, q: float) -> float:
    """The `q`-quantile of m_t (0 when the history is shorter than one window)."""
    m = falls(close, window_bars)
    return float(np.quantile(m, q)) if len(m) else 0.0


def fall_expected_shortfall(close: np.ndarray, window_bars: int, alpha: float) -> float:
    """ES_α of m_t: the mean of the ⌈(1 − α)·n⌉ largest of the n falls (0 without a window). The
    count, not a threshold, so that ties at zero (days that did not fall) cannot dilute it."""
    m = falls(close, window_bars)
    if not len(m):
        return 0.0
    k = max(1, math.ceil(round((1.0 - alpha) * len(m), 9)))
    return float(np.partition(m, len(m) - k)[len(m) - k :].mean())
