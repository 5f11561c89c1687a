"""Walk-forward backtest of portfolio margin on the 16 joint scenario rows (`span16-v1`): coverage
(how often a book lost more over the margin horizon than the margin held against it) and capital
efficiency (portfolio margin against the sum of isolated per-asset margins), for three classes of
books.

At each date of a fixed grid (every day at 00:00 UTC, after `warmup` of common history):

- the arrays come from the bars whose open is before the date only (`PriceSeries.until(at − 1)`),
  the trailing `lookback` of them: the last bar read opens an hour before the date and closes at
  it, so its close is the price a book is opened at and nothing of the window being scored is read.
  The scenario settings are the code's fixed defaults (`ScenarioSettings()`), never tuned to what
  this backtest finds;
- the rows are quantised exactly as the contract stores them (`oracle.policy.arrays.quantize`),
  with the largest depth a code holds (`MAX_DEPTH_USD`, 4.095·10¹⁸ USD): the history has no order
  books, so the size add-on Σ pos²/(100·depth) is left out (it is below 10⁻⁸ USD for a 1 M USD
  position) and what is measured is the rows and floors alone;
- each book is margined with the contract's integer arithmetic (`portfolio_margin`, and
  `isolated_margin`: every position alone on the same arrays), positions in whole USD, 18 decimals;
- the realised loss over the horizon H (the rows' own, 24 hourly bars) is
  −Σ posᵢ·(Pᵢ(t+H)/Pᵢ(t) − 1) (close to close) and, stricter, the worst of the H hourly marks
  within the window (the path): a book marked hourly can be under water in the middle of the day
  and back by its end. A window breaches when the loss exceeds the margin; at the 99 % design
  level at most 1 % of windows should.

The classes (`RANDOM`, `HEDGED`, `ADVERSARIAL`):

- random: `random_books` books a date, each on a random subset of at least two assets, random
  signs, sizes uniform in [0.1, 1] of `gross_usd`: what a population of traders holds;
- hedged: named long/short books, each in both directions: a long leg of `gross_usd` (equal
  weights) against a short leg sized beta-neutral on the trailing `beta_days` of hourly returns
  (β of the long basket on the short one, at least 0): ETH against BTC, the alts against BTC,
  DeFi (UNI, AAVE, LINK) against ETH. Netting is what portfolio margin is for; these books say
  how much capital it saves and whether the hedge's residual risk is still covered;
- adversarial: built against the arrays of the date alone, the books the rows like best: the one
  of least margin per unit of gross notional (`lp`: exact on the contract's formula, rounding
  aside, `cheapest_book`), and the best of
  `candidates` random books by the same measure (`search`). A scenario set is weakest where a
  book is hedged against every row, so this is where a SPAN-like set fails first.

Windows of one date share the market's move, so within a class they are not independent: the
binomial p-value and interval treat them as if they were (overstating the evidence when a class
has several books a date); `breach_dates` counts the dates with a breach. Everything is seeded by
date and class: a shorter run gives the same books on the dates it shares with a longer one.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracle.errors import RiskInputError
from oracle.policy.arrays import (
    DEPTH_MANTISSA_MAX,
    FACTOR_NORM_ROW,
    LOSS_SCALE,
    UNITS_PER_ONE,
    WAD,
    ArrayValues,
    isolated_margin,
    portfolio_margin,
    quantize,
)
from oracle.risk.portfolio import ReturnPanel
from oracle.risk.scenarios import FACTOR_PAIRS, ROW_WEIGHT_PCT, ScenarioSettings, risk_arrays
from oracle.series import PriceSeries, iso

HOUR, DAY = 3_600, 86_400
#: The largest depth a 16-bit code holds: the size add-on is then nil (no order books in history).
MAX_DEPTH_USD = DEPTH_MANTISSA_MAX * 10**15
RANDOM, HEDGED, ADVERSARIAL = "random", "hedged", "adversarial"
#: Up to this many assets, `cheapest_book` solves every sign pattern rather than branching.
SMALL_UNIVERSE = 3
#: Hedged books: name, long leg, short leg (assets absent from the universe are left out).
HEDGES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("ETH/BTC", ("ETH",), ("BTC",)),
    ("alts/BTC", ("ETH", "SOL", "LINK", "UNI", "AAVE"), ("BTC",)),
    ("DeFi/ETH", ("UNI", "AAVE", "LINK"), ("ETH",)),
)


@dataclass(frozen=True)
class PortfolioBacktestSettings:
    """The backtest's grid and books. The scenario settings are the code's defaults: the point is
    to measure them, not to fit them."""

    step: int = DAY
    warmup: int = 365 * DAY
    lookback: int = 365 * DAY
    gross_usd: int = 1_000_000
    random_books: int = 10
    candidates: int = 2_000
    beta_days: int = 30
    seed: int = 20_240_501
    design_breach_rate: float = 0.01
    depth_usd: int = MAX_DEPTH_USD
    scenarios: ScenarioSettings = field(default_factory=ScenarioSettings)

    def __post_init__(self) -> None:
        if self.step < HOUR or self.step % HOUR or self.lookback < 2 * DAY or self.warmup < 0:
            raise RiskInputError("(portfolio backtest)", "step whole hours, lookback ≥ 2 days")
        if self.gross_usd < 1_000 or self.random_books < 0 or self.candidates < 1:
            raise RiskInputError("(portfolio backtest)", "gross ≥ 1000 USD, books ≥ 0")

    @property
    def horizon(self) -> int:
        """The margin horizon in seconds: the rows' own."""
        return self.scenarios.horizon_bars * HOUR


@dataclass(frozen=True)
class DateContext:
    """What a book maker may read at a date: the past only."""

    at: int
    assets: tuple[str, ...]
    panel: ReturnPanel  # trailing hourly log returns, bars before `at`
    arrays: tuple[ArrayValues, ...]  # as the chain stores them
    rng: np.random.Generator  # seeded by date and class
    settings: PortfolioBacktestSettings


#: A class of books: (name, positions in whole USD per asset) for each book at a date.
BookMaker = Callable[[DateContext], list[tuple[str, tuple[int, ...]]]]


@dataclass(frozen=True)
class Window:
    """One book over one horizon: its positions, margins (18-decimal USD, as the contract returns
    them) and realised losses (USD; negative is a gain)."""

    at: int
    portfolio: str
    book: str
    positions: tuple[int, ...]  # whole USD
    margin: int
    isolated: int
    worst_row: int
    norm_binds: bool  # the norm of the factor losses and the floors, not one row, set it
    loss_close: float
    loss_path: float

    @property
    def gross(self) -> int:
        return sum(abs(p) for p in self.positions)

    @property
    def margin_usd(self) -> float:
        return self.margin / WAD

    @property
    def breach_close(self) -> bool:
        return self.loss_close * WAD > self.margin

    @property
    def breach_path(self) -> bool:
        return self.loss_path * WAD > self.margin

    @property
    def efficiency(self) -> float:
        """Portfolio margin over the sum of isolated margins (< 1: netting saves capital)."""
        return self.margin / self.isolated if self.isolated else 1.0


@dataclass(frozen=True)
class PortfolioBacktest:
    """Every window of a run, and the dates left out with why (a bar missing in the window, so
    no mark; or no arrays from the history before it)."""

    assets: tuple[str, ...]
    dates: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...]
    windows: tuple[Window, ...]
    settings: PortfolioBacktestSettings

    def of(self, portfolio: str, book: str | None = None) -> list[Window]:
        return [
            w for w in self.windows if w.portfolio == portfolio and (book is None or w.book == book)
        ]

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(w.portfolio for w in self.windows))


# --- books -------------------------------------------------------------------------------------


#: `cheapest_book` stops cutting when the norm at its optimum is within this share of the bound
#: (plus `CUT_ABSOLUTE`, for an optimum of 0: every floor 0 and a book that nets every row), or
#: after `MAX_CUTS` planes in one programme (its best book then stands, a hair off the optimum).
CUT_TOLERANCE = 1e-4
CUT_ABSOLUTE = 1e-9
MAX_CUTS = 500


def _units(arrays: Sequence[ArrayValues]) -> tuple[np.ndarray, np.ndarray]:
    moves = np.array([a.moves for a in arrays], dtype=np.float64)  # (N, 16) units
    floors = np.array([a.floor_units for a in arrays], dtype=np.float64)
    return moves, floors


def margin_per_gross(arrays: Sequence[ArrayValues], books: np.ndarray) -> np.ndarray:
    """The contract's margin over gross notional of each row of `books` (K, N) in USD, in floats
    (the integer rounding and the nil add-on aside): a fast screen for many candidates."""
    moves, floors = _units(arrays)
    weights = np.array(ROW_WEIGHT_PCT, dtype=np.float64)
    pnl = books @ moves  # (K, 16), USD times move units
    loss = -pnl * weights / LOSS_SCALE
    floor = np.abs(books) @ floors
    squares = np.sum(pnl[:, 0 : 2 * FACTOR_PAIRS : 2] ** 2, axis=1) + floor**2
    norm = np.sqrt(squares) / UNITS_PER_ONE
    scenario = np.maximum(np.maximum(loss.max(axis=1), norm), 0.0)
    gross = np.abs(books).sum(axis=1)
    ratio = scenario / np.where(gross > 0, gross, 1.0)
    return np.where(gross > 0, ratio, np.inf)  # no positions: no ratio (never the cheapest)


def _random_books(rng: np.random.Generator, count: int, n: int, gross: int) -> np.ndarray:
    """`count` books (rows): each on a random subset of at least two assets (all of them when
    fewer), random signs, sizes uniform in [0.1, 1] of `gross`."""
    size = rng.integers(min(2, n), n + 1, size=count)
    rank = np.argsort(rng.random((count, n)), axis=1)  # a random order of the assets per book
    chosen = rank < size[:, None]
    signs = rng.choice([-1.0, 1.0], size=(count, n))
    return np.where(chosen, signs * rng.uniform(0.1, 1.0, size=(count, n)) * gross, 0.0)


def _whole(book: np.ndarray) -> tuple[int, ...]:
    return tuple(round(float(x)) for x in book)


def random_books(ctx: DateContext) -> list[tuple[str, tuple[int, ...]]]:
    """`random_books` books on random subsets, signs and sizes."""
    s = ctx.settings
    books = _random_books(ctx.rng, s.random_books, len(ctx.assets), s.gross_usd)
    return [(f"random-{i}", _whole(book)) for i, book in enumerate(books)]


def hedge_ratio(panel: ReturnPanel, long: Sequence[int], short: Sequence[int], bars: int) -> float:
    """β of the equal-weight long basket's hourly returns on the short basket's, over the
    trailing `bars`, at least 0 (a negative β would make the hedge a second long)."""
    r = panel.returns[-bars:]
    x, y = r[:, list(short)].mean(axis=1), r[:, list(long)].mean(axis=1)
    var = float(np.var(x))
    if var <= 0:
        return 1.0
    return max(0.0, float(np.mean((x - x.mean()) * (y - y.mean()))) / var)


def hedged_books(ctx: DateContext) -> list[tuple[str, tuple[int, ...]]]:
    """Each hedge of `HEDGES` present in the universe, long its first leg and the reverse; a hedge
    that is the same book as one before it is left out."""
    out: list[tuple[str, tuple[int, ...]]] = []
    gross = ctx.settings.gross_usd
    for name, long_names, short_names in HEDGES:
        long = [ctx.assets.index(a) for a in long_names if a in ctx.assets]
        short = [ctx.assets.index(a) for a in short_names if a in ctx.assets]
        if not long or not short:
            continue
        beta = hedge_ratio(ctx.panel, long, short, ctx.settings.beta_days * 24)
        book = np.zeros(len(ctx.assets))
        book[long] = gross / len(long)
        book[short] = -beta * gross / len(short)
        if any(_whole(book) == held for _, held in out):
            continue  # the same book under another name (e.g. the only alt is ETH)
        first, second = name.split("/")
        out.append((name, _whole(book)))
        out.append((f"{second}/{first}", _whole(-book)))
    return out


def cheapest_book(arrays: Sequence[ArrayValues]) -> np.ndarray:
    """Positions (summing to 1 in absolute value) of least margin per unit of gross notional on
    these arrays, the contract's formula in reals (rounding and the nil add-on aside).

    With q = q⁺ − q⁻ (both ≥ 0), the linear programme min t subject to t ≥ each row's weighted
    loss, t ≥ u·(the losses over the factor rows, the floor sum Σ(q⁺ + q⁻)·floor) for unit
    vectors u, and Σ(q⁺ + q⁻) = 1. The norm enters as its supporting planes, cut where the
    optimum stands until the norm there is within `CUT_TOLERANCE` of t (a plane is below the norm
    everywhere, so every cut keeps the programme a relaxation). Holding a long and a short of one
    asset would cheat (gross notional at no scenario risk), so the sign of each asset is fixed by
    branch and bound: where the optimum holds both sides of an asset, the asset is fixed long in
    one branch and short in the other; a branch whose relaxation is no better than the best book
    found is dropped. Exact (the best sign pattern), in a handful of programmes rather than one
    per pattern (2^N) for six assets; up to `SMALL_UNIVERSE` assets, one per pattern is fewer."""
    from scipy.optimize import linprog  # here: the module's other users need no optimiser

    moves, floors = _units(arrays)
    n = len(arrays)
    weights = np.array(ROW_WEIGHT_PCT, dtype=np.float64)
    rows = -moves.T * weights[:, None] / LOSS_SCALE  # (16, N): weighted loss per USD long
    factors = -moves.T[0 : 2 * FACTOR_PAIRS : 2] / UNITS_PER_ONE  # (k, N): factor-row losses
    f = floors / UNITS_PER_ONE
    # variables: q⁺ (N), q⁻ (N), t; the floor sum alone is the first plane (u on its axis)
    cuts = [np.c_[rows, -rows, -np.ones(len(rows))], np.r_[f, f, -1.0][None, :]]
    a_eq = np.r_[np.ones(2 * n), 0.0][None, :]
    cost = np.r_[np.zeros(2 * n), 1.0]
    best, best_value = np.zeros(n), np.inf
    # asset → +1 (long only) or −1 (short only); with few assets every pattern at once is fewer
    # programmes than the tree (whose relaxations wash the free assets all the way down)
    pending: list[dict[int, int]] = [{}]
    if n <= SMALL_UNIVERSE:
        pending = [dict(enumerate(p)) for p in itertools.product((1, -1), repeat=n)]
    while pending:
        signs = pending.pop()
        bounds = [(0.0, 0.0 if signs.get(i) == -1 else None) for i in range(n)]
        bounds += [(0.0, 0.0 if signs.get(i) == 1 else None) for i in range(n)]
        for _ in range(MAX_CUTS):
            a_ub = np.vstack(cuts)
            res = linprog(
                cost,
                A_ub=a_ub,
                b_ub=np.zeros(len(a_ub)),
                A_eq=a_eq,
                b_eq=[1.0],
                bounds=[*bounds, (0.0, None)],
                method="highs",
            )
            if res.status != 0 or res.fun >= best_value - 1e-12:
                break
            long, short = res.x[:n], res.x[n : 2 * n]
            point = np.r_[factors @ (long - short), f @ (long + short)]
            norm = float(np.linalg.norm(point))
            if norm <= res.fun * (1 + CUT_TOLERANCE) + CUT_ABSOLUTE:
                break
            u = point / norm  # the plane touching the norm where the optimum stands
            plane = u[:-1] @ factors
            cuts.append(np.r_[plane + u[-1] * f, -plane + u[-1] * f, -1.0][None, :])
        if res.status != 0 or res.fun >= best_value - 1e-12:
            continue
        both = np.minimum(long, short)
        if both.max() <= 1e-12:
            best, best_value = long - short, float(res.fun)
            continue
        i = int(np.argmax(both))
        pending += [{**signs, i: -1}, {**signs, i: 1}]
    if not np.isfinite(best_value):
        raise RiskInputError("(portfolio backtest)", "no cheapest book: every programme failed")
    return np.asarray(best)


def adversarial_books(ctx: DateContext) -> list[tuple[str, tuple[int, ...]]]:
    """The book of least margin per gross on the date's arrays (`lp`), and the best of
    `candidates` random books by the same measure (`search`)."""
    gross = ctx.settings.gross_usd
    lp = cheapest_book(ctx.arrays) * gross
    candidates = _random_books(ctx.rng, ctx.settings.candidates, len(ctx.assets), gross)
    search = candidates[int(np.argmin(margin_per_gross(ctx.arrays, candidates)))]
    return [("lp", _whole(lp)), ("search", _whole(search))]


DEFAULT_CLASSES: dict[str, BookMaker] = {
    RANDOM: random_books,
    HEDGED: hedged_books,
    ADVERSARIAL: adversarial_books,
}


# --- the walk-forward ---------------------------------------------------------------------------


def arrays_at(
    series: Sequence[PriceSeries], at: int, settings: PortfolioBacktestSettings
) -> tuple[ReturnPanel, tuple[ArrayValues, ...]]:
    """The trailing panel of bars opened before `at` and its arrays as the chain stores them."""
    panel = ReturnPanel.from_series([s.until(at - 1).last(settings.lookback) for s in series])
    rows = risk_arrays(panel, settings.scenarios)
    arrays = tuple(
        quantize(rows.moves[i].tolist(), float(rows.floors[i]), settings.depth_usd)
        for i in range(len(series))
    )
    return panel, arrays


@dataclass(frozen=True)
class _Prices:
    """Closes of every asset on the universe's common bars."""

    timestamps: np.ndarray
    close: np.ndarray  # (T, N)

    @classmethod
    def of(cls, series: Sequence[PriceSeries]) -> _Prices:
        common = series[0].timestamps
        for s in series[1:]:
            common = np.intersect1d(common, s.timestamps, assume_unique=True)
        close = np.column_stack([s.close[np.searchsorted(s.timestamps, common)] for s in series])
        return cls(common, close)

    def window(self, at: int, horizon: int) -> tuple[np.ndarray, np.ndarray] | str:
        """The closes a book opens at (the bar closing at `at`) and the hourly marks to the
        horizon's end, or why the window has none."""
        opens = np.arange(at - HOUR, at + horizon, HOUR)
        idx = np.searchsorted(self.timestamps, opens)
        if idx[-1] >= len(self.timestamps) or (self.timestamps[idx] != opens).any():
            return "a bar of the window is missing on some asset"
        return self.close[idx[0]], self.close[idx[1:]]


def losses(positions: Sequence[int], entry: np.ndarray, marks: np.ndarray) -> tuple[float, float]:
    """(close-to-close loss at the last mark, worst loss over the marks) of signed USD positions
    opened at `entry` closes; marks (H, N) hourly."""
    pnl = (marks / entry - 1.0) @ np.asarray(positions, dtype=np.float64)
    return float(-pnl[-1]), float(-pnl.min())


def grid(series: Sequence[PriceSeries], settings: PortfolioBacktestSettings) -> list[int]:
    """Every `step` from the first 00:00 UTC after the common history's start plus the warm-up,
    while the window's last mark exists."""
    first = max(int(s.timestamps[0]) for s in series) + settings.warmup
    last = min(int(s.timestamps[-1]) for s in series) + HOUR  # close of the last common bar
    start = -(-first // DAY) * DAY
    return list(range(start, last - settings.horizon + 1, settings.step))


def _rng(seed: int, at: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, at, zlib.crc32(name.encode())])


def run_backtest(
    series: Sequence[PriceSeries],
    settings: PortfolioBacktestSettings | None = None,
    dates: Sequence[int] | None = None,
    classes: Mapping[str, BookMaker] | None = None,
) -> PortfolioBacktest:
    """The walk-forward over `dates` (default: `grid`) for each class of books (default: random,
    hedged, adversarial). `series`: hourly closes of each asset in one unit (e.g. USD)."""
    s = settings or PortfolioBacktestSettings()
    if not series:
        raise RiskInputError("(portfolio backtest)", "no assets given")
    makers = dict(classes or DEFAULT_CLASSES)
    assets = tuple(x.market.split("/")[0] for x in series)
    prices = _Prices.of(series)
    weights = ROW_WEIGHT_PCT
    windows: list[Window] = []
    skipped: list[tuple[int, str]] = []
    used: list[int] = []
    for at in dates if dates is not None else grid(series, s):
        marks = prices.window(at, s.horizon)
        if isinstance(marks, str):
            skipped.append((at, marks))
            continue
        entry, path = marks
        try:
            panel, arrays = arrays_at(series, at, s)
        except RiskInputError as exc:  # the keeper would publish nothing: nothing to score
            skipped.append((at, f"no arrays: {exc}"))
            continue
        used.append(at)
        for name, maker in makers.items():
            ctx = DateContext(at, assets, panel, arrays, _rng(s.seed, at, name), s)
            for book, positions in maker(ctx):
                if not any(positions):
                    continue
                wad = [p * WAD for p in positions]
                m = portfolio_margin(arrays, wad, weights, FACTOR_PAIRS)
                close, worst = losses(positions, entry, path)
                windows.append(
                    Window(
                        at,
                        name,
                        book,
                        positions,
                        m.margin,
                        isolated_margin(arrays, wad, weights, FACTOR_PAIRS),
                        m.worst_scenario,
                        m.worst_scenario == FACTOR_NORM_ROW,
                        close,
                        worst,
                    )
                )
    return PortfolioBacktest(assets, tuple(used), tuple(skipped), tuple(windows), s)


# --- summaries ----------------------------------------------------------------------------------


def binomial_tail(breaches: int, trials: int, rate: float) -> float:
    """P(X ≥ breaches) for X ~ Binomial(trials, rate): the one-sided p-value of seeing this many
    breaches or more if the true rate were the design rate (small: the margin under-covers)."""
    from scipy.special import bdtrc

    if breaches <= 0:
        return 1.0
    return float(bdtrc(breaches - 1, trials, rate))


def clopper_pearson(breaches: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval of a binomial rate."""
    from scipy.special import betaincinv

    if trials <= 0:
        return 0.0, 1.0
    alpha = 1.0 - level
    lo = 0.0 if breaches == 0 else float(betaincinv(breaches, trials - breaches + 1, alpha / 2))
    hi = (
        1.0
        if breaches >= trials
        else float(betaincinv(breaches + 1, trials - breaches, 1 - alpha / 2))
    )
    return lo, hi


@dataclass(frozen=True)
class Coverage:
    """Breaches of one loss measure in a set of windows, against the design rate."""

    windows: int
    breaches: int
    breach_dates: int
    p_value: float
    interval: tuple[float, float]

    @property
    def rate(self) -> float:
        return self.breaches / self.windows if self.windows else 0.0

    @classmethod
    def of(cls, windows: Sequence[Window], path: bool, design: float) -> Coverage:
        hits = [w for w in windows if (w.breach_path if path else w.breach_close)]
        n, b = len(windows), len(hits)
        return cls(
            n, b, len({w.at for w in hits}), binomial_tail(b, n, design), clopper_pearson(b, n)
        )


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    q = np.percentile(np.asarray(values, dtype=np.float64), [25, 50, 75])
    return float(q[0]), float(q[1]), float(q[2])


@dataclass(frozen=True)
class ClassSummary:
    """A class's coverage (close to close and within the path) and capital efficiency."""

    portfolio: str
    dates: int
    close: Coverage
    path: Coverage
    efficiency: tuple[float, float, float]  # quartiles of portfolio / isolated margin
    margin_to_gross: tuple[float, float, float]  # quartiles of margin / gross notional
    worst_loss_to_margin: float  # the largest close-to-close loss as a multiple of its margin
    norm_binds: float  # share of windows whose margin is the norm (factors and floors)
    books: dict[str, dict[str, int]]  # per book: windows and breaches

    def to_dict(self) -> dict[str, Any]:
        """One JSON object: the brief's keys first."""
        r = 6

        def sig(p: float) -> float:  # p-values to 3 significant figures: 1e-9 is not 0
            return float(f"{p:.3g}")

        return {
            "portfolio": self.portfolio,
            "windows": self.close.windows,
            "dates": self.dates,
            "breaches": self.close.breaches,
            "breach_rate": round(self.close.rate, r),
            "p_value": sig(self.close.p_value),
            "interval": [round(x, r) for x in self.close.interval],
            "breach_dates": self.close.breach_dates,
            "path_breaches": self.path.breaches,
            "path_breach_rate": round(self.path.rate, r),
            "path_p_value": sig(self.path.p_value),
            "path_interval": [round(x, r) for x in self.path.interval],
            "path_breach_dates": self.path.breach_dates,
            "median_efficiency": round(self.efficiency[1], 4),
            "efficiency_quartiles": [round(x, 4) for x in self.efficiency],
            "median_margin_to_gross": round(self.margin_to_gross[1], 5),
            "margin_to_gross_quartiles": [round(x, 5) for x in self.margin_to_gross],
            "worst_loss_to_margin": round(self.worst_loss_to_margin, 3),
            "norm_binds": round(self.norm_binds, 4),
            "books": self.books,
        }


def summarise(result: PortfolioBacktest) -> list[ClassSummary]:
    """One summary per class, in the order the classes ran."""
    design = result.settings.design_breach_rate
    out = []
    for name in result.classes:
        ws = result.of(name)
        books: dict[str, dict[str, int]] = {}
        for w in ws:
            b = books.setdefault(w.book, {"windows": 0, "breaches": 0, "path_breaches": 0})
            b["windows"] += 1
            b["breaches"] += w.breach_close
            b["path_breaches"] += w.breach_path
        out.append(
            ClassSummary(
                name,
                len({w.at for w in ws}),
                Coverage.of(ws, False, design),
                Coverage.of(ws, True, design),
                _quartiles([w.efficiency for w in ws]),
                _quartiles([w.margin_usd / w.gross for w in ws]),
                max((w.loss_close / w.margin_usd for w in ws if w.margin), default=0.0),
                sum(w.norm_binds for w in ws) / len(ws),
                books,
            )
        )
    return out


def describe(result: PortfolioBacktest) -> dict[str, Any]:
    """The run itself: universe, span and what was left out."""
    return {
        "assets": list(result.assets),
        "first": iso(result.dates[0]) if result.dates else None,
        "last": iso(result.dates[-1]) if result.dates else None,
        "dates": len(result.dates),
        "skipped": [[iso(at), why] for at, why in result.skipped],
        "horizon_bars": result.settings.scenarios.horizon_bars,
        "design_breach_rate": result.settings.design_breach_rate,
    }
