"""Property-based, at the HTTP level: three emulated venues each serve a randomly damaged answer
(a required field wrong or missing, a broken book, truncated or foreign bytes, an error status)
through real sockets to ccxt. Every source fails with a typed cause, the snapshot is FAILED, and the
policy neither updates nor proposes; it alerts. Nothing raises out of the feed layer.
"""

from __future__ import annotations

import copy
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.devnet.emulator import ExchangeEmulator, RawAnswer
from oracle.feeds import FailureKind, Reading, SourceFailure
from oracle.feeds.base import collect
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.marketdata import shipped_bars
from oracle.feeds.venue import Venue
from oracle.policy import OnChain, PolicySettings, decide
from oracle.snapshot import Health, HealthPolicy, aggregate
from oracle.types import Params
from tests.helpers.guardrails import KEEPER_GUARDRAILS
from tests.helpers.time import ts

TICKER, DEPTH = "/api/v3/ticker/24hr", "/api/v3/depth"
NOW = ts("2020-03-12T06:00:00")
G = KEEPER_GUARDRAILS

#: JSON values that are not a usable positive, finite number (booleans excluded: ccxt reads
#: `true` as 1, a number, which the plausibility checks judge like any other number).
not_a_number = (
    st.sampled_from(
        [
            None,
            "",
            "abc",
            "NaN",
            "nan",
            "Infinity",
            "-inf",
            "1e400",
            "-1",
            "0",
            "-0.0",
            -1,
            0,
            [],
            {},
        ]
    )
    | st.floats(max_value=0.0)
    | st.text(alphabet="xyz-+.eE", max_size=6)
)
#: stamps that are not a fresh time: missing, garbage, ancient, or in the future
bad_time = st.sampled_from([None, "", "abc", -1, 0, "1e400", 99_999_999_999_999]) | st.integers(
    0, (NOW - 7_300) * 1000
)


def set_field(path: tuple, value, delete: bool):
    def rewrite(body):
        body = copy.deepcopy(body)
        target = body
        for key in path[:-1]:
            target = target[key]
        if delete:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return body

    return rewrite


def scale_last(factor: float):
    def rewrite(body):
        return {**body, "lastPrice": str(float(body["lastPrice"]) * factor)}

    return rewrite


# A missing last price is not damage: ccxt derives it from open + change, as Binance would.
# A wrong one is: more than 5 % from the book's mid.
wrong_last = st.one_of(st.floats(0.001, 0.94), st.floats(1.06, 1000.0)).map(
    lambda f: (TICKER, scale_last(f))
)

field_damage = st.one_of(
    st.tuples(st.just(TICKER), st.just(("closeTime",)), bad_time, st.booleans()),
    st.tuples(
        st.just(DEPTH),
        st.sampled_from([("bids", 0, 0), ("bids", 0, 1), ("asks", 0, 0)]),
        not_a_number,
        st.just(False),
    ),
    st.tuples(
        st.just(DEPTH),
        st.sampled_from([("bids",), ("asks",)]),
        st.sampled_from([None, [], {}, "x", [[]], [["1"]], [[None, None]]]),
        st.booleans(),
    ),
).map(lambda t: (t[0], set_field(t[1], t[2], t[3])))

body_damage = st.tuples(
    st.sampled_from([TICKER, DEPTH]),
    st.one_of(
        st.integers(0, 40).map(
            lambda n: lambda body: RawAnswer(200, json.dumps(body)[:n].encode())
        ),
        st.binary(max_size=64).map(lambda b: lambda body: RawAnswer(200, b)),
        st.builds(
            lambda status, data, ctype: lambda body: RawAnswer(status, data, ctype),
            st.integers(400, 599),
            st.binary(max_size=64),
            st.sampled_from(["application/json", "text/html", "text/plain"]),
        ),
        st.sampled_from([[], "ok", 42, None, [1, 2, 3]]).map(lambda v: lambda body: v),
    ),
)

damage = st.one_of(field_damage, wrong_last, body_damage)


@pytest.fixture(scope="module")
def venues():
    bars = shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")
    started = [
        ExchangeEmulator({"ETHUSDT": ("ETH", "USDT", bars)}, now=NOW).start() for _ in range(3)
    ]
    sources = [
        ExchangeSource(
            f"venue{i}",
            "ETH/USDT",
            Venue("binance", v.url),
            "ETH/USDT",
            max_age=7_200,
            book_max_age=0,
        )
        for i, v in enumerate(started)
    ]
    for s in sources:
        s.venue.exchange.enableRateLimit = False
    yield started, sources
    for v in started:
        v.stop()


def test_honest_venues_give_readings(venues):
    """The control: without damage the same path yields three readings, so the property below
    is about the damage, not a broken rig."""
    emulators, sources = venues
    for v in emulators:
        v.faults.rewrite = None
    results = collect(sources, NOW, 5.0)
    assert all(isinstance(r, Reading) for r in results), results


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(damages=st.lists(damage, min_size=3, max_size=3))
def test_damaged_answers_never_pass_the_health_gate(venues, damages):
    emulators, sources = venues
    for v, (path, rewrite) in zip(emulators, damages, strict=True):
        v.faults.rewrite = lambda p, body, path=path, rewrite=rewrite: (
            rewrite(body) if p == path else body
        )
    started = time.monotonic()
    results = collect(sources, NOW, 5.0)
    assert time.monotonic() - started < 5.0 + 1.0  # within the cycle's feed deadline
    for r in results:
        assert isinstance(r, SourceFailure), r  # damage never becomes a reading
        assert r.kind in FailureKind and r.detail and r.source.startswith("venue")
    snap = aggregate("ETH/USDT", results, NOW, HealthPolicy())
    assert snap.health == Health.FAILED and snap.price is None
    assert snap.reasons
    d = decide(
        "ETH/USDT",
        Params(5000, 6000, 800),  # even with a recommendation at hand
        None,
        snap.health,
        snap.reasons,
        OnChain(Params(7000, 8000, 500), NOW - 60, 0, G),
        5,
        NOW,
        PolicySettings(),
    )
    assert d.update is None and d.proposal is None and d.alert
    assert all(s.name in " ".join(snap.reasons) for s in sources)  # each cause reported
