"""Markets sharing one venue's ccxt client, against the local exchange emulator (a real HTTP server
on 127.0.0.1): one ticker request per collection, each book once, the same readings as a venue of
their own, and a failure confined to what it touches."""

from __future__ import annotations

import threading
import time

import pytest

from oracle.devnet.emulator import ExchangeEmulator, Faults, RawAnswer
from oracle.feeds import FailureKind, Reading, SourceFailure, collect, collect_all
from oracle.feeds.exchange import BOOK_THINNING, ExchangeSource
from oracle.feeds.marketdata import shipped_bars
from oracle.feeds.venue import TICKER_CHUNK, Venue

TICKER, DEPTH = "/api/v3/ticker/24hr", "/api/v3/depth"
COINS = [f"C{i:03d}" for i in range(TICKER_CHUNK + 5)]  # two ticker chunks


@pytest.fixture(scope="module")
def bars():
    return shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")


@pytest.fixture(scope="module")
def now(bars):
    return int(bars.timestamps[23_000]) + 1_800


@pytest.fixture
def emulator(bars, now):
    """One venue listing ETH/USDT and `COINS` against USDT (all replaying the ETH bars)."""
    symbols = {"ETHUSDT": ("ETH", "USDT", bars)}
    symbols |= {f"{c}USDT": (c, "USDT", bars) for c in COINS}
    em = ExchangeEmulator(symbols, now=now).start()
    yield em
    em.stop()


def sources_on(venue: Venue, coins: list[str], name: str = "v") -> list[ExchangeSource]:
    return [ExchangeSource(name, f"{c}/USDT", venue, f"{c}/USDT", max_age=600) for c in coins]


def count(em: ExchangeEmulator, path: str) -> int:
    return sum(p == path for p in em.requests)


def test_many_markets_make_one_ticker_request_per_chunk_and_the_readings_of_their_own(
    emulator, now
):
    venue = Venue("binance", emulator.url)
    shared = sources_on(venue, COINS)
    alone = ExchangeSource("v", "C007/USDT", Venue("binance", emulator.url), "C007/USDT")
    [own] = collect([alone], now, 5.0)
    emulator.requests.clear()
    results = collect_all([[s] for s in shared], now, 5.0, workers=16)
    assert count(emulator, TICKER) == 2  # 105 symbols: a chunk of 100 and one of 5
    assert count(emulator, DEPTH) == len(COINS)
    assert all(isinstance(r, Reading) for [r] in results)
    assert results[7][0] == own  # the same reading as through a client of its own
    emulator.requests.clear()
    collect_all([[s] for s in shared], now, 5.0, workers=16)
    assert count(emulator, TICKER) == 2  # the next collection asks again: nothing is kept


def test_a_book_two_markets_read_at_once_is_fetched_once(emulator, now):
    venue = Venue("binance", emulator.url)
    first = ExchangeSource("v", "ETH/USDT", venue, "ETH/USDT", max_age=600)
    second = ExchangeSource("v", "ETH/USDC", venue, "ETH/USDT", max_age=600)  # same pair
    emulator.requests.clear()
    [[a], [b]] = collect_all([[first], [second]], now, 5.0)
    assert isinstance(a, Reading) and isinstance(b, Reading) and a.price == b.price
    assert count(emulator, DEPTH) == 1 and count(emulator, TICKER) == 1


def test_a_symbol_missing_from_the_answer_fails_that_market_alone(emulator, now):
    venue = Venue("binance", emulator.url)
    shared = sources_on(venue, COINS[:5])

    def drop_c002(path, body):
        return [t for t in body if t["symbol"] != "C002USDT"] if path == TICKER else body

    emulator.faults = Faults(rewrite=drop_c002)
    results = [r for [r] in collect_all([[s] for s in shared], now, 5.0)]
    assert [type(r).__name__ for r in results] == ["Reading"] * 2 + ["SourceFailure"] + [
        "Reading"
    ] * 2
    assert results[2].kind == FailureKind.BAD_RESPONSE and "C002/USDT" in results[2].detail


@pytest.mark.parametrize(
    ("faults", "kind"),
    [
        (Faults(not_json=True), FailureKind.BAD_RESPONSE),
        (Faults(status=429), FailureKind.RATE_LIMITED),
        (
            Faults(rewrite=lambda path, body: {"not": "a list"} if path == TICKER else body),
            FailureKind.BAD_RESPONSE,
        ),
        (
            Faults(rewrite=lambda p, b: RawAnswer(502, b"bad gateway") if p == TICKER else b),
            FailureKind.SERVER_ERROR,
        ),
    ],
)
def test_a_bad_ticker_answer_fails_every_market_once_and_no_book_is_read(
    emulator, now, faults, kind
):
    venue = Venue("binance", emulator.url)
    shared = sources_on(venue, COINS[:20])
    venue._loaded()  # the market list is served even under faults; load it before them
    emulator.faults = faults
    emulator.requests.clear()
    results = [r for [r] in collect_all([[s] for s in shared], now, 5.0, workers=8)]
    assert all(isinstance(r, SourceFailure) for r in results), results
    assert {r.kind for r in results} == {kind}
    assert count(emulator, TICKER) == 1 and count(emulator, DEPTH) == 0


def test_a_dead_venue_costs_one_timeout_not_one_per_market(emulator, now):
    venue = Venue("binance", emulator.url, timeout=1.0)
    shared = sources_on(venue, COINS[:40])
    venue._loaded()
    emulator.faults = Faults(latency=3.0)
    started = time.monotonic()
    results = [r for [r] in collect_all([[s] for s in shared], now, 1.0, workers=8)]
    assert all(r.kind == FailureKind.TIMEOUT for r in results)
    # 40 markets on 8 threads are 5 rounds: 5 s if every market waited out its own request
    assert time.monotonic() - started < 3.5


def test_outside_a_collection_every_read_is_its_own_request_of_one_symbol(emulator, now):
    venue = Venue("binance", emulator.url)
    source = ExchangeSource("v", "ETH/USDT", venue, "ETH/USDT", max_age=600, book_max_age=0)
    sources_on(venue, COINS)  # the venue quotes 106 symbols for other markets
    emulator.requests.clear()
    emulator.queries.clear()
    source.fetch(now)
    source.fetch(now)
    assert count(emulator, TICKER) == 2 and count(emulator, DEPTH) == 2
    # one market read alone asks for its own ticker, not for its chunk of a hundred
    tickers = [q for q in emulator.queries if q.startswith(TICKER)]
    assert all("symbol=ETHUSDT" in q and "symbols=" not in q for q in tickers), tickers


def test_a_symbol_the_venue_does_not_list_fails_alone(emulator, now):
    venue = Venue("binance", emulator.url)
    listed = sources_on(venue, COINS[:3])
    unlisted = ExchangeSource("v", "XYZ/USDT", venue, "XYZ/USDT", max_age=600)
    results = [r for [r] in collect_all([[s] for s in [*listed, unlisted]], now, 5.0)]
    assert [type(r).__name__ for r in results] == ["Reading"] * 3 + ["SourceFailure"]
    assert results[3].kind == FailureKind.BAD_RESPONSE and "does not list" in results[3].detail


def test_a_chunk_the_venue_refuses_is_asked_symbol_by_symbol(emulator, now):
    """A symbol delisted after the market list was loaded: the venue refuses the chunk that
    names it (Binance: -1121 Invalid symbol), and the other markets still get their tickers."""
    venue = Venue("binance", emulator.url)
    shared = sources_on(venue, COINS[:4])
    venue._loaded()
    del emulator.symbols["C002USDT"]  # delisted since
    results = [r for [r] in collect_all([[s] for s in shared], now, 5.0)]
    assert [type(r).__name__ for r in results] == ["Reading", "Reading", "SourceFailure", "Reading"]


def test_a_book_is_reused_while_the_price_stays_near_it_and_not_longer(emulator, now):
    """Depth is re-read when the book is older than `book_max_age`, when the ticker's mid left
    the book's by more than `book_move`, or when the ticker's best bid size fell below half the
    book's; a book that failed its checks is never reused."""
    venue = Venue("binance", emulator.url)
    source = ExchangeSource("v", "ETH/USDT", venue, "ETH/USDT", max_age=7_200, book_max_age=600)
    assert BOOK_THINNING == 0.5
    emulator.requests.clear()

    def depth_reads(at: int) -> int:
        before = count(emulator, DEPTH)
        emulator.now = at
        [reading] = collect([source], at, 5.0)
        assert isinstance(reading, Reading), reading
        return count(emulator, DEPTH) - before

    assert depth_reads(now) == 1
    first = source.fetch(now)
    assert depth_reads(now + 300) == 0  # same bar, same price: the book in hand
    assert depth_reads(now + 700) == 1  # older than 600 s
    emulator.faults = Faults(price_factor=1.02)  # the price leaves the book by 2 %
    assert depth_reads(now + 800) == 1
    emulator.faults = Faults(price_factor=1.025)  # within 1 % of the new book's mid
    assert depth_reads(now + 900) == 0
    moved = source.fetch(now + 900)
    assert moved.price == pytest.approx(first.price * 1.025)  # the price is the ticker's, fresh
    kept = tuple((pytest.approx(p * 1.02), q) for p, q in first.bids)
    assert moved.bids == kept  # the depth is the book read at 1.02
    assert (first.book_at, moved.book_at) == (now, now + 800)  # and the reading says when

    thin = Faults(
        price_factor=1.025, rewrite=lambda p, b: {**b, "bidQty": "0.01"} if p == TICKER else b
    )
    emulator.faults = thin  # the touch has thinned, the price has not moved
    assert depth_reads(now + 1_000) == 1

    def crossed(path, body):
        return {**body, "bids": [[body["asks"][0][0], "1"]]} if path == DEPTH else body

    emulator.faults = Faults(rewrite=crossed)
    emulator.now = now + 2_000
    [bad] = collect([source], now + 2_000, 5.0)
    assert isinstance(bad, SourceFailure) and bad.kind == FailureKind.CROSSED_BOOK
    emulator.faults = Faults()
    assert depth_reads(now + 2_100) == 1  # the bad book was not kept: read again


def test_the_venue_spaces_requests_from_many_threads_by_its_rate_limit(emulator):
    """ccxt's own throttle lets threads sharing a client fire together; the venue's reserves a
    slot for each request: 6 requests at cost 2 on a 20 ms limit start 40 ms apart."""
    venue = Venue("binance", emulator.url)
    venue.exchange.rateLimit = 20
    started: list[float] = []
    lock = threading.Lock()

    def request() -> None:
        venue.exchange.throttle(2)
        with lock:
            started.append(time.monotonic())

    threads = [threading.Thread(target=request) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gaps = [b - a for a, b in zip(sorted(started), sorted(started)[1:], strict=False)]
    assert min(gaps) >= 0.035, gaps
