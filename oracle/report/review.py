"""Governance review reports for changes the guardrails do not allow: Markdown for a forum post and
a self-contained HTML page, written when the keeper queues a proposal.

Each report holds the current and proposed values, the binding constraints and the inputs behind
them (the engine's explanation), the feed snapshot, a backtest of both parameter sets over the
recent window (the lending simulator with each set held fixed), and — when the keeper reads a
consumer's positions (an example pool, an Aave reserve) — the liquidation impact: positions and
debt liquidatable under each threshold.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from oracle.backtest.simulator import Population, simulate
from oracle.policy.impact import OpenPositions
from oracle.series import PriceSeries
from oracle.types import BPS, Params


@dataclass(frozen=True)
class QueuedProposal:
    """A proposal the keeper has just queued, with what it knew when it decided: enough to review
    it without asking the keeper again."""

    proposal_id: int
    market: str
    current: Params | None  # the on-chain values (target LT), None when never set
    proposed: Params
    reason: str  # the policy's reason
    explanation: dict[str, Any] | None  # the risk engine's explanation
    snapshot: dict[str, Any]  # price, health, accepted sources, snapshot hash
    history: PriceSeries  # the recent window the review backtests both sets on
    positions: OpenPositions | None = None  # the consumer's, as the policy read them


class ReviewWriter:
    """Writes a Markdown and an HTML review into `directory` for each proposal the keeper queues
    (the keeper's `on_proposal` hook)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __call__(self, queued: QueuedProposal) -> None:
        impact = None
        if queued.positions is not None:
            lt_now = queued.current.liquidation_threshold_bps if queued.current else BPS
            impact = PoolImpact.of(
                queued.positions, lt_now, queued.proposed.liquidation_threshold_bps
            )
        write_review(
            self.directory,
            [queued.proposal_id],
            queued.market,
            queued.current,
            queued.proposed,
            queued.reason,
            queued.explanation,
            queued.snapshot,
            queued.history.last(30 * 86_400),
            impact,
        )


@dataclass(frozen=True)
class PoolImpact:
    positions: int
    debt: float  # the consumer's own debt units (pool token units, Aave's base currency)
    liquidatable_now: int
    liquidatable_debt_now: float
    liquidatable_proposed: int
    liquidatable_debt_proposed: float

    @classmethod
    def of(cls, positions: OpenPositions, current_lt_bps: int, proposed_lt_bps: int) -> PoolImpact:
        """Open positions judged under both thresholds: liquidatable when the loan ratio exceeds
        the threshold (debt > collateral value × LT)."""
        r, d = positions.loan_ratio_bps, positions.debt
        open_ = d > 0
        now = open_ & (r > current_lt_bps)
        proposed = open_ & (r > proposed_lt_bps)
        return cls(
            int(open_.sum()),
            float(d[open_].sum()),
            int(now.sum()),
            float(d[now].sum()),
            int(proposed.sum()),
            float(d[proposed].sum()),
        )


def backtest_pair(
    history: PriceSeries, current: Params | None, proposed: Params, slippage: float
) -> dict[str, dict[str, float]]:
    """Both parameter sets held fixed over the recent history, same borrowers (see simulator)."""
    prices = history.close
    opening = min(proposed.ltv_bps, current.ltv_bps if current else proposed.ltv_bps)
    population = Population.spread(float(prices[0]), opening, 200, 0.5, 1.0)
    out = {}
    for name, values in (("current", current), ("proposed", proposed)):
        if values is None:
            continue
        lt = np.full(len(prices), values.liquidation_threshold_bps / BPS)
        o = simulate(prices, lt, population, 1, slippage)
        out[name] = {
            "bad_debt": round(o.bad_debt, 6),
            "liquidated": round(o.liquidated, 6),
            "liquidations": o.liquidations,
        }
    return out


def write_review(
    directory: Path,
    proposal_ids: list[int],
    market: str,
    current: Params | None,
    proposed: Params,
    reason: str,
    explanation: dict[str, Any] | None,
    snapshot: dict[str, Any],
    history: PriceSeries,
    impact: PoolImpact | None,
) -> tuple[Path, Path]:
    slippage = float((explanation or {}).get("slippage", {}).get("fraction", 0.0))
    backtest = backtest_pair(history, current, proposed, slippage)
    derived = (explanation or {}).get("derived", {})
    vol = (explanation or {}).get("volatility", {})
    tail = (explanation or {}).get("tail", {})

    def row(label: str, v: Params | None) -> str:
        if v is None:
            return f"| {label} | – | – | – |"
        return (
            f"| {label} | {v.ltv_bps} | {v.liquidation_threshold_bps} | {v.liquidation_bonus_bps} |"
        )

    ids = ", ".join(f"#{i}" for i in proposal_ids)
    lines = [
        f"# Proposal {ids}: {market} risk parameters",
        "",
        f"{reason}.",
        "Governance can execute it after the timelock or cancel it before.",
        "",
        "| | LTV bps | LT bps | LB bps |",
        "|---|---|---|---|",
        row("current (on-chain)", current),
        row("proposed", proposed),
        "",
        "## Why",
        "",
        f"- binding constraints: {json.dumps(derived.get('binding', {}))}",
        f"- volatility σ used (per bar): {vol.get('sigma')} ({vol.get('binding')}); annualised "
        f"{(explanation or {}).get('sigma_annualised')}",
        f"- expected shortfall over the horizon: {tail.get('expected_shortfall')} "
        f"({tail.get('method')}, horizon {(explanation or {}).get('horizon_seconds')} s)",
        f"- slippage to liquidate the size: {slippage}",
        f"- model {(explanation or {}).get('model_version')}, inputs hash "
        f"{(explanation or {}).get('inputs_hash')}",
        "",
        "## Feed snapshot",
        "",
        f"- price {snapshot.get('price')}, health {snapshot.get('health')}, accepted "
        f"{snapshot.get('accepted')}, snapshot hash {snapshot.get('hash')}",
        "",
        "## Backtest over the recent window (each set held fixed)",
        "",
        "| | bad debt | liquidated | liquidations |",
        "|---|---|---|---|",
        *[
            f"| {k} | {v['bad_debt']} | {v['liquidated']} | {v['liquidations']} |"
            for k, v in backtest.items()
        ],
        "",
    ]
    if impact is not None:
        lines += [
            "## Liquidation impact on the consumer's open positions",
            "",
            f"- open positions: {impact.positions}, debt {impact.debt:.0f}",
            f"- liquidatable under the current LT: {impact.liquidatable_now} "
            f"(debt {impact.liquidatable_debt_now:.0f})",
            f"- liquidatable under the proposed LT: {impact.liquidatable_proposed} "
            f"(debt {impact.liquidatable_debt_proposed:.0f})",
            "",
        ]
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"proposal-{'-'.join(str(i) for i in proposal_ids)}-{market.replace('/', '-')}"
    md = directory / f"{stem}.md"
    md.write_text("\n".join(lines) + "\n")
    page = directory / f"{stem}.html"
    page.write_text(_html(lines, history))
    return md, page


def _html(lines: list[str], history: PriceSeries) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(np.asarray(history.timestamps, dtype="datetime64[s]"), history.close, lw=0.8)
    ax.set_title("Recent price (the backtest window)")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    image = base64.b64encode(buf.getvalue()).decode()
    body = []
    table: list[str] = []
    for line in lines:
        if line.startswith("|"):
            if not line.startswith("|---"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                table.append(
                    "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                )
            continue
        if table:
            body.append("<table>" + "".join(table) + "</table>")
            table = []
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    if table:
        body.append("<table>" + "".join(table) + "</table>")
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Proposal review</title>'
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "td{padding:3px 9px}</style>"
        "</head><body>"
        + "".join(body)
        + f'<img alt="recent price" src="data:image/png;base64,{image}"></body></html>\n'
    )
