"""The registry's invariants, each with an id, checked after every step of the stateful tests and
wherever a test holds parameters a consumer could read.

An assertion message starts with the invariant's id, so a failure names the rule it broke.
"""

from __future__ import annotations

from oracle.policy.rules import MarketState
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


def check_within_bounds(p: Params, g: Guardrails) -> None:
    """A value that came in through the signed path lies inside its profile's bounds."""
    assert g.min_ltv_bps <= p.ltv_bps <= g.max_ltv_bps, f"BOUNDS_04: signed LTV, got {p}"
    assert (
        g.min_liquidation_threshold_bps
        <= p.liquidation_threshold_bps
        <= (g.max_liquidation_threshold_bps)
    ), f"BOUNDS_04: signed LT, got {p}"
    assert (
        g.min_liquidation_bonus_bps <= p.liquidation_bonus_bps <= (g.max_liquidation_bonus_bps)
    ), f"BOUNDS_04: signed LB, got {p}"


def check_mirror(state: MarketState, read: Params, now: int) -> None:
    """The Python mirror of the registry (`oracle.policy.rules`) reads what the chain reads."""
    assert state.in_force(now) == read, (
        f"MIRROR_07: the mirror reads {state.in_force(now)} at {now}, the chain {read}"
    )
