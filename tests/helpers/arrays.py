"""A scenario set and random arrays for the risk-array contract tests."""

from __future__ import annotations

import random

from oracle.policy.arrays import SCENARIOS, ArrayValues, ScenarioSetLimits, encode_depth

#: The set the fixtures configure: 14 rows at full weight, the two extreme rows at SPAN's 35 %,
#: rows 0-5 three factor pairs.
SET_ID = 1
TEST_SET = ScenarioSetLimits(
    weight_pct=(100,) * 14 + (35, 35),
    min_moves=(-1000,) * SCENARIOS,
    max_moves=(1500,) * SCENARIOS,
    min_floor_units=5,
    max_floor_units=200,
    max_step_units=300,
    widen_units_per_hour=120,
    narrow_units_per_day=100,
    max_depth_growth_pct=50,
    max_age=2 * 86_400,
    active=True,
    factor_pairs=3,
)


def random_array(rng: random.Random, scale: int = 400) -> ArrayValues:
    """Moves in [−scale, +scale] units, a floor in bounds and a depth from $10k to $1bn."""
    moves = tuple(rng.randint(-scale, scale) for _ in range(SCENARIOS))
    return ArrayValues(moves, rng.randint(5, 120), encode_depth(10 ** rng.uniform(4, 9)))
