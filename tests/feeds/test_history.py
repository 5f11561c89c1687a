"""Incremental price history against the local exchange emulator (a real HTTP server on 127.0.0.1)
and the keeper's SQLite store: the same window as a whole fetch, a bar or two per read, kept
across a restart, and nothing held that failed its checks."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.devnet.emulator import ExchangeEmulator, Faults
from oracle.feeds import FailureKind, FeedError, Reading
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.history import IncrementalHistory
from oracle.feeds.marketdata import shipped_bars
from oracle.feeds.venue import Venue
from oracle.keeper.store import Store

MARKET = "ETH/USDT"
KLINES = "/api/v3/klines"
HOUR = 3_600


@pytest.fixture(scope="module")
def bars():
    return shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", MARKET)


@pytest.fixture
def venue(bars):
    em = ExchangeEmulator({"ETHUSDT": ("ETH", "USDT", bars)}, now=int(bars.timestamps[20_000]) + 60)
    em.start()
    yield em
    em.stop()


def source(em) -> ExchangeSource:
    return ExchangeSource("binance", MARKET, Venue("binance", em.url), MARKET, max_age=600)


def kline_requests(em) -> int:
    return sum(p == KLINES for p in em.requests)


def same(a, b) -> None:
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    np.testing.assert_array_equal(a.close, b.close)
    np.testing.assert_array_equal(a.volume, b.volume)


def test_each_read_is_the_whole_window_fetched_afresh(venue):
    """Over a day of 20-minute steps (the bar in progress changing, new bars opening), every read
    equals a whole fetch of the window at that moment, with one request each."""
    history = IncrementalHistory(source(venue), "1h", 500)
    whole = source(venue)
    for _ in range(72):
        before = kline_requests(venue)
        got = history()
        assert kline_requests(venue) - before == 1
        same(got, whole.history("1h", 500))
        assert len(got.close) == 500
        venue.now += 1_200


def test_with_a_clock_history_is_asked_once_a_bar_and_is_the_same_window(venue):
    """A keeper's cycles every 5 minutes for a day: the ticker read each cycle closes the bar in
    progress, so history is asked for once an hour (when a new bar opens), and every read still
    equals a whole fetch of the window at that moment."""
    src = source(venue)
    history = IncrementalHistory(src, "1h", 500, clock=lambda: venue.now)
    whole = source(venue)
    asked, hours = 0, set()
    for _ in range(288):
        hours.add(venue.now // HOUR)
        assert isinstance(src.fetch(venue.now), Reading)  # the cycle's price read
        before = kline_requests(venue)
        got = history()
        asked += kline_requests(venue) - before
        same(got, whole.history("1h", 500))
        venue.now += 300
    assert asked == len(hours) == 24  # the first read and one per hour that opened


def test_without_a_fresh_trade_the_bar_in_progress_is_asked_for(venue):
    src = source(venue)
    history = IncrementalHistory(src, "1h", 200, clock=lambda: venue.now)
    history()
    venue.now += 300
    before = kline_requests(venue)
    got = history()  # no ticker read since the last request: asked
    assert kline_requests(venue) - before == 1
    same(got, source(venue).history("1h", 200))


def test_a_restarted_reader_asks_only_for_what_it_missed(venue, tmp_path):
    store = Store(tmp_path / "keeper.db")
    first = IncrementalHistory(source(venue), "1h", 300, store)
    first()
    venue.now += 5 * HOUR
    first()
    store.close()
    venue.now += 3 * HOUR  # the keeper was down for three hours
    store = Store(tmp_path / "keeper.db")
    venue.requests.clear()
    again = IncrementalHistory(source(venue), "1h", 300, store)
    got = again()
    # one request: the bars from the last one kept on
    assert kline_requests(venue) == 1
    same(got, source(venue).history("1h", 300))
    rows = store.load_bars(again.series, 1_000)
    assert len(rows) == 300 and rows[0][0] == got.timestamps[0]  # the table holds the window
    store.close()


def test_a_gap_longer_than_the_window_fetches_the_window(venue):
    history = IncrementalHistory(source(venue), "1h", 100)
    history()
    venue.now += 400 * HOUR
    same(history(), source(venue).history("1h", 100))


def test_a_bad_bar_is_an_error_and_the_held_window_stays(venue):
    history = IncrementalHistory(source(venue), "1h", 200)
    good = history()
    venue.now += 2 * HOUR
    venue.faults = Faults(nan_price=True)  # the newest bar's close is NaN
    with pytest.raises(FeedError) as err:
        history()
    assert err.value.kind == FailureKind.BAD_VALUE
    assert history._held.timestamps[-1] == good.timestamps[-1]  # nothing of the bad answer was kept
    venue.faults = Faults()
    same(history(), source(venue).history("1h", 200))


def test_a_venue_whose_ticker_went_unanswered_is_not_asked_for_history(venue):
    src = source(venue)
    history = IncrementalHistory(src, "1h", 200)
    history()
    venue.faults = Faults(status=503)
    with pytest.raises(FeedError):
        src.fetch(venue.now)
    venue.requests.clear()
    with pytest.raises(FeedError) as err:
        history()
    assert err.value.kind == FailureKind.UNREACHABLE and "ticker request failed" in err.value.detail
    assert kline_requests(venue) == 0
    venue.faults = Faults()
    assert src.fetch(venue.now).price > 0  # answered again: history is asked again
    same(history(), src.history("1h", 200))


def test_a_window_longer_than_one_answer_is_what_a_whole_fetch_gives(venue):
    """The keeper's default window is 2,000 bars; ccxt asks Binance for 1,000 at most. The
    incremental window is never longer than a whole fetch, whatever it asks for."""
    history = IncrementalHistory(source(venue), "1h", 2_000, clock=lambda: venue.now)
    for _ in range(6):
        same(history(), source(venue).history("1h", 2_000))
        venue.now += HOUR


def test_a_failed_read_this_cycle_is_never_closed_with_an_older_trade(venue):
    src = source(venue)
    history = IncrementalHistory(src, "1h", 200, clock=lambda: venue.now)
    assert isinstance(src.fetch(venue.now), Reading)
    history()
    venue.now += 300
    assert isinstance(src.fetch(venue.now), Reading)
    venue.faults = Faults(drop_field="closeTime")  # the next read fails its checks
    venue.now += 300
    with pytest.raises(FeedError):
        src.fetch(venue.now)
    venue.faults = Faults()
    before = kline_requests(venue)
    got = history()  # no trade of this cycle: the venue is asked
    assert kline_requests(venue) - before == 1
    same(got, source(venue).history("1h", 200))


def test_a_shorter_window_kept_for_the_series_is_not_taken(venue, tmp_path):
    store = Store(tmp_path / "keeper.db")
    IncrementalHistory(source(venue), "1h", 100, store)()
    longer = IncrementalHistory(source(venue), "1h", 300, store)
    same(longer(), source(venue).history("1h", 300))  # fetched whole, not grown from 100
    store.close()
