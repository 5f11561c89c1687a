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


def falls(close: np.ndarray, window_bars: int, out: np.ndarray | None = None) -> np.ndarray:
    """m_t for every close with a full window after it (empty when there is none). `out`: a
    buffer of at least len(close) values to write into (the engine's scratch; see `scratch`)."""
    if window_bars < 1 or len(close) <= window_bars:
        return np.zeros(0)
    # ahead[t] = min c[t+1 … t+T]: scipy's running minimum is O(n) whatever T (2,880 one-minute
    # bars for 48 h), where a sliding-window view would cost O(n·T).
    after = close[1:]
    n = len(after) - window_bars + 1
    from scipy.ndimage import minimum_filter1d  # here: 0.4 s of import the CLI need not pay

    running = minimum_filter1d(
        after, window_bars, output=None if out is None else out[: len(after)]
    )
    m = running[window_bars // 2 : window_bars // 2 + n]
    np.divide(m, close[:n], out=m)  # in place: each value is read before it is written
    np.subtract(1.0, m, out=m)
    return np.maximum(m, 0.0, out=m)


def fall_quantile(
    close: np.ndarray, window_bars: int, q: float, out: np.ndarray | None = None
) -> float:
    """The `q`-quantile of m_t (0 when the history is shorter than one window), numpy's default
    (linear) definition, computed by partitioning m_t in place."""
    m = falls(close, window_bars, out)
    if not len(m):
        return 0.0
    position = q * (len(m) - 1)
    lo, hi = math.floor(position), math.ceil(position)
    m.partition([lo, hi] if hi != lo else lo)
    return float(m[lo] + (m[hi] - m[lo]) * (position - lo))


def fall_expected_shortfall(close: np.ndarray, window_bars: int, alpha: float) -> float:
    """ES_α of m_t: the mean of the ⌈(1 − α)·n⌉ largest of the n falls (0 without a window). The
    count, not a threshold, so that ties at zero (days that did not fall) cannot dilute it."""
    m = falls(close, window_bars)
    if not len(m):
        return 0.0
    k = max(1, math.ceil(round((1.0 - alpha) * len(m), 9)))
    return float(np.partition(m, len(m) - k)[len(m) - k :].mean())
