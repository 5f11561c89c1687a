"""A local exchange: a real HTTP server on 127.0.0.1 that answers Binance's spot REST API
(`/api/v3/...`) from recorded OHLCV bars, so ccxt can be driven end to end without the internet.

The venue's clock (`now`, minus `offset` to replay recorded history as if it were happening now)
selects the bar in force; tickers and klines are the recorded bars as
Binance formats them. Recorded data holds no order books, so `/api/v3/depth` is synthetic and says
so in its model: 20 levels a side around the bar's close, spread max(1 bp, a tenth of the bar's
high-low range), level spacing 5 bp, each level holding 2 % of the bar's volume. Faults for tests
and demos: added latency, a forced HTTP status (429, 500, ...), a stale clock, a crossed book, an
outlier price, a non-JSON body, a missing field, NaN prices.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from oracle.feeds.marketdata import Bars

INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14_400, "1d": 86_400}


@dataclass
class Faults:
    """What the emulator does wrong on purpose. All off by default."""

    latency: float = 0.0  # seconds added to every answer
    status: int | None = None  # answer every data request with this HTTP status
    stale_by: int = 0  # seconds the served data lags the replay clock
    crossed_book: bool = False  # best bid above best ask
    price_factor: float = 1.0  # multiply every price (an outlier venue)
    not_json: bool = False
    drop_field: str | None = None  # remove this key from ticker answers
    nan_price: bool = False
    #: rewrites each data answer (path, JSON body) into another body or a `RawAnswer`; property
    #: tests use it to serve arbitrary malformed answers over real HTTP
    rewrite: Callable[[str, Any], Any] | None = None


@dataclass(frozen=True)
class RawAnswer:
    """An answer sent as is: any status, any bytes, any content type."""

    status: int
    data: bytes
    content_type: str = "application/json"


class _Server(ThreadingHTTPServer):
    # The stdlib's listen backlog of 5 drops SYNs under 50 concurrent clients; each dropped
    # connection waits out a 1-3 s TCP retransmit (p99 2.7 s measured, against 5 s feed deadlines).
    request_queue_size = 256


@dataclass
class ExchangeEmulator:
    """Binance-format REST server over recorded bars; start() binds 127.0.0.1 on a free port."""

    symbols: dict[str, tuple[str, str, Bars]]  # "ETHUSDT" -> (base, quote, recorded bars)
    now: int | None = None  # the venue's clock, unix seconds; None: the wall clock
    offset: int = 0  # recorded bars are served as if they happened `offset` seconds later
    faults: Faults = field(default_factory=Faults)
    port: int = 0  # 0: a free port
    #: the last paths served, bounded so a long soak does not grow the emulator's memory
    requests: deque[str] = field(default_factory=lambda: deque(maxlen=1_000))
    #: the same requests with their query strings
    queries: deque[str] = field(default_factory=lambda: deque(maxlen=1_000))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ExchangeEmulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = _Server(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ExchangeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clock(self) -> int:
        return int(time.time()) if self.now is None else self.now

    # Answers --------------------------------------------------------------------------------

    def bar_index(self, symbol: str) -> int:
        bars = self.symbols[symbol][2]
        at = self.clock() - self.offset - self.faults.stale_by
        i = int(np.searchsorted(bars.timestamps, at, side="right")) - 1
        if i < 0:
            raise LookupError(f"no bar of {symbol} at or before {at}")
        return i

    def ticker(self, symbol: str) -> dict[str, Any]:
        bars = self.symbols[symbol][2]
        i = self.bar_index(symbol)
        f = self.faults.price_factor
        close = float("nan") if self.faults.nan_price else float(bars.close[i]) * f
        bid, ask = self._touch(bars, i)
        close_ms = (
            self.clock() - self.faults.stale_by
        ) * 1000  # a 24 h ticker ends at the last trade
        answer: dict[str, Any] = {
            "symbol": symbol,
            "priceChange": _num(close - bars.open[i] * f),
            "priceChangePercent": _num((close / (bars.open[i] * f) - 1) * 100),
            "weightedAvgPrice": _num(close),
            "prevClosePrice": _num(bars.open[i] * f),
            "lastPrice": _num(close),
            "lastQty": "1.00000000",
            "bidPrice": _num(bid),
            "bidQty": _num(bars.volume[i] * 0.02),
            "askPrice": _num(ask),
            "askQty": _num(bars.volume[i] * 0.02),
            "openPrice": _num(bars.open[i] * f),
            "highPrice": _num(bars.high[i] * f),
            "lowPrice": _num(bars.low[i] * f),
            "volume": _num(bars.volume[i]),
            "quoteVolume": _num(bars.volume[i] * close),
            "openTime": close_ms - 86_400_000,
            "closeTime": close_ms,
            "firstId": 1,
            "lastId": 2,
            "count": 2,
        }
        if self.faults.drop_field:
            answer.pop(self.faults.drop_field, None)
        return answer

    def _touch(self, bars: Bars, i: int) -> tuple[float, float]:
        f = self.faults.price_factor
        close = float(bars.close[i]) * f
        half = max(close * 0.00005, (float(bars.high[i]) - float(bars.low[i])) * f * 0.05)
        bid, ask = close - half, close + half
        return (ask + half, bid - half) if self.faults.crossed_book else (bid, ask)

    def depth(self, symbol: str, limit: int) -> dict[str, Any]:
        bars = self.symbols[symbol][2]
        i = self.bar_index(symbol)
        bid, ask = self._touch(bars, i)
        levels = min(limit, 20)
        size = max(float(bars.volume[i]) * 0.02, 1e-8)
        step = 0.0005
        return {
            "lastUpdateId": int(bars.timestamps[i]),
            "bids": [[_num(bid * (1 - step * k)), _num(size)] for k in range(levels)],
            "asks": [[_num(ask * (1 + step * k)), _num(size)] for k in range(levels)],
        }

    def klines(self, symbol: str, interval: str, start: int | None, limit: int) -> list[list[Any]]:
        """Binance's klines up to the bar in force: the recorded bars, or candles of a longer
        interval built from them as the venue builds them (first open, highest high, lowest low,
        last close, summed volume; the candle in progress is partial)."""
        bars = self.symbols[symbol][2]
        step = INTERVALS.get(interval)
        if step is None or step < bars.interval or step % bars.interval:
            raise ValueError(f"only {bars.interval} s bars and multiples are recorded for {symbol}")
        end = self.bar_index(symbol) + 1
        opened = bars.timestamps[:end] + self.offset
        first_of = np.flatnonzero(np.diff(opened // step, prepend=opened[0] // step - 1))
        last_of = np.append(first_of[1:] - 1, end - 1)
        candles = (
            opened[first_of] // step * step,
            bars.open[first_of],
            np.maximum.reduceat(bars.high[:end], first_of),
            np.minimum.reduceat(bars.low[:end], first_of),
            bars.close[last_of],
            np.add.reduceat(bars.volume[:end], first_of),
        )
        n = len(first_of)
        first = max(0, n - limit)
        if start is not None:
            first = int(np.searchsorted(candles[0], start // 1000))
        f = self.faults.price_factor
        rows = []
        for i in range(first, min(n, first + limit)):
            t, o, h, lo, c, v = (x[i] for x in candles)
            ms = int(t) * 1000
            rows.append(
                [
                    ms,
                    _num(o * f),
                    _num(h * f),
                    _num(lo * f),
                    _num(c * f),
                    _num(v),
                    ms + step * 1000 - 1,
                    _num(v * c * f),
                    1,
                    "0",
                    "0",
                    "0",
                ]
            )
        if self.faults.nan_price and rows:
            rows[-1][4] = "NaN"
        return rows

    def exchange_info(self) -> dict[str, Any]:
        symbols = []
        for symbol, (base, quote, _) in self.symbols.items():
            symbols.append(
                {
                    "symbol": symbol,
                    "status": "TRADING",
                    "baseAsset": base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": ["LIMIT", "MARKET"],
                    "icebergAllowed": True,
                    "ocoAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "permissions": ["SPOT"],
                    "permissionSets": [["SPOT"]],
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": "0.00000100",
                            "maxPrice": "1000000.00000000",
                            "tickSize": "0.00000100",
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": "0.00000100",
                            "maxQty": "9000000.00000000",
                            "stepSize": "0.00000100",
                        },
                    ],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": self.clock() * 1000,
            "rateLimits": [],
            "symbols": symbols,
        }


def _num(x: float) -> str:
    return "NaN" if not math.isfinite(float(x)) else f"{float(x):.8f}"


class _Handler(BaseHTTPRequestHandler):
    emulator: ExchangeEmulator

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests`
        return

    def do_GET(self) -> None:
        em = self.emulator
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        em.requests.append(url.path)
        em.queries.append(self.path)
        if em.faults.latency:
            time.sleep(em.faults.latency)
        try:
            body = self._answer(em, url.path, q)
        except KeyError as exc:
            self._send(400, {"code": -1121, "msg": f"Invalid symbol {exc}."})
            return
        except (LookupError, ValueError) as exc:
            self._send(400, {"code": -1100, "msg": str(exc)})
            return
        if body is None:
            self._send(404, {"code": -1, "msg": f"no such endpoint {url.path}"})
            return
        faulty = url.path != "/api/v3/exchangeInfo"  # ccxt's market list is always served
        status = em.faults.status
        if status is not None and faulty:
            if status == 429:  # Binance's rate-limit answer
                self._send(
                    429, {"code": -1003, "msg": "Too many requests; current limit exceeded."}
                )
            else:  # a gateway's error page
                self._raw(status, b"<html><body>Service Unavailable</body></html>", "text/html")
            return
        if em.faults.not_json and faulty:
            self._raw(200, b"<html>maintenance</html>", "text/html")
            return
        if em.faults.rewrite is not None and faulty:
            body = em.faults.rewrite(url.path, body)
            if isinstance(body, RawAnswer):
                self._raw(body.status, body.data, body.content_type)
                return
        self._send(200, body)

    @staticmethod
    def _answer(em: ExchangeEmulator, path: str, q: dict[str, str]) -> Any:
        if path == "/api/v3/ping":
            return {}
        if path == "/api/v3/time":
            return {"serverTime": em.clock() * 1000}
        if path == "/api/v3/exchangeInfo":
            return em.exchange_info()
        if path == "/api/v3/ticker/24hr":  # one symbol, a JSON list of `symbols`, or every one
            if "symbol" in q:
                return em.ticker(q["symbol"])
            names = json.loads(q["symbols"]) if "symbols" in q else list(em.symbols)
            if not isinstance(names, list):
                raise ValueError("symbols must be a JSON list")
            return [em.ticker(name) for name in names]
        if path == "/api/v3/depth":
            return em.depth(q["symbol"], int(q.get("limit", 100)))
        if path == "/api/v3/klines":
            start = int(q["startTime"]) if "startTime" in q else None
            return em.klines(q["symbol"], q["interval"], start, int(q.get("limit", 500)))
        return None

    def _send(self, status: int, body: Any) -> None:
        self._raw(status, json.dumps(body).encode(), "application/json")

    def _raw(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _SharedClock(ExchangeEmulator):
    """The emulator of an `EmulatorProcess`: its clock and replay offset are the parent's shared
    values (a clock of 0: the wall clock)."""

    shared_now: Any = None
    shared_offset: Any = None

    def clock(self) -> int:
        now = int(self.shared_now.value)
        return int(time.time()) if now == 0 else now

    def bar_index(self, symbol: str) -> int:
        self.offset = int(self.shared_offset.value)
        return super().bar_index(symbol)


def _serve(
    listing: dict[str, tuple[str, str, str]],
    shared_offset: Any,
    shared_now: Any,
    ready: Any,
    stop: Any,
) -> None:
    from oracle.feeds.marketdata import shipped_bars

    loaded: dict[str, Bars] = {}
    symbols = {}
    for symbol, (base, quote, recording) in listing.items():
        if recording not in loaded:
            loaded[recording] = shipped_bars(recording, f"{base}/{quote}")
        symbols[symbol] = (base, quote, loaded[recording])
    em = _SharedClock(symbols, offset=int(shared_offset.value))
    em.shared_now, em.shared_offset = shared_now, shared_offset
    em.start()
    ready.put(em.url)
    stop.wait()
    em.stop()


class EmulatorProcess:
    """An `ExchangeEmulator` in a process of its own, as a venue is a machine of its own: in the
    keeper's process the venue's answers would share its interpreter (one GIL), and a benchmark
    would charge the venue's work to the keeper. `listing` maps a venue symbol ("ETHUSDT") to
    (base, quote, shipped recording); `now` (None: the wall clock) and `offset` are shared memory
    the parent sets. Faults are not reachable across the process: tests that inject them use
    `ExchangeEmulator`."""

    def __init__(
        self, listing: dict[str, tuple[str, str, str]], now: int | None, offset: int = 0
    ) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # no copy of the parent's threads or sockets
        self._now = ctx.Value("q", now or 0, lock=False)
        self._offset = ctx.Value("q", offset, lock=False)
        self._ready = ctx.Queue()
        self._stop = ctx.Event()
        self._process = ctx.Process(
            target=_serve,
            args=(listing, self._offset, self._now, self._ready, self._stop),
            daemon=True,
        )
        self.url = ""

    @property
    def now(self) -> int:
        return int(self._now.value)

    @now.setter
    def now(self, value: int) -> None:
        self._now.value = value

    @property
    def offset(self) -> int:
        return int(self._offset.value)

    @offset.setter
    def offset(self, value: int) -> None:
        self._offset.value = value

    def start(self, timeout: float = 60.0) -> EmulatorProcess:
        self._process.start()
        self.url = self._ready.get(timeout=timeout)
        return self

    def stop(self) -> None:
        """Stops the server and its process (killed if it does not exit within 5 s)."""
        if self._process.pid is None:
            return
        self._stop.set()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
