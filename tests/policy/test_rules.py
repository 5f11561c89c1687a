"""The pure mirror of the registry's rules, rule by rule, with concrete examples (the contract tests
compare it with the chain itself: tests/contracts/test_rules_mirror.py and the stateful test)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from oracle.policy.rules import (
    EMPTY,
    apply_signed,
    capped_bonus,
    clamp_bounds,
    clamp_steps,
    signed_update_error,
    within_steps,
)
from oracle.types import Params
from tests.helpers.guardrails import RAMP
from tests.helpers.guardrails import TEST_GUARDRAILS as G
from tests.helpers.invariants import check_readable
from tests.helpers.time import DAY

T0 = 1_700_000_000
FRESH = replace(EMPTY, guardrail_profile=1)


def test_a_first_value_checks_bounds_and_invariants_only():
    assert signed_update_error(FRESH, Params(7000, 8000, 500), G, T0) is None
    assert signed_update_error(FRESH, Params(5000, 6000, 500), G, T0) is None  # a 2,000 bps jump
    assert signed_update_error(FRESH, Params(4000, 8000, 500), G, T0) == "OutOfBounds"
    assert signed_update_error(FRESH, Params(8000, 8000, 500), G, T0) == "LtvNotBelowThreshold"
    assert signed_update_error(FRESH, Params(7000, 9000, 1200), G, T0) == "BonusExceedsCollateral"
    assert signed_update_error(EMPTY, Params(7000, 8000, 500), G, T0) == "MarketNotConfigured"


def test_steps_and_the_loosening_interval():
    state = apply_signed(FRESH, Params(7000, 8000, 500), G, T0)
    assert state.last_loosen_at == T0  # a first value counts as loosening
    assert signed_update_error(state, Params(6000, 7000, 500), G, T0 + 1) is None  # 1,000 tighter
    assert signed_update_error(state, Params(5999, 8000, 500), G, T0 + 1) == "StepTooLarge"
    assert signed_update_error(state, Params(7100, 8000, 500), G, T0 + DAY - 1) == "LoosenTooSoon"
    assert signed_update_error(state, Params(7200, 8000, 500), G, T0 + DAY) is None
    assert signed_update_error(state, Params(7000, 8000, 500), G, T0 + 1) is None  # a heartbeat


def test_a_cut_ramps_from_the_value_in_force_rounding_toward_the_target():
    state = apply_signed(FRESH, Params(7000, 8000, 500), G, T0)
    cut = apply_signed(state, Params(6500, 7333, 500), G, T0 + 10)
    assert (cut.ramp_start_threshold_bps, cut.ramp_start, cut.ramp_end) == (
        8000,
        T0 + 10,
        T0 + 10 + RAMP,
    )
    t = T0 + 10 + 1_234
    assert cut.threshold_at(t) == 7333 + (8000 - 7333) * (RAMP - 1_234) // RAMP
    assert cut.in_force(t).ltv_bps == 6500  # LTV applies at once
    assert cut.threshold_at(cut.ramp_end) == 7333
    again = apply_signed(cut, Params(6000, 7000, 500), G, t)
    assert again.ramp_start_threshold_bps == cut.threshold_at(t)  # not 8,000, not 7,333


def test_a_heartbeat_keeps_the_ramp_and_moves_updated_at_only():
    cut = apply_signed(
        apply_signed(FRESH, Params(7000, 8000, 500), G, T0), Params(6500, 7500, 500), G, T0 + 1
    )
    beat = apply_signed(cut, Params(6500, 7500, 500), G, T0 + 60)
    assert beat == replace(cut, updated_at=T0 + 60)


def test_the_bonus_read_is_capped_while_a_cut_ramps_in():
    assert capped_bonus(1200, 9000) == 1111  # 9,000 × (1 + 11.11 %) ≤ 1; 11.12 % would not be
    assert capped_bonus(500, 8000) == 500
    assert capped_bonus(500, 0) == 500


@given(
    st.tuples(st.integers(1, 9_999), st.integers(1, 10_000), st.integers(0, 3_000)),
    st.tuples(st.integers(1, 9_999), st.integers(1, 10_000), st.integers(0, 3_000)),
)
def test_a_clamped_step_is_always_within_the_steps_and_bounds(target, current):
    t, c = Params(*target), Params(*current)
    stepped = clamp_steps(t, c, G)
    assert within_steps(stepped, c, G)
    assert clamp_bounds(clamp_bounds(stepped, G), G) == clamp_bounds(stepped, G)


@given(st.integers(0, RAMP), st.integers(6_000, 9_000), st.integers(1, 1_000))
def test_every_read_inside_a_ramp_keeps_the_invariants(elapsed, start, cut):
    state = apply_signed(FRESH, Params(5_000, start, 100), G, T0)
    target = max(start - cut, 5_001)
    cutting = apply_signed(state, Params(5_000, target, 100), G, T0 + 1)
    read = cutting.in_force(T0 + 1 + elapsed)
    check_readable(read)
    assert target <= read.liquidation_threshold_bps <= start
