"""Guardrails: bounds, asymmetric steps, loosening interval, invariants — each with its own error."""

from __future__ import annotations

import ape
import pytest

from tests.helpers.guardrails import TEST_GUARDRAILS, guardrails
from tests.helpers.markets import BTC, ETH, USDC
from tests.helpers.registry import PROFILE
from tests.helpers.time import DAY

LTV, LT, LB = 0, 1, 2  # Field enum


@pytest.fixture
def eth_set(registry, push):
    push(registry, [(ETH, 7000, 8000, 500)])
    return registry


def test_unconfigured_market(registry, push):
    from oracle.markets import market_id

    other = market_id("DOGE/USD")
    with ape.reverts(registry.MarketNotConfigured, market=other):
        push(registry, [(other, 5000, 6000, 500)])


@pytest.mark.parametrize(
    ("values", "field", "value", "lo", "hi"),
    [
        ((4900, 8000, 500), LTV, 4900, 5000, 8500),
        ((7000, 9100, 500), LT, 9100, 6000, 9000),
        ((5000, 5900, 500), LT, 5900, 6000, 9000),
        ((7000, 8000, 50), LB, 50, 100, 1500),
        ((5000, 6000, 1600), LB, 1600, 100, 1500),
    ],
)
def test_bounds(registry, push, values, field, value, lo, hi):
    with ape.reverts(registry.OutOfBounds, market=ETH, field=field, value=value, min=lo, max=hi):
        push(registry, [(ETH, *values)])


def test_first_update_checks_bounds_but_not_steps(registry, push):
    push(registry, [(ETH, 5000, 6000, 1500)])  # far from anything: no previous value to step from
    assert registry.getParameters(ETH)[:3] == (5000, 6000, 1500)


def test_tighten_step_limit(eth_set, push):
    with ape.reverts(eth_set.StepTooLarge, market=ETH, field=LTV, **{"from": 7000, "to": 5999}, maxStep=1000):
        push(eth_set, [(ETH, 5999, 8000, 500)])
    with ape.reverts(eth_set.StepTooLarge, market=ETH, field=LT, **{"from": 8000, "to": 6999}, maxStep=1000):
        push(eth_set, [(ETH, 6000, 6999, 500)])
    push(eth_set, [(ETH, 6000, 7000, 1500)])  # exactly 1000 on each field: allowed at once
    assert eth_set.getParameters(ETH)[0] == 6000


def test_tighten_step_limit_on_bonus(registry, push):
    push(registry, [(ETH, 7000, 8000, 100)])
    with ape.reverts(registry.StepTooLarge, market=ETH, field=LB, **{"from": 100, "to": 1101}, maxStep=1000):
        push(registry, [(ETH, 7000, 8000, 1101)])


def test_loosen_step_limit(eth_set, push, chain):
    chain.mine(timestamp=chain.pending_timestamp + DAY)
    with ape.reverts(eth_set.StepTooLarge, market=ETH, field=LTV, **{"from": 7000, "to": 7201}, maxStep=200):
        push(eth_set, [(ETH, 7201, 8000, 500)])
    with ape.reverts(eth_set.StepTooLarge, market=ETH, field=LB, **{"from": 500, "to": 299}, maxStep=200):
        push(eth_set, [(ETH, 7000, 8000, 299)])
    push(eth_set, [(ETH, 7200, 8200, 300)])
    assert eth_set.getParameters(ETH)[:3] == (7200, 8200, 300)


def test_loosening_waits_for_interval_but_tightening_does_not(eth_set, push, chain):
    set_at = eth_set.getParameters(ETH)[3]
    push(eth_set, [(ETH, 6800, 8000, 500)])  # tightening right away is fine
    with ape.reverts(eth_set.LoosenTooSoon, market=ETH, lastLoosenAt=set_at, nextAllowedAt=set_at + DAY):
        push(eth_set, [(ETH, 6900, 8000, 500)])
    chain.mine(timestamp=set_at + DAY)
    push(eth_set, [(ETH, 6900, 8000, 500)])
    loosened_at = eth_set.getParameters(ETH)[3]
    with ape.reverts(eth_set.LoosenTooSoon, nextAllowedAt=loosened_at + DAY):
        push(eth_set, [(ETH, 7000, 8000, 500)])


def test_mixed_update_counts_as_loosening(eth_set, push):
    # LTV down (tighter) but bonus down (looser) in one update: the loosening interval applies.
    with ape.reverts(eth_set.LoosenTooSoon):
        push(eth_set, [(ETH, 6900, 8000, 450)])


@pytest.mark.parametrize("values", [(8000, 8000, 500), (8100, 8000, 500)])
def test_ltv_must_stay_below_threshold(registry, governance, push, values):
    loose = guardrails(max_tighten_step_bps=9000, max_loosen_step_bps=9000, min_loosen_interval=0)
    registry.setGuardrailProfile(PROFILE, loose.as_tuple(), sender=governance)
    with ape.reverts(registry.LtvNotBelowThreshold, market=ETH, ltvBps=values[0], liquidationThresholdBps=8000):
        push(registry, [(ETH, *values)])


def test_bonus_must_fit_in_collateral(registry, push):
    # 9000 × (1 + 0.12) = 1.008 > 1
    with ape.reverts(registry.BonusExceedsCollateral, market=ETH, liquidationThresholdBps=9000,
                     liquidationBonusBps=1200):
        push(registry, [(ETH, 8000, 9000, 1200)])
    push(registry, [(ETH, 8000, 9000, 1111)])  # 9000 × 1.1111 = 9999.9 bps: fits


@pytest.mark.parametrize(
    "changes",
    [
        {"min_ltv_bps": 8000, "max_ltv_bps": 7000},
        {"min_liquidation_threshold_bps": 9100},  # min LT > max LT
        {"min_liquidation_bonus_bps": 1600},  # min LB > max LB
        {"min_liquidation_threshold_bps": 0, "max_liquidation_threshold_bps": 0, "min_ltv_bps": 0, "max_ltv_bps": 0},
        {"max_liquidation_threshold_bps": 10001},  # above 100 %
        {"max_ltv_bps": 9000},  # max LTV >= max LT
        {"max_liquidation_bonus_bps": 10001},  # above 100 %
    ],
)
def test_invalid_guardrails(registry, governance, changes):
    with ape.reverts(registry.InvalidGuardrails, profile=PROFILE):
        registry.setGuardrailProfile(PROFILE, guardrails(**changes).as_tuple(), sender=governance)


def test_profile_zero_is_reserved(registry, governance):
    with ape.reverts(registry.InvalidGuardrails, profile=0):
        registry.setGuardrailProfile(0, TEST_GUARDRAILS.as_tuple(), sender=governance)


def test_set_profile_emits_old_and_new_and_applies_to_every_market_in_it(registry, governance):
    new = guardrails(
        max_ltv_bps=8000,
        max_liquidation_threshold_bps=8800,
        min_liquidation_bonus_bps=200,
        max_liquidation_bonus_bps=1200,
        max_tighten_step_bps=500,
        max_loosen_step_bps=100,
        min_loosen_interval=3600,
        threshold_ramp_duration=0,
    ).as_tuple()
    receipt = registry.setGuardrailProfile(PROFILE, new, sender=governance)
    [event] = receipt.decode_logs(registry.GuardrailProfileSet)
    assert event.profile == PROFILE
    assert tuple(event.previous) == TEST_GUARDRAILS.as_tuple()
    assert tuple(event.guardrails) == new
    assert tuple(registry.guardrailProfile(PROFILE)) == new
    for market in (ETH, BTC, USDC):
        assert tuple(registry.guardrails(market)) == new


def test_shared_profile_change_binds_the_next_update_of_each_market(registry, governance, push):
    push(registry, [(BTC, 7000, 8000, 500), (ETH, 7000, 8000, 500)])
    narrow = guardrails(max_ltv_bps=6800, threshold_ramp_duration=0)
    registry.setGuardrailProfile(PROFILE, narrow.as_tuple(), sender=governance)
    for market in (BTC, ETH):  # a market left outside may stay there (heartbeat), not move further out
        with ape.reverts(registry.OutOfBounds, market=market, field=LTV, value=7100, min=5000, max=7000):
            push(registry, [(market, 7100, 8000, 500)])
    push(registry, [(BTC, 7000, 8000, 500)])  # a heartbeat
    push(registry, [(BTC, 6800, 8000, 500), (ETH, 6900, 8000, 500)])  # LTV cuts toward or into the new bounds
    assert registry.getParameters(ETH)[0] == 6900


def test_assign_to_unset_profile_reverts(registry, governance):
    with ape.reverts(registry.ProfileNotConfigured, profile=7):
        registry.assignProfile([ETH], 7, sender=governance)


def test_reassign_keeps_values_and_unassign_stops_signed_updates(registry, governance, push):
    push(registry, [(ETH, 7000, 8000, 500)])
    stable = guardrails(
        min_ltv_bps=8000,
        max_ltv_bps=9300,
        min_liquidation_threshold_bps=8500,
        max_liquidation_threshold_bps=9600,
        max_liquidation_bonus_bps=400,
        max_tighten_step_bps=500,
        max_loosen_step_bps=50,
        threshold_ramp_duration=0,
    ).as_tuple()
    registry.setGuardrailProfile(2, stable, sender=governance)
    receipt = registry.assignProfile([ETH, USDC], 2, sender=governance)
    events = receipt.decode_logs(registry.MarketProfileAssigned)
    assert [(e.market, e.previous, e.profile) for e in events] == [(ETH, PROFILE, 2), (USDC, PROFILE, 2)]
    assert registry.marketProfile(ETH) == 2
    assert tuple(registry.marketState(ETH))[:3] == (7000, 8000, 500)
    assert tuple(registry.guardrails(ETH)) == stable
    with ape.reverts(registry.OutOfBounds, market=ETH, field=LTV, value=6900, min=7000, max=9300):
        push(registry, [(ETH, 6900, 8000, 500)])  # further from the new bounds
    registry.assignProfile([ETH], 0, sender=governance)
    assert registry.marketProfile(ETH) == 0
    assert registry.getParameters(ETH)[:3] == (7000, 8000, 500)  # reads keep working
    with ape.reverts(registry.MarketNotConfigured, market=ETH):
        push(registry, [(ETH, 7000, 8000, 500)])
