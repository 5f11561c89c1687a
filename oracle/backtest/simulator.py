"""A lending market under a price path, for comparing parameter paths. Assumptions, all of them:

- One collateral priced in the debt asset. A fixed population of borrowers opens at the start of
  the window, each with one unit of collateral and a debt that is a fraction of the collateral's
  value times the opening LTV (the lower of the two sides' first LTVs, so every position is valid
  under both), spread evenly over [`min_use`, `max_use`]. The same borrowers face
  both parameter paths. Nobody adds collateral, repays or re-borrows.
- A position is liquidatable on the first bar where debt > collateral · price · LT, with LT the
  threshold in force (ramps included). The liquidation executes `delay` later at that bar's price:
  the liquidator repays the whole debt (close factor 1) and takes collateral worth debt · (1 + LB),
  at most all of it; liquidators are assumed to act whenever a position is liquidatable (the bonus
  is taken to cover their costs; it moves value from borrower to liquidator, not from the protocol).
- Bad debt is what the whole collateral, sold with the liquidity model's slippage, does not cover:
  max(0, debt − collateral · exec price · (1 − slippage)).
- Reported in units of the initial total debt: `bad_debt` and `liquidated` (debt repaid by
  liquidations).

The first liquidatable bar of every borrower is found at once: with m(t) = price(t) · LT(t) and its
running minimum (non-increasing), borrower i is first liquidatable where the running minimum falls
below debt_i / collateral_i — a binary search, so a year of minute bars costs milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.types import BPS


@dataclass(frozen=True)
class Population:
    collateral: np.ndarray
    debt: np.ndarray

    @classmethod
    def spread(
        cls, price: float, ltv_bps: int, n: int, min_use: float, max_use: float
    ) -> Population:
        use = np.linspace(min_use, max_use, n)
        collateral = np.ones(n)
        return cls(collateral, collateral * price * ltv_bps / BPS * use)


@dataclass(frozen=True)
class Outcome:
    bad_debt: float
    liquidated: float
    liquidations: int
    first_liquidation: int | None  # bar index
    events: tuple[np.ndarray, np.ndarray, np.ndarray] = (np.array([]), np.array([]), np.array([]))
    # (bar, debt repaid, bad debt) of every liquidation, for reports; amounts in initial-debt units


def simulate(
    prices: np.ndarray,
    lt: np.ndarray,
    population: Population,
    delay_bars: int,
    slippage: float,
) -> Outcome:
    """`lt`: the liquidation threshold (fraction) in force at each bar."""
    threshold_value = prices * lt
    running_min = np.minimum.accumulate(threshold_value)
    ratio = population.debt / population.collateral
    first = np.searchsorted(
        -running_min, -ratio, side="right"
    )  # first bar with running min < ratio
    hit = first < len(prices)
    bars = first[hit]
    exec_bar = np.minimum(bars + delay_bars, len(prices) - 1)
    exec_price = prices[exec_bar]
    debt = population.debt[hit]
    proceeds = population.collateral[hit] * exec_price * (1 - slippage)
    bad = np.maximum(0.0, debt - proceeds)
    total = float(population.debt.sum())
    return Outcome(
        bad_debt=float(bad.sum()) / total,
        liquidated=float(debt.sum()) / total,
        liquidations=int(hit.sum()),
        first_liquidation=int(bars.min()) if len(bars) else None,
        events=(bars, debt / total, bad / total),
    )
