"""What the keeper reads from its store for every market in every cycle, as the store grows:
`Store.loosen_streak` (the policy's count of consecutive cycles that asked to loosen) over
`--markets` markets (500), on stores holding 10, 100 and 1,000 cycles of real-sized decision rows
(`bench_archive.row_template`: a three-venue snapshot of 20 book levels, the engine's
recommendation and explanation), once where no decision asked to loosen (a streak of 0) and once
where every one did (the longest streak: every stored row is counted). The baseline, in the same
run, is the read as it was before 8a5faa8: a market's latest 1,000 rows fetched from the table
through the old (market, id) index, then counted. Prints one JSON line per store and case: the
median seconds of 5 passes over every market, each way. Run with `make bench-store`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_archive import row_template, write_cycles

from oracle.keeper.store import Store

#: The store's index on a market's decisions before 8a5faa8, without the loosening flag: the
#: baseline reads through it, as the keeper did, so each flag comes from the table's row.
OLD_INDEX = "CREATE INDEX IF NOT EXISTS decisions_market ON decisions(market, id)"


def fetched_streak(store: Store, market: str) -> int:
    """The baseline: the streak as `loosen_streak` counted it before, from 1,000 rows fetched
    through the old index."""
    rows = store.db.execute(
        "SELECT loosening_wanted FROM decisions INDEXED BY decisions_market WHERE market = ? "
        "ORDER BY id DESC LIMIT 1000",
        (market,),
    ).fetchall()
    streak = 0
    for (wanted,) in rows:
        if not wanted:
            break
        streak += 1
    return streak


def passes(count: int, markets: list[str], streak: object) -> tuple[float, list[int]]:
    """The median seconds of `count` passes of `streak(market)` over every market, and the
    streaks of the last pass."""
    seconds, values = [], []
    for _ in range(count):
        t = time.perf_counter()
        values = [streak(m) for m in markets]  # type: ignore[operator]
        seconds.append(time.perf_counter() - t)
    return statistics.median(seconds), values


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=500)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1_000])
    args = parser.parse_args()
    template = row_template("M000/USD")
    markets = [f"M{i:03d}/USD" for i in range(args.markets)]
    for loosening in (0, 1):
        rows = [{**template, "market": m, "loosening_wanted": loosening} for m in markets]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "oracle.db"
            store = Store(path)
            store.db.execute(OLD_INDEX)
            try:
                written = 0
                for size in sorted(args.sizes):
                    write_cycles(store, rows, written, size - written)
                    written = size
                    now, streaks = passes(5, markets, store.loosen_streak)
                    before, fetched = passes(5, markets, partial(fetched_streak, store))
                    assert streaks == fetched  # the same streaks either way
                    line = {
                        "markets": args.markets,
                        "cycles_stored": size,
                        "streak": streaks[0],
                        "store_mib": round(path.stat().st_size / 2**20, 1),
                        "seconds": round(now, 4),
                        "baseline_seconds": round(before, 4),
                        "speedup": round(before / now, 1),
                    }
                    print(json.dumps(line), flush=True)
            finally:
                store.close()


if __name__ == "__main__":
    main()
