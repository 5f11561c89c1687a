"""The risk-array mirror without a chain: units, rounding, the step toward a target, the margin."""

from __future__ import annotations

import dataclasses

import pytest

from oracle.errors import RiskInputError
from oracle.policy.arrays import (
    DAY,
    FACTOR_NORM_ROW,
    HOUR,
    SCENARIOS,
    SPAN16_LIMITS,
    WAD,
    ArrayValues,
    PublishedArray,
    decode_depth,
    encode_depth,
    isolated_margin,
    portfolio_margin,
    quantize,
    step_toward,
)


def test_depth_codes_round_the_safe_way():
    for usd in (1, 999, 4095, 4096, 123_456, 5e7, 3.3e12):
        down, up = decode_depth(encode_depth(usd)), decode_depth(encode_depth(usd, round_up=True))
        assert down <= usd <= up
        assert up - down <= max(1, usd / 400)  # 12-bit mantissa: within 0.25 %
    assert decode_depth(encode_depth(4095.5, round_up=True)) == 4100
    for bad in (0, 0.5, float("nan"), 1e20):
        with pytest.raises(RiskInputError):
            encode_depth(bad)


def test_quantize_rounds_moves_away_from_zero_and_the_floor_up():
    v = quantize([-0.12341, 0.12341, -1.5, 3.0] + [0.0] * 12, 0.02001, 1e6)
    assert v.moves[:4] == (-124, 124, -1000, 2047)
    assert v.floor_units == 21
    assert v.depth_usd <= 1e6
    with pytest.raises(RiskInputError):
        quantize([float("nan")] * SCENARIOS, 0.01, 1e6)
    with pytest.raises(RiskInputError):
        quantize([0.0] * 15, 0.01, 1e6)


def test_first_publication_checks_bounds_only():
    target = ArrayValues((-1200,) + (500,) * 15, 2, encode_depth(1e6))
    step = step_toward(target, None, SPAN16_LIMITS, 1, now=1_000)
    assert step.values.moves[0] == -950 and step.values.moves[1:] == (500,) * 15
    assert step.values.floor_units == SPAN16_LIMITS.min_floor_units
    assert not step.reaches_target and len(step.notes) == 2


def test_steps_follow_the_rates():
    old = PublishedArray(ArrayValues((-200,) * 8 + (200,) * 8, 40, encode_depth(1e6)), 1_000, 1)
    target = ArrayValues((-600,) * 8 + (50,) * 8, 10, encode_depth(9e6))
    step = step_toward(target, old, SPAN16_LIMITS, 1, now=1_000 + HOUR)
    # an hour: grow by 100 units, shrink by 100/24 → 4, depth by 50 %/24 ≈ 2 %
    assert step.values.moves[:8] == (-300,) * 8
    assert step.values.moves[8:] == (196,) * 8
    assert step.values.floor_units == 36
    assert 1e6 < step.values.depth_usd <= 1e6 * (1 + 0.5 / 24)
    later = step_toward(target, old, SPAN16_LIMITS, 1, now=1_000 + 30 * DAY)
    assert later.values.moves[:8] == (-500,) * 8  # capped by the largest step
    assert later.values.moves[8:] == (50,) * 8  # shrinking 150 is within 30 days of rate
    other_set = step_toward(target, old, SPAN16_LIMITS, 2, now=1_000 + 1)
    assert other_set.values == target  # another set's rows meant other things: bounds only


def test_a_move_crossing_zero_shrinks_first_at_the_slow_rate():
    old = PublishedArray(ArrayValues((-50,) * SCENARIOS, 40, encode_depth(1e6)), 0, 1)
    target = dataclasses.replace(old.values, moves=(30,) * SCENARIOS)
    limits = dataclasses.replace(
        SPAN16_LIMITS, widen_units_per_hour=20, narrow_units_per_day=24 * 5
    )
    assert step_toward(target, old, limits, 1, now=HOUR).values.moves[0] == -45
    fast = dataclasses.replace(limits, widen_units_per_hour=200)
    assert step_toward(target, old, fast, 1, now=HOUR).values.moves[0] == 30


def test_margin_nets_offsetting_positions():
    a = ArrayValues((-100, 100) + (0,) * 14, 10, encode_depth(1e9))
    m = portfolio_margin([a, a], [WAD * 1000, -WAD * 1000], SPAN16_LIMITS.weight_pct)
    # the rows net to nothing: the floors are what is left
    assert m.margin - m.add_on == m.floor_margin == m.scenario_margin == 20 * WAD  # 1 % a leg
    assert m.worst_scenario == FACTOR_NORM_ROW
    single = portfolio_margin([a], [WAD * 1000], SPAN16_LIMITS.weight_pct)
    assert single.scenario_margin == 100 * WAD and single.worst_scenario == 0
    assert single.add_on == 10 * WAD // 10**6  # 1000² / (100 · 1e9) USD


def test_the_factor_norm_covers_a_book_spread_over_two_factors():
    """The largest of two orthogonal factor rows understates their joint risk by √2; the norm
    does not, and it is the contract's arithmetic (ceil of the integer square root)."""
    a = ArrayValues((-100, 100, -100, 100) + (0,) * 12, 10, encode_depth(1e9))
    rows_alone = portfolio_margin([a], [1_000 * WAD], SPAN16_LIMITS.weight_pct)
    assert rows_alone.scenario_margin == 100 * WAD
    joint = portfolio_margin([a], [1_000 * WAD], SPAN16_LIMITS.weight_pct, factor_pairs=2)
    assert joint.worst_scenario == FACTOR_NORM_ROW
    # 100 USD on each factor and the 10 USD floor, in quadrature
    assert joint.scenario_margin == pytest.approx((2 * 100**2 + 10**2) ** 0.5 * WAD, rel=1e-12)
    assert isolated_margin([a], [1_000 * WAD], SPAN16_LIMITS.weight_pct, 2) == joint.margin


def test_the_floors_add_to_the_factor_losses_in_quadrature():
    """A book whose factor loss and floor sum are equal needs √2 times either: the floors bound
    what the factor rows leave out (the residual), and independent risks add in quadrature. The
    larger of the two alone would have been a hole a book could be built into."""
    factor = ArrayValues((-100, 100) + (0,) * 14, 5, encode_depth(1e9))
    residual = ArrayValues((0,) * SCENARIOS, 100, encode_depth(1e9))
    book = [1_000 * WAD, 1_000 * WAD]
    m = portfolio_margin([factor, residual], book, SPAN16_LIMITS.weight_pct, factor_pairs=1)
    assert m.floor_margin == 105 * WAD
    assert m.scenario_margin == 145 * WAD  # √(100² + 105²)
    assert m.scenario_margin > max(100 * WAD, m.floor_margin) * 1.3
    assert m.worst_scenario == FACTOR_NORM_ROW
