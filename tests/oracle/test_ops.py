"""The monitoring files shipped in `ops/`: the alert rules pass Prometheus' own checker, and every
metric the rules and the Grafana dashboard query is one the keeper exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from oracle.keeper.metrics import Metrics

OPS = Path(__file__).resolve().parents[2] / "ops"
METRIC = re.compile(r"\boracle_[a-z_]+")


def _exposed() -> set[str]:
    """Every sample name the keeper's registry can expose (counters with their _total)."""
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
    return names


def _rules() -> list[dict]:
    body = yaml.safe_load((OPS / "prometheus-alerts.yml").read_text())
    return [rule for group in body["groups"] for rule in group["rules"]]


def test_the_alert_rules_pass_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing (Debian's prometheus package): run `make install`")
    result = subprocess.run(
        [promtool, "check", "rules", str(OPS / "prometheus-alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_alerts_and_dashboard_query_only_metrics_the_keeper_exposes():
    exposed = _exposed()
    rules = _rules()
    alerts = {r["alert"] for r in rules}
    assert {
        "OracleParametersStale",
        "OracleFeedsFailed",
        "OracleNoPush",
        "OracleCyclesFailing",
    } <= alerts
    for rule in rules:
        assert rule["labels"]["severity"] in ("page", "ticket") and rule["annotations"]["summary"]
        assert set(METRIC.findall(rule["expr"])) <= exposed, rule["alert"]
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            queried |= set(METRIC.findall(target["expr"]))
    assert queried and queried <= exposed, queried - exposed
    # every per-market gauge the keeper exposes has a panel
    assert {
        "oracle_parameter_bps",
        "oracle_recommended_bps",
        "oracle_parameter_age_seconds",
        "oracle_feed_health",
    } <= queried
