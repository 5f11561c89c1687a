"""One ccxt client per exchange endpoint, shared by every market that quotes on it.

Why one client and not one per market: the venue's market list is loaded once, not once per
market; its rate limit is one budget whoever spends it; one `fetch_tickers` request answers a
cycle's tickers for up to `TICKER_CHUNK` symbols (a 500-market cycle on one venue makes 5 ticker
requests, not 500); and a book two markets read at the same moment is fetched once. A venue
that does not answer its ticker request fails every market on it after one timeout instead of
one timeout per market.

Answers are shared within one collection of feeds (`sharing`, which `collect_all` opens for a
cycle's reads; `oracle.feeds.sharing`): every reader in it gets the same answer, or the same
error, and the next collection asks again. Outside a collection every call is a request of its
own. Nothing is reused across collections but a checked order book (`keep_book`), which its
reader takes only while young and near the price (`oracle.feeds.exchange.BOOK_MAX_AGE`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ccxt
import requests

from oracle.feeds.base import FEED_WORKERS, FailureKind, FeedError
from oracle.feeds.sharing import SharedAnswers

#: Symbols per `fetch_tickers` request. Binance weighs a request for 21–100 symbols at 40 and one
#: for more (or every symbol it lists, about 2,000 tickers to parse) at 80: up to 200 symbols two
#: chunks weigh what one answer for all does; 500 symbols weigh 200 in five.
TICKER_CHUNK = 100


class Venue(SharedAnswers):
    """A ccxt exchange (`binance`, `binanceus`, ...) at its own API or at `api_url` (the local
    emulator in tests and the demo), safe to call from the feed pool's threads."""

    def __init__(
        self,
        exchange_id: str,
        api_url: str | None = None,
        *,
        timeout: float = 5.0,
        connections: int = FEED_WORKERS,
    ) -> None:
        super().__init__()
        klass = getattr(ccxt, exchange_id, None)
        if klass is None:
            raise ValueError(f"ccxt has no exchange {exchange_id!r}")
        self.exchange_id, self.api_url = exchange_id, api_url
        self.exchange: ccxt.Exchange = klass(
            {
                "enableRateLimit": True,  # spaced by the venue's published limit (`_throttle`)
                "timeout": int(timeout * 1000),
                "options": {"fetchMarkets": {"types": ["spot"]}},
            }
        )
        if api_url is not None:
            _redirect(self.exchange, api_url)
        # ccxt's sync throttle compares the clock with the client's last request and sleeps: two
        # threads sharing the client read the same last request and fire together. The venue
        # reserves each request's slot under a lock instead, with ccxt's own cost per endpoint.
        self.exchange.throttle = self._throttle
        # requests keeps 10 connections per host: the pool's other threads would open and drop a
        # connection per request.
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(1, connections))
        for scheme in ("http://", "https://"):
            self.exchange.session.mount(scheme, adapter)
        self._symbols: set[str] = set()
        self._chunks: dict[str, tuple[int, list[str]]] | None = None
        self._ready = threading.Event()  # the market list is loaded
        self._lock = threading.Lock()
        self._markets_lock = threading.Lock()
        self._next_slot = 0.0
        self._silent: str | None = None  # why the last ticker request went unanswered
        # the last checked book of each symbol: (read at, its mid, the book); one per symbol
        self._books: dict[tuple[str, int], tuple[int, float, dict[str, Any]]] = {}

    def quotes(self, symbol: str) -> None:
        """Declares that a market reads `symbol` here, so the cycle's ticker request includes it."""
        with self._lock:
            if symbol not in self._symbols:
                self._symbols.add(symbol)
                self._chunks = None  # made again, of the listed symbols, at the next read

    def ticker(self, symbol: str, now: int) -> dict[str, Any]:
        """The ticker of `symbol` at moment `now`: within a collection, from the one
        `fetch_tickers` request of its chunk when the venue quotes several symbols and can
        answer that; else (one market read alone, a venue without it) `fetch_ticker`. A symbol
        the venue does not list fails alone, and a chunk the venue refuses (a symbol delisted
        since the market list was loaded) is asked symbol by symbol."""
        self._loaded()
        if symbol not in self.exchange.markets:
            raise FeedError(FailureKind.BAD_RESPONSE, f"the venue does not list {symbol}")
        chunk = self._chunk(symbol)
        alone = not self.collecting(now)

        def own() -> dict[str, Any]:
            return self._once(("ticker", symbol), now, lambda: self._tickers([symbol])[symbol])

        if alone or chunk is None or not self.exchange.has.get("fetchTickers"):
            return own()
        index, symbols = chunk
        try:
            tickers = self._once(("tickers", index), now, lambda: self._tickers(symbols))
        except (ccxt.BadSymbol, ccxt.BadRequest):
            return own()
        if not isinstance(tickers, dict) or not isinstance(tickers.get(symbol), dict):
            raise FeedError(FailureKind.BAD_RESPONSE, f"no ticker for {symbol} in the answer")
        return tickers[symbol]

    def _chunk(self, symbol: str) -> tuple[int, list[str]] | None:
        """`symbol`'s chunk of the listed symbols the venue's markets read (None: it is the only
        one, so a chunk would be a `fetch_ticker`)."""
        with self._lock:
            if self._chunks is None:
                listed = sorted(s for s in self._symbols if s in self.exchange.markets)
                step = TICKER_CHUNK
                chunks = [listed[i : i + step] for i in range(0, len(listed), step)]
                self._chunks = (
                    {s: (n, chunk) for n, chunk in enumerate(chunks) for s in chunk}
                    if len(listed) > 1
                    else {}
                )
            return self._chunks.get(symbol)

    def book(self, symbol: str, levels: int, now: int) -> dict[str, Any]:
        """The order book of `symbol` at moment `now`, `levels` deep, fetched once per moment."""
        self._loaded()
        return self._once(
            ("book", symbol, levels),
            now,
            lambda: self.exchange.fetch_order_book(symbol, levels),
        )

    def recent_book(
        self, symbol: str, levels: int, now: int, max_age: int, mid: float, move: float
    ) -> tuple[int, dict[str, Any]] | None:
        """(when it was read, the book) of `symbol` kept by `keep_book`, if read at most
        `max_age` seconds before `now` around a mid within `move` (fraction) of `mid`; else None
        (read a fresh one)."""
        with self._lock:
            kept = self._books.get((symbol, levels))
        if kept is None:
            return None
        read_at, book_mid, book = kept
        if not 0 <= now - read_at <= max_age or abs(mid / book_mid - 1.0) > move:
            return None
        return read_at, book

    def keep_book(
        self, symbol: str, levels: int, now: int, mid: float, book: dict[str, Any]
    ) -> None:
        """Keeps a book that passed its reader's checks, read at `now` around `mid`."""
        with self._lock:
            kept = self._books.get((symbol, levels))
            if kept is None or kept[0] <= now:
                self._books[(symbol, levels)] = (now, mid, book)

    def ohlcv(
        self, symbol: str, timeframe: str, limit: int, since: int | None = None
    ) -> list[list[Any]]:
        """Bars as ccxt returns them (`since` in unix ms: the bars from then on). Not asked of a
        venue whose last ticker request went unanswered: a cycle's history reads come after its
        price reads, and each would wait out its own timeout."""
        if self._silent is not None:
            raise FeedError(
                FailureKind.UNREACHABLE, f"not asked: its ticker request failed ({self._silent})"
            )
        self._loaded()
        return self.exchange.fetch_ohlcv(symbol, timeframe, since=since, limit=limit)

    # Internals --------------------------------------------------------------------------------

    def _tickers(self, symbols: list[str]) -> dict[str, Any]:
        """One ticker request; whether it was answered decides whether history is asked for."""
        try:
            if len(symbols) == 1:
                answer = {symbols[0]: self.exchange.fetch_ticker(symbols[0])}
            else:
                answer = self.exchange.fetch_tickers(symbols)
        except ccxt.NetworkError as exc:  # timeouts, refusals, 5xx, rate limits
            self._silent = type(exc).__name__
            raise
        self._silent = None
        return answer

    def _loaded(self) -> None:
        """The venue's market list, loaded by one thread while the others wait for it (a flag
        set once `load_markets` has returned: ccxt fills its indexes one after another)."""
        if self._ready.is_set():
            return
        with self._markets_lock:
            if not self._ready.is_set():
                self.exchange.load_markets()
                with self._lock:
                    self._chunks = None
                self._ready.set()

    def _throttle(self, cost: float | None = None) -> None:
        spacing = self.exchange.rateLimit * (1.0 if cost is None else float(cost)) / 1000.0
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + spacing
        if slot > now:
            time.sleep(slot - now)


def _redirect(exchange: ccxt.Exchange, base: str) -> None:
    """Points every REST endpoint of the venue at `base`, keeping each endpoint's path."""
    api = exchange.urls["api"]
    for key, url in list(api.items()):
        if isinstance(url, str) and "://" in url:
            scheme_host = "/".join(url.split("/")[:3])
            api[key] = url.replace(scheme_host, base.rstrip("/"))
