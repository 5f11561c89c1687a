"""Property-based: random feed answers through aggregation and policy never push what the health
gate forbids; random configuration documents only ever fail with a ConfigError naming a key."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.errors import ConfigError
from oracle.feeds import FailureKind, Reading, SourceFailure
from oracle.keeper.config import parse_config
from oracle.policy import OnChain, PolicySettings, decide
from oracle.snapshot import Health, HealthPolicy, aggregate
from oracle.types import Params
from tests.helpers.guardrails import KEEPER_GUARDRAILS

NOW = 1_700_000_000
G = KEEPER_GUARDRAILS
CURRENT = Params(7000, 8000, 500)

source_result = st.one_of(
    st.builds(
        lambda name, price: Reading(name, "M", price, NOW - 5),
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.floats(1e-6, 1e9, allow_nan=False, allow_infinity=False),
    ),
    st.builds(
        lambda name, kind: SourceFailure(name, "M", kind, "x"),
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.sampled_from(list(FailureKind)),
    ),
)
values = st.builds(
    Params, st.integers(1, 9000), st.integers(2, 10_000), st.integers(0, 2000)
).filter(lambda v: v.valid())


@settings(max_examples=300, deadline=None)
@given(
    results=st.lists(source_result, max_size=6, unique_by=lambda r: r.source),
    rec=values,
    streak=st.integers(0, 10),
)
def test_health_gate_holds_for_any_feed_answers(results, rec, streak):
    snap = aggregate("M", results, NOW, HealthPolicy())
    if snap.price is not None:
        assert math.isfinite(snap.price) and snap.price > 0
    d = decide(
        "M",
        rec,
        None,
        snap.health,
        snap.reasons,
        OnChain(CURRENT, NOW - 60, 0, G),
        streak,
        NOW,
        PolicySettings(),
    )
    if snap.health == Health.FAILED:
        assert d.update is None and d.proposal is None and d.alert
    if d.update is not None:
        assert d.update.valid()
        if snap.health == Health.DEGRADED:  # tighten only, field by field
            assert d.update.ltv_bps <= CURRENT.ltv_bps
            assert d.update.liquidation_threshold_bps <= CURRENT.liquidation_threshold_bps
            assert d.update.liquidation_bonus_bps >= CURRENT.liquidation_bonus_bps


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
sections = st.fixed_dictionaries(
    {},
    optional={
        "chain": json_like,
        "registry": json_like,
        "feeds": json_like,
        "keeper": json_like,
        "other": json_like,
    },
)


@settings(max_examples=300, deadline=None)
@given(doc=st.one_of(json_like, sections))
def test_any_config_document_fails_only_with_a_config_error(doc):
    try:
        parse_config(doc)
    except ConfigError as exc:
        assert exc.key and exc.problem  # names the key and the problem


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5_000), st.integers(1, 64))
def test_batches_are_as_few_as_the_limit_allows_even_and_never_shrink(count, limit):
    """`batch_bounds`: every market in exactly one batch, in order; no batch over the limit; as
    few batches as the limit allows; sizes within one of each other and never smaller than the
    batch before (a later batch must not fit a block's gap that the one before it did not)."""
    from itertools import pairwise

    from oracle.keeper.cycle import batch_bounds

    bounds = batch_bounds(count, limit)
    sizes = [b - a for a, b in pairwise(bounds)]
    assert bounds[0] == 0 and bounds[-1] == count
    assert len(sizes) == math.ceil(count / limit)
    assert all(0 < size <= limit for size in sizes)
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes)


def test_five_hundred_markets_go_as_twelve_batches_of_31_then_four_of_32():
    from itertools import pairwise

    from oracle.keeper.cycle import batch_bounds

    assert [b - a for a, b in pairwise(batch_bounds(500, 32))] == [31] * 12 + [32] * 4
    assert batch_bounds(0, 32) == [0]  # no market, no batch
    with pytest.raises(ValueError, match="at least one market"):
        batch_bounds(10, 0)
