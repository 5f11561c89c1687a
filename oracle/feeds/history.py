"""Price history a bar at a time: the window is fetched whole once, then each read asks the venue
only for the bars from the last one held on.

Why: the risk engine reads 2,000 hourly bars (and the tail memory years of daily ones) per market
per cycle. Fetched whole each time that is a 2,000-row answer per market per cycle, about 12 s of a
500-market cycle; fetched from the last bar held it is one or two rows. The last bar held is read
again every time, because it may have been the bar in progress when it was held; a bar the venue
revised is replaced, never kept beside its revision.

With a clock, a read between bar boundaries asks nothing: no bar can have opened since the
last held one, and the close of that bar in progress is the venue's last trade, which the
source's ticker read of this cycle has just given (`ExchangeSource.last_trade`). So a keeper
on hourly bars asks for history once an hour per market, not once a cycle.

The bars may be kept in a `BarCache` (the keeper's store), so a restarted keeper asks only for
what it missed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import ccxt
import numpy as np

from oracle.feeds.base import FeedError
from oracle.feeds.exchange import Bar, ExchangeSource, bars_series, checked_series
from oracle.series import PriceSeries


class BarCache(Protocol):
    """Where a history's bars outlive the process (`oracle.keeper.store.Store`)."""

    def load_bars(self, series: str, limit: int) -> list[Bar]:
        """The last `limit` bars kept for `series`, oldest first."""
        ...

    def keep_bars(self, series: str, bars: Sequence[Bar], first: int) -> None:
        """Writes `bars` (replacing a kept bar with the same open time) and drops the bars of
        `series` opened before `first`."""
        ...


class IncrementalHistory:
    """The last `bars` bars of `source`'s symbol at `timeframe`, called as `MarketSetup.history`
    is: each call returns the window as of now. Safe to call from several threads (one at a time
    does the reading); markets reading the same symbol on the same venue can share one."""

    def __init__(
        self,
        source: ExchangeSource,
        timeframe: str,
        bars: int,
        cache: BarCache | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.source, self.timeframe, self.size, self.cache = source, timeframe, bars, cache
        self.clock = clock
        self.interval = int(ccxt.Exchange.parse_timeframe(timeframe))
        venue = source.venue
        self.series = f"{venue.exchange_id} {venue.api_url or ''} {source.symbol} {timeframe}"
        self._held: PriceSeries | None = None
        self._read_at: int | None = None  # the clock at the last request
        self._loaded = False
        self._lock = threading.Lock()

    def __call__(self) -> PriceSeries:
        with self._lock:
            if not self._loaded:
                self._loaded = True
                self._held = self._cached()
            now = None if self.clock is None else self.clock()
            held = self._held
            if now is not None and held is not None and self._read_at is not None:
                trade = self.source.last_trade
                if (
                    now < int(held.timestamps[-1]) + self.interval  # no bar has opened since
                    and trade is not None
                    and self._read_at <= trade[0] <= now
                ):
                    close = held.close.copy()
                    close[-1] = trade[1]
                    self._held = self._checked(held.timestamps, close, held.volume)
                    return self._held
            series = self._read()
            self._read_at = now
            return series

    def _cached(self) -> PriceSeries | None:
        """The window the cache kept, if it is a window the engine would take."""
        if self.cache is None:
            return None
        rows = self.cache.load_bars(self.series, self.size)
        try:
            return bars_series(self.source.market, rows, self.series)
        except FeedError:
            return None

    def _read(self) -> PriceSeries:
        """Brings the held bars up to date: the bars from the last held one's open on, or the
        whole window when nothing is held or more is missing than one answer holds."""
        held = self._held
        if held is not None:
            new = self.source.bars(self.timeframe, self.size, since=int(held.timestamps[-1]))
            if new and len(new) < self.size:
                keep = int(np.searchsorted(held.timestamps, new[0][0]))  # held bars before it
                ts = np.concatenate([held.timestamps[:keep], [b[0] for b in new]])
                close = np.concatenate([held.close[:keep], [b[1] for b in new]])
                volume = np.concatenate([_volume(held)[:keep], [b[2] for b in new]])
                merged = self._checked(ts[-self.size :], close[-self.size :], volume[-self.size :])
                return self._keep(merged, new)
        window = self.source.bars(self.timeframe, self.size)
        return self._keep(bars_series(self.source.market, window, self._what), window)

    @property
    def _what(self) -> str:
        return f"{self.source.name}: bars"

    def _checked(self, ts: np.ndarray, close: np.ndarray, volume: np.ndarray | None) -> PriceSeries:
        volume = np.zeros_like(close) if volume is None else volume
        return checked_series(self.source.market, ts, close, volume, self._what)

    def _keep(self, window: PriceSeries, written: list[Bar]) -> PriceSeries:
        """The window, held (and cached) only once it passed the checks."""
        self._held = window
        if self.cache is not None:
            self.cache.keep_bars(self.series, written, int(window.timestamps[0]))
        return window


def _volume(series: PriceSeries) -> np.ndarray:
    return np.zeros_like(series.close) if series.volume is None else series.volume
