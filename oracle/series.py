"""Price histories: what feeds and recorded data produce and the risk engine reads.

A `PriceSeries` is checked on construction (finite, positive, strictly increasing bars), so a bad
history fails with a `RiskInputError` naming the market, the bar and the problem before any maths
runs. It sits below the pipeline's stages (stdlib and numpy only) because several produce it —
exchange OHLCV, the shipped files, the backtester's resampling — and the risk engine consumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from oracle.errors import RiskInputError

FloatArray = np.ndarray  # float64, one value per bar


def iso(ts: int) -> str:
    """A unix time as ISO-8601 UTC to the second, as errors and reports print bar times."""
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PriceSeries:
    """Closes of the collateral priced in the debt asset (a pair, e.g. ETH in USDC), at a fixed bar
    interval.

    Gaps (missing bars) are allowed: returns across a gap are scaled to one bar (see
    `volatility.log_returns`). `volume` is in collateral units per bar; it sets the liquidation
    horizon and may be absent.
    """

    market: str
    timestamps: np.ndarray  # int64 unix seconds (bar open), strictly increasing
    close: FloatArray
    volume: FloatArray | None = None

    def __post_init__(self) -> None:
        ts = np.ascontiguousarray(self.timestamps, dtype=np.int64)
        close = np.ascontiguousarray(self.close, dtype=np.float64)
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "close", close)
        if ts.ndim != 1 or close.shape != ts.shape:
            raise RiskInputError(
                self.market, "timestamps and closes must be 1-D arrays of equal length"
            )
        if len(ts) < 2:
            raise RiskInputError(self.market, f"history too short: {len(ts)} price(s)")
        bad = ~np.isfinite(close)
        if bad.any():
            i = int(np.argmax(bad))
            raise RiskInputError(self.market, f"price is {close[i]} at {iso(ts[i])} (index {i})")
        if (close <= 0).any():
            i = int(np.argmax(close <= 0))
            raise RiskInputError(
                self.market, f"non-positive price {close[i]} at {iso(ts[i])} (index {i})"
            )
        step = np.diff(ts)
        if (step <= 0).any():
            i = int(np.argmax(step <= 0)) + 1
            kind = "duplicate" if step[i - 1] == 0 else "non-monotonic"
            raise RiskInputError(self.market, f"{kind} timestamp {iso(ts[i])} at index {i}")
        # The bar interval: the median spacing (gaps are whole multiples of it and rarer than bars).
        mid = (len(step) - 1) // 2
        interval = int(np.partition(step, mid)[mid])
        object.__setattr__(self, "_interval", interval)
        object.__setattr__(self, "_gapless", bool((step == interval).all()))
        if self.volume is not None:
            vol = np.ascontiguousarray(self.volume, dtype=np.float64)
            object.__setattr__(self, "volume", vol)
            if vol.shape != ts.shape:
                raise RiskInputError(self.market, "volume must have one value per bar")
            if not np.isfinite(vol).all() or (vol < 0).any():
                i = int(np.argmax(~np.isfinite(vol) | (vol < 0)))
                raise RiskInputError(
                    self.market, f"bad volume {vol[i]} at {iso(ts[i])} (index {i})"
                )

    @property
    def interval(self) -> int:
        """The bar interval in seconds (the median spacing of the bars)."""
        return int(self._interval)  # type: ignore[attr-defined]

    @property
    def gapless(self) -> bool:
        """Whether every bar follows the previous one by exactly one interval."""
        return bool(self._gapless)  # type: ignore[attr-defined]

    def gaps(self, longer_than: int = 86_400) -> list[tuple[int, int]]:
        """(last bar before, first bar after) of every stretch without bars longer than
        `longer_than` seconds."""
        step = np.diff(self.timestamps)
        where = np.flatnonzero(step > longer_than)
        return [(int(self.timestamps[i]), int(self.timestamps[i + 1])) for i in where]

    def until(self, timestamp: int) -> PriceSeries:
        """The bars whose open time is at or before `timestamp` (what a keeper knew then)."""
        n = int(np.searchsorted(self.timestamps, timestamp, side="right"))
        vol = None if self.volume is None else self.volume[:n]
        return PriceSeries(self.market, self.timestamps[:n], self.close[:n], vol)

    def daily(self) -> PriceSeries:
        """The last close of each UTC day that has a bar, stamped at the day's start (volumes
        summed): the daily closes a multi-year memory is kept in."""
        day = self.timestamps // 86_400
        last = np.flatnonzero(np.diff(day, append=day[-1] + 1))
        volume = None
        if self.volume is not None:
            volume = np.add.reduceat(self.volume, np.concatenate(([0], last[:-1] + 1)))
        return PriceSeries(self.market, day[last] * 86_400, self.close[last], volume)

    def complete_days(self, now: int, days: int) -> PriceSeries | None:
        """Of daily bars, those of the UTC days ended by `now`, within `days` days of the last of
        them (None when fewer than two): the threshold's tail memory, as the keeper and the
        backtest both read it — the day in progress is never part of it."""
        n = int(np.searchsorted(self.timestamps, now // 86_400 * 86_400, side="left"))
        if n < 2:
            return None
        start = int(
            np.searchsorted(self.timestamps, self.timestamps[n - 1] - days * 86_400, "right")
        )
        if n - start < 2:
            return None
        vol = None if self.volume is None else self.volume[start:n]
        return PriceSeries(self.market, self.timestamps[start:n], self.close[start:n], vol)

    def last(self, seconds: int) -> PriceSeries:
        """The trailing window of `seconds` ending at the last bar."""
        start = int(np.searchsorted(self.timestamps, self.timestamps[-1] - seconds, side="right"))
        vol = None if self.volume is None else self.volume[start:]
        return PriceSeries(self.market, self.timestamps[start:], self.close[start:], vol)


def pair_series(market: str, collateral_usd: PriceSeries, debt_usd: PriceSeries) -> PriceSeries:
    """Collateral priced in the debt asset from two series priced in a common unit (e.g. USD): the
    ratio of closes on the bars both have. A lending market's risk is the pair's, not each leg's on
    its own."""
    common, ic, idebt = np.intersect1d(
        collateral_usd.timestamps, debt_usd.timestamps, assume_unique=True, return_indices=True
    )
    if len(common) < 2:
        raise RiskInputError(market, "the two series share fewer than 2 bars")
    close = collateral_usd.close[ic] / debt_usd.close[idebt]
    volume = None if collateral_usd.volume is None else collateral_usd.volume[ic]
    return PriceSeries(market, common, close, volume)
