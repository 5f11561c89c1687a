"""A market's parameter path against its price, as an SVG (matplotlib, drawn on the server)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the dashboard renders on a server

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from oracle.policy.rules import MarketState


def _dates(stamps: list[int]) -> Any:
    """Unix times as matplotlib's date numbers (UTC)."""
    return mdates.date2num([datetime.fromtimestamp(t, tz=UTC) for t in stamps])


def path_svg(
    market: str,
    history: list[tuple[int, MarketState]],
    prices: list[tuple[int, float]],
    until: int,
) -> str:
    """LTV, the threshold's target and the threshold in force (ramps drawn as they run) as steps
    from each write to the next, up to `until`; the price on a second axis."""
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    try:
        if history:
            times: list[int] = []
            ltv: list[int] = []
            target: list[int] = []
            in_force: list[int] = []
            for i, (at, state) in enumerate(history):
                end = history[i + 1][0] if i + 1 < len(history) else max(until, at)
                # sample the ramp so its slope shows; a flat stretch needs its two ends only
                steps = 24 if state.ramp_end > at else 1
                for k in range(steps + 1):
                    t = at + (end - at) * k // steps
                    times.append(t)
                    ltv.append(state.ltv_bps)
                    target.append(state.target_liquidation_threshold_bps)
                    in_force.append(state.threshold_at(t))
            x = _dates(times)
            ax.step(x, ltv, where="post", label="LTV", color="#1f77b4")
            ax.plot(x, in_force, label="LT in force", color="#d62728")
            ax.step(x, target, where="post", label="LT target", color="#d62728", ls=":", lw=1)
        ax.set_ylabel("bps")
        ax.set_title(f"{market}: parameters on the registry and the price")
        if prices:
            right = ax.twinx()
            right.plot(
                _dates([t for t, _ in prices]),
                [p for _, p in prices],
                color="#7f7f7f",
                lw=1,
                label="price",
            )
            right.set_ylabel("price")
            lines, labels = ax.get_legend_handles_labels()
            more, more_labels = right.get_legend_handles_labels()
            ax.legend(lines + more, labels + more_labels, loc="lower left", fontsize=8)
        elif history:
            ax.legend(loc="lower left", fontsize=8)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=UTC))
        fig.autofmt_xdate()
        fig.tight_layout()
        out = io.StringIO()
        fig.savefig(out, format="svg")
        svg = out.getvalue()
    finally:
        plt.close(fig)
    return svg[svg.index("<svg") :]  # inline: no XML prologue
