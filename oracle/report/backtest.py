"""The backtest's HTML report: a summary table and five plots (price, volatility, LTV/LT, cumulative
liquidations, cumulative bad debt), each a matplotlib PNG embedded in one self-contained file."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to memory

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from oracle.backtest.runner import Replay
from oracle.backtest.simulator import Outcome
from oracle.types import BPS

COLUMNS = (
    "bad_debt",
    "liquidated",
    "liquidations",
    "mean_ltv_bps",
    "min_ltv_bps",
    "min_lt_bps",
    "updates",
)


def _dates(ts: np.ndarray) -> np.ndarray:
    return np.asarray(ts, dtype="datetime64[s]")


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _cumulative(r: Replay, outcome: Outcome, which: int) -> np.ndarray:
    bars, *amounts = outcome.events
    per_bar = np.zeros(len(r.timestamps))
    np.add.at(per_bar, bars.astype(int), amounts[which])
    return np.cumsum(per_bar)


def write_report(r: Replay, market: str, path: Path) -> Path:
    dates = _dates(r.timestamps)
    figures = []

    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(dates, r.prices, lw=0.8)
    ax.set_title(f"{market} price")
    figures.append(("Price", fig))

    fig, ax = plt.subplots(figsize=(9, 3))
    if r.sigma:
        ax.plot(_dates(np.array([t for t, _ in r.sigma])), [v for _, v in r.sigma], lw=0.8)
    ax.set_title("Volatility the engine used (annualised σ)")
    figures.append(("Volatility", fig))

    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(dates, r.dynamic_lt * BPS, label="dynamic LT", lw=0.9)
    ax.plot(dates, r.dynamic_ltv, label="dynamic LTV", lw=0.9)
    ax.axhline(r.static.params.liquidation_threshold_bps, color="grey", ls="--", label="static LT")
    ax.axhline(r.static.params.ltv_bps, color="grey", ls=":", label="static LTV")
    ax.set_ylabel("bps")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("Parameters in force")
    figures.append(("LTV and LT", fig))

    legacy = r.summary["scenario"] == "legacy"
    share = "initial debt" if legacy else "debt originated"
    for title, which in (
        (f"Liquidated (share of {share})", 0),
        (f"Bad debt (share of {share})", 1),
    ):
        fig, ax = plt.subplots(figsize=(9, 3))
        if legacy:
            assert r.dynamic is not None and r.static_outcome is not None
            ax.plot(dates, _cumulative(r, r.dynamic, which), label="dynamic")
            ax.plot(dates, _cumulative(r, r.static_outcome, which), label="static", ls="--")
        else:  # the lending market the summary reports: its liquidations per UTC day
            for side, ls in (("dynamic", "-"), ("static", "--")):
                days = r.summary[side].get("liquidation_days") or []
                when = np.array([d[0] for d in days], dtype="datetime64[D]")
                ax.step(
                    when, np.cumsum([d[1 + which] for d in days]), where="post", label=side, ls=ls
                )
            ax.set_xlim(dates[0], dates[-1])
        ax.legend(loc="upper left", fontsize=8)
        ax.set_title(title)
        figures.append((title.split(" (")[0], fig))

    for _, fig in figures:
        for ax in fig.axes:
            locator = mdates.AutoDateLocator(maxticks=8)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    s = r.summary
    columns = COLUMNS if legacy else (*COLUMNS[:2], "param_liquidated", *COLUMNS[2:])
    rows = "".join(
        f"<tr><th>{side}</th>"
        + "".join(f"<td>{html.escape(str(s[side][c]))}</td>" for c in columns)
        + "</tr>"
        for side in ("dynamic", "static")
    )
    images = "".join(
        f"<h2>{html.escape(title)}</h2>"
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{_png(fig)}">'
        for title, fig in figures
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8">
<title>Backtest {html.escape(market)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}
td,th{{padding:4px 10px;text-align:right}}</style>
</head><body><h1>Backtest: {html.escape(market)}</h1>
<p>Window {s["window"]["start"]} .. {s["window"]["end"]} ({s["window"]["bars"]} bars).
Static baseline: {html.escape(s["static_source"])}. Lending market: {s["scenario"]}; amounts are
shares of the {share}.</p>
<table><tr><th></th>{"".join(f"<th>{c}</th>" for c in columns)}</tr>{rows}</table>
{images}</body></html>
"""
    )
    return path
