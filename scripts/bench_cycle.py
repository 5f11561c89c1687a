"""Seconds per keeper cycle for 50, 200 and 500 markets, batched reads against today's sequential
path, in the same run.

One Anvil (with Multicall3 at its canonical address) and three emulated venues on 127.0.0.1, each
in a process of its own (as a venue is a machine of its own: in the keeper's process its answers
would be charged to the keeper's interpreter), listing 500 symbols that replay Binance ETH/USDT
from 1 February 2020. Market i reads symbol i on each venue. For each size, two keepers on their
own registries, each with every market listed:

- `baseline`: the sequential path as it was — each market's three venues read through clients of
  its own (ticker and book every cycle), market by market, and its registry state in three
  `eth_call`s through web3.py;
- `batched`: one client per venue shared by every market (one ticker request per 100 symbols, a
  book re-read when older than `BOOK_MAX_AGE` or when the price left it by `BOOK_MOVE`), every
  market's feeds on one pool of `FEED_WORKERS` threads, and every market's registry state in
  Multicall3 requests of `CHUNK` calls.

Cycles run `--interval` seconds of simulated time apart (the keeper's default interval); the
recorded bars are hourly, so the price moves once an hour and the books of a timed hour are read
at its first cycle and again once they are older than `BOOK_MAX_AGE`. After a first cycle that
pushes every market, `--cycles` cycles are timed; the median and the slowest are reported. Each
market reads its price history (the keeper's default 2,000 hourly bars) and tail memory (1,000
daily bars) from venue 0: the baseline fetches both whole every cycle, as the keeper did; the
batched keeper reads them incrementally (`IncrementalHistory`, kept in its store), ahead of the
evaluations on the same pool. Prints one JSON
line per size (`{"markets": N, "seconds": S, "baseline_seconds": B, "speedup": B/S, ...}`) and
one with the wall time; `unhealthy` counts market snapshots a read failed in (0 expected).
Run with `make bench-cycle`.

`--soak N` then runs the batched keeper over the largest size for N more cycles and prints its
resident memory after the first tenth and at the end (`make soak-cycle`: 500 markets, 1,000
cycles, a memory line every 100): the shared venues' books, the held histories and the store's
bars must not grow. `--rss-every K` prints the memory, the store's size and the median cycle
every K cycles as it goes; with `--trace-frames F` (slow: Python's allocation tracer) each such
line also gives the memory the interpreter's allocations hold and the five allocation sites (F
frames deep, the allocating line first) that grew most since the first line: RSS can grow in
steps with no Python object behind them (the allocator keeping freed pages), and this tells the
two apart. A traced run's RSS also holds the tracer's own tables (`tracer_mib`): compare its
`traced_mib` across lines, not its RSS with an untraced run's.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.devnet.accounts import dev_account
from oracle.devnet.anvil import AnvilNode
from oracle.devnet.emulator import EmulatorProcess
from oracle.devnet.registry import deploy_registry
from oracle.feeds.base import FEED_WORKERS
from oracle.feeds.exchange import BOOK_MAX_AGE, BOOK_MOVE, ExchangeSource
from oracle.feeds.history import IncrementalHistory
from oracle.feeds.venue import Venue
from oracle.keeper.config import HistoryConfig, KeeperConfig
from oracle.keeper.cycle import Keeper, MarketSetup
from oracle.keeper.store import Store
from oracle.multicall import CHUNK, MULTICALL3_ADDRESS
from oracle.risk import ModelSettings
from oracle.series import PriceSeries
from oracle.signing import Signer
from oracle.snapshot import Health
from oracle.types import BLUE_CHIP_GUARDRAILS

RECORDING = "ohlcv/1h/ETHUSDT.csv.gz"
START = "2020-02-01T00:00:00"
LISTED = 500  # symbols per venue
HISTORY_BARS = HistoryConfig.model_fields["bars"].default


def epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso + "+00:00").timestamp())


class Clock:
    """The keepers', the venues' and the chain's shared simulated time."""

    def __init__(self, w3, venues: list[EmulatorProcess], now: int) -> None:
        self.w3, self.venues, self.now = w3, venues, now

    def advance(self, seconds: int) -> None:
        self.now += seconds
        for v in self.venues:
            v.now = self.now
        self.w3.provider.make_request("evm_mine", [self.now])


def symbol(i: int) -> str:
    return f"B{i:03d}/USDT"


def sources(urls: list[str], i: int, shared: list[Venue] | None, markets: dict) -> list:
    """Market i's three venue sources: through the shared clients, or (the baseline) clients of
    its own that read a book every time, their market lists copied from a loaded client."""
    out = []
    for k, url in enumerate(urls):
        if shared is not None:
            venue = shared[k]
            book_max_age = BOOK_MAX_AGE
        else:
            venue = Venue("binance", url)
            venue.exchange.set_markets(markets)
            book_max_age = 0
        venue.exchange.enableRateLimit = False  # no client-side spacing on a local emulator
        out.append(
            ExchangeSource(
                f"venue{k}",
                symbol(i),
                venue,
                symbol(i),
                max_age=7_200,
                book_max_age=book_max_age,
                book_move=BOOK_MOVE,
            )
        )
    return out


def keeper(w3, clock: Clock, urls, markets, n: int, batched: bool, workdir: Path) -> Keeper:
    names = [symbol(i) for i in range(n)]
    signer = Signer(dev_account(5))
    registry = deploy_registry(
        w3,
        w3.eth.accounts[0],
        signers=[signer.address],
        markets=names,
        guardrails=BLUE_CHIP_GUARDRAILS,
    )
    shared = [Venue("binance", url) for url in urls] if batched else None
    mode = "batched" if batched else "baseline"
    store = Store(workdir / f"{mode}-{n}.db")
    timeframe, bars = HistoryConfig.model_fields["timeframe"].default, HISTORY_BARS
    days = ModelSettings().memory_days
    setups = []
    for i, name in enumerate(names):
        feeds = sources(urls, i, shared, markets)
        if batched:
            now = lambda: clock.now  # noqa: E731
            history: Callable[[], PriceSeries] = IncrementalHistory(
                feeds[0], timeframe, bars, store, now
            )
            memory: Callable[[], PriceSeries] = IncrementalHistory(feeds[0], "1d", days, store, now)
        else:
            history = partial(feeds[0].history, timeframe, bars)
            memory = partial(feeds[0].history, "1d", days)
        setups.append(MarketSetup(name, feeds, history, size=1_000.0, memory=memory))
    return Keeper(
        registry,
        [signer],
        dev_account(1),
        store,
        setups,
        clock=lambda: clock.now,
        multicall=MULTICALL3_ADDRESS if batched else None,
        feed_workers=FEED_WORKERS if batched else 0,
    )


def timed_cycles(
    k: Keeper, clock: Clock, cycles: int, interval: int
) -> tuple[list[float], int, int]:
    """Seconds of each of `cycles` cycles `interval` apart, after an untimed first one; how many
    batches they mined; and how many market snapshots were not healthy (a read timed out or
    failed: a fast cycle that dropped reads would not be a fast cycle)."""
    k.cycle()
    seconds, mined, unhealthy = [], 0, 0
    for _ in range(cycles):
        clock.advance(interval)
        started = time.perf_counter()
        report = k.cycle()
        seconds.append(time.perf_counter() - started)
        mined += sum(p.status == "mined" for p in report.pushes)
        unhealthy += sum(s.health != Health.OK for s in report.snapshots.values())
    return seconds, mined, unhealthy


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB, from the kernel's accounting."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def soak(
    k: Keeper, clock: Clock, cycles: int, interval: int, n: int, every: int = 0, frames: int = 0
) -> dict[str, object]:
    """`cycles` cycles `interval` apart; memory after the first tenth and at the end, and with
    `every`, a line every `every` cycles as it goes (the store's size is its database file's,
    the WAL aside): a run stopped early still shows its memory's course. `frames` > 0: traced
    allocations on each line (`--trace-frames`)."""
    warmup = max(10, cycles // 10)
    started, at_warmup, seconds = time.perf_counter(), (0.0, 0.0), []
    unhealthy = 0
    first: tracemalloc.Snapshot | None = None
    if frames and every:
        tracemalloc.start(frames)
    store_file = Path(k.store.db.execute("PRAGMA database_list").fetchone()[2])
    for i in range(cycles):
        clock.advance(interval)
        t = time.perf_counter()
        report = k.cycle()
        seconds.append(time.perf_counter() - t)
        unhealthy += sum(s.health != Health.OK for s in report.snapshots.values())
        if i + 1 == warmup:
            at_warmup = rss_mib()
        if every and (i + 1) % every == 0:
            rss, peak = rss_mib()
            line = {
                "soak_cycle": i + 1,
                "rss_mib": round(rss, 1),
                "peak_rss_mib": round(peak, 1),
                "store_mib": round(store_file.stat().st_size / 2**20, 1),
                "median_seconds": round(statistics.median(seconds[-every:]), 3),
                "unhealthy": unhealthy,
            }
            if tracemalloc.is_tracing():
                # not the tracer's own snapshots, nor this loop's list of cycle times
                ours = [
                    tracemalloc.Filter(False, tracemalloc.__file__),
                    tracemalloc.Filter(False, __file__),
                ]
                snap = tracemalloc.take_snapshot().filter_traces(ours)
                held = sum(s.size for s in snap.statistics("filename"))
                line["traced_mib"] = round(held / 2**20, 1)
                line["tracer_mib"] = round(tracemalloc.get_tracemalloc_memory() / 2**20, 1)
                if first is None:
                    first = snap
                else:
                    diff = snap.compare_to(first, "traceback")
                    grown = sorted(diff, key=lambda s: s.size_diff, reverse=True)[:5]
                    line["grown_kib"] = [
                        [round(s.size_diff / 1024, 1), " < ".join(map(str, reversed(s.traceback)))]
                        for s in grown
                    ]
            print(json.dumps(line), flush=True)
    at_end = rss_mib()
    done = k.store.db.execute("SELECT COUNT(*) FROM cycles WHERE status = 'done'").fetchone()[0]
    bars = k.store.db.execute("SELECT COUNT(*) FROM bars").fetchone()[0]
    return {
        "soak_markets": n,
        "soak_cycles": cycles,
        "cycles_done": done,
        "unhealthy": unhealthy,
        "median_seconds": round(statistics.median(seconds), 3),
        "rss_mib_after_warmup": round(at_warmup[0], 1),
        "peak_rss_mib_after_warmup": round(at_warmup[1], 1),
        "rss_mib_at_end": round(at_end[0], 1),
        "peak_rss_mib_at_end": round(at_end[1], 1),
        "store_bars": bars,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--soak", type=int, default=0, help="cycles of the memory run (0: none)")
    parser.add_argument(
        "--rss-every", type=int, default=0, help="a memory line every N soak cycles (0: none)"
    )
    parser.add_argument(
        "--trace-frames",
        type=int,
        default=0,
        help="with --rss-every: traced allocations, sites F frames deep, on each line (slow)",
    )
    parser.add_argument(
        "--interval", type=int, default=int(KeeperConfig.model_fields["interval"].default)
    )
    args = parser.parse_args()
    logging.getLogger("oracle").setLevel(logging.ERROR)
    wall = time.perf_counter()
    node = AnvilNode(extra_args=["--gas-limit", "30000000"])
    w3 = node.start()
    venues: list[EmulatorProcess] = []
    try:
        # the next whole hour: the replayed hourly bars open on the hour, as a venue's do
        now = (int(w3.eth.get_block("latest")["timestamp"]) // 3_600 + 1) * 3_600
        w3.provider.make_request("evm_mine", [now])
        listing = {
            symbol(i).replace("/", ""): (f"B{i:03d}", "USDT", RECORDING) for i in range(LISTED)
        }
        venues = [EmulatorProcess(listing, now=now, offset=now - epoch(START)) for _ in range(3)]
        for v in venues:
            v.start()
        urls = [v.url for v in venues]
        clock = Clock(w3, venues, now)
        loaded = Venue("binance", urls[0])
        loaded._loaded()
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes if args.cycles else ():  # --cycles 0: the soak alone
                row: dict[str, object] = {"markets": n}
                for batched in (False, True):
                    k = keeper(w3, clock, urls, loaded.exchange.markets, n, batched, Path(tmp))
                    try:
                        seconds, mined, unhealthy = timed_cycles(
                            k, clock, args.cycles, args.interval
                        )
                    finally:
                        k.store.close()
                    key = "seconds" if batched else "baseline_seconds"
                    row[key] = round(statistics.median(seconds), 3)
                    row[f"{key}_max"] = round(max(seconds), 3)
                    row[f"{key}_all"] = [round(s, 3) for s in seconds]
                    row["batches_mined" if batched else "baseline_batches_mined"] = mined
                    row["unhealthy" if batched else "baseline_unhealthy"] = unhealthy
                row["speedup"] = round(float(row["baseline_seconds"]) / float(row["seconds"]), 2)
                row.update(
                    cycles=args.cycles,
                    interval=args.interval,
                    feed_workers=FEED_WORKERS,
                    multicall_chunk=CHUNK,
                    book_max_age=BOOK_MAX_AGE,
                )
                print(json.dumps(row), flush=True)
            if args.soak:
                n = max(args.sizes)
                k = keeper(w3, clock, urls, loaded.exchange.markets, n, True, Path(tmp) / "soak")
                try:
                    out = soak(
                        k, clock, args.soak, args.interval, n, args.rss_every, args.trace_frames
                    )
                    print(json.dumps(out), flush=True)
                finally:
                    k.store.close()
    finally:
        for v in venues:
            v.stop()
        node.stop()
    print(json.dumps({"seconds": round(time.perf_counter() - wall, 1)}))


if __name__ == "__main__":
    main()
