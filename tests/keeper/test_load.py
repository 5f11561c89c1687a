"""Load: many markets in one cycle, many cycles in one process, many clients on one venue.

Each test prints a `LOAD {json}` line with its figures (`make load` runs the full sizes with
output shown; RELIABILITY.md records them). The assertions are the properties, not the speed:
every batch fits the block, memory stops growing, no request fails.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import pytest

from oracle.devnet.emulator import ExchangeEmulator
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.venue import Venue
from oracle.markets import market_id
from tests.helpers.markets import MARKET
from tests.helpers.time import ts

FEEDS_DEADLINE = 5.0  # seconds: the keeper's default deadline for all of a cycle's feed reads


def rss_kib() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in KiB, from the kernel's own accounting."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def test_500_markets_pushed_in_block_sized_batches(node_rig):
    """500 markets on a 15M-gas chain: the keeper splits the updates so that each batch stays
    under half a block, and every market ends with exactly the values it decided."""
    gas_limit = 15_000_000
    markets = [f"LOAD{i:03d}/USDT" for i in range(500)]
    rig = node_rig(
        "2020-03-12T00:00:00", markets=markets, anvil_args=["--gas-limit", str(gas_limit)]
    )
    figures = {}
    for label, shift in (("first writes", 0), ("tightening after the crash", 20 * 3_600)):
        rig.advance(shift or 1)
        started = time.monotonic()
        report = rig.keeper.cycle()
        elapsed = time.monotonic() - started
        pushes = report.pushes
        assert pushes and all(p.status == "mined" for p in pushes), pushes
        pushed = [m for p in pushes for m in p.markets]
        wanted = [d for d in report.decisions if d.update is not None]
        assert sorted(pushed) == sorted(d.market for d in wanted) and len(pushed) == 500
        assert all(p.gas_used <= gas_limit // 2 for p in pushes)
        for d in wanted:
            state = rig.registry.market_state(market_id(d.market))
            assert (state.ltv_bps, state.target_liquidation_threshold_bps) == (
                d.update.ltv_bps,
                d.update.liquidation_threshold_bps,
            )
        figures[label] = {
            "batches": len(pushes),
            "markets per batch": [len(p.markets) for p in pushes],
            "max gas per batch": max(p.gas_used for p in pushes),
            "gas per market": round(sum(p.gas_used for p in pushes) / len(pushed)),
            "cycle seconds": round(elapsed, 1),
        }
    rig.assert_agreement()
    print("LOAD", json.dumps({"markets": 500, "block gas limit": gas_limit, **figures}))


def run_cycles(node_rig, cycles: int) -> dict:
    """`cycles` keeper cycles an hour apart of simulated time (the venues replay ETH/USDT from
    March 2020 on), as fast as they run; RSS after a warm-up tenth and at the end."""
    rig = node_rig("2020-03-01T00:00:00")  # Black Thursday, May 2021 and more on the way
    warmup = max(10, cycles // 10)
    started = time.monotonic()
    at_warmup = None
    pushes = 0
    for i in range(cycles):
        report = rig.keeper.cycle()
        pushes += sum(p.status == "mined" for p in report.pushes)
        rig.advance(3_600)
        if i + 1 == warmup:
            at_warmup = rss_kib()
    at_end = rss_kib()
    assert at_warmup is not None
    rows = rig.store.db.execute("SELECT status, COUNT(*) FROM cycles GROUP BY status").fetchall()
    assert dict(rows) == {"done": cycles}  # every cycle recorded, none failed
    rig.assert_agreement()
    return {
        "cycles": cycles,
        "simulated hours from 2020-03-01": cycles,
        "batches mined": pushes,
        "seconds": round(time.monotonic() - started),
        "rss MiB after warm-up": round(at_warmup[0] / 1024, 1),
        "peak rss MiB after warm-up": round(at_warmup[1] / 1024, 1),
        "rss MiB at end": round(at_end[0] / 1024, 1),
        "peak rss MiB at end": round(at_end[1] / 1024, 1),
    }


def test_many_cycles_keep_memory_bounded(node_rig):
    figures = run_cycles(node_rig, 300)
    assert figures["peak rss MiB at end"] - figures["peak rss MiB after warm-up"] < 40
    print("LOAD", json.dumps(figures))


@pytest.mark.load
def test_ten_thousand_cycles_keep_memory_bounded(node_rig):
    figures = run_cycles(node_rig, 10_000)
    assert figures["peak rss MiB at end"] - figures["peak rss MiB after warm-up"] < 40
    print("LOAD", json.dumps(figures))


def hammer(venue_url: str, clients: int, reads_each: int) -> dict:
    """`clients` keeper feed clients (ccxt, each its own instance and thread) reading ticker and
    order book together, as `ExchangeSource.fetch` does every cycle."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(i: int) -> None:
        source = ExchangeSource(f"client{i}", MARKET, Venue("binance", venue_url), MARKET)
        source.venue.exchange.enableRateLimit = False  # the load is the point
        barrier.wait()
        for _ in range(reads_each):
            started = time.monotonic()
            try:
                reading = source.fetch(int(time.time()))
                assert reading.price > 0 and reading.bids
            except Exception as exc:
                with lock:
                    errors.append(f"client {i}: {type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(time.monotonic() - started)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    wall = time.monotonic() - started
    latencies.sort()
    return {
        "clients": clients,
        "reads (ticker + book)": clients * reads_each,
        "errors": errors,
        "reads per second": round(len(latencies) / wall),
        "median ms": round(1000 * statistics.median(latencies), 1),
        "p99 ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
        "max ms": round(1000 * latencies[-1], 1),
    }


def test_emulator_under_50_concurrent_clients(eth_bars):
    venue = ExchangeEmulator(
        {"ETHUSDT": ("ETH", "USDT", eth_bars)}, offset=int(time.time()) - ts("2020-03-12T00:00:00")
    ).start()
    try:
        figures = hammer(venue.url, clients=50, reads_each=20)
    finally:
        venue.stop()
    assert figures["errors"] == [], figures["errors"][:5]
    assert figures["max ms"] < 1000 * FEEDS_DEADLINE  # no read would miss a keeper cycle
    print("LOAD", json.dumps(figures))
