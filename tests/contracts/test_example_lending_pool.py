"""ExampleLendingPool: what an integrator gets — borrow up to LTV, liquidate below LT with the bonus, staleness."""

from __future__ import annotations

import ape
import pytest

from tests.helpers.markets import ETH, ETH_PRICE
from tests.helpers.time import DAY

def test_borrow_up_to_ltv(pool_setup, borrower):
    pool, *_ = pool_setup
    pool.borrow(14_000 * 10**6, sender=borrower)  # 70 % of $20,000
    with ape.reverts(pool.ExceedsLtv):
        pool.borrow(1, sender=borrower)


def test_liquidation_below_threshold_pays_bonus(pool_setup, borrower, chain):
    pool, weth, usd, feed, liquidator = pool_setup
    pool.borrow(14_000 * 10**6, sender=borrower)
    with ape.reverts(pool.PositionHealthy):
        pool.liquidate(borrower, 1000 * 10**6, sender=liquidator)
    feed.updateAnswer(1700 * 10**8, sender=liquidator)  # 14,000 / 17,000 = 82 % > 80 % LT
    assert pool.healthFactorBps(borrower) < 10_000
    receipt = pool.liquidate(borrower, 1000 * 10**6, sender=liquidator)
    seized = receipt.decode_logs(pool.Liquidated)[0].seized
    # $1,000 repaid at $1,700/ETH with a 5 % bonus.
    assert seized == 1000 * 10**6 * 10_500 * 10**26 // (10_000 * 1700 * 10**8 * 10**6)
    assert weth.balanceOf(liquidator) == seized


def test_tightened_threshold_makes_position_liquidatable_only_gradually(pool_setup, borrower, push, registry,
                                                                       chain):
    pool, weth, usd, feed, liquidator = pool_setup
    pool.borrow(14_000 * 10**6, sender=borrower)
    feed.updateAnswer(1800 * 10**8, sender=liquidator)  # 14,000 / 18,000 = 77.8 %: healthy at 80 % LT
    start = push(registry, [(ETH, 6500, 7500, 500)]).timestamp  # cut LT to 75 %: ramps over 6 h
    feed.updateAnswer(1800 * 10**8, sender=liquidator)
    with ape.reverts(pool.PositionHealthy):
        pool.liquidate(borrower, 1000 * 10**6, sender=liquidator)  # no instant liquidation by the cut
    chain.mine(timestamp=start + 6 * 3600)
    feed.updateAnswer(1800 * 10**8, sender=liquidator)
    pool.liquidate(borrower, 1000 * 10**6, sender=liquidator)


def test_stale_parameters_block_borrowing_and_fall_back_for_liquidation(pool_setup, borrower, chain, registry):
    pool, weth, usd, feed, liquidator = pool_setup
    pool.borrow(10_000 * 10**6, sender=borrower)
    updated = registry.getParameters(ETH)[3]
    chain.mine(timestamp=updated + DAY + 1)
    feed.updateAnswer(ETH_PRICE, sender=liquidator)
    with ape.reverts(registry.StaleParameters):
        pool.borrow(1, sender=borrower)
    assert pool.liquidationParameters() == (6000, 1000, True)
    feed.updateAnswer(1600 * 10**8, sender=liquidator)  # 10,000 / 16,000 = 62.5 % > 60 % fallback LT
    receipt = pool.liquidate(borrower, 1000 * 10**6, sender=liquidator)
    assert bool(receipt.decode_logs(pool.Liquidated)[0].usedFallback)


@pytest.mark.parametrize("answer", [0, -1])
def test_bad_price_is_rejected(pool_setup, borrower, answer):
    pool, weth, usd, feed, liquidator = pool_setup
    feed.updateAnswer(answer, sender=liquidator)
    with ape.reverts(pool.BadPrice):
        pool.borrow(1, sender=borrower)


def test_stale_price_is_rejected(pool_setup, borrower, chain):
    pool, weth, usd, feed, liquidator = pool_setup
    chain.mine(timestamp=chain.pending_timestamp + 3601)
    with ape.reverts(pool.BadPrice):
        pool.borrow(1, sender=borrower)


def test_review_pool_impact_counts_positions_liquidatable_under_each_threshold(
    pool_setup, borrower, chain
):
    from oracle.integrations.example_pool import ExamplePoolPositions
    from oracle.report.review import PoolImpact

    pool, *_ = pool_setup
    read = ExamplePoolPositions(chain.provider.web3, pool.address)
    assert read().total_debt == 0  # a depositor without debt is no open position
    pool.borrow(14_000 * 10**6, sender=borrower)  # 70 % of $20,000
    positions = read()  # the second read scans only the new blocks
    assert positions.loan_ratio_bps.tolist() == [7_000]
    calm = PoolImpact.of(positions, 8_000, 7_500)  # 70 % debt: healthy under both
    assert (calm.positions, calm.liquidatable_now, calm.liquidatable_proposed) == (1, 0, 0)
    cut = PoolImpact.of(positions, 8_000, 6_500)  # a cut to 65 % makes it liquidatable
    assert (cut.liquidatable_now, cut.liquidatable_proposed) == (0, 1)
    assert cut.liquidatable_debt_proposed == 14_000 * 10**6
