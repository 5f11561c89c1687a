"""Speed of the evaluation: backtests per second on one process against the local Dask cluster,
and the wall time of the full walk-forward scorecard.

1. Throughput. The same 25 backtests (replays of the engine and policy, reference market) of real
   shipped data — every shipped asset over every named crash window its data covers — run in this
   process (baseline) and on a local Dask cluster of `--workers` worker processes, started before
   the clock starts (its start-up is printed apart); both read their data first, submitted longest
   first; the two alternate run by run. Medians of `--runs` (9); the speedup is the median of the
   per-run ratios.
   Prints {"workers": N, "backtests_per_s": X, "baseline_backtests_per_s": B, "speedup": Y, …}.
2. The scorecard: `oracle evaluate` over every shipped asset × every calendar year plus the crash
   windows, on the local cluster, HTML report included, as an operator runs it. Prints
   {"scorecard_seconds": S, …}.

Run with `make bench-evaluate`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.evaluation.calibrate import Trial, run_trial, trial_cost
from oracle.evaluation.cluster import engine
from oracle.evaluation.scorecard import plan, shipped_asset_bars
from oracle.evaluation.windows import ASSETS

ROOT = Path(__file__).resolve().parent.parent


def trials() -> list[Trial]:
    tasks, _ = plan([a.symbol for a in ASSETS], None, {}, kinds=("crash",))
    return [Trial(0, {"model": {}, "policy": {}}, t.window, t.file, t.static) for t in tasks]


def _read_data() -> None:
    for t in trials():
        shipped_asset_bars(t.file, f"{t.window.asset}/USDT")


def throughput(workers: int, runs: int) -> dict:
    """Both sides read their data before the clock starts: the measure is backtests, not gunzip.
    Runs alternate (one process, then the cluster), so that drift in the machine's speed — this
    is a shared VM — falls on both alike; the speedup is the median of the per-pair ratios."""
    work = trials()
    serial_s, cluster_s = [], []
    t0 = time.perf_counter()
    with engine(workers) as cluster:
        started = time.perf_counter() - t0
        cluster.everywhere(_read_data)
        _read_data()
        for _ in range(runs):
            t0 = time.perf_counter()
            [run_trial(t) for t in work]
            serial_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cluster.map(run_trial, work, cost=trial_cost)
            cluster_s.append(time.perf_counter() - t0)
    ratios = [a / b for a, b in zip(serial_s, cluster_s, strict=True)]
    return {
        "workers": workers,
        "backtests": len(work),
        "backtests_per_s": round(len(work) / statistics.median(cluster_s), 2),
        "baseline_backtests_per_s": round(len(work) / statistics.median(serial_s), 2),
        "speedup": round(statistics.median(ratios), 2),
        "cluster_start_s": round(started, 2),
        "runs": runs,
    }


def scorecard(workers: int) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable, "-m", "oracle.cli", "evaluate",
            "--workers", str(workers), "--json", "--report", str(ROOT / "reports/scorecard.html"),
        ],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    summary = json.loads(out.stdout)["summary"]
    return {
        "scorecard_seconds": round(seconds, 1),
        "windows": summary["windows"],
        "dominated": summary["dominated"],
        "workers": workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--skip-scorecard", action="store_true")
    args = parser.parse_args()
    print(json.dumps(throughput(args.workers, args.runs)), flush=True)
    if not args.skip_scorecard:
        print(json.dumps(scorecard(args.workers)), flush=True)


if __name__ == "__main__":
    main()
