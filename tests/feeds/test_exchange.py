"""ccxt against the local exchange emulator (a real HTTP server on 127.0.0.1): readings, every
failure mode as a typed result, and a slow venue that cannot stall the cycle."""

from __future__ import annotations

import time

import numpy as np
import pytest

from oracle.devnet.emulator import ExchangeEmulator, Faults
from oracle.feeds import FailureKind, Reading, collect, collect_all
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.marketdata import shipped_bars
from oracle.feeds.venue import Venue
from oracle.snapshot import Health, HealthPolicy, aggregate

MARKET = "ETH/USDT"


@pytest.fixture(scope="module")
def eth_bars():
    return shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", MARKET)


@pytest.fixture(scope="module")
def now(eth_bars):
    return int(eth_bars.timestamps[23_000]) + 1_800  # half-way through a recorded hour


@pytest.fixture
def venues(eth_bars, now):
    """Three emulated venues serving the same recorded ETH/USDT bars; stopped after the test."""
    ems = [
        ExchangeEmulator({"ETHUSDT": ("ETH", "USDT", eth_bars)}, now=now).start() for _ in range(3)
    ]
    yield ems
    for em in ems:
        em.stop()


def source(em, name="binance", exchange="binance", **kw):
    return ExchangeSource(name, MARKET, Venue(exchange, em.url), MARKET, max_age=600, **kw)


def test_ccxt_reads_the_recorded_bar_from_two_venue_classes(venues, eth_bars, now):
    results = collect([source(venues[0]), source(venues[1], "binanceus", "binanceus")], now, 5.0)
    close = float(eth_bars.close[23_000])
    for r in results:
        assert isinstance(r, Reading), r
        assert r.price == pytest.approx(close, rel=1e-9)  # symmetric synthetic spread: mid = close
        assert r.timestamp == now
        assert r.bids[0][0] < r.price < r.best_ask
    assert "/api/v3/depth" in venues[0].requests and "/api/v3/ticker/24hr" in venues[0].requests


def test_ohlcv_history_is_the_recorded_bars(venues, eth_bars):
    history = source(venues[0]).history("1h", limit=500)
    np.testing.assert_allclose(history.close, eth_bars.close[22_501:23_001])
    np.testing.assert_array_equal(history.timestamps, eth_bars.timestamps[22_501:23_001])
    np.testing.assert_allclose(history.volume, eth_bars.volume[22_501:23_001])


def test_daily_candles_are_built_from_the_recorded_bars(venues, eth_bars, now):
    # What the keeper's tail memory reads: daily OHLCV as the venue builds it from its trades.
    daily = source(venues[0]).history("1d", limit=30)
    day = eth_bars.timestamps[:23_001] // 86_400
    assert daily.timestamps[-1] == now // 86_400 * 86_400  # the day in progress comes last
    for t, close, volume in zip(daily.timestamps, daily.close, daily.volume, strict=True):
        in_day = np.flatnonzero(day == t // 86_400)
        assert close == pytest.approx(float(eth_bars.close[in_day[-1]]), rel=1e-12)
        assert volume == pytest.approx(float(eth_bars.volume[in_day].sum()), rel=1e-9)
    assert len(daily.close) == 30 and daily.interval == 86_400


def test_ohlcv_history_with_a_bad_bar_is_refused_whole(venues):
    from oracle.feeds import FeedError

    venues[0].faults = Faults(nan_price=True)
    with pytest.raises(FeedError) as err:
        source(venues[0]).history("1h", limit=50)
    assert err.value.kind in (FailureKind.BAD_VALUE, FailureKind.BAD_RESPONSE)


@pytest.mark.parametrize(
    ("faults", "kind", "detail"),
    [
        (Faults(status=429), FailureKind.RATE_LIMITED, "429"),
        (Faults(status=500), FailureKind.SERVER_ERROR, "500"),
        (Faults(status=503), FailureKind.SERVER_ERROR, "503"),
        (Faults(not_json=True), FailureKind.BAD_RESPONSE, "not JSON"),
        (Faults(drop_field="closeTime"), FailureKind.BAD_RESPONSE, "no timestamp"),
        (Faults(crossed_book=True), FailureKind.CROSSED_BOOK, "best bid"),
        (Faults(nan_price=True), FailureKind.BAD_RESPONSE, "binance"),
        (Faults(stale_by=3_600), FailureKind.STALE, "3600 s old"),
    ],
)
def test_every_fault_is_a_typed_failure(venues, now, faults, kind, detail):
    venues[0].faults = faults
    [result] = collect([source(venues[0])], now, 5.0)
    assert result.kind == kind, result
    assert detail in result.detail


def test_future_timestamp(venues, now):
    [result] = collect([source(venues[0])], now - 600, 5.0)  # our clock is behind the venue's
    assert result.kind == FailureKind.FUTURE_TIMESTAMP


def test_connection_refused(now):
    from oracle.devnet.anvil import free_port

    dead = ExchangeSource(
        "dead", MARKET, Venue("binance", f"http://127.0.0.1:{free_port()}"), MARKET
    )
    [result] = collect([dead], now, 5.0)
    assert result.kind == FailureKind.UNREACHABLE


def test_a_slow_venue_cannot_stall_the_cycle(venues, now):
    venues[2].faults = Faults(latency=4.0)
    started = time.monotonic()
    results = collect(
        [source(venues[0]), source(venues[1], "b2"), source(venues[2], "slow")], now, 1.0
    )
    assert time.monotonic() - started < 3.0  # the slow venue would take 4 s
    assert [type(r).__name__ for r in results] == ["Reading", "Reading", "SourceFailure"]
    assert results[2].kind == FailureKind.TIMEOUT
    snap = aggregate(MARKET, results, now, HealthPolicy())
    assert snap.health == Health.DEGRADED and snap.accepted == ("b2", "binance")


def test_many_markets_on_one_pool_wait_for_the_slow_venue_once(venues, now):
    """A cycle's reads for many markets on one bounded pool: every market's answers come back in
    its own order, the slow venue is a TIMEOUT in each market, and the cycle waits one deadline
    per round of reads (30 reads on 15 threads: two rounds of 1 s), not one per market (ten)."""
    venues[2].faults = Faults(latency=4.0)
    markets = [
        [source(venues[0], f"a{i}"), source(venues[2], f"slow{i}"), source(venues[1], f"b{i}")]
        for i in range(10)
    ]
    started = time.monotonic()
    fetched = collect_all(markets, now, 1.0, workers=15)
    assert time.monotonic() - started < 3.5  # ten markets read one by one would take 10 s
    assert [[r.source for r in results] for results in fetched] == [
        [s.name for s in group] for group in markets
    ]
    for results in fetched:
        assert [type(r).__name__ for r in results] == ["Reading", "SourceFailure", "Reading"]
        assert results[1].kind == FailureKind.TIMEOUT


def test_a_venue_printing_an_outlier_is_rejected(venues, now, eth_bars):
    venues[1].faults = Faults(price_factor=1.3)
    results = collect(
        [source(venues[0], "a"), source(venues[1], "b"), source(venues[2], "c")], now, 5.0
    )
    snap = aggregate(MARKET, results, now, HealthPolicy())
    assert snap.accepted == ("a", "c")
    assert snap.price == pytest.approx(float(eth_bars.close[23_000]))
    assert snap.health == Health.DEGRADED
    assert any(r.startswith("b: outlier: ") for r in snap.reasons)


def test_cli_snapshot_reads_configured_venues(tmp_path, eth_bars):
    """`oracle snapshot` end to end: config → ccxt → two emulated venues → one JSON line."""
    import json
    import subprocess
    import sys

    ems = [
        ExchangeEmulator({"ETHUSDT": ("ETH", "USDT", eth_bars)}, now=int(time.time()))
        for _ in range(2)
    ]
    for em in ems:
        em.start()
    try:
        cfg = tmp_path / "oracle.yaml"
        cfg.write_text(
            "chain:\n  sender: {unlocked: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'}\n"
            "registry:\n  governance: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'\n"
            "  guardian: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'\n"
            "  signers: ['0x70997970C51812dc3A010C7d01b50e0d17dc79C8']\n"
            "feeds:\n  timeout: 5\n  markets:\n    ETH/USDT:\n      exchanges:\n"
            f"        - {{name: binance, exchange: binance, symbol: ETH/USDT,\n"
            f"           api_url: '{ems[0].url}'}}\n"
            f"        - {{name: binanceus, exchange: binanceus, symbol: ETH/USDT,\n"
            f"           api_url: '{ems[1].url}'}}\n"
        )
        out = subprocess.run(
            [sys.executable, "-m", "oracle.cli", "--config", str(cfg), "snapshot", "ETH/USDT"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    finally:
        for em in ems:
            em.stop()
    line = json.loads(out.stdout)
    assert line["health"] == "ok" and line["accepted"] == ["binance", "binanceus"]
    assert line["price"] == pytest.approx(float(eth_bars.close[-1]))
    assert line["hash"].startswith("0x") and len(line["hash"]) == 66


def test_config_rejects_a_market_that_could_never_be_healthy(tmp_path):
    from oracle.errors import ConfigError
    from oracle.keeper.config import parse_config

    base = {
        "chain": {"sender": {"unlocked": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}},
        "registry": {
            "governance": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "guardian": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "signers": ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"],
        },
    }
    one = {"exchanges": [{"name": "a", "exchange": "binance", "symbol": "ETH/USDT"}]}
    with pytest.raises(ConfigError, match=r"has 1 source\(s\) but health.min_healthy is 2"):
        parse_config({**base, "feeds": {"markets": {"ETH/USDT": one}}})
    bad = {"exchanges": [{"name": "a", "exchange": "nowhere", "symbol": "ETH/USDT"}]}
    with pytest.raises(ConfigError, match=r"feeds.markets.ETH/USDT.exchanges.0.exchange"):
        parse_config(
            {**base, "feeds": {"health": {"min_healthy": 1}, "markets": {"ETH/USDT": bad}}}
        )
