"""Liquidation-threshold cuts ramp in linearly; reads return the value in force; staleness checks."""

from __future__ import annotations

import ape

from oracle.chain import ParameterChange
from oracle.types import Params
from tests.helpers.guardrails import RAMP, guardrails
from tests.helpers.invariants import check_readable
from tests.helpers.markets import ETH
from tests.helpers.registry import PROFILE
from tests.helpers.time import DAY


def test_threshold_cut_ramps_linearly(registry, push, chain):
    push(registry, [(ETH, 7000, 8000, 500)])
    receipt = push(registry, [(ETH, 6500, 7500, 500)])
    start = receipt.timestamp
    [event] = receipt.decode_logs(registry.ParametersUpdated)
    assert ParameterChange.from_word(event.change).threshold_ramp_end == start + RAMP
    assert registry.getParameters(ETH)[:2] == (6500, 8000)  # LTV at once, LT not yet
    for fraction in (0.25, 0.5, 0.9):
        t = start + int(RAMP * fraction)
        chain.mine(timestamp=t)
        expected = 7500 + (500 * (start + RAMP - t)) // RAMP
        assert registry.getParameters(ETH)[1] == expected
    chain.mine(timestamp=start + RAMP)
    assert registry.getParameters(ETH)[1] == 7500
    state = registry.marketState(ETH)
    assert state[1] == 7500 and state[4] == 8000 and state[6] == start + RAMP


def test_threshold_increase_applies_at_once_and_ends_ramp(registry, push, chain):
    push(registry, [(ETH, 7000, 8000, 500)])
    start = push(registry, [(ETH, 7000, 7500, 500)]).timestamp
    chain.mine(timestamp=start + DAY)  # ramp done, loosening interval passed
    push(registry, [(ETH, 7000, 7600, 500)])
    assert registry.getParameters(ETH)[1] == 7600
    assert registry.marketState(ETH)[6] == 0


def test_new_cut_during_ramp_starts_from_value_in_force(registry, push, chain):
    push(registry, [(ETH, 7000, 8000, 500)])
    start = push(registry, [(ETH, 6000, 7500, 500)]).timestamp
    chain.mine(timestamp=start + RAMP // 2)
    in_force = registry.getParameters(ETH)[1]
    assert 7500 < in_force < 8000
    second = push(registry, [(ETH, 6000, 7000, 500)])
    state = registry.marketState(ETH)
    assert state[4] == registry.getParameters(ETH)[1] or state[4] >= 7500
    assert state[5] == second.timestamp and state[6] == second.timestamp + RAMP
    chain.mine(timestamp=second.timestamp + RAMP)
    assert registry.getParameters(ETH)[1] == 7000


def test_heartbeat_keeps_ramp_going(registry, push, chain):
    push(registry, [(ETH, 7000, 8000, 500)])
    start = push(registry, [(ETH, 7000, 7500, 500)]).timestamp
    chain.mine(timestamp=start + RAMP // 2)
    push(registry, [(ETH, 7000, 7500, 500)])
    assert registry.marketState(ETH)[6] == start + RAMP
    assert 7500 < registry.getParameters(ETH)[1] < 8000


def test_bonus_is_capped_while_threshold_ramps(registry, push, chain):
    # Cut LT 9000 -> 8000 and raise LB to 1000: at the start 9000 × 1.10 > 1, so reads cap the bonus.
    push(registry, [(ETH, 8000, 9000, 1100)])
    start = push(registry, [(ETH, 7000, 8000, 1200)]).timestamp
    ltv, lt, lb = registry.getParameters(ETH)[:3]
    assert lt == 9000 or lt > 8000
    check_readable(Params(ltv, lt, lb))
    assert lb < 1200
    chain.mine(timestamp=start + RAMP)
    assert registry.getParameters(ETH)[1:3] == (8000, 1200)


def test_ramp_duration_zero_cuts_at_once(registry, governance, push):
    registry.setGuardrailProfile(PROFILE, guardrails(threshold_ramp_duration=0).as_tuple(), sender=governance)
    push(registry, [(ETH, 7000, 8000, 500)])
    push(registry, [(ETH, 7000, 7500, 500)])
    assert registry.getParameters(ETH)[1] == 7500


def test_checked_read_reverts_when_unset_or_stale(registry, push, chain):
    with ape.reverts(registry.MarketNotSet, market=ETH):
        registry.getParametersChecked(ETH, 3600)
    assert registry.getParameters(ETH) == (0, 0, 0, 0)
    updated = push(registry, [(ETH, 7000, 8000, 500)]).timestamp
    assert registry.getParametersChecked(ETH, 3600)[:3] == (7000, 8000, 500)
    chain.mine(timestamp=updated + 3600)
    assert registry.getParametersChecked(ETH, 3600)[0] == 7000  # exactly maxAge old: still fresh
    chain.mine(timestamp=updated + 3601)
    with ape.reverts(registry.StaleParameters, market=ETH, updatedAt=updated, maxAge=3600):
        registry.getParametersChecked(ETH, 3600)
