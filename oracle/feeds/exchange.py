"""Centralised exchanges through ccxt: ticker and order book of one symbol on one venue.

ccxt's own errors map onto failure kinds (timeouts, refused connections, HTTP 429 and 5xx,
malformed answers); values are checked like every other source's (finite, positive, not stale,
not in the future, book not crossed). `api_url` points the venue at another host — the local
exchange emulator in tests and the demo.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import ccxt
import numpy as np

from oracle.errors import RiskInputError
from oracle.feeds.base import FailureKind, FeedError, Reading, check_price, check_time
from oracle.series import PriceSeries


class ExchangeSource:
    """A ccxt venue (e.g. `binance`, `binanceus`) quoting `symbol` for `market`."""

    def __init__(
        self,
        name: str,
        market: str,
        exchange_id: str,
        symbol: str,
        *,
        api_url: str | None = None,
        timeout: float = 5.0,
        max_age: int = 300,
        max_future: int = 30,
        book_levels: int = 20,
    ) -> None:
        self.name, self.market, self.symbol = name, market, symbol
        self.max_age, self.max_future, self.book_levels = max_age, max_future, book_levels
        klass = getattr(ccxt, exchange_id, None)
        if klass is None:
            raise ValueError(f"ccxt has no exchange {exchange_id!r}")
        self.exchange = klass(
            {
                "enableRateLimit": True,  # ccxt spaces requests by the venue's published limit
                "timeout": int(timeout * 1000),
                "options": {"fetchMarkets": {"types": ["spot"]}},
            }
        )
        if api_url is not None:
            _redirect(self.exchange, api_url)

    def fetch(self, now: int) -> Reading:
        with self._mapped_errors():
            ticker = self.exchange.fetch_ticker(self.symbol)
            book = self.exchange.fetch_order_book(self.symbol, self.book_levels)
        return self._reading(ticker, book, now)

    def history(self, timeframe: str, limit: int) -> PriceSeries:
        """The venue's last `limit` bars (`fetch_ohlcv`) as the risk engine's input; one malformed
        bar makes the whole history a BAD_VALUE failure, never a gap-filled one."""
        with self._mapped_errors():
            rows = self.exchange.fetch_ohlcv(self.symbol, timeframe, limit=limit)
        if not rows:
            raise FeedError(FailureKind.BAD_RESPONSE, f"{self.name}: no {timeframe} bars")
        try:
            ts = np.array([int(r[0]) // 1000 for r in rows], dtype=np.int64)
            close = np.array([float(r[4]) for r in rows])
            volume = np.array([float(r[5]) for r in rows])
            return PriceSeries(self.market, ts, close, volume)
        except (RiskInputError, TypeError, ValueError, IndexError) as exc:
            raise FeedError(FailureKind.BAD_VALUE, f"{self.name}: bars: {exc}") from None

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

    def _reading(self, ticker: dict, book: dict, now: int) -> Reading:
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
        mid = (levels[0][0] + best_ask) / 2.0
        if abs(last / mid - 1.0) > 0.05:
            raise FeedError(
                FailureKind.BAD_VALUE, f"{self.name} last {last} is more than 5 % from mid {mid}"
            )
        return Reading(
            self.name, self.market, mid, int(stamp) // 1000, bids=levels, best_ask=best_ask
        )

    def _short(self, exc: Exception) -> str:
        text = f"{self.name}: {type(exc).__name__}: {exc}"
        return text if len(text) <= 300 else text[:300] + "…"


def _redirect(exchange: ccxt.Exchange, base: str) -> None:
    """Points every REST endpoint of the venue at `base`, keeping each endpoint's path."""
    api = exchange.urls["api"]
    for key, url in list(api.items()):
        if isinstance(url, str) and "://" in url:
            scheme_host = "/".join(url.split("/")[:3])
            api[key] = url.replace(scheme_host, base.rstrip("/"))
