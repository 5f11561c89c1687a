"""Front-running a liquidation-threshold cut, priced in dollars.

The keeper's signed batch is public once broadcast, and anyone may relay it. The strongest
front-runner therefore relays it itself and liquidates in the same transaction (`CutBackrunner`),
before the borrower can react. With an instant cut (no ramp: what a one-shot parameter change gives)
that earns the liquidation bonus on positions that were healthy a block before. With the
registry's ramp the cut takes effect gradually: the same transaction reverts, and a position only
becomes liquidatable after a delay proportional to its margin, which the borrower can use.
"""

from __future__ import annotations

import ape
import pytest

from tests.helpers.guardrails import RAMP, guardrails
from tests.helpers.markets import E18, ETH

USD = 10**6
PRICE_AFTER = 1800  # ETH in USD after a 10 % drop: the borrower's LTV is 77.8 %, under the 80 % LT
GAS_PRICE_GWEI = 30  # an assumed busy-mainnet gas price, to price the attempt itself
CUT = (ETH, 6500, 7500, 500)  # LT 80 % -> 75 %: the borrower's position falls between the two
REPAY = 7_000 * USD


@pytest.fixture
def attack(project, pool_setup, borrower, governance, registry, make_batch, signer_keys):
    """The pool after a 10 % drop with the borrower at 77.8 % LTV; returns a function that runs
    the attack on the keeper's next cut and gives the attacker's profit in dollars."""
    pool, weth, usd, feed, liquidator = pool_setup
    pool.borrow(14_000 * USD, sender=borrower)  # 70 % of $20,000
    feed.updateAnswer(PRICE_AFTER * 10**8, sender=liquidator)
    backrunner = project.CutBackrunner.deploy(sender=liquidator)
    usd.approve(backrunner, 2**256 - 1, sender=liquidator)

    def run(ramp: int) -> float:
        profile = guardrails(threshold_ramp_duration=ramp).as_tuple()
        registry.setGuardrailProfile(2, profile, sender=governance)
        registry.assignProfile([ETH], 2, sender=governance)
        batch, sigs = make_batch(registry, [CUT], signer_keys[:1])  # what the mempool shows
        usd_before, weth_before = usd.balanceOf(liquidator), weth.balanceOf(liquidator)
        receipt = backrunner.relayAndLiquidate(
            registry, batch.as_tuple(), sigs, pool, borrower, REPAY, sender=liquidator
        )
        gained = (weth.balanceOf(liquidator) - weth_before) / E18 * PRICE_AFTER
        paid = (usd_before - usd.balanceOf(liquidator)) / USD
        gas = receipt.gas_used * GAS_PRICE_GWEI * 1e-9 * PRICE_AFTER
        return gained - paid - gas

    return run, pool, feed, liquidator


def test_an_instant_cut_pays_the_front_runner(attack, borrower):
    run, pool, *_ = attack
    profit = run(ramp=0)
    # $7,000 repaid, collateral worth 5 % more seized, minus about $15 of gas.
    assert 330 < profit < 350
    assert pool.debtOf(borrower) == 7_000 * USD


def test_the_ramp_makes_the_same_attack_fail(attack, borrower, registry, push, chain):
    run, pool, feed, liquidator = attack
    with ape.reverts(pool.PositionHealthy):
        run(ramp=RAMP)  # the cut is in the batch, but the threshold in force is still 80 %
    assert pool.debtOf(borrower) == 14_000 * USD
    # Waiting after the keeper's own relay does not help either: the threshold falls by 500 bps
    # over 6 h and the position (77.8 %) is only reached after (8000 - 7778) / 500 x 6 h = 2.66 h.
    start = push(registry, [CUT]).timestamp
    chain.mine(timestamp=start + int(RAMP * 0.40))
    feed.updateAnswer(PRICE_AFTER * 10**8, sender=liquidator)
    with ape.reverts(pool.PositionHealthy):
        pool.liquidate(borrower, REPAY, sender=liquidator)


def test_the_ramp_gives_the_borrower_time_to_act(
    attack, pool_setup, borrower, governance, registry, push, chain
):
    _, pool, feed, liquidator = attack
    usd = pool_setup[2]
    start = push(registry, [CUT]).timestamp  # the default profile ramps over 6 h
    safe_until = start + RAMP * (8000 - 7778) // 500  # LTV 14,000 / 18,000 = 7,778 bps
    chain.mine(timestamp=safe_until - 60)
    feed.updateAnswer(PRICE_AFTER * 10**8, sender=liquidator)
    assert 7778 < registry.getParameters(ETH)[1] < 8000
    with ape.reverts(pool.PositionHealthy):
        pool.liquidate(borrower, REPAY, sender=liquidator)
    usd.mint(borrower, 1_000 * USD, sender=governance)
    usd.approve(pool, 2**256 - 1, sender=borrower)
    pool.repay(1_000 * USD, sender=borrower)  # the borrower acts within the ramp: 72.2 %
    chain.mine(timestamp=start + RAMP)
    feed.updateAnswer(PRICE_AFTER * 10**8, sender=liquidator)
    assert registry.getParameters(ETH)[1] == 7500
    with ape.reverts(pool.PositionHealthy):
        pool.liquidate(borrower, REPAY, sender=liquidator)  # safe under the final 75 %
