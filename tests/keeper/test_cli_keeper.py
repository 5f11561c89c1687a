"""The keeper's CLI as an operator runs it: a fresh Anvil (started and stopped by PID), two
emulated venues, `oracle once`, `compute`, `status`, `history` as subprocesses."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from oracle.errors import ConfigError
from oracle.evaluation import settings as settings_file
from oracle.evaluation.settings import Fold
from oracle.keeper.config import parse_config
from oracle.keeper.cycle import Keeper
from oracle.keeper.runtime import calibrated_settings
from oracle.markets import market_id
from oracle.policy import PolicySettings
from oracle.signing import model_version_bytes
from oracle.snapshot import HealthPolicy
from tests.helpers.cli import oracle
from tests.helpers.markets import MARKET
from tests.helpers.time import ts


def test_init_writes_a_valid_config(tmp_path):
    path = tmp_path / "oracle.yaml"
    subprocess.run([sys.executable, "-m", "oracle.cli", "init", "--path", str(path)], check=True)
    cfg = parse_config(yaml.safe_load(path.read_text()))
    assert cfg.keeper is not None and "ETH/USDT" in cfg.keeper.markets
    # The defaults it shows are the ones the code applies, not a retyped copy.
    assert HealthPolicy(**cfg.feeds.health.model_dump()) == HealthPolicy()
    assert PolicySettings(**cfg.keeper.policy.model_dump()) == PolicySettings()
    assert cfg.keeper.batch_ttl == inspect.signature(Keeper).parameters["batch_ttl"].default
    again = subprocess.run(
        [sys.executable, "-m", "oracle.cli", "init", "--path", str(path)],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "exists (use --force to overwrite)" in again.stderr


def test_once_compute_status_history(deployment):
    cfg, client, env = deployment
    computed = json.loads(oracle(cfg, "compute", "--json", env=env).stdout)
    assert computed["action"] == "update" and computed["health"] == "ok"
    assert client.nonce() == 0  # compute pushes nothing
    out = json.loads(oracle(cfg, "once", "--json", env=env).stdout)
    assert [p["status"] for p in out["pushes"]] == ["mined"]
    assert client.nonce() == 1
    state = client.market_state(market_id(MARKET))
    assert out["decisions"][0]["update"]["ltv_bps"] == state.ltv_bps
    status = json.loads(oracle(cfg, "status", "--json", env=env).stdout)
    assert status["last_action"] == "update" and status["health"] == "ok"
    history = [json.loads(line) for line in oracle(cfg, "history", "--json").stdout.splitlines()]
    assert history[0]["decision"]["action"] == "update"
    assert history[-1]["push"]["status"] == "mined"
    key = env["TEST_SIGNER_KEY"]
    for text in (out, status, history):
        assert key.removeprefix("0x") not in json.dumps(text)  # the key never reaches output
    # retention: the older of the two decisions (compute stores none) moves to an archive store
    oracle(cfg, "once", "--json", env=env)
    archive = cfg.parent / "archive.db"
    args = ("archive", "--older-than", "0", "--to", str(archive), "--keep", "1")
    refused = oracle(cfg, *args, check=False)  # the policy reads a 3-decision loosening streak
    assert refused.returncode == 1 and "--keep" in refused.stderr and "streak" in refused.stderr
    assert not archive.exists()
    one = yaml.safe_load(cfg.read_text())
    one["keeper"]["policy"] = {"loosen_after_cycles": 1}
    cfg_one = cfg.with_name("oracle-one.yaml")
    cfg_one.write_text(yaml.safe_dump(one))
    moved = json.loads(oracle(cfg_one, *args).stdout)
    assert moved["decisions_archived"] == 1 and moved["decisions_left"] == 1
    assert moved["archive"] == str(archive)
    kept = [json.loads(line) for line in oracle(cfg, "history", "--json").stdout.splitlines()]
    assert len([h for h in kept if "decision" in h]) == 1
    with sqlite3.connect(archive) as db:
        assert db.execute("SELECT action FROM decisions").fetchall() == [("update",)]


def test_missing_signer_key_is_a_config_error(deployment):
    cfg, _, _ = deployment
    result = oracle(cfg, "once", check=False, env={"TEST_SIGNER_KEY": ""})
    assert result.returncode == 1
    assert "keeper.signers.0" in result.stderr and "TEST_SIGNER_KEY" in result.stderr


def test_run_serves_metrics_and_stops_cleanly_on_sigterm(deployment):
    import signal
    import urllib.request

    from oracle.devnet.anvil import free_port

    cfg_path, client, env = deployment
    cfg = yaml.safe_load(cfg_path.read_text())
    port = free_port()
    cfg["keeper"].update({"metrics_port": port, "interval": 3_600})
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "oracle.cli", "--config", str(cfg_path), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        deadline = time.monotonic() + 60
        while client.nonce() < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.nonce() == 1  # the first cycle ran and pushed

        def scrape() -> str:
            url = f"http://127.0.0.1:{port}/metrics"
            return urllib.request.urlopen(url, timeout=5).read().decode()

        # the push is mined before the cycle that sent it finishes and counts itself
        metrics = scrape()
        while 'status="done"' not in metrics and time.monotonic() < deadline:
            time.sleep(0.2)
            metrics = scrape()
        assert 'oracle_cycles_total{status="done"} 1.0' in metrics
        assert 'oracle_pushes_total{kind="update",status="mined"} 1.0' in metrics
        state = client.market_state(market_id(MARKET))
        gauge = f'oracle_parameter_bps{{field="ltv",market="{MARKET}"}} {float(state.ltv_bps)}'
        assert gauge in metrics
        assert f'oracle_parameter_age_seconds{{market="{MARKET}"}} 0.0' in metrics
        assert (
            f'oracle_recommended_bps{{field="liquidation_threshold",market="{MARKET}"}}' in metrics
        )
        # One keeper per store: a second keeper, or a vacuum, is refused while this one runs.
        held = f"in use by a keeper (pid {proc.pid})"
        second = oracle(cfg_path, "once", check=False, env=env)
        assert second.returncode == 1 and held in second.stderr, second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        archive = cfg_path.parent / "archive.db"
        vacuum = ("archive", "--older-than", "0", "--to", str(archive), "--vacuum")
        refused = oracle(cfg_path, *vacuum, check=False)
        assert refused.returncode == 1 and held in refused.stderr, refused.stderr
        assert not archive.exists()
        assert client.nonce() == 1  # the refused keeper sent nothing
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert json.loads(oracle(cfg_path, *vacuum).stdout)["decisions_left"] == 1  # stopped: it runs
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(line["msg"] == "keeper stopped" for line in lines)  # JSON logs off a terminal
    assert env["TEST_SIGNER_KEY"].removeprefix("0x") not in stderr
    # A restarted keeper reports its last push from the store, not 0.
    from oracle.keeper.runtime import build_keeper
    from oracle.keeper.scheduler import KeeperService

    os.environ["TEST_SIGNER_KEY"] = env["TEST_SIGNER_KEY"]
    try:
        keeper = build_keeper(parse_config(cfg))
    finally:
        del os.environ["TEST_SIGNER_KEY"]
    restarted = KeeperService(keeper, interval=3_600, price_move=0.03, check_every=15)
    last = restarted.metrics.registry.get_sample_value("oracle_last_push_timestamp")
    assert last == keeper.store.last_mined_at() and last > 0
    keeper.store.close()


def test_governance_commands(deployment):
    cfg, client, _ = deployment
    queued = json.loads(oracle(cfg, "propose", MARKET, "6000", "7000", "500").stdout)
    assert queued["proposal"] == 0
    # governance's own proposal gets a review report as a keeper proposal does
    review = Path(queued["review"]).read_text()
    assert review.startswith(f"# Proposal #0: {MARKET} risk parameters")
    assert "Governance proposes these values (the engine recommends" in review
    assert (
        "| proposed | 6000 | 7000 | 500 |" in review
        and "## Backtest over the recent window" in review
    )
    rows = [json.loads(line) for line in oracle(cfg, "review", "--json").stdout.splitlines()]
    assert rows[0]["status"] == "queued" and rows[0]["values"] == "6000/7000/500"
    early = oracle(cfg, "execute", "0", check=False)
    assert early.returncode == 1 and "TimelockNotExpired" in early.stderr
    client.w3.provider.make_request("evm_increaseTime", [3_601])
    client.w3.provider.make_request("evm_mine", [])
    done = json.loads(oracle(cfg, "execute", "0").stdout)
    assert done["executed"] == 0
    assert client.market_state(market_id(MARKET)).target_liquidation_threshold_bps == 7_000
    oracle(cfg, "propose", MARKET, "5000", "6000", "500")
    assert json.loads(oracle(cfg, "cancel", "1").stdout)["cancelled"] == 1
    statuses = [
        json.loads(line)["status"] for line in oracle(cfg, "review", "--json").stdout.splitlines()
    ]
    assert statuses == ["executed", "cancelled"]


@contextlib.contextmanager
def read_only(directory: Path):
    """`directory` made truly read-only: a read-only bind mount when we are root (root ignores
    file modes), file modes otherwise. Yields the path to use."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [directory, *directory.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield directory
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    mount = directory.parent / "ro-mount"
    mount.mkdir()
    subprocess.run(["mount", "--bind", str(directory), str(mount)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_read_only_store_is_refused_and_loses_nothing(deployment):
    cfg, client, env = deployment
    assert json.loads(oracle(cfg, "once", "--json", env=env).stdout)["pushes"]
    doc = yaml.safe_load(cfg.read_text())
    store = Path(doc["keeper"]["store"])
    before = sqlite3.connect(store)
    rows_before = before.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    before.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    before.close()
    db_dir = store.parent / "db"
    db_dir.mkdir()
    for f in store.parent.glob(store.name + "*"):
        f.rename(db_dir / f.name)
    with read_only(db_dir) as ro:
        doc["keeper"]["store"] = str(ro / store.name)
        cfg.write_text(yaml.safe_dump(doc))
        result = oracle(cfg, "once", check=False, env=env)
        assert result.returncode != 0
        assert "cannot open the store" in result.stderr and "read-only" in result.stderr
        assert "Traceback" not in result.stderr
        assert client.nonce() == 1  # nothing signed or sent without a writable audit trail
    doc["keeper"]["store"] = str(db_dir / store.name)
    cfg.write_text(yaml.safe_dump(doc))
    after = sqlite3.connect(db_dir / store.name)
    assert after.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == rows_before
    after.close()
    out = json.loads(oracle(cfg, "once", "--json", env=env).stdout)  # writable again: it resumes
    assert "pushes" in out and client.nonce() >= 1


def test_a_calibrated_keeper_commits_its_settings_file_hash(deployment, tmp_path):
    # The operator points the keeper at `oracle calibrate`'s file: it runs the latest fold and
    # every batch's modelVersion names the file, so anyone can tell which settings pushed a value.
    cfg, client, env = deployment
    folds = [Fold(ts("2021-01-01T00:00:00"), ts("2021-01-01T00:00:00"), {"ltv_z": 2.0}, {})]
    loaded = settings_file.write(tmp_path / "settings.json", folds, {"seed": 0})
    data = yaml.safe_load(cfg.read_text())
    data["keeper"]["settings"] = str(tmp_path / "settings.json")
    # the config may repeat what the file runs, never change it: the hash must name what runs
    data["keeper"]["policy"] = {"loosen_after_cycles": 4}
    with pytest.raises(ConfigError, match=r"keeper.policy.loosen_after_cycles.*4 here, 3 in"):
        calibrated_settings(parse_config(data).keeper)
    data["keeper"]["policy"] = {"loosen_after_cycles": 3}
    data["keeper"]["markets"][MARKET]["model"] = {"ltv_z": 1.0}
    with pytest.raises(ConfigError, match=r"model.ltv_z': 1.0 here, 2.0 in"):
        calibrated_settings(parse_config(data).keeper)
    data["keeper"]["markets"][MARKET]["model"] = {"ltv_z": 2.0}
    cfg.write_text(yaml.safe_dump(data))
    model, policy, version, text = calibrated_settings(parse_config(data).keeper)
    assert text == (tmp_path / "settings.json").read_text()  # what the bundles carry
    assert model.ltv_z == 2.0 and policy == PolicySettings() and version == loaded.model_version
    out = json.loads(oracle(cfg, "once", "--json", env=env).stdout)
    assert [p["status"] for p in out["pushes"]] == ["mined"]
    [event] = client.contract.events.BatchSubmitted().get_logs(from_block=0)
    assert bytes(event["args"]["modelVersion"]) == model_version_bytes(loaded.model_version)
    (tmp_path / "settings.json").write_text("{not json")
    broken = oracle(cfg, "once", check=False, env=env)
    assert broken.returncode == 1 and "'keeper.settings': " in broken.stderr
    assert "settings.json: not JSON" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1 and client.nonce() == 1


def test_arrays_deploy_once_show_margin(deployment):
    """An operator adds portfolio-margin arrays: deploys the contract, names it in the config, and
    the next cycle publishes them; `show` and `margin` read them back from the chain."""
    cfg, _, env = deployment
    deployed = json.loads(oracle(cfg, "arrays", "deploy", env=env).stdout)
    data = yaml.safe_load(cfg.read_text())
    data["keeper"]["risk_arrays"] = {"address": deployed["risk_arrays"]}
    cfg.write_text(yaml.safe_dump(data))
    out = json.loads(oracle(cfg, "once", "--json", env=env).stdout)
    assert out["arrays"]["status"] == "mined", out["notes"]
    [shown] = [json.loads(line) for line in oracle(cfg, "arrays", "show").stdout.splitlines()]
    assert shown["market"] == MARKET and shown["scenario_set"] == 1 and len(shown["rows"]) == 16
    assert shown["moves_pct"][0] < 0 < shown["moves_pct"][1]
    book = json.loads(oracle(cfg, "arrays", "margin", f"{MARKET}=100000").stdout)
    worst = max(-shown["moves_pct"][0], shown["moves_pct"][14] * -0.35) / 100 * 100_000
    assert book["margin_usd"] >= worst * 0.999 and book["margin_usd"] == book["isolated_margin_usd"]
    bad = oracle(cfg, "arrays", "margin", "ETH/USDT=lots", check=False)
    assert bad.returncode == 1 and "expected MARKET=USD" in bad.stderr
