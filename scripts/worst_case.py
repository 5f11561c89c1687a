"""How far a compromised or buggy signer set can move a market's parameters, the guardian doing
nothing, under the blue-chip profile the demo deploys.

For each field and direction, a greedy adversary pushes the largest move the registry accepts,
every minute, through the Python mirror of the registry's rules (`oracle.policy.rules`, checked
against the contract by the contract tests), from the far corner of the bounds. Prints one JSON line
per window: how far each field moved each way, how far the threshold *in force* fell (a cut ramps
in), and `bound`, the closed form `rules.worst_case` (which the greedy walk must not exceed).
Run with `python scripts/worst_case.py`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.policy.rules import EMPTY, MarketState, apply_signed, signed_update_error, worst_case
from oracle.types import BLUE_CHIP_GUARDRAILS, BPS, Guardrails, Params

WINDOWS = {"1h": 3_600, "6h": 6 * 3_600, "24h": 86_400}
T0 = 1_700_000_000


def start(g: Guardrails, loosest: bool) -> MarketState:
    """A market at the loosest corner of its bounds (to be tightened) or the tightest (to be
    loosened), set long enough ago that every interval has passed."""
    if loosest:
        corner = Params(g.max_ltv_bps, g.max_liquidation_threshold_bps, g.min_liquidation_bonus_bps)
    else:
        corner = Params(g.min_ltv_bps, g.min_liquidation_threshold_bps, g.max_liquidation_bonus_bps)
    return apply_signed(replace(EMPTY, guardrail_profile=1), corner, g, T0 - 10 * 86_400)


def moved(p: Params, field: str, delta: int) -> Params:
    """`p` with one field moved by `delta` bps, LTV pulled below a lowered threshold and the bonus
    capped under a raised one, so the triple stays valid."""
    ltv, lt, lb = p.as_tuple()
    if field == "ltv":
        ltv += delta
    elif field == "lt":
        lt += delta
        ltv = min(ltv, lt - 1)
        lb = min(lb, BPS * BPS // lt - BPS)
    else:
        lb += delta
    return Params(ltv, lt, lb)


def greedy(
    g: Guardrails, seconds: int, field: str, delta_sign: int
) -> tuple[MarketState, MarketState]:
    """Every minute of the window, the largest move of `field` in direction `delta_sign` that the
    mirror accepts; returns the state at the start and at the end."""
    state = begin = start(g, loosest=(delta_sign < 0) == (field != "lb"))
    for now in range(T0, T0 + seconds + 1, 60):  # intervals are minutes long
        for size in range(max(g.max_tighten_step_bps, g.max_loosen_step_bps), 0, -1):
            new = moved(state.params, field, delta_sign * size)
            if signed_update_error(state, new, g, now) is None:
                state = apply_signed(state, new, g, now)
                break
    return begin, state


def main() -> None:
    g = BLUE_CHIP_GUARDRAILS
    for name, seconds in WINDOWS.items():
        end = T0 + seconds
        row: dict[str, object] = {"window": name, "profile": "blue chip"}
        for field, tighter in (("ltv", -1), ("lt", -1), ("lb", +1)):
            index = ("ltv", "lt", "lb").index(field)
            for label, sign in (("tightened", tighter), ("loosened", -tighter)):
                begin, after = greedy(g, seconds, field, sign)
                move = abs(after.params.as_tuple()[index] - begin.params.as_tuple()[index])
                row[f"{field}_{label}_bps"] = move
                if field == "lt" and label == "tightened":
                    row["lt_in_force_tightened_bps"] = begin.threshold_at(end) - after.threshold_at(
                        end
                    )
        row["bound"] = {
            w.field: {"tighten": w.tighten_bps, "loosen": w.loosen_bps}
            for w in worst_case(g, seconds)
        }
        print(json.dumps(row))


if __name__ == "__main__":
    main()
