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

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import ccxt
import numpy as np

from oracle.errors import OracleError
from oracle.feeds.base import FeedError
from oracle.feeds.exchange import Bar, ExchangeSource, bars_series, checked_series
from oracle.series import PriceSeries

LOG = logging.getLogger("oracle.feeds.history")

#: Seconds the source's last trade may be old to close the bar in progress: read by this cycle's
#: feeds, moments before its history.
TRADE_AGE = 60


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
    is: each call returns the window as of now, labelled with `source`'s market (so each market
    has its own). Safe to call from several threads: one at a time does the reading."""

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
        self.series = (
            f"{venue.exchange_id} {venue.api_url or ''} {source.symbol} {timeframe} {bars}"
        )
        # bars a whole fetch gives (a venue caps an answer: Binance at 1,000): the window is
        # never longer than a whole fetch would be
        self._span = bars
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
                opened = int(held.timestamps[-1])
                if (
                    now < opened + self.interval  # no bar has opened since
                    and trade is not None
                    and self._read_at <= trade[0] <= now  # this cycle's read, after the request
                    and now - trade[0] <= TRADE_AGE
                    and opened <= trade[1] <= now  # a trade of the bar in progress
                ):
                    close = held.close.copy()
                    close[-1] = trade[2]
                    self._held = self._checked(held.timestamps, close, _volume(held))
                    return self._held
            series = self._read(now)
            self._read_at = now
            return series

    def _cached(self) -> PriceSeries | None:
        """The window the cache kept, if it is whole (`bars` bars: a shorter one would never
        grow back) and a window the engine would take; else None (fetch the window)."""
        if self.cache is None:
            return None
        try:
            rows = self.cache.load_bars(self.series, self.size)
        except OracleError as exc:
            LOG.warning("%s: bars not loaded from the store: %s", self.series, exc)
            return None
        if len(rows) != self.size:
            return None
        try:
            return bars_series(self.source.market, rows, self.series)
        except FeedError:
            return None

    def _read(self, now: int | None) -> PriceSeries:
        """Brings the held bars up to date as of `now` (None: no clock): the bars from the last
        held one's open on, or the whole window when nothing is held or the answer does not
        continue the held bars to the bar in force."""
        held = self._held
        if held is not None:
            last = int(held.timestamps[-1])
            new = self.source.bars(self.timeframe, self.size, since=last)
            if (
                new
                and new[0][0] == last  # the answer starts at the bar held last: nothing between
                and len(new) < self.size  # and it is not cut short by the venue's cap
                and (now is None or new[-1][0] + self.interval > now)  # it reaches the bar in force
            ):
                span = self._span
                ts = np.concatenate([held.timestamps[:-1], [b[0] for b in new]])[-span:]
                close = np.concatenate([held.close[:-1], [b[1] for b in new]])[-span:]
                volume = np.concatenate([_volume(held)[:-1], [b[2] for b in new]])[-span:]
                return self._keep(self._checked(ts, close, volume), new)
        window = self.source.bars(self.timeframe, self.size)
        series = bars_series(self.source.market, window, self._what)
        self._span = len(window)
        return self._keep(series, window)

    @property
    def _what(self) -> str:
        return f"{self.source.name}: bars"

    def _checked(self, ts: np.ndarray, close: np.ndarray, volume: np.ndarray) -> PriceSeries:
        return checked_series(self.source.market, ts, close, volume, self._what)

    def _keep(self, window: PriceSeries, written: list[Bar]) -> PriceSeries:
        """The window, held (and cached) only once it passed the checks. A store that cannot
        keep it costs a restart a whole fetch, not this cycle its history."""
        self._held = window
        if self.cache is not None:
            try:
                self.cache.keep_bars(self.series, written, int(window.timestamps[0]))
            except OracleError as exc:
                LOG.warning("%s: bars not kept in the store: %s", self.series, exc)
        return window


def _volume(series: PriceSeries) -> np.ndarray:
    """The held window's volumes (`bars_series` always sets them; the type allows none)."""
    return np.zeros_like(series.close) if series.volume is None else series.volume
