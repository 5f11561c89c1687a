"""The Python mirror of the registry's rules (`oracle.policy.rules`) against the registry itself, on
sequences where rounding and ramp bookkeeping matter: the mirror must store and read exactly what the
chain stores and reads, to the basis point and the second."""

from __future__ import annotations

from dataclasses import replace

from oracle.policy.rules import EMPTY, MarketState, apply_signed
from oracle.types import Params
from tests.helpers.guardrails import RAMP, TEST_GUARDRAILS
from tests.helpers.invariants import check_mirror
from tests.helpers.markets import ETH
from tests.helpers.registry import PROFILE

#: Odd offsets into a ramp, so that the interpolation's division has a remainder.
PROBES = (1, 7, 1_234, RAMP // 3, RAMP - 1)


def _run(registry, push, chain, steps):
    """Pushes each (values, seconds to wait first), compares the stored state with the mirror's
    after each push, then the reads at odd times inside the last ramp."""
    mirror = replace(EMPTY, guardrail_profile=PROFILE)
    for values, wait in steps:
        if wait:
            chain.mine(timestamp=chain.pending_timestamp + wait)
        receipt = push(registry, [(ETH, *values)])
        now = receipt.timestamp
        mirror = apply_signed(mirror, Params(*values), TEST_GUARDRAILS, now)
        assert MarketState(*registry.marketState(ETH)) == mirror, values
    assert mirror.ramp_end, "the sequence must end inside a ramp"
    for probe in PROBES:
        if now + probe < mirror.ramp_end:
            chain.mine(timestamp=now + probe)
            check_mirror(mirror, Params(*registry.getParameters(ETH)[:3]), now + probe)
    return mirror


def test_cuts_and_a_cut_inside_a_ramp(registry, push, chain):
    final = _run(
        registry,
        push,
        chain,
        [
            ((7000, 8000, 500), 0),
            ((6500, 7333, 500), 0),  # a cut: ramps from 8,000
            ((6000, 6777, 520), RAMP // 3),  # a cut from the value in force mid-ramp
        ],
    )
    assert 7333 < final.ramp_start_threshold_bps < 8000  # started from the value in force


def test_an_ltv_only_change_inside_a_ramp(registry, push, chain):
    # The mirror follows the chain's current rule for a write that keeps the target LT mid-ramp,
    # whatever that rule is: the two must agree.
    _run(
        registry,
        push,
        chain,
        [((7000, 8000, 500), 0), ((6500, 7333, 500), 0), ((6400, 7333, 500), RAMP // 2)],
    )


def test_bonus_is_capped_while_a_cut_ramps_in(registry, push, chain):
    # 9,000 × (1 + 11 %) = 9,990 fits; at 8,950 in force mid-ramp a 12 % bonus would not: the read
    # caps it as `cappedBonusDown` does.
    _run(registry, push, chain, [((7000, 9000, 1100), 0), ((6500, 8000, 1200), 0)])
