"""What retention (`Store.archive`, `oracle archive`) does to the keeper's store and to a keeper
writing beside it, against a store that keeps everything, in the same run.

Two stores receive the same cycles: `--markets` decision rows a cycle (500), each as the keeper
writes it — a real three-venue snapshot of 20 book levels, the engine's recommendation and
explanation for real ETH/USDT history — `--cycles` cycles (200), 5 minutes apart. Then one store
is archived (every decision older than the latest half of the cycles; `--keep` 12 per market, the
calibration's longest loosening streak) while a writer thread records a cycle's decisions every
0.5 s, as a keeper would; the baseline store takes the same writes for as long, with no archive
beside them. Then both get half as many cycles again as the first (as many as were archived).
Prints one JSON line per store: the file's size after the first cycles and at the end, rows
moved, the archive's seconds, and the writer's median and longest write meanwhile (the keeper's
wait: SQLite has one writer; the archive moves a market's rows in chunks of at most 5,000). Run with
`make bench-archive`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.feeds.base import Reading
from oracle.feeds.marketdata import shipped
from oracle.keeper.store import Store
from oracle.risk import MarketInput, ModelSettings, compute_market, liquidity_of
from oracle.snapshot import HealthPolicy, aggregate

INTERVAL = 300


def row_template(market: str) -> dict[str, object]:
    """One decision row as the keeper stores it (`Keeper._evaluated`), for real data."""
    history = shipped("ohlcv/1h/ETHUSDT.csv.gz", market)
    history = type(history)(
        market,
        history.timestamps[-2_000:],
        history.close[-2_000:],
        None if history.volume is None else history.volume[-2_000:],
    )
    price, now = float(history.close[-1]), int(history.timestamps[-1]) + 3_600
    book = tuple((price * (1 - 0.0005 * i), 50.0 + 20.0 * i) for i in range(20))
    readings = [
        Reading(f"venue{k}", market, price * (1 + 0.0002 * k), now - 5, bids=book, book_at=now)
        for k in range(3)
    ]
    snap = aggregate(market, readings, now, HealthPolicy())
    params = compute_market(MarketInput(history, liquidity_of(snap), 1_000.0, ModelSettings()))
    return {
        "market": market,
        "health": snap.health.value,
        "snapshot_hash": "0x" + snap.hash().hex(),
        "snapshot": snap.canonical().decode(),
        "recommendation": json.dumps(asdict(params.params)),
        "explanation": json.dumps(params.explanation.to_dict(), default=str),
        "action": "no_change",
        "reason": "within the deadband",
        "loosening_wanted": 0,
        "alert": 0,
    }


def write_cycles(store: Store, rows: list[dict[str, object]], first: int, count: int) -> None:
    for c in range(first, first + count):
        cid = store.begin_cycle(c * INTERVAL)
        store.record_decisions(cid, rows)
        store.finish_cycle(cid, c * INTERVAL + 2, "done")


def keeper_writes(
    path: Path,
    rows: list[dict[str, object]],
    written: list[int],
    stop: threading.Event,
    waits: list[float],
) -> None:
    """A keeper's writes on a connection of its own: a cycle every 0.5 s until `stop`, each
    write's seconds in `waits`, the next cycle number in `written[0]`."""
    store = Store(path)
    try:
        while not stop.is_set():
            t = time.perf_counter()
            write_cycles(store, rows, written[0], 1)
            waits.append(time.perf_counter() - t)
            written[0] += 1
            stop.wait(0.5)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--keep", type=int, default=12)
    args = parser.parse_args()
    template = row_template("M000/USD")
    rows = [{**template, "market": f"M{i:03d}/USD"} for i in range(args.markets)]
    row_bytes = sum(len(str(v)) for v in template.values())
    with tempfile.TemporaryDirectory() as tmp:
        span = 5.0  # the baseline's writes run as long as the archive did
        for archived in (True, False):
            path = Path(tmp) / f"{'archived' if archived else 'kept'}.db"
            store = Store(path)
            write_cycles(store, rows, 0, args.cycles)
            size_before = path.stat().st_size
            # the keeper writing beside it: a cycle's decisions every 0.5 s
            waits: list[float] = []
            stop = threading.Event()
            written = [args.cycles]
            thread = threading.Thread(target=keeper_writes, args=(path, rows, written, stop, waits))
            thread.start()
            started = time.perf_counter()
            moved: dict[str, int] = {}
            if archived:
                before = (args.cycles // 2) * INTERVAL
                moved = store.archive(before, Path(tmp) / "archive.db", keep=args.keep)
                span = max(time.perf_counter() - started, 1.0)
            else:
                time.sleep(span)
            seconds = time.perf_counter() - started
            stop.set()
            thread.join()
            # both stores end with the same cycles: as many new ones as the archive moved out
            total = max(args.cycles + args.cycles // 2, written[0])
            write_cycles(store, rows, written[0], total - written[0])
            store.close()
            print(
                json.dumps(
                    {
                        "store": "archived" if archived else "kept whole (baseline)",
                        "markets": args.markets,
                        "cycles": total,
                        "row_bytes": row_bytes,
                        "mb_after_first_cycles": round(size_before / 1e6, 1),
                        "mb_at_end": round(path.stat().st_size / 1e6, 1),
                        "decisions_archived": moved.get("decisions_archived", 0),
                        "archive_seconds": round(seconds, 2) if archived else None,
                        "keeper_writes_during": len(waits),
                        "keeper_write_median_s": round(statistics.median(waits), 3),
                        "keeper_write_max_s": round(max(waits), 3),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
