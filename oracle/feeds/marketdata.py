"""Reads the shipped OHLCV files (I/O at the edge; the risk engine only sees arrays)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np

from oracle.errors import RiskInputError
from oracle.series import PriceSeries

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class Bars:
    """Recorded OHLCV bars (open times in unix seconds, strictly increasing)."""

    market: str
    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @cached_property
    def series(self) -> PriceSeries:
        """Closes and volumes as the risk engine's input (validated there)."""
        return PriceSeries(self.market, self.timestamps, self.close, self.volume)

    @cached_property
    def interval(self) -> int:
        return self.series.interval

    def hourly(self) -> Bars:
        """These bars as hourly OHLCV (open first, high max, low min, close last, volume sum), the
        resolution the lending markets of the backtester run on; hourly or coarser bars as they
        are."""
        if self.interval >= 3_600:
            return self
        hour = self.timestamps // 3_600
        first = np.flatnonzero(np.diff(hour, prepend=hour[0] - 1))  # first bar of each hour
        last = np.append(first[1:] - 1, len(hour) - 1)
        return Bars(
            self.market,
            hour[first] * 3_600,
            self.open[first],
            np.maximum.reduceat(self.high, first),
            np.minimum.reduceat(self.low, first),
            self.close[last],
            np.add.reduceat(self.volume, first),
        )


def read_bars(path: Path, market: str) -> Bars:
    """A `timestamp,open,high,low,close,volume` CSV, optionally gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            header = fh.readline().strip()
            if header != "timestamp,open,high,low,close,volume":
                raise RiskInputError(market, f"{path.name}: unexpected header {header!r}")
            rows = [line.rstrip("\n").split(",") for line in fh if line.strip()]
    except OSError as exc:
        raise RiskInputError(market, f"cannot read {path}: {exc}") from None
    ts = np.array([_epoch(r[0]) for r in rows], dtype=np.int64)
    cols = np.array([[float(x) for x in r[1:6]] for r in rows]).T
    return Bars(market, ts, cols[0], cols[1], cols[2], cols[3], cols[4])


def read_csv_bars(paths: list[Path], market: str) -> Bars:
    """Several OHLCV CSVs (timestamps ISO-8601 or unix seconds) merged into one set of bars; a bar
    present in two files must be the same in both, or the input is refused naming the bar."""
    merged: dict[int, tuple[float, ...]] = {}
    for path in paths:
        bars = read_bars(path, market)
        rows = zip(
            bars.timestamps, bars.open, bars.high, bars.low, bars.close, bars.volume, strict=True
        )
        for t, *values in rows:
            row = tuple(float(v) for v in values)
            known = merged.get(int(t))
            if known is not None and known[3] != row[3]:
                raise RiskInputError(
                    market, f"{path.name}: bar {int(t)} disagrees with another file"
                )
            merged[int(t)] = row
    ts = np.array(sorted(merged), dtype=np.int64)
    cols = np.array([merged[int(t)] for t in ts]).reshape(-1, 5).T
    return Bars(market, ts, cols[0], cols[1], cols[2], cols[3], cols[4])


def read_csv_series(paths: list[Path], market: str) -> PriceSeries:
    """Closes and volumes of several OHLCV CSVs merged (see `read_csv_bars`)."""
    return read_csv_bars(paths, market).series


def read_ohlcv(path: Path, market: str) -> PriceSeries:
    """Closes and volumes of an OHLCV CSV as a PriceSeries."""
    return read_bars(path, market).series


def shipped(name: str, market: str) -> PriceSeries:
    """A file under oracle/data, e.g. `shipped("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")`."""
    return read_ohlcv(DATA_DIR / name, market)


def shipped_bars(name: str, market: str) -> Bars:
    return read_bars(DATA_DIR / name, market)


def _epoch(stamp: str) -> int:
    """ISO-8601 (UTC when no zone is given) or unix seconds."""
    if stamp.isdigit():
        return int(stamp)
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())
