"""A new operator's path, command by command, as the README gives it: `oracle init --dev`, `oracle
node`, `oracle emulator`, `oracle deploy --write-config`, `oracle guardrails`, `oracle once`,
`oracle verify`; and the read commands on an empty store, an unknown market, a bad model key."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time

from oracle.devnet.anvil import free_port
from tests.helpers.cli import stop
from tests.helpers.markets import MARKET


def _two_free_ports() -> int:
    """A port whose successor is free too (the emulator serves two venues on consecutive ports)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def _start(args, cwd, ready: str) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "oracle.cli", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if ready in line:
            return proc, lines
    proc.kill()
    raise AssertionError(f"{args[0]} did not start: {''.join(lines)}")


def test_a_new_operator_from_init_to_a_verified_push(tmp_path):
    def oracle(*args, env=None, check=True):
        result = subprocess.run(
            [sys.executable, "-m", "oracle.cli", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, **(env or {})},
        )
        assert not check or result.returncode == 0, result.stderr
        return result

    node_port, venue_port = free_port(), _two_free_ports()
    oracle("init", "--dev", "--emulator-port", str(venue_port))
    cfg = tmp_path / "oracle.yaml"
    cfg.write_text(cfg.read_text().replace("127.0.0.1:8545", f"127.0.0.1:{node_port}"))
    node, node_lines = _start(
        ["node", "--port", str(node_port), "--block-time", "1"], tmp_path, "export "
    )
    venues = None
    try:
        key = node_lines[-1].strip().removeprefix("export ORACLE_SIGNER_KEY=")
        env = {"ORACLE_SIGNER_KEY": key}
        venues, _ = _start(["emulator", "--port", str(venue_port)], tmp_path, "serving ")

        # Nothing has run yet: the read commands say so in one line.
        empty = oracle("history", check=False)
        assert empty.returncode == 1 and "oracle.db does not exist" in empty.stderr
        assert empty.stderr.count("\n") == 1

        deployed = oracle("deploy", "--write-config")
        address = json.loads(deployed.stdout)["registry"]
        assert f'address: "{address}"' in cfg.read_text()
        assert "# printed by `oracle deploy`" in cfg.read_text()  # comments kept
        again = oracle("deploy", "--write-config", check=False)
        assert again.returncode == 1 and "already" in again.stderr
        unknown = oracle("params", MARKET, check=False)
        assert unknown.returncode == 1 and "is not set on the registry" in unknown.stderr

        oracle("guardrails", "set", "1", "--preset", "blue-chip", "--set", "max_ltv_bps=8200")
        oracle("guardrails", "assign", "1", MARKET)
        [shown] = [json.loads(x) for x in oracle("guardrails", "show").stdout.splitlines()]
        assert shown["profile"] == 1 and shown["guardrails"]["max_ltv_bps"] == 8_200
        bad_field = oracle("guardrails", "set", "1", "--set", "nope=1", check=False)
        assert bad_field.returncode == 1 and "expected FIELD=VALUE" in bad_field.stderr
        wide = oracle("guardrails", "set", "1", "--set", "max_ltv_bps=70000", check=False)
        assert wide.returncode == 1 and "outside 0..65535" in wide.stderr
        assert "Traceback" not in wide.stderr

        out = json.loads(oracle("once", "--json", env=env).stdout)
        assert [p["status"] for p in out["pushes"]] == ["mined"], out
        verified = oracle("verify", "--all").stdout.splitlines()
        assert verified[-1] == "verified 1 of 1 batches"
        [row] = [
            json.loads(x) for x in oracle("verify", "--nonce", "0", "--json").stdout.splitlines()
        ]
        assert row["ok"] and row["markets"] == [MARKET]
        by_tx = oracle("verify", "--tx", row["tx_hash"]).stdout.splitlines()
        assert by_tx[-1] == "verified 1 of 1 batches"
        # Published elsewhere: --bundles points at the copy; an edited copy fails with status 1.
        published = tmp_path / "published"
        published.mkdir()
        [bundle] = (tmp_path / "bundles").glob("0x*.json.gz")
        body = json.loads(gzip.decompress(bundle.read_bytes()))
        body["markets"][0]["size"] = 1.0
        (published / bundle.name).write_bytes(gzip.compress(json.dumps(body).encode()))
        bad = oracle("verify", "--all", "--bundles", str(published), check=False)
        assert bad.returncode == 1 and f"MISMATCH in markets[{MARKET}].size" in bad.stdout
        assert bad.stdout.splitlines()[-1] == "verified 0 of 1 batches"
        usage = oracle("verify", check=False)
        assert (
            usage.returncode == 2 and "exactly one of --nonce N, --tx HASH or --all" in usage.stderr
        )
        none = oracle("verify", "--nonce", "9", check=False)
        assert none.returncode == 1 and "accepted no batch for nonce 9" in none.stderr
        params = json.loads(oracle("params", MARKET).stdout)
        assert (
            params["set"]
            and params["parameters"]["ltv_bps"] == out["decisions"][0]["update"]["ltv_bps"]
        )
        assert params["parameters"]["updated_at"].endswith("Z")

        history = oracle("history").stdout
        assert "Z" in history.splitlines()[1] and "mined" in history
        wrong = oracle("history", "--market", "FOO/BAR", check=False)
        assert wrong.returncode == 1 and "FOO/BAR is not a keeper market" in wrong.stderr
        [status] = [json.loads(x) for x in oracle("status", "--json").stdout.splitlines()]
        assert 0 <= status["age_s"] < 60  # chain time, not the wall clock
        assert status[
            "on_chain"
        ] == "{ltv_bps}/{liquidation_threshold_bps}/{liquidation_bonus_bps}".format(
            **out["decisions"][0]["update"]
        )

        cfg.write_text(cfg.read_text().replace("model: {}", "model: {no_such_knob: 1}"))
        knob = oracle("compute", env=env, check=False)
        assert knob.returncode == 1 and "unknown setting(s) no_such_knob (known: " in knob.stderr
        assert "unexpected keyword" not in knob.stderr
    finally:
        code, err = stop(node)
        assert code == 0 and "anvil stopped" in err, err
        if venues is not None:
            code, err = stop(venues)
            assert code == 0 and "venues stopped" in err, err
    assert key.removeprefix("0x") not in (tmp_path / "oracle.yaml").read_text()
