"""The scorecard's windows: every calendar year each shipped asset covers, and the named crashes.

A year's window starts when the keeper's engine can first run in it (90 days of history after the
asset's first bar, `HISTORY`) and ends at the year's end or the data's; a window shorter than
`MIN_DAYS` is left out (named in the scorecard's `skipped`). Crash windows reach two weeks before
the crash, so that borrowers who opened before it are in the market when it comes, and one week
after it, so that the liquidations it causes execute inside the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from oracle.backtest.runner import BacktestSettings
from oracle.errors import ConfigError

DAY = 86_400
#: The engine's trailing history: no parameters before that much data.
HISTORY: int = BacktestSettings.history
#: A year window shorter than this says too little to score (the last, partial years).
MIN_DAYS = 28


@dataclass(frozen=True)
class Asset:
    """A shipped market: its 1h file, and the Aave v3 Ethereum reserve whose parameters are its
    static baseline. `stand_in` says the baseline is another asset's, because Aave lists this one
    in no market (the shipped snapshots, 13 networks included): `--static` replaces it."""

    symbol: str
    file: str
    aave_symbol: str
    stand_in: bool = False


#: Every asset of the shipped 1h data (oracle/data/SOURCES.md), priced in USDT.
ASSETS: tuple[Asset, ...] = (
    Asset("BTC", "ohlcv/1h/BTCUSDT.csv.gz", "WBTC"),
    Asset("ETH", "ohlcv/1h/ETHUSDT.csv.gz", "WETH"),
    Asset("LINK", "ohlcv/1h/LINKUSDT.csv.gz", "LINK"),
    # SOL: LINK's parameters, the most conservative of the listed large caps with a SOL-like
    # volatility; a risk council should set its own with --static.
    Asset("SOL", "ohlcv/1h/SOLUSDT.csv.gz", "LINK", stand_in=True),
    Asset("UNI", "ohlcv/1h/UNIUSDT.csv.gz", "UNI"),
    Asset("AAVE", "ohlcv/1h/AAVEUSDT.csv.gz", "AAVE"),
    Asset("USDC", "ohlcv/1h/USDCUSDT.csv.gz", "USDC"),
)


def asset(symbol: str) -> Asset:
    for a in ASSETS:
        if a.symbol == symbol.upper():
            return a
    known = ", ".join(a.symbol for a in ASSETS)
    raise ConfigError("--assets", f"no shipped data for {symbol!r}; shipped: {known}")


def _t(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def year_start(year: int) -> int:
    """1 January of `year`, 00:00 UTC, in unix seconds."""
    return _t(f"{year}-01-01")


def cost(w: Window) -> float:
    """A window's expected scoring time, for scheduling the longest first: one engine run per
    hour of it."""
    return float(w.end - w.start)


@dataclass(frozen=True)
class Crash:
    name: str
    start: int  # first day of the crash
    end: int  # day after its last day


#: The named crash windows of issue 15, with the days the shared data README gives for each.
CRASHES: tuple[Crash, ...] = (
    Crash("2020-03 Black Thursday", _t("2020-03-12"), _t("2020-03-14")),
    Crash("2021-05-19 crash", _t("2021-05-19"), _t("2021-05-20")),
    Crash("2022-05 LUNA/UST", _t("2022-05-07"), _t("2022-05-14")),
    Crash("2022-06 stETH/3AC", _t("2022-06-10"), _t("2022-06-20")),
    Crash("2023-03 USDC depeg", _t("2023-03-10"), _t("2023-03-14")),
)
BEFORE_CRASH = 14 * DAY
AFTER_CRASH = 7 * DAY


@dataclass(frozen=True)
class Window:
    """One scored window of one asset: `kind` is "year" or "crash"."""

    asset: str
    name: str
    kind: str
    start: int
    end: int

    @property
    def key(self) -> str:
        return f"{self.asset} {self.name}"


def windows_for(symbol: str, timestamps: np.ndarray) -> tuple[list[Window], list[str]]:
    """The windows of an asset whose hourly bars open at `timestamps`, and the ones left out (why).

    A year needs `MIN_DAYS` days of bars after the engine's history; a crash window needs bars for
    at least half of the two weeks before the crash (the borrowers the crash meets) and during it:
    a crash that falls in a gap of the data is not scored as if it had been survived."""
    first_bar, last_bar = int(timestamps[0]), int(timestamps[-1])
    earliest, stop = first_bar + HISTORY, last_bar + 3_600

    def bars(start: int, end: int) -> int:
        lo, hi = np.searchsorted(timestamps, [start, end])
        return int(hi - lo)

    out: list[Window] = []
    skipped: list[str] = []
    first_year = datetime.fromtimestamp(first_bar, UTC).year
    last_year = datetime.fromtimestamp(last_bar, UTC).year
    for year in range(first_year, last_year + 1):
        start = max(year_start(year), earliest)
        end = min(year_start(year + 1), stop)
        have = bars(start, end) if end > start else 0
        if have < MIN_DAYS * 24:
            skipped.append(
                f"{symbol} {year}: {have // 24} day(s) of bars after the engine's 90-day history "
                f"(at least {MIN_DAYS} needed)"
            )
            continue
        out.append(Window(symbol, str(year), "year", start, end))
    for crash in CRASHES:
        start, end = max(crash.start - BEFORE_CRASH, earliest), min(crash.end + AFTER_CRASH, stop)
        if crash.start < earliest or crash.start > last_bar:
            skipped.append(f"{symbol} {crash.name}: no data or under 90 days of history before it")
            continue
        before, during = bars(start, crash.start), bars(crash.start, crash.end)
        if before < (crash.start - start) // 3_600 // 2 or during == 0:
            skipped.append(
                f"{symbol} {crash.name}: the data has bars for {before} of the "
                f"{(crash.start - start) // 3_600} hours before the crash and {during} of its "
                f"{(crash.end - crash.start) // 3_600} (a gap: SOURCES.md)"
            )
            continue
        out.append(Window(symbol, crash.name, "crash", start, end))
    return out, skipped
