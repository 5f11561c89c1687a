"""The registry's invariants, each with an id, checked after every step of the stateful tests and
wherever a test holds parameters a consumer could read.

An assertion message starts with the invariant's id, so a failure names the rule it broke.
"""

from __future__ import annotations

from oracle.policy.rules import MarketState, bounds
from oracle.types import BPS, Guardrails, Params, bonus_fits


def check_readable(p: Params) -> None:
    """What every read of a set market guarantees (IMarginParameters)."""
    assert p.ltv_bps < p.liquidation_threshold_bps, (
        f"LTV_LT_01: LTV must stay below the liquidation threshold in force, got {p}"
    )
    assert bonus_fits(p.liquidation_threshold_bps, p.liquidation_bonus_bps), (
        f"BONUS_02: LT × (1 + LB) must not exceed 1, got {p}"
    )
    assert p.liquidation_threshold_bps <= BPS and p.liquidation_bonus_bps <= BPS, (
        f"RANGE_03: values are at most 100 %, got {p}"
    )


def check_within_bounds(p: Params, g: Guardrails, held: Params | None = None) -> None:
    """A value that came in through the signed path lies inside its profile's bounds, widened to
    the value the market held before (a market left outside them may stay there or move toward
    them, never further out)."""
    lo, hi = bounds(g, held)
    for name, value, low, high in zip(
        ("LTV", "LT", "LB"), p.as_tuple(), lo.as_tuple(), hi.as_tuple(), strict=True
    ):
        assert low <= value <= high, f"BOUNDS_04: signed {name} {value} outside [{low}, {high}]"


def check_mirror(state: MarketState, read: Params, now: int) -> None:
    """The Python mirror of the registry (`oracle.policy.rules`) reads what the chain reads."""
    assert state.in_force(now) == read, (
        f"MIRROR_07: the mirror reads {state.in_force(now)} at {now}, the chain {read}"
    )
