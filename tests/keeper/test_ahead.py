"""Histories read ahead of the evaluations: in order, each market's error kept for that market
alone, and a read past the deadline a TIMEOUT, not a stalled cycle."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from oracle.errors import RiskInputError
from oracle.feeds import FailureKind, FeedError
from oracle.keeper.ahead import Ahead, read_ahead
from oracle.series import PriceSeries


def series(market: str) -> PriceSeries:
    return PriceSeries(market, np.arange(3, dtype=np.int64) * 3_600, np.array([1.0, 2.0, 3.0]))


def test_each_market_gets_its_own_series_or_its_own_error():
    def broken():
        raise FeedError(FailureKind.BAD_VALUE, "a NaN close")

    def refused():
        raise RiskInputError("C", "history too short")

    reads = [
        (lambda: series("A"), None),
        (broken, lambda: series("B-daily")),
        (lambda: series("C"), refused),
    ]
    got = read_ahead(reads, timeout=5.0, workers=2)
    assert Ahead.value(got[0].history).market == "A" and got[0].memory is None
    with pytest.raises(FeedError, match="a NaN close"):
        Ahead.value(got[1].history)
    assert Ahead.value(got[1].memory).market == "B-daily"
    assert Ahead.value(got[2].history).market == "C"
    with pytest.raises(RiskInputError):
        Ahead.value(got[2].memory)


def test_reads_overlap_and_a_hung_one_is_a_timeout_within_the_deadline():
    release = threading.Event()

    def slow(market: str):
        def read() -> PriceSeries:
            time.sleep(0.2)
            return series(market)

        return read

    def hung() -> PriceSeries:
        release.wait(10)
        return series("hung")

    reads = [(slow(f"M{i}"), None) for i in range(8)] + [(hung, None)]
    started = time.monotonic()
    got = read_ahead(reads, timeout=0.5, workers=9)
    elapsed = time.monotonic() - started
    release.set()
    assert [Ahead.value(a.history).market for a in got[:8]] == [f"M{i}" for i in range(8)]
    with pytest.raises(FeedError) as err:
        Ahead.value(got[8].history)
    assert err.value.kind == FailureKind.TIMEOUT
    assert elapsed < 5.0  # one round's deadline (0.5 s), not the hung read's 10 s
