"""The pure mirror of the registry's rules, rule by rule, with concrete examples (the contract tests
compare it with the chain itself: tests/contracts/test_rules_mirror.py and the stateful test)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.policy.rules import (
    EMPTY,
    apply_signed,
    capped_bonus,
    clamp_steps,
    signed_update_error,
    within_steps,
    worst_case,
)
from oracle.types import BPS, Params
from tests.helpers.guardrails import RAMP, guardrails
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
def test_a_clamped_step_moves_each_field_by_at_most_its_directions_step(target, current):
    t, c = Params(*target), Params(*current)
    stepped = clamp_steps(t, c, G)
    # Loosening: LTV or LT up, LB down. Checked here without the mirror's own helper.
    for new, old, target_value, higher_loosens in zip(
        stepped.as_tuple(), c.as_tuple(), t.as_tuple(), (True, True, False), strict=True
    ):
        loosening = (new > old) == higher_loosens
        limit = G.max_loosen_step_bps if loosening else G.max_tighten_step_bps
        assert abs(new - old) <= limit
        assert min(old, target_value) <= new <= max(old, target_value)  # toward the target only
        if abs(target_value - old) <= limit:
            assert new == target_value
    assert within_steps(stepped, c, G)


@given(
    st.integers(0, RAMP + 10),
    st.integers(G.min_liquidation_threshold_bps + 1_000, G.max_liquidation_threshold_bps),
    st.integers(1, G.max_tighten_step_bps),
    st.integers(G.min_liquidation_bonus_bps, G.min_liquidation_bonus_bps + G.max_tighten_step_bps),
)
def test_every_read_inside_a_ramp_keeps_the_invariants(elapsed, start, cut, bonus):
    # The bonus is raised with the cut as far as the new target allows: early in the ramp the
    # threshold in force is higher, so the read must cap the bonus to keep LT·(1 + LB) ≤ 1.
    state = apply_signed(FRESH, Params(G.min_ltv_bps, start, G.min_liquidation_bonus_bps), G, T0)
    target = start - cut
    raised = min(bonus, BPS * BPS // target - BPS)
    new = Params(G.min_ltv_bps, target, raised)
    assert signed_update_error(state, new, G, T0 + DAY) is None
    cutting = apply_signed(state, new, G, T0 + DAY)
    read = cutting.in_force(T0 + DAY + elapsed)
    check_readable(read)
    assert target <= read.liquidation_threshold_bps <= start
    assert read.liquidation_bonus_bps <= raised


@settings(max_examples=25, deadline=None)
@given(
    st.integers(60, 7_200),  # update interval
    st.integers(100, 2_000),  # tighten step
    st.integers(0, 3).map(lambda k: k * 6 * 3_600),  # loosening interval
    st.sampled_from([3_600, 6 * 3_600, 86_400]),
)
def test_no_greedy_walk_beats_the_worst_case_bound(interval, step, loosen_interval, window):
    g = guardrails(
        min_ltv_bps=1_000,
        max_ltv_bps=8_500,
        min_liquidation_threshold_bps=2_000,
        max_liquidation_threshold_bps=9_000,
        max_tighten_step_bps=step,
        max_loosen_step_bps=step // 3,
        min_loosen_interval=loosen_interval,
        min_update_interval=interval,
    )
    bound = {w.field: w for w in worst_case(g, window)}
    for sign in (-1, +1):  # LT down from the top, LT up from the bottom, a move every minute
        lt = g.max_liquidation_threshold_bps if sign < 0 else g.min_liquidation_threshold_bps
        state = apply_signed(FRESH, Params(g.min_ltv_bps, lt, 100), g, T0 - 40 * DAY)
        limit = step if sign < 0 else step // 3
        for now in range(T0, T0 + window + 1, 60):
            current = state.target_liquidation_threshold_bps
            room = (
                current - g.min_liquidation_threshold_bps
                if sign < 0
                else g.max_liquidation_threshold_bps - current
            )
            new = replace(state.params, liquidation_threshold_bps=current + sign * min(limit, room))
            if room and signed_update_error(state, new, g, now) is None:
                state = apply_signed(state, new, g, now)
        moved = abs(state.target_liquidation_threshold_bps - lt)
        cap = bound["liquidation_threshold"]
        assert 0 < moved <= (cap.tighten_bps if sign < 0 else cap.loosen_bps)
