"""The keeper killed with SIGKILL at random moments of `oracle once`, then restarted: after every
restart the chain and the audit trail agree — every nonce the registry consumed belongs to exactly
one stored push, and no update was applied twice. Six runs in the default suite; fifty with
`make soak` (figures in RELIABILITY.md)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from tests.helpers.cli import oracle
from tests.helpers.guardrails import KEEPER_GUARDRAILS, guardrails


def agreement(store_path, client) -> dict[str, int]:
    """Checks the invariants; returns the push statuses counted."""
    db = sqlite3.connect(store_path)
    rows = db.execute("SELECT nonce, status FROM pushes ORDER BY id").fetchall()
    db.close()
    used = [n for n, status in rows if status in ("mined", "consumed")]
    chain_nonce = client.nonce()
    assert sorted(used) == list(range(chain_nonce)), (rows, chain_nonce)  # each nonce once
    assert not [r for r in rows if r[1] == "sent"], rows  # every broadcast push settled
    counts: dict[str, int] = {}
    for _, status in rows:
        counts[status] = counts.get(status, 0) + 1
    return counts


def kill_and_restart(cfg_path, client, env, venue_list, runs: int, seed: int) -> dict[str, int]:
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["keeper"]["batch_ttl"] = 15  # an unsent signed batch blocks its nonce for 15 s at most
    # Every run should have something to push: loosen as readily as tighten, small deadband.
    cfg["keeper"]["policy"] = {"deadband_bps": 5, "loosen_after_cycles": 1}
    client.set_guardrail_profile(
        1,
        # runs seconds apart on the chain's clock: no loosening or update interval to wait out
        guardrails(
            KEEPER_GUARDRAILS,
            max_loosen_step_bps=1_500,
            min_loosen_interval=0,
            min_update_interval=1,
        ),
        cfg["registry"]["governance"],
    )
    cfg_path.write_text(yaml.safe_dump(cfg))
    store_path = cfg["keeper"]["store"]
    rng = random.Random(seed)
    kills = 0
    for _ in range(runs):
        shift = rng.choice((3, 6, 12)) * 3_600  # the market moves between runs: something to push
        for v in venue_list:
            v.offset -= shift
        proc = subprocess.Popen(
            [sys.executable, "-m", "oracle.cli", "--config", str(cfg_path), "once", "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        time.sleep(rng.uniform(0.0, 3.5))  # `once` takes about 2-3 s: kills land everywhere
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        while True:  # restart until a cycle completes without a batch that may still land
            out = json.loads(oracle(cfg_path, "once", "--json", env=env).stdout)
            if not any("may still land" in n for n in out["notes"]):
                break
            time.sleep(16)
        agreement(store_path, client)
    counts = agreement(store_path, client)
    counts["kills"] = kills
    counts["runs"] = runs
    return counts


def test_sigkill_at_random_points(deployment, venues):
    cfg, client, env = deployment
    counts = kill_and_restart(cfg, client, env, venues, runs=6, seed=1)
    assert counts["kills"] >= 3 and client.nonce() >= 3


@pytest.mark.soak
def test_sigkill_fifty_runs(deployment, venues):
    cfg, client, env = deployment
    counts = kill_and_restart(cfg, client, env, venues, runs=50, seed=2)
    print("RELIABILITY", json.dumps({**counts, "chain_nonce": client.nonce()}))
