"""The portfolio-margin backtest on the shipped hourly history (`oracle.backtest.portfolio`):
coverage and capital efficiency of the 16 joint scenario rows for random, hedged and adversarial
books, walk-forward, each day at 00:00 UTC after a year of common history.

Three universes, each over the span its assets share:

- `six`: BTC, ETH, SOL, LINK, UNI, AAVE (common from 2021-04: 2022-04 to 2022-10 scored). The
  universe of the issue; 210 dates is little for a 1 % rate, hence the two below;
- `three`: BTC, ETH, LINK (from 2019-01: 2020-01 to 2022-10 scored, March 2020 included);
- `two`: BTC, ETH (from 2017-08: 2018-08 to 2023-03 scored). With three assets or fewer the top
  three components span every direction, so every floor is the minimum (0.5 %) and the rows alone
  must cover a hedge.

Prints one JSON object per line per universe and class (`{"universe": "six", "portfolio":
"hedged", "windows": N, "breaches": B, "breach_rate": r, "p_value": p, "median_efficiency": e,
…}`, close to close; `path_*` within the path), then one line per universe (its span and
seconds) and one with the wall time; writes the Markdown report with its SVG plots
(`reports/portfolio-margin.md`). One process: another job may be using the other core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.backtest.portfolio import PortfolioBacktest, describe, run_backtest, summarise
from oracle.feeds.marketdata import shipped
from oracle.report.portfolio import write_report

ROOT = Path(__file__).resolve().parent.parent
UNIVERSES = {
    "six": ("BTC", "ETH", "SOL", "LINK", "UNI", "AAVE"),
    "three": ("BTC", "ETH", "LINK"),
    "two": ("BTC", "ETH"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--universe", choices=[*UNIVERSES, "all"], default="all")
    parser.add_argument("--report", type=Path, default=ROOT / "reports/portfolio-margin.md")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    names = list(UNIVERSES) if args.universe == "all" else [args.universe]
    loaded = {
        a: shipped(f"ohlcv/1h/{a}USDT.csv.gz", f"{a}/USD")
        for a in sorted({a for n in names for a in UNIVERSES[n]})
    }
    runs: list[tuple[str, PortfolioBacktest]] = []
    for name in names:
        t1 = time.perf_counter()
        result = run_backtest([loaded[a] for a in UNIVERSES[name]])
        seconds = time.perf_counter() - t1
        for s in summarise(result):
            print(json.dumps({"universe": name, **s.to_dict()}), flush=True)
        d = describe(result)
        run = {"universe": name, **d, "skipped": len(d["skipped"]), "seconds": round(seconds, 1)}
        print(json.dumps(run), flush=True)
        runs.append((name, result))
    if not args.no_report:
        write_report(runs, args.report, time.perf_counter() - t0)
    wall = {"wall_seconds": round(time.perf_counter() - t0, 1)}
    if not args.no_report:
        wall["report"] = str(args.report)
    print(json.dumps(wall), flush=True)


if __name__ == "__main__":
    main()
