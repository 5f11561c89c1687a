"""Calibration on a real local Dask cluster, the settings file it writes, and the commands that
load it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from oracle.errors import ConfigError
from oracle.evaluation import settings as settings_file
from oracle.evaluation.calibrate import FoldPlan, calibrate, candidates, fold_plans, rank
from oracle.evaluation.cluster import engine
from oracle.evaluation.scorecard import plan
from oracle.evaluation.settings import Fold, backtest_settings
from oracle.policy import PolicySettings
from oracle.risk import ModelSettings
from oracle.signing import model_version_bytes
from tests.helpers import ROOT
from tests.helpers.time import ts


def test_candidates_are_seeded_and_start_with_the_defaults():
    a, b, c = candidates(5, 1), candidates(5, 1), candidates(5, 2)
    assert a == b and a != c and a[0] == {"model": {}, "policy": {}}
    for cand in a[1:]:
        ModelSettings(**cand["model"])  # every candidate is a valid setting
        PolicySettings(**cand["policy"])


def trial(liq, bad, ltv, param=0.0, s_liq=0.5, s_bad=0.001, s_ltv=8_000, dominates=0.0):
    return {
        "dominates": dominates,
        "liquidated": liq,
        "bad_debt": bad,
        "mean_ltv_bps": ltv,
        "param_liquidated": param,
        "static_liquidated": s_liq,
        "static_bad_debt": s_bad,
        "static_mean_ltv_bps": s_ltv,
    }


def test_rank_prefers_admissible_borrowing_power_then_least_excess():
    scores = [
        [trial(0.4, 0.0, 7_000)],  # admissible
        [trial(0.45, 0.0, 7_500, param=0.2)],  # admissible, more borrowing power
        [trial(0.6, 0.0, 8_000)],  # too many liquidations
    ]
    best, table = rank(scores)
    assert best == 1 and [r["admissible"] for r in table] == [True, True, False]
    best, _ = rank([[trial(0.6, 0.0, 8_000)], [trial(0.55, 0.0, 6_000)]])
    assert best == 1  # none admissible: the smaller excess
    # first of all: the most training windows won by the scorecard's own criterion
    scores = [
        [trial(0.4, 0.0, 7_000), trial(0.4, 0.0, 7_000)],
        [trial(0.6, 0.0, 8_000, dominates=1.0), trial(0.6, 0.0, 8_000)],
    ]
    best, table = rank(scores)
    assert best == 1 and [r["dominated"] for r in table] == [0, 1]


def test_a_seeded_search_on_a_two_worker_cluster_gives_the_same_file_twice(tmp_path):
    plans, _ = fold_plans(["ETH"], {}, train_years=1, years=[2021])
    assert plans[0].valid_from == ts("2021-01-01T00:00:00")
    assert all(w.end <= p.valid_from for p in plans for w, _, _ in p.windows)
    assert [w.key for w, _, _ in plans[0].windows] == ["ETH 2020"]
    # Two runs of a fold trained on the Black Thursday window (five weeks: a fast test)
    eth = plan(["ETH"], None, {}, kinds=("crash",))[0]
    black = next(t for t in eth if "Black" in t.window.name)
    plans = [FoldPlan(black.window.end, ((black.window, black.file, black.static),))]
    written = []
    for run in range(2):
        with engine(workers=2) as eng:
            assert eng.workers == 2 and len(set(eng.worker_pids)) == 2
            pids = eng.worker_pids
            folds = calibrate(plans, 3, 7, eng)
        for pid in pids:  # the cluster's worker processes are gone with it
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        written.append(settings_file.write(tmp_path / f"s{run}.json", folds, {"seed": 7}))
    assert written[0].digest == written[1].digest
    fold = written[0].latest
    assert (
        fold.training == ("ETH 2020-03 Black Thursday",) and fold.trained_until <= fold.valid_from
    )
    assert len(fold.score["candidates"]) == 3
    # the same search in one process agrees with the cluster
    with engine(workers=1) as eng:
        assert calibrate(plans, 3, 7, eng) == list(written[0].folds)


def test_settings_file_checks_and_walk_forward_lookup(tmp_path):
    folds = [
        Fold(ts("2021-01-01T00:00:00"), ts("2021-01-01T00:00:00"), {"ltv_z": 2.0}, {}),
        Fold(ts("2022-01-01T00:00:00"), ts("2021-12-31T00:00:00"), {}, {"loosen_after_cycles": 6}),
    ]
    loaded = settings_file.write(tmp_path / "s.json", folds, {})
    assert loaded.fold_for(ts("2020-06-01T00:00:00")) is None
    assert loaded.fold_for(ts("2021-06-01T00:00:00")).model == {"ltv_z": 2.0}
    assert loaded.latest.policy == {"loosen_after_cycles": 6}
    s = backtest_settings(loaded.fold_for(ts("2021-06-01T00:00:00")))
    assert s.model.ltv_z == 2.0 and s.policy == PolicySettings()
    model_version_bytes(loaded.model_version)  # fits the contract's bytes32
    assert loaded.digest[:16] in loaded.model_version

    bad = json.loads((tmp_path / "s.json").read_text())
    bad["folds"][0]["model"] = {"no_such_knob": 1}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match=r"unknown setting.*no_such_knob"):
        settings_file.load(tmp_path / "bad.json")
    bad["folds"][0]["model"] = {"confidence": 2.0}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="confidence must be in"):
        settings_file.load(tmp_path / "bad.json")
    bad["folds"][0]["model"] = {}
    bad["folds"][0]["trained_until"] = "2021-02-01T00:00:00Z"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="saw its own data"):
        settings_file.load(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="cannot read"):
        settings_file.load(tmp_path / "missing.json")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oracle.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_backtest_refuses_a_fold_that_saw_the_window(tmp_path):
    folds = [Fold(ts("2021-01-01T00:00:00"), ts("2021-01-01T00:00:00"), {}, {})]
    path = tmp_path / "s.json"
    settings_file.write(path, folds, {})
    data = str(ROOT / "oracle/data/ohlcv/1h/ETHUSDT.csv.gz")
    out = run(
        "backtest",
        data,
        "--asset",
        "ETH",
        "--start",
        "2020-03-01",
        "--end",
        "2020-03-10",
        "--settings",
        str(path),
    )
    assert out.returncode == 1
    assert (
        out.stderr.startswith("error: config key '--settings': no fold of")
        and "\n" not in out.stderr.strip()
    )


def test_evaluate_command_json(tmp_path):
    out = run(
        "evaluate",
        "--assets",
        "ETH,SOL",
        "--windows",
        "crashes",
        "--workers",
        "1",
        "--static",
        "SOL=5300,6800,700",
        "--json",
        "--report",
        str(tmp_path / "s.html"),
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    keys = {r["asset"] + " " + r["window"] for r in result["windows"]}
    assert "ETH 2020-03 Black Thursday" in keys and "SOL 2022-05 LUNA/UST" in keys
    assert result["summary"]["windows"] == len(result["windows"]) == 8
    assert result["summary"]["dominated"] == sum(r["dominates"] for r in result["windows"])
    html = (tmp_path / "s.html").read_text()
    assert "Walk-forward scorecard" in html and html.count("<img") == 2 + len(keys)
    bad = run("evaluate", "--assets", "ETH", "--static", "ETH=1,2")
    assert bad.returncode == 1 and "'--static': expected LTV,LT,LB" in bad.stderr
    bad = run("evaluate", "--assets", "ETH", "--static", "SOL=5300,6800,700")
    assert bad.returncode == 1 and "SOL is not among the assets: ETH" in bad.stderr


def _fails(x: int) -> int:
    raise RuntimeError(f"task {x} failed")


def test_a_failing_task_stops_the_cluster_and_its_workers():
    pids = []
    with pytest.raises(RuntimeError, match=r"task \d failed"), engine(workers=2) as eng:
        pids = eng.worker_pids
        eng.map(_fails, [1, 2])
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
