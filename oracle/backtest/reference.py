"""The `reference` lending market: borrowers arriving every hour under fixed rules, so that
independent implementations of the evaluation agree to rounding.

The rules (issue 15), over the window's hourly bars t = 0 … n−1, with LTV_t and LT_t the values a
read returns at bar t's open time (the last parameter-path entry at or before it, the first entry
also before its own time; the threshold is the one in force, its ramp applied). At each bar, in
this order:

(a) every liquidation due at t executes in full at low_t × (1 − 1 %): the liquidated debt is the
    position's whole debt; when its collateral is worth less than the debt at that price, the
    difference is bad debt;
(b) every unflagged position opened more than 336 bars ago is repaid at no loss;
(c) every unflagged position is flagged when collateral × low_t × LT_t < debt, its liquidation due
    at t + 1 (a liquidation due after the last bar never executes);
(d) five positions open at bar t's close, each with 1 unit of collateral and debt
    u × LTV_t × close_t for u = 0.82, 0.86, 0.90, 0.94, 0.98.

Metrics, as fractions of all debt originated: `bad_debt`, `liquidated`, `param_liquidated` (the
liquidated debt of positions that, when flagged, were safe at that bar's low under the LT in force
when they opened: liquidations caused by a parameter cut, not by the price alone), and
`mean_ltv_bps`, the mean of LTV_t over the window's bars. Also: `daily_bad_debt_p95` and
`daily_bad_debt_p99`, the 95th and 99th percentiles of the bad debt created per UTC day (the
VaR-style convention risk managers publish; days without bars do not count), and
`max_lt_drop_7d_bps`, the largest fall of the threshold in force within any 7 days (168 bars); and
book-keeping the rules do not decide, in the debt asset: bad and liquidated debt, the penalty (the
bonus a liquidator keeps of the collateral beyond the debt, given the bonus in force), the
borrowing power (time-weighted Σ open collateral · close · LTV in force) and the open debt.

A position opened at bar o can be flagged only at bars o+1 … o+336 (it opens after step (c) of its
own bar and is repaid at step (b) of bar o+337), so each cohort's first flag is a search in one
336-bar window: whole-array numpy over (cohort, bar in window, borrower) — a year costs well under
a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from oracle.policy.impact import OpenPositions
from oracle.series import iso

#: Debt per unit of collateral value, as a fraction of the LTV in force: the five arrivals a bar.
USES = (0.82, 0.86, 0.90, 0.94, 0.98)
#: Bars a position stays open before it is repaid (step b).
TERM = 336
#: Execution discount of a liquidation below the bar's low (step a).
EXECUTION_DISCOUNT = 0.01


@dataclass(frozen=True)
class ReferenceOutcome:
    bad_debt: float
    liquidated: float
    param_liquidated: float
    mean_ltv_bps: float
    originated: float  # all debt originated, in the debt asset (the metrics' denominator)
    positions: int
    liquidations: int
    daily_bad_debt_p95: float
    daily_bad_debt_p99: float
    max_lt_drop_7d_bps: int
    #: In the debt asset (dollars for the shipped USDT-quoted bars): bad and liquidated debt, the
    #: penalty (the bonus a liquidator keeps of the collateral beyond the debt, capped by what the
    #: collateral holds; 0 without `lb_bps`) and its fraction of debt originated, the borrowing
    #: power (time-weighted Σ open collateral · close · LTV in force) and the open debt.
    bad_debt_usd: float = 0.0
    liquidated_usd: float = 0.0
    penalty_usd: float = 0.0
    penalty: float = 0.0
    borrowing_power: float = 0.0
    mean_open_debt_usd: float = 0.0
    #: [UTC day, liquidated, bad debt] for every day with a liquidation (fractions of all debt
    #: originated): the liquidation events a report plots.
    liquidation_days: list[list[Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        dollars = ("bad_debt_usd", "liquidated_usd", "penalty_usd", "borrowing_power")
        return rounded(asdict(self), (*dollars, "mean_open_debt_usd"))


#: The outcome fields that are fractions of all debt originated (both lending markets).
FRACTIONS = (
    "bad_debt",
    "liquidated",
    "param_liquidated",
    "daily_bad_debt_p95",
    "daily_bad_debt_p99",
    "penalty",
)


def rounded(values: dict[str, Any], dollars: tuple[str, ...]) -> dict[str, Any]:
    """An outcome as a report prints it (both lending markets): fractions to 6 places, the
    `dollars` fields to cents, the mean LTV to 0.1 bps."""
    for key in FRACTIONS:
        values[key] = round(values[key], 6)
    for key in dollars:
        values[key] = round(values[key], 2)
    values["mean_ltv_bps"] = round(values["mean_ltv_bps"], 1)
    return values


def simulate_reference(
    low: np.ndarray,
    close: np.ndarray,
    lt_bps: np.ndarray,
    ltv_bps: np.ndarray,
    timestamps: np.ndarray | None = None,
    lb_bps: np.ndarray | None = None,
) -> ReferenceOutcome:
    """The reference market over bars with lows `low` and closes `close`, the threshold in force
    `lt_bps` and the LTV `ltv_bps` at each bar (basis points, one value per bar). `timestamps`
    (bar open times) place bad debt in UTC days; without them bar i is taken as i hours in.
    `lb_bps`, the bonus at each bar, only prices the penalty (the rules do not use it)."""
    n = len(close)
    if not (len(low) == len(lt_bps) == len(ltv_bps) == n) or n < 2:
        raise ValueError("low, close, lt_bps and ltv_bps need one value per bar, at least 2 bars")
    uses = np.array(USES)
    lt = np.asarray(lt_bps, dtype=np.float64) / 10_000
    ltv = np.asarray(ltv_bps, dtype=np.float64) / 10_000
    debt = ltv[:, None] * close[:, None] * uses[None, :]  # (cohort o, borrower)
    originated = float(debt.sum())

    # m[t] = low_t · LT_t: a unit of collateral is flagged at t when m[t] < debt. Pad with +inf so
    # every cohort has a full 336-bar window (bars past the end never flag).
    m = np.concatenate([low * lt, np.full(TERM, np.inf)])
    windows = sliding_window_view(m[1:], TERM)[:n]  # windows[o] = m[o+1 … o+336]
    below = windows[:, :, None] < debt[:, None, :]  # (o, k, borrower)
    flagged = below.any(axis=1)
    flag_bar = np.arange(n)[:, None] + 1 + below.argmax(axis=1)  # valid where flagged
    executes = flagged & (flag_bar + 1 < n)

    o_idx, b_idx = np.nonzero(executes)
    t_flag = flag_bar[o_idx, b_idx]
    d = debt[o_idx, b_idx]
    price = low[t_flag + 1] * (1 - EXECUTION_DISCOUNT)
    bad = np.maximum(0.0, d - price)
    caused_by_cut = low[t_flag] * lt[o_idx] >= d  # safe under the threshold it opened with
    times = np.arange(n) * 3_600 if timestamps is None else np.asarray(timestamps)
    days = times // 86_400
    day_index = np.unique(days, return_inverse=True)[1]
    per_day = np.bincount(day_index[t_flag + 1], weights=bad, minlength=day_index.max() + 1)
    daily = per_day.astype(np.float64) / originated
    liq_day = np.bincount(day_index[t_flag + 1], weights=d, minlength=day_index.max() + 1)
    # The penalty: what the liquidator keeps of the collateral beyond the debt, up to the bonus.
    bonus = 0.0 if lb_bps is None else np.asarray(lb_bps, dtype=np.float64)[t_flag + 1] / 10_000
    penalty = float(np.minimum(bonus * d, np.maximum(0.0, price - d)).sum())
    # The open book at each close: a position opens at the close of its bar o and leaves at step (a)
    # of bar f+1 (liquidated) or (b) of bar o+337 (repaid); flagged too late, it stays to the end.
    repaid = np.arange(n)[:, None] + TERM + 1
    leaves = np.where(flagged, np.where(executes, flag_bar + 1, n), repaid)
    opens = np.repeat(np.arange(n), len(USES))
    units = _running(n, opens, leaves.ravel(), np.ones(opens.size))
    open_debt = _running(n, opens, leaves.ravel(), debt.ravel())
    return ReferenceOutcome(
        bad_debt=float(bad.sum()) / originated,
        liquidated=float(d.sum()) / originated,
        param_liquidated=float(d[caused_by_cut].sum()) / originated,
        mean_ltv_bps=float(np.mean(ltv_bps)),
        originated=originated,
        positions=int(debt.size),
        liquidations=len(d),
        daily_bad_debt_p95=float(np.percentile(daily, 95)),
        daily_bad_debt_p99=float(np.percentile(daily, 99)),
        max_lt_drop_7d_bps=max_drop(np.asarray(lt_bps, dtype=np.int64), 168),
        bad_debt_usd=float(bad.sum()),
        liquidated_usd=float(d.sum()),
        penalty_usd=penalty,
        penalty=penalty / originated,
        borrowing_power=float(np.mean(units * close * ltv)),
        mean_open_debt_usd=float(np.mean(open_debt)),
        liquidation_days=[
            [iso(int(day) * 86_400)[:10], round(liq / originated, 6), round(b / originated, 6)]
            for day, liq, b in zip(np.unique(days), liq_day, per_day, strict=True)
            if liq > 0
        ],
    )


def _running(n: int, starts: np.ndarray, stops: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ weights of the intervals [start, stop) that hold each of bars 0 … n−1."""
    change = np.zeros(n + 1)
    np.add.at(change, starts, weights)
    np.add.at(change, np.minimum(stops, n), -weights)
    return np.cumsum(change[:n])


def max_drop(values: np.ndarray, window: int) -> int:
    """The largest fall from an earlier value to a later one at most `window` steps apart."""
    padded = np.concatenate([np.full(window, values[0]), values])
    earlier_max = sliding_window_view(padded, window + 1)[:, :-1].max(axis=1)
    return int(max(0, (earlier_max - values).max()))


class ReferenceBook:
    """The reference market's open positions, bar by bar, as a keeper would read them from the
    consumer: what sizes a threshold cut in the backtest (`oracle.policy.impact`). It follows the
    rules above — a cohort of `USES` opens at each close, a position leaves when it is flagged
    (step c) or repaid (step b) — with the LTV and threshold in force given bar by bar."""

    def __init__(self) -> None:
        self._bar = 0
        self._open_at = np.zeros(0, dtype=np.int64)
        self._debts = np.zeros(0)

    def step(self, low: float, close: float, lt_bps: int, ltv_bps: int) -> None:
        """One bar: repay the cohorts past their term, drop what this bar's low flags under the
        threshold in force, open this bar's cohort at its close."""
        keep = (self._bar - self._open_at <= TERM) & (self._debts <= low * lt_bps / 10_000)
        self._open_at, self._debts = self._open_at[keep], self._debts[keep]
        cohort = np.array(USES) * ltv_bps / 10_000 * close
        self._open_at = np.concatenate([self._open_at, np.full(len(USES), self._bar)])
        self._debts = np.concatenate([self._debts, cohort])
        self._bar += 1

    def positions(self, price: float, stress_move: float = 0.0) -> OpenPositions:
        """The open positions (1 unit of collateral each) at `price`."""
        return OpenPositions.from_book(np.ones(len(self._debts)), self._debts, price, stress_move)
