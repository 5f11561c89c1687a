"""Slippage of selling `size` units of collateral for the debt asset, and the liquidation horizon it
implies.

Slippage is 1 − (average execution price / mid): what a liquidator gives up against the oracle
price, which the bonus has to cover.

  - Order book: walk the bids best first, filling each level until `size` is sold. If the book runs
  out, the rest is counted as sold at zero — no depth, no value — which drives the market to
  `NoSafeParameters` rather than pretending the book is deeper than it is. Mid = (best bid + best
  ask)/2, or the best bid without an ask.
- Constant product x·y = k with fee f: selling q gives y·q(1−f)/(x + q(1−f)); mid = y/x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.errors import RiskInputError
from oracle.risk.inputs import ConstantProductPool, Liquidity, OrderBook


@dataclass(frozen=True)
class Slippage:
    fraction: float
    mid: float
    average_price: float
    unfilled: float  # collateral units the book could not absorb
    depth: float  # total collateral the venue absorbs (book size, or the pool's reserve)


def slippage(liquidity: Liquidity, size: float) -> Slippage:
    if isinstance(liquidity, OrderBook):
        return _book_slippage(liquidity, size)
    if isinstance(liquidity, ConstantProductPool):
        return _pool_slippage(liquidity, size)
    raise RiskInputError("(liquidity)", f"unknown liquidity description {type(liquidity).__name__}")


def _book_slippage(book: OrderBook, size: float) -> Slippage:
    prices, sizes = book.bids[:, 0], book.bids[:, 1]
    best_bid = float(prices[0])
    mid = best_bid if book.best_ask is None else (best_bid + float(book.best_ask)) / 2.0
    before = np.concatenate(([0.0], np.cumsum(sizes)[:-1]))
    filled = np.clip(size - before, 0.0, sizes)
    proceeds = float(np.dot(filled, prices))
    unfilled = max(0.0, size - float(np.sum(filled)))
    average = proceeds / size
    return Slippage(1.0 - average / mid, mid, average, unfilled, float(np.sum(sizes)))


def _pool_slippage(pool: ConstantProductPool, size: float) -> Slippage:
    x, y, fee = pool.reserve_collateral, pool.reserve_debt, pool.fee
    net = size * (1.0 - fee)
    out = y * net / (x + net)
    mid = y / x
    average = out / size
    return Slippage(1.0 - average / mid, mid, average, 0.0, x)


def horizon_seconds(
    size: float,
    volume_per_bar: float | None,
    depth: float,
    interval: int,
    base: int,
    cap: int,
    participation: float,
) -> tuple[int, str]:
    """H = clamp(base + size / (participation · volume per second), base, cap) when traded volume is
    known, else base · max(1, size / depth): selling more than the market trades stretches the time
    prices can move. Returns H in seconds, rounded to the nearest whole bar (never below base), and
    what set it."""
    if volume_per_bar is not None and volume_per_bar > 0:
        extra = size / (participation * volume_per_bar / interval)
        reason = "volume"
    else:
        extra = base * max(0.0, size / depth - 1.0)
        reason = "book_depth"
    raw = base + extra
    if raw >= cap:
        return cap, "max_horizon"
    seconds = max(base, round(raw / interval) * interval)
    return seconds, reason if seconds > base else "base"


def depth_at(liquidity: Liquidity, fraction: float = 0.01) -> float:
    """The notional (debt units) whose sale costs `fraction` slippage beyond the touch: the depth
    a risk array carries, whose size add-on is then `fraction` of a position that large (linear
    impact). Measured from the first unit's slippage rather than from zero: the half-spread is paid
    by any sale, however small, and is the bonus's business; a crash-wide spread would otherwise
    read as no depth at all. Found by bisection on the size, since slippage grows with it; a book
    too thin to cost `fraction` even when swept gives the notional of the whole book."""
    if not 0 < fraction < 1:
        raise RiskInputError("(liquidity)", f"slippage fraction must be in (0, 1), got {fraction}")
    probe = slippage(liquidity, 1e-9)
    mid = probe.mid
    fraction += probe.fraction
    low, high = 0.0, max(probe.depth, 1e-9)
    while slippage(liquidity, high).fraction < fraction:
        if isinstance(liquidity, OrderBook):  # the whole book costs less than the fraction
            return high * mid
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        if slippage(liquidity, middle).fraction < fraction:
            low = middle
        else:
            high = middle
    return low * mid
