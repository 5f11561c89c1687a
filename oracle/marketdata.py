"""Reads the shipped OHLCV files (I/O at the edge; the risk engine only sees arrays)."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import numpy as np

from oracle.errors import RiskInputError
from oracle.risk.inputs import PriceSeries

DATA_DIR = Path(__file__).resolve().parent / "data"


def read_ohlcv(path: Path, market: str) -> PriceSeries:
    """A `timestamp,open,high,low,close,volume` CSV (optionally gzipped) as a PriceSeries of
    closes."""
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
    close = np.array([float(r[4]) for r in rows])
    volume = np.array([float(r[5]) for r in rows])
    return PriceSeries(market, ts, close, volume)


def shipped(name: str, market: str) -> PriceSeries:
    """A file under oracle/data, e.g. `shipped("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")`."""
    return read_ohlcv(DATA_DIR / name, market)


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
