"""The scorecard's HTML report: one self-contained file a risk analyst can read offline.

- the summary and a table of every window (dynamic vs static vs best static in hindsight);
- per-window bars: liquidated debt, bad debt and mean LTV, dynamic next to static;
- the frontiers: per window, liquidated debt against borrowing power (mean LTV) for the static grid
  (the lowest liquidated debt at each grid LTV, a curve), the static baseline, the dynamic path and
  the hindsight choice (points);
- per window, on one shared time axis: the price with the dynamic LTV and threshold in force, the
  static ones and a marker at every update; the bonus path; the liquidation events (liquidated debt
  per day, dynamic and static).

Figures are matplotlib PNGs embedded as base64, as in the backtest report.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory

import matplotlib.pyplot as plt
import numpy as np

from oracle.evaluation.scorecard import LTV_TOLERANCE_BPS, MATERIAL_BAD_DEBT, shipped_asset_bars
from oracle.evaluation.windows import asset

DYNAMIC, STATIC, HINDSIGHT = "#1f77b4", "#d62728", "#2ca02c"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def _bars(rows: list[dict[str, Any]]) -> str:
    names = [f"{r['asset']} {r['window']}" for r in rows]
    y = np.arange(len(rows))
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.28 * len(rows) + 1.5), sharey=True)
    for ax, key, title, scale in (
        (axes[0], "liquidated", "liquidated debt (% of debt originated)", 100),
        (axes[1], "bad_debt", "bad debt (% of debt originated)", 100),
        (axes[2], "mean_ltv_bps", "mean LTV (bps)", 1),
    ):
        ax.barh(
            y - 0.2, [r["dynamic"][key] * scale for r in rows], 0.4, color=DYNAMIC, label="dynamic"
        )
        ax.barh(
            y + 0.2, [r["static"][key] * scale for r in rows], 0.4, color=STATIC, label="static"
        )
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names, fontsize=7)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=8)
    return _png(fig)


def _frontiers(rows: list[dict[str, Any]]) -> str:
    cols = 6
    lines = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(lines, cols, figsize=(16, 2.6 * lines), squeeze=False)
    for ax in axes.flat[len(rows) :]:
        ax.axis("off")
    for ax, r in zip(axes.flat, rows, strict=False):
        best: dict[int, float] = {}
        for f in r["frontier"]:
            best[f["ltv_bps"]] = min(best.get(f["ltv_bps"], 1.0), f["liquidated"])
        ltvs = sorted(best)
        ax.plot(ltvs, [best[v] * 100 for v in ltvs], color="grey", lw=1, label="static grid")
        ax.plot(
            r["static"]["mean_ltv_bps"],
            r["static"]["liquidated"] * 100,
            "s",
            color=STATIC,
            label="static",
        )
        ax.plot(
            r["dynamic"]["mean_ltv_bps"],
            r["dynamic"]["liquidated"] * 100,
            "o",
            color=DYNAMIC,
            label="dynamic",
        )
        h = r["hindsight"]["liquidated"]
        if h is not None:
            ax.plot(
                h["mean_ltv_bps"], h["liquidated"] * 100, "^", color=HINDSIGHT, label="hindsight"
            )
        ax.set_title(f"{r['asset']} {r['window']}", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("mean LTV (bps)", fontsize=6)
        ax.set_ylabel("liquidated %", fontsize=6)
    axes.flat[0].legend(fontsize=6)
    return _png(fig)


def _timeline(r: dict[str, Any]) -> str:
    a = asset(r["asset"])
    bars = shipped_asset_bars(a.file, f"{a.symbol}/USDT")
    start, end = _when(r["start"]), _when(r["end"])
    lo, hi = np.searchsorted(
        bars.timestamps,
        [start.replace(tzinfo=UTC).timestamp(), end.replace(tzinfo=UTC).timestamp() + 1],
    )
    times = np.asarray(bars.timestamps[lo:hi], dtype="datetime64[s]")
    path = r["dynamic"].get("path") or []
    pt = [_when(e["timestamp"]) for e in path]
    static = [int(x) for x in r["static_params"].split("/")]
    fig, axes = plt.subplots(4, 1, figsize=(12, 7), sharex=True, height_ratios=(3, 2, 1, 1.5))
    ax = axes[0]
    ax.plot(times, bars.close[lo:hi], color="black", lw=0.7, label="close")
    ax.plot(times, bars.low[lo:hi], color="grey", lw=0.4, alpha=0.6, label="low")
    changes = [_when(e["timestamp"]) for i, e in enumerate(path) if i == 0 or _changed(path, i)]
    for when in changes:
        ax.axvline(when, color=DYNAMIC, alpha=0.15, lw=0.8)
    ax.set_ylabel("price (USDT)", fontsize=8)
    ax.set_title(
        f"{r['asset']} {r['window']}: price, parameters (dynamic {len(changes)} update(s), "
        "blue lines) and liquidations",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[1]
    if path:
        ax.step(
            [*pt, end],
            [e["ltv_bps"] for e in path] + [path[-1]["ltv_bps"]],
            where="post",
            color=DYNAMIC,
            label="dynamic LTV",
        )
        ax.step(
            [*pt, end],
            [e["lt_in_force_bps"] for e in path] + [path[-1]["lt_in_force_bps"]],
            where="post",
            color=DYNAMIC,
            ls="--",
            label="dynamic LT in force",
        )
    ax.axhline(static[0], color=STATIC, label="static LTV")
    ax.axhline(static[1], color=STATIC, ls="--", label="static LT")
    ax.set_ylabel("bps", fontsize=8)
    ax.legend(fontsize=7, ncol=4, loc="lower left")
    ax = axes[2]
    if path:
        ax.step(
            [*pt, end],
            [e["lb_bps"] for e in path] + [path[-1]["lb_bps"]],
            where="post",
            color=DYNAMIC,
            label="dynamic LB",
        )
    ax.axhline(static[2], color=STATIC, label="static LB")
    ax.set_ylabel("bonus bps", fontsize=8)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax = axes[3]
    for side, colour, shift in (("dynamic", DYNAMIC, -0.2), ("static", STATIC, 0.2)):
        days = r[side].get("liquidation_days") or []
        if days:
            days_at = [_when(d[0] + "T00:00:00") for d in days]
            width = 0.4
            ax.bar(
                [w + timedelta(days=shift) for w in days_at],
                [d[1] * 100 for d in days],
                width,
                color=colour,
                label=f"{side} liquidated",
            )
    ax.set_ylabel("liquidated %/day", fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left")
    else:
        ax.text(0.01, 0.5, "no liquidations on either side", transform=ax.transAxes, fontsize=8)
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
    return _png(fig)


def _changed(path: list[dict[str, Any]], i: int) -> bool:
    a, b = path[i - 1], path[i]
    return (a["ltv_bps"], a["lt_bps"], a["lb_bps"]) != (b["ltv_bps"], b["lt_bps"], b["lb_bps"])


def _pct(x: float, digits: int = 2) -> str:
    return f"{x * 100:.{digits}f} %"


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        "<tr><th>window</th><th>settings</th><th>bad debt dyn / static</th>"
        "<th>liquidated dyn / static</th><th>caused by cuts</th><th>mean LTV dyn / static</th>"
        "<th>P99 daily bad debt dyn / static</th><th>hindsight: least liquidated at dyn LTV</th>"
        "<th>updates</th><th>dominates</th></tr>"
    )
    body = []
    for r in rows:
        d, s, h = r["dynamic"], r["static"], r["hindsight"]["liquidated"]
        best = "none at this LTV" if h is None else f"{_pct(h['liquidated'], 1)} @ {h['params']}"
        body.append(
            "<tr>"
            f"<td>{html.escape(r['asset'] + ' ' + r['window'])}</td>"
            f"<td>{html.escape(r['settings'])}</td>"
            f"<td>{_pct(d['bad_debt'], 3)} / {_pct(s['bad_debt'], 3)}</td>"
            f"<td>{_pct(d['liquidated'], 1)} / {_pct(s['liquidated'], 1)}</td>"
            f"<td>{_pct(d['param_liquidated'], 1)}</td>"
            f"<td>{d['mean_ltv_bps']:.0f} / {s['mean_ltv_bps']:.0f}</td>"
            f"<td>{_pct(d['daily_bad_debt_p99'], 3)} / {_pct(s['daily_bad_debt_p99'], 3)}</td>"
            f"<td>{best}</td><td>{d['updates']}</td>"
            f"<td>{'yes' if r['dominates'] else 'no: ' + html.escape('; '.join(r['misses']))}</td>"
            "</tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def write_scorecard(result: dict[str, Any], target: Path) -> Path:
    """Writes the report for an `oracle evaluate` result and returns its path."""
    rows = result["windows"]
    s = result["summary"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Scorecard</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "td:first-child{text-align:left}"
        "img{max-width:100%}</style></head><body>",
        "<h1>Walk-forward scorecard</h1>",
        f"<p id='summary'>Dynamic dominates static in <b>{s['dominated']} of {s['windows']}</b> "
        f"windows ({s['years_dominated']}/{s['years']} years, {s['crashes_dominated']}/"
        f"{s['crashes']} crashes); the static parameters scored against themselves: "
        f"{s['static_against_itself']} (ties count, so that is what changing nothing scores). "
        f"On or beyond the best-static-in-hindsight frontier: <b>{s['on_frontier']}</b> "
        f"(the static parameters: {s['static_on_frontier']}). Windows where parameter cuts "
        f"liquidate over 1 % of debt: <b>{s['param_liquidated_over_ceiling']}</b>; the largest "
        f"fall of the threshold in force within 7 days: {s['max_lt_drop_7d_bps']} bps. "
        f"Scenario: {html.escape(result['scenario'])}. Settings: "
        f"{html.escape(str(result['settings']['file'] or 'code defaults'))}. "
        f"{s['seconds']} s on {html.escape(s['engine'])}.</p>",
        "<p>Dominates: dynamic bad debt at most the static one (at most half of it where the "
        f"static one exceeds {MATERIAL_BAD_DEBT:.2%}), liquidated debt at most the static one, "
        f"mean LTV at least the static one minus {LTV_TOLERANCE_BPS} bps.</p>",
        _table(rows),
    ]
    if result.get("skipped"):
        items = "".join(f"<li>{html.escape(x)}</li>" for x in result["skipped"])
        parts.append(f"<h2>Left out</h2><ul>{items}</ul>")
    parts += [
        "<h2>Per window</h2>",
        _bars(rows),
        "<h2>Frontiers: liquidated debt against borrowing power</h2>",
        _frontiers(rows),
        "<h2>Timelines</h2>",
    ]
    for r in rows:
        parts.append(
            f"<details><summary>{html.escape(r['asset'] + ' ' + r['window'])}</summary>"
            f"{_timeline(r)}</details>"
        )
    parts.append("</body></html>")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(parts))
    return target
