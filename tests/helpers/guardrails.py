"""Guardrail profiles for tests, built by keyword from a named base."""

from __future__ import annotations

from dataclasses import replace

from oracle.types import BLUE_CHIP_GUARDRAILS, Guardrails
from tests.helpers.time import DAY, HOUR

#: Seconds over which the contract tests' threshold cuts ramp in.
RAMP = 6 * HOUR

#: The contract tests' profile: narrow bounds (LTV 50–85 %, LT 60–90 %, LB 1–15 %) so that bound
#: and step errors are easy to reach; steps of 10 % tighter and 2 % looser, loosening daily, a
#: change a second at most (tests of the update interval set their own).
TEST_GUARDRAILS = Guardrails(
    min_ltv_bps=5_000,
    max_ltv_bps=8_500,
    min_liquidation_threshold_bps=6_000,
    max_liquidation_threshold_bps=9_000,
    min_liquidation_bonus_bps=100,
    max_liquidation_bonus_bps=1_500,
    max_tighten_step_bps=1_000,
    max_loosen_step_bps=200,
    min_loosen_interval=DAY,
    threshold_ramp_duration=RAMP,
    min_update_interval=1,
)

#: The keeper tests' profile: the blue-chip profile with cuts applied at once, so a test reads the
#: value it pushed without waiting for a ramp.
KEEPER_GUARDRAILS = replace(BLUE_CHIP_GUARDRAILS, threshold_ramp_duration=0)


def guardrails(base: Guardrails = TEST_GUARDRAILS, **changes: int) -> Guardrails:
    """`base` with the named fields changed, e.g.
    `guardrails(min_liquidation_threshold_bps=7_000)`."""
    return replace(base, **changes)
