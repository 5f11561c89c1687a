"""The portfolio-margin backtest's report (`oracle.backtest.portfolio`): one Markdown file a risk
analyst reads offline, with its plots as SVG files in a folder of the same name beside it.

Per universe (a set of assets and the span of history they share):

- a table per class: windows, breaches close to close and within the path, each with its rate, its
  exact 95 % interval and the one-sided binomial p-value against the design rate, the capital
  efficiency (portfolio margin / isolated margins) and margin / gross notional (quartiles);
- a table per book, and a plain list of the classes that breach above the design rate, so a
  failure is read in words and never only in a plot;
- breach rates per class with their intervals and the 1 % line; the distributions of margin over
  isolated margin and of margin over gross notional; margin against the realised loss, date by
  date, for one hedged and one adversarial book, breaches marked.

SVG rather than embedded PNG (the HTML reports): the Markdown stays readable as text and the
figures diff.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to files

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from oracle.backtest.portfolio import (
    ADVERSARIAL,
    HEDGED,
    ClassSummary,
    PortfolioBacktest,
    describe,
    summarise,
)
from oracle.series import iso

CLOSE, PATH, BREACH = "#1f77b4", "#ff7f0e", "#d62728"
#: Where a class's breach rate counts as above the design rate: the one-sided p-value below this.
SIGNIFICANCE = 0.05


def _pct(x: float, digits: int = 2) -> str:
    return f"{x * 100:.{digits}f} %"


def _svg(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _breach_rates(summaries: Sequence[ClassSummary], design: float, title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(summaries))
    for shift, colour, label, pick in (
        (-0.12, CLOSE, "close to close", lambda s: s.close),
        (0.12, PATH, "within the path", lambda s: s.path),
    ):
        cov = [pick(s) for s in summaries]
        rate = np.array([c.rate for c in cov]) * 100
        lo = np.array([c.interval[0] for c in cov]) * 100
        hi = np.array([c.interval[1] for c in cov]) * 100
        ax.errorbar(
            x + shift,
            rate,
            yerr=[rate - lo, hi - rate],
            fmt="o",
            color=colour,
            capsize=4,
            label=label,
        )
    ax.axhline(design * 100, color="grey", ls="--", lw=1, label=f"design {_pct(design, 0)}")
    ax.set_xticks(x, [f"{s.portfolio}\n({s.close.windows} windows)" for s in summaries])
    ax.set_ylabel("breach rate (%), 95 % interval")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _distributions(result: PortfolioBacktest, title: str) -> plt.Figure:
    classes = result.classes
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, key, label in (
        (axes[0], "efficiency", "portfolio margin / isolated margins"),
        (axes[1], "to_gross", "portfolio margin / gross notional"),
    ):
        data = []
        for c in classes:
            ws = result.of(c)
            if key == "efficiency":
                data.append([w.efficiency for w in ws])
            else:
                data.append([w.margin_usd / w.gross for w in ws])
        ax.boxplot(data, whis=(5, 95), showfliers=False)
        ax.set_xticks(np.arange(1, len(classes) + 1), list(classes))
        ax.set_title(f"{label} (box: quartiles, whiskers: 5-95 %)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].axhline(1.0, color="grey", ls="--", lw=1)
    fig.suptitle(title, fontsize=10)
    return fig


def _timeline(
    result: PortfolioBacktest, books: Sequence[tuple[str, str]], title: str
) -> plt.Figure:
    fig, axes = plt.subplots(len(books), 1, figsize=(11, 3.0 * len(books)), squeeze=False)
    for ax, (portfolio, book) in zip(axes[:, 0], books, strict=True):
        ws = result.of(portfolio, book)
        when = np.array([w.at for w in ws], dtype="datetime64[s]")
        margin = np.array([w.margin_usd for w in ws]) / 1e3
        close = np.array([w.loss_close for w in ws]) / 1e3
        path = np.array([w.loss_path for w in ws]) / 1e3
        ax.step(when, margin, where="post", color="black", lw=0.9, label="margin")
        ax.plot(when, path, ".", ms=2.5, color=PATH, alpha=0.7, label="worst loss within the day")
        ax.plot(when, close, ".", ms=2.5, color=CLOSE, label="loss close to close")
        hit = np.array([w.breach_close or w.breach_path for w in ws], dtype=bool)
        ax.plot(
            when[hit],
            np.maximum(close, path)[hit],
            "x",
            color=BREACH,
            ms=7,
            label=f"breach ({int(hit.sum())})",
        )
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel("thousand USD", fontsize=8)
        ax.set_title(f"{portfolio} book {book}: margin against the next day's loss", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", ncol=4)
        ax.grid(alpha=0.25)
        locator = mdates.AutoDateLocator(maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.suptitle(title, fontsize=10)
    return fig


def _shown_books(result: PortfolioBacktest) -> list[tuple[str, str]]:
    """The first hedged book and the exact adversarial one, when the run has them."""
    out = []
    hedged = result.of(HEDGED)
    if hedged:
        out.append((HEDGED, hedged[0].book))
    if result.of(ADVERSARIAL, "lp"):
        out.append((ADVERSARIAL, "lp"))
    return out


def _class_table(summaries: Sequence[ClassSummary]) -> list[str]:
    lines = [
        "| class | windows (dates) | breaches | rate | 95 % interval | p-value | path breaches "
        "| path rate | path 95 % interval | path p-value | margin / isolated, median (IQR) "
        "| margin / gross, median (IQR) | worst loss / margin | norm binds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        c, p, e, g = s.close, s.path, s.efficiency, s.margin_to_gross
        lines.append(
            f"| {s.portfolio} | {c.windows} ({s.dates}) | {c.breaches} on {c.breach_dates} dates "
            f"| {_pct(c.rate)} | {_pct(c.interval[0])} – {_pct(c.interval[1])} | {c.p_value:.3g} "
            f"| {p.breaches} on {p.breach_dates} dates | {_pct(p.rate)} "
            f"| {_pct(p.interval[0])} – {_pct(p.interval[1])} | {p.p_value:.3g} "
            f"| {e[1]:.3f} ({e[0]:.3f} – {e[2]:.3f}) "
            f"| {_pct(g[1])} ({_pct(g[0])} – {_pct(g[2])}) "
            f"| {s.worst_loss_to_margin:.2f} | {_pct(s.norm_binds, 0)} |"
        )
    return lines


def _book_table(summaries: Sequence[ClassSummary]) -> list[str]:
    lines = ["| class | book | windows | breaches | path breaches |", "|---|---|---|---|---|"]
    for s in summaries:
        for book, b in s.books.items():
            lines.append(
                f"| {s.portfolio} | {book} | {b['windows']} | {b['breaches']} "
                f"| {b['path_breaches']} |"
            )
    return lines


def _findings(summaries: Sequence[ClassSummary], design: float) -> list[str]:
    """Each class whose breach rate is above the design rate at `SIGNIFICANCE`, in words."""
    out = []
    for s in summaries:
        for word, c in (("close to close", s.close), ("within the path", s.path)):
            if c.rate > design and c.p_value < SIGNIFICANCE:
                out.append(
                    f"- **{s.portfolio}** breaches above the {_pct(design, 0)} design rate {word}: "
                    f"{c.breaches} of {c.windows} windows ({_pct(c.rate)}, 95 % interval "
                    f"{_pct(c.interval[0])} – {_pct(c.interval[1])}, one-sided p = "
                    f"{c.p_value:.3g})."
                )
    if not out:
        out.append(
            f"- No class breaches above the {_pct(design, 0)} design rate at p < {SIGNIFICANCE}, "
            "close to close or within the path."
        )
    return out


def write_report(
    runs: Sequence[tuple[str, PortfolioBacktest]],
    target: Path,
    seconds: float | None = None,
) -> Path:
    """Writes the Markdown report for named runs (universes) at `target`, its SVG figures in the
    folder `target` without its suffix, and returns the report's path."""
    figures = target.with_suffix("")
    figures.mkdir(parents=True, exist_ok=True)
    first = runs[0][1].settings if runs else None
    lines = [
        "# Portfolio margin: walk-forward backtest of the 16 joint scenario rows",
        "",
        f"Written {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
        + (f" in {seconds:.0f} s." if seconds is not None else "."),
        "",
        "At every date of the grid (each day at 00:00 UTC after a year of common history), the "
        "arrays of scenario set `span16-v1` are computed from the trailing year of hourly bars "
        "closed by that date only, with the code's fixed default settings (not tuned to this "
        "backtest), quantised as the contract stores them, and each book is margined with the "
        "contract's integer arithmetic (`portfolio_margin`, `isolated_margin` of "
        "`oracle.policy.arrays`). A window breaches when the book's loss over the next 24 hours "
        "exceeds its margin: close to close, and within the path (the worst of the 24 hourly "
        "marks). The history has no order books, so the depth is the largest a code holds and "
        "the size add-on is nil: what is measured is the rows and floors alone.",
        "",
        "Classes: **random** (random subsets of at least two assets, random signs and sizes), "
        "**hedged** (a long leg against a beta-neutral short leg, β from the trailing 30 days, "
        "both directions: ETH/BTC, alts/BTC, DeFi/ETH where the universe has them), "
        "**adversarial** (built from the date's arrays alone: `lp` the book of least margin per "
        "gross notional, exact; `search` the best of "
        f"{first.candidates if first else '?'} random books by the same measure).",
        "",
        "The p-value is one-sided (the chance of this many breaches or more if the true rate were "
        "the design rate); the interval is Clopper-Pearson. Both treat windows as independent; "
        "books of one date share the market's move, so with several books a date they overstate "
        "the evidence. *Dates* counts the dates with at least one breach. *Norm binds*: share of "
        "windows whose margin is the norm of the losses over the factor rows and the floor sum "
        "Σ|pos|·floor (added in quadrature) rather than one row.",
        "",
    ]
    for name, result in runs:
        design = result.settings.design_breach_rate
        summaries = summarise(result)
        d = describe(result)
        slug = _slug(name)
        lines += [
            f"## {name}: {', '.join(result.assets)}",
            "",
            f"{d['dates']} dates from {d['first']} to {d['last']}; "
            f"{len(result.skipped)} left out"
            + (
                f", e.g. {iso(result.skipped[0][0])}: {result.skipped[0][1]}"
                if result.skipped
                else ""
            )
            + ".",
            "",
            *_findings(summaries, design),
            "",
            *_class_table(summaries),
            "",
        ]
        if not summaries:
            continue
        _svg(
            _breach_rates(summaries, design, f"{name}: breach rate per class"),
            figures / f"breach-rates-{slug}.svg",
        )
        _svg(_distributions(result, f"{name}: capital"), figures / f"capital-{slug}.svg")
        shown = _shown_books(result)
        lines += [
            f"![breach rates]({figures.name}/breach-rates-{slug}.svg)",
            "",
            f"![capital efficiency]({figures.name}/capital-{slug}.svg)",
            "",
        ]
        if shown:
            _svg(_timeline(result, shown, name), figures / f"timeline-{slug}.svg")
            lines += [f"![margin against loss]({figures.name}/timeline-{slug}.svg)", ""]
        worst = sorted(
            (w for w in result.windows if w.margin),
            key=lambda w: w.loss_path / w.margin_usd,
            reverse=True,
        )[:5]
        lines += [
            "Largest losses against their margin (within the path):",
            "",
            "| date | class | book | margin USD | loss close USD | worst loss USD | × margin |",
            "|---|---|---|---|---|---|---|",
        ]
        for w in worst:
            lines.append(
                f"| {iso(w.at)[:10]} | {w.portfolio} | {w.book} | {w.margin_usd:,.0f} "
                f"| {w.loss_close:,.0f} | {w.loss_path:,.0f} "
                f"| {w.loss_path / w.margin_usd:.2f} |"
            )
        lines += ["", "<details><summary>Per book</summary>", "", *_book_table(summaries)]
        lines += ["", "</details>", ""]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines))
    return target
