"""The liquidation impact of a threshold cut on the positions a consumer holds open.

A position becomes liquidatable when its debt exceeds collateral value × LT, that is when its
*loan ratio* (debt / collateral value at the current price) exceeds LT. Cutting the threshold from
L to L' < L therefore makes exactly the open debt with a loan ratio in (L', L] liquidatable at once:
the cut itself, not the price, liquidates it. The policy sizes every fast-path threshold cut so
that this share stays under a ceiling (`PolicySettings.max_induced_share`); the rest of a deeper cut
goes to governance with this table.

The positions are read at the edge (the backtest's lending market, a consumer's accounts); this
module only does the arithmetic, so the policy stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.types import BPS


@dataclass(frozen=True)
class OpenPositions:
    """A consumer's open positions at the current price: each one's loan ratio (debt divided by
    collateral value, in bps, unbounded above) and its debt (any unit, the same for all)."""

    loan_ratio_bps: np.ndarray
    debt: np.ndarray
    #: The fall a cut's exposure is measured over (`induced`): the tail the threshold is sized
    #: for, set by the caller from the engine's explanation (0: today's price only).
    stress_move: float = 0.0
    #: The threshold the consumer applies now, when it can differ from the registry's in force
    #: (an Aave reserve that the adapter's ramp bound holds higher): a cut's impact is measured
    #: from the higher of the two, since positions between them are not liquidatable yet.
    consumer_threshold_bps: int | None = None
    #: The positions could not be read: every cut counts as exposing all open debt.
    unknown: bool = False

    def __post_init__(self) -> None:
        if self.loan_ratio_bps.shape != self.debt.shape:
            raise ValueError("one loan ratio and one debt per position")

    @classmethod
    def unreadable(cls) -> OpenPositions:
        """Positions the caller could not read: the policy then holds the threshold (a cut is
        never sized on positions it could not see), while the LTV still tightens."""
        return cls(np.zeros(0), np.zeros(0), unknown=True)

    def baseline(self, in_force_bps: int) -> int:
        """The threshold a cut is measured from: the registry's in force, or the consumer's when
        it is higher."""
        if self.consumer_threshold_bps is None:
            return in_force_bps
        return max(in_force_bps, self.consumer_threshold_bps)

    @property
    def total_debt(self) -> float:
        return float(self.debt.sum())

    def induced(self, threshold_bps: int, new_threshold_bps: int, move: float = 0.0) -> float:
        """The share of open debt a cut from `threshold_bps` to `new_threshold_bps` exposes: the
        positions not liquidatable now that the new threshold would liquidate at the current price
        or after a fall of `move` (0 for a raise, or with no debt open). With a move, a position
        within the move of both thresholds counts too: on the way down it meets the new one first,
        so the cut, not the price, liquidates it."""
        if new_threshold_bps >= threshold_bps:
            return 0.0
        if self.unknown:
            return 1.0
        total = self.total_debt
        if total <= 0:
            return 0.0
        r = self.loan_ratio_bps
        hit = (r > new_threshold_bps * (1.0 - move)) & (r <= threshold_bps)
        return float(self.debt[hit].sum()) / total

    def deepest_cut(
        self, threshold_bps: int, floor_bps: int, max_share: float, move: float = 0.0
    ) -> int:
        """The lowest threshold in [floor_bps, threshold_bps] whose cut from `threshold_bps`
        exposes at most `max_share` of open debt (`induced`, whole bps)."""
        if self.unknown:
            return threshold_bps
        if self.induced(threshold_bps, floor_bps, move) <= max_share:
            return floor_bps
        # The exposed share only grows as the new threshold falls: the answer is just above the
        # (move-adjusted) loan ratio at which the cumulative debt passes the ceiling.
        r, d = self.loan_ratio_bps / (1.0 - move), self.debt
        inside = (self.loan_ratio_bps <= threshold_bps) & (r > floor_bps)
        order = np.argsort(-r[inside], kind="stable")
        ratios, cumulative = r[inside][order], np.cumsum(d[inside][order]) / self.total_debt
        first_over = int(np.argmax(cumulative > max_share))
        return min(threshold_bps, int(np.ceil(ratios[first_over])))

    def table(
        self, threshold_bps: int, cuts_bps: tuple[int, ...] = (50, 100, 200, 300, 500, 1_000)
    ) -> list[tuple[int, float]]:
        """(new threshold, share of open debt it makes liquidatable) for cuts of `cuts_bps` from
        `threshold_bps`: the impact table a governance proposal carries."""
        return [
            (threshold_bps - c, round(self.induced(threshold_bps, threshold_bps - c), 6))
            for c in cuts_bps
            if threshold_bps - c > 0
        ]

    @staticmethod
    def from_book(
        collateral: np.ndarray, debt: np.ndarray, price: float, stress_move: float = 0.0
    ) -> OpenPositions:
        """Positions with `collateral` units (each) and `debt` at `price` per unit."""
        value = np.asarray(collateral, dtype=np.float64) * price
        with np.errstate(divide="ignore"):
            ratio = np.where(value > 0, np.asarray(debt) / value * BPS, np.inf)
        return OpenPositions(ratio, np.asarray(debt, dtype=np.float64), stress_move)
