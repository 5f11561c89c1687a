"""Centralised exchanges through ccxt: ticker and order book of one symbol on one venue.

ccxt's own errors map onto failure kinds (timeouts, refused connections, HTTP 429 and 5xx,
malformed answers); values are checked like every other source's (finite, positive, not stale,
not in the future, book not crossed). The requests go through the market's `Venue`, which
markets on the same exchange share.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import ccxt
import numpy as np

from oracle.errors import RiskInputError
from oracle.feeds.base import FailureKind, FeedError, Reading, check_price, check_time
from oracle.feeds.venue import Venue
from oracle.series import PriceSeries

#: Seconds an order book is reused for while the price stays near it (`ExchangeSource`). At 500
#: markets a book per market and venue every cycle is 1,500 requests a cycle: at ccxt's pace for
#: Binance (ccxt 4.5.90: a 20-level book every 50 ms) 25 s per venue, and 1.7 s of the keeper's
#: own time against the local emulator. Depth thins with a move, so a book is re-read when the
#: price leaves it (`BOOK_MOVE`) or the ticker's best bid size falls below `BOOK_THINNING` of the
#: book's (the ticker is read every cycle), and once older than this: at the fourth of the
#: keeper's default 300 s cycles (a book exactly 900 s old is still used).
BOOK_MAX_AGE = 900
#: How far (fraction) the ticker's mid may move from the mid of the book in hand before the book
#: is re-read: a move of 1 % is the start of the crisis in which depth thins.
BOOK_MOVE = 0.01
#: The share of the book's best bid size below which the ticker's says the book has thinned.
BOOK_THINNING = 0.5


#: One bar as the keeper holds it: open time (unix seconds), close, volume.
Bar = tuple[int, float, float]


def bars_series(market: str, bars: list[Bar], what: str) -> PriceSeries:
    """`bars` as the risk engine's input, or a BAD_VALUE failure naming `what` (a NaN, zero or
    negative close, times out of order)."""
    try:
        ts = np.array([b[0] for b in bars], dtype=np.int64)
        close = np.array([b[1] for b in bars], dtype=np.float64)
        volume = np.array([b[2] for b in bars], dtype=np.float64)
    except (TypeError, ValueError, IndexError) as exc:
        raise FeedError(FailureKind.BAD_VALUE, f"{what}: {exc}") from None
    return checked_series(market, ts, close, volume, what)


def checked_series(
    market: str, ts: np.ndarray, close: np.ndarray, volume: np.ndarray, what: str
) -> PriceSeries:
    """The risk engine's input, or a BAD_VALUE failure naming `what`."""
    try:
        return PriceSeries(market, ts, close, volume)
    except RiskInputError as exc:
        raise FeedError(FailureKind.BAD_VALUE, f"{what}: {exc}") from None


def _thinned(ticker: dict, book: dict) -> bool:
    """Whether the ticker's best bid size (fresh) is below `BOOK_THINNING` of the best bid size
    of `book` (kept): the depth at the touch has gone, so the rest of the book may have too."""
    try:
        now_size = float(ticker["bidVolume"])
        then_size = float(book["bids"][0][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return True  # no size to compare: read the book
    return not now_size >= BOOK_THINNING * then_size


class ExchangeSource:
    """`symbol` on a ccxt `venue` (`oracle.feeds.venue.Venue`, shared by the markets on it) as a
    source for `market`.

    The price is the mid of the ticker's best bid and ask, read every time (one request per
    venue and cycle). The order book gives the depth the liquidity haircut walks; it is re-read
    when older than `book_max_age` seconds, when the mid moved more than `book_move` from the
    book's own, or when the ticker's best bid size fell below `BOOK_THINNING` of the book's (0:
    a book every read). A ticker without a bid and ask takes its price from a fresh book.
    """

    def __init__(
        self,
        name: str,
        market: str,
        venue: Venue,
        symbol: str,
        *,
        max_age: int = 300,
        max_future: int = 30,
        book_levels: int = 20,
        book_max_age: int = BOOK_MAX_AGE,
        book_move: float = BOOK_MOVE,
    ) -> None:
        self.name, self.market, self.symbol, self.venue = name, market, symbol, venue
        self.max_age, self.max_future, self.book_levels = max_age, max_future, book_levels
        self.book_max_age, self.book_move = book_max_age, book_move
        #: (the moment it was read, its unix seconds, its price) of the venue's last trade, from
        #: this source's latest read if that passed every check (None after a failed one): the
        #: close of the venue's bar in progress (`oracle.feeds.history`)
        self.last_trade: tuple[int, int, float] | None = None
        venue.quotes(symbol)

    @property
    def shared(self) -> Venue:
        """What this source reads through with the other markets on its venue (`collect_all`
        opens a collection on it, so a cycle's requests to the venue are made once)."""
        return self.venue

    def fetch(self, now: int) -> Reading:
        self.last_trade = None  # set again only by a reading that passes every check
        with self._mapped_errors():
            ticker = self.venue.ticker(self.symbol, now)
            touch = self._touch(ticker)
            book, book_at = None, now
            if touch is not None and self.book_max_age > 0:
                mid = (touch[0] + touch[1]) / 2.0
                kept = self.venue.recent_book(
                    self.symbol, self.book_levels, now, self.book_max_age, mid, self.book_move
                )
                if kept is not None and not _thinned(ticker, kept[1]):
                    book_at, book = kept
            fresh = book is None
            if book is None:
                book = self.venue.book(self.symbol, self.book_levels, now)
        reading = self._reading(ticker, touch, book, now, book_at)
        if fresh:  # kept only once it has passed every check
            book_mid = (reading.bids[0][0] + (reading.best_ask or reading.bids[0][0])) / 2.0
            self.venue.keep_book(self.symbol, self.book_levels, now, book_mid, book)
        return reading

    def history(self, timeframe: str, limit: int) -> PriceSeries:
        """The venue's last `limit` bars (`fetch_ohlcv`) as the risk engine's input; one malformed
        bar makes the whole history a BAD_VALUE failure, never a gap-filled one."""
        return bars_series(self.market, self.bars(timeframe, limit), f"{self.name}: bars")

    def bars(self, timeframe: str, limit: int, since: int | None = None) -> list[Bar]:
        """The venue's bars as (open time, close, volume): the last `limit`, or with `since`
        (unix seconds) the first `limit` opened at or after it. Parsed, not judged: each caller
        judges the window it builds of them once (`bars_series`, `checked_series`)."""
        with self._mapped_errors():
            rows = self.venue.ohlcv(
                self.symbol, timeframe, limit, None if since is None else since * 1000
            )
        if not rows and since is None:
            raise FeedError(FailureKind.BAD_RESPONSE, f"{self.name}: no {timeframe} bars")
        try:
            out = [(int(r[0]) // 1000, float(r[4]), float(r[5])) for r in rows]
        except (TypeError, ValueError, IndexError) as exc:
            raise FeedError(FailureKind.BAD_VALUE, f"{self.name}: bars: {exc}") from None
        return out

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except ccxt.RequestTimeout as exc:
            raise FeedError(FailureKind.TIMEOUT, self._short(exc)) from None
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
            raise FeedError(FailureKind.RATE_LIMITED, self._short(exc)) from None
        except ccxt.ExchangeNotAvailable as exc:
            raise FeedError(FailureKind.SERVER_ERROR, self._short(exc)) from None
        except ccxt.NetworkError as exc:
            raise FeedError(FailureKind.UNREACHABLE, self._short(exc)) from None
        except (ccxt.BaseError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise FeedError(FailureKind.BAD_RESPONSE, self._short(exc)) from None

    def _touch(self, ticker: dict) -> tuple[float, float] | None:
        """The ticker's best bid and ask, checked; None when it does not carry them."""
        if not isinstance(ticker, dict) or ticker.get("bid") is None or ticker.get("ask") is None:
            return None
        bid = check_price(ticker["bid"], f"{self.name} ticker bid")
        ask = check_price(ticker["ask"], f"{self.name} ticker ask")
        if bid >= ask:
            raise FeedError(
                FailureKind.CROSSED_BOOK, f"{self.name} best bid {bid} ≥ best ask {ask}"
            )
        return bid, ask

    def _reading(
        self, ticker: dict, touch: tuple[float, float] | None, book: dict, now: int, book_at: int
    ) -> Reading:
        if not isinstance(ticker.get("info"), dict) or not isinstance(book, dict):
            raise FeedError(FailureKind.BAD_RESPONSE, f"{self.name} answered something not JSON")
        last = check_price(ticker.get("last"), f"{self.name} last price")
        stamp = ticker.get("timestamp")
        if stamp is None:
            raise FeedError(FailureKind.BAD_RESPONSE, f"{self.name} ticker has no timestamp")
        check_time(int(stamp) // 1000, now, self.max_age, self.max_future, f"{self.name} ticker")
        bids, asks = book.get("bids") or [], book.get("asks") or []
        if not bids or not asks:
            raise FeedError(FailureKind.BAD_RESPONSE, f"{self.name} order book is empty")
        levels = tuple(
            (check_price(p, f"{self.name} bid"), check_price(q, f"{self.name} bid size"))
            for p, q, *_ in bids
        )
        # Every level, asks too: ccxt sorts the book, so a garbage level (an "Infinity" ask)
        # would otherwise sink to the far end unseen and the venue's answer pass as sound.
        ask_levels = tuple(
            (check_price(p, f"{self.name} ask"), check_price(q, f"{self.name} ask size"))
            for p, q, *_ in asks
        )
        best_ask = ask_levels[0][0]
        if levels[0][0] >= best_ask:
            raise FeedError(
                FailureKind.CROSSED_BOOK,
                f"{self.name} best bid {levels[0][0]} ≥ best ask {best_ask}",
            )
        book_mid = (levels[0][0] + best_ask) / 2.0
        mid = book_mid if touch is None else (touch[0] + touch[1]) / 2.0
        if abs(book_mid / mid - 1.0) > 0.05:
            raise FeedError(
                FailureKind.BAD_VALUE,
                f"{self.name} book mid {book_mid} is more than 5 % from the ticker's {mid}",
            )
        if abs(last / mid - 1.0) > 0.05:
            raise FeedError(
                FailureKind.BAD_VALUE, f"{self.name} last {last} is more than 5 % from mid {mid}"
            )
        self.last_trade = (now, int(stamp) // 1000, last)
        return Reading(
            self.name,
            self.market,
            mid,
            int(stamp) // 1000,
            bids=levels,
            best_ask=best_ask,
            book_at=book_at,
        )

    def _short(self, exc: Exception) -> str:
        text = f"{self.name}: {type(exc).__name__}: {exc}"
        return text if len(text) <= 300 else text[:300] + "…"
