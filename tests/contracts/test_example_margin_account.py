"""The example cross-margin account on the oracle's risk arrays: a hedge costs less margin than its
legs, an account below maintenance is liquidated, and a stale oracle stops new risk but not
liquidations."""

from __future__ import annotations

import ape
import pytest

from oracle.policy.arrays import WAD, ArrayValues, encode_depth, isolated_margin, portfolio_margin
from tests.helpers.arrays import TEST_SET
from tests.helpers.markets import BTC, ETH
from tests.helpers.time import DAY

#: ETH and BTC rows: the market down and up, a second component, a spread (ETH down, BTC up), SPAN's extremes.
ETH_ARRAY = ArrayValues((-300, 300, -150, 150, -100, 100) + (0,) * 8 + (-600, 600), 10, encode_depth(1e9))
BTC_ARRAY = ArrayValues((-250, 250, -120, 130, 50, -50) + (0,) * 8 + (-500, 500), 10, encode_depth(1e9))
ETH_USD, BTC_USD = 2_000, 50_000
USDC = 10**6
#: The mirror's view of the fixtures' scenario set: row weights and factor pairs.
SET_ARGS = (TEST_SET.weight_pct, TEST_SET.factor_pairs)


@pytest.fixture
def venue(project, arrays, publish, governance, accounts):
    publish(arrays, [(ETH, ETH_ARRAY), (BTC, BTC_ARRAY)])
    usdc = project.MockERC20.deploy("USD Coin", "USDC", 6, sender=governance)
    feeds = {
        ETH: project.MockV3Aggregator.deploy(8, ETH_USD * 10**8, "ETH / USD", sender=governance),
        BTC: project.MockV3Aggregator.deploy(8, BTC_USD * 10**8, "BTC / USD", sender=governance),
    }
    account = project.ExampleMarginAccount.deploy(arrays, usdc, DAY, 15_000, 2_000, 2_500, sender=governance)
    for asset, feed in feeds.items():
        account.listAsset(asset, feed, sender=governance)
    usdc.mint(governance, 10**6 * USDC, sender=governance)
    usdc.approve(account, 2**256 - 1, sender=governance)
    account.fund(10**6 * USDC, sender=governance)
    traders = accounts[4], accounts[5], accounts[9]
    for t in traders:
        usdc.mint(t, 100_000 * USDC, sender=governance)
        usdc.approve(account, 2**256 - 1, sender=t)
    return account, usdc, feeds, traders


def notionals(eth_size: float, btc_size: float, eth_usd: float, btc_usd: float) -> list[int]:
    """Signed WAD notionals in the oracle's (sorted) asset order."""
    by_asset = {ETH: int(eth_size * eth_usd) * WAD, BTC: int(btc_size * btc_usd) * WAD}
    return [by_asset[a] for a in sorted(by_asset)]


def arrays_in_order() -> list[ArrayValues]:
    return [ETH_ARRAY if a == ETH else BTC_ARRAY for a in sorted([ETH, BTC])]


def test_a_hedge_needs_less_than_its_legs_and_isolated_mode_refuses_it(venue):
    account, _, _, (cross, isolated, _) = venue
    for t in (cross, isolated):
        account.deposit(30_000 * USDC, sender=t)
    account.setIsolated(True, sender=isolated)
    account.trade(ETH, 25 * WAD, sender=cross)
    account.trade(BTC, -WAD, sender=cross)
    expected = portfolio_margin(arrays_in_order(), notionals(25, -1, ETH_USD, BTC_USD), *SET_ARGS)
    assert account.maintenanceMargin(cross) == (expected.margin, False)
    assert account.initialMargin(cross) == expected.margin * 15_000 // 10_000
    alone = isolated_margin(arrays_in_order(), notionals(25, -1, ETH_USD, BTC_USD), *SET_ARGS)
    assert alone > 3 * expected.margin
    account.trade(ETH, 25 * WAD, sender=isolated)
    with ape.reverts(account.BelowInitialMargin):
        account.trade(BTC, -WAD, sender=isolated)
    with ape.reverts(account.NotAllowed):
        account.setIsolated(False, sender=isolated)


def test_below_maintenance_the_account_is_liquidated_and_the_liquidator_paid(venue):
    account, usdc, feeds, (trader, _, liquidator) = venue
    account.deposit(30_000 * USDC, sender=trader)
    account.trade(ETH, 25 * WAD, sender=trader)
    account.trade(BTC, -WAD, sender=trader)
    with ape.reverts(account.AccountHealthy):
        account.liquidate(trader, sender=liquidator)
    # ETH −40 % and BTC +10 %: the spread the hedge does not cover
    feeds[ETH].updateAnswer(1_200 * 10**8, sender=liquidator)
    feeds[BTC].updateAnswer(55_000 * 10**8, sender=liquidator)
    equity = account.equity(trader)
    assert equity == (30_000 - 20_000 - 5_000) * WAD
    maintenance = portfolio_margin(arrays_in_order(), notionals(25, -1, 1_200, 55_000), *SET_ARGS)
    assert maintenance.margin > equity
    before = usdc.balanceOf(liquidator)
    receipt = account.liquidate(trader, sender=liquidator)
    fee = maintenance.margin * 2_000 // 10_000
    [event] = receipt.decode_logs(account.Liquidated)
    assert (event.fee, event.uncovered, event.usedFallback) == (fee, 0, False)
    assert usdc.balanceOf(liquidator) - before == fee // 10**12
    assert account.positionOf(trader, ETH) == (0, 0)
    assert account.collateralOf(trader) == equity - fee
    account.withdraw((equity - fee) // 10**12, sender=trader)


def test_reducing_risk_is_allowed_below_the_initial_margin(venue):
    account, _, feeds, (trader, _, other) = venue
    account.deposit(30_000 * USDC, sender=trader)
    account.trade(ETH, 25 * WAD, sender=trader)
    account.trade(BTC, -WAD, sender=trader)
    feeds[ETH].updateAnswer(1_300 * 10**8, sender=other)
    feeds[BTC].updateAnswer(55_000 * 10**8, sender=other)
    equity = account.equity(trader)
    margin, _ = account.maintenanceMargin(trader)
    assert margin <= equity < account.initialMargin(trader)  # healthy, but no new risk
    with ape.reverts(account.BelowInitialMargin):
        account.trade(ETH, 20 * WAD, sender=trader)
    account.trade(BTC, WAD // 5, sender=trader)  # a smaller short: less margin, allowed
    assert account.maintenanceMargin(trader)[0] < margin


def test_a_stale_oracle_stops_new_risk_but_not_liquidations(venue, chain):
    account, _, feeds, (trader, _, liquidator) = venue
    account.deposit(30_000 * USDC, sender=trader)
    account.trade(ETH, 25 * WAD, sender=trader)
    chain.mine(timestamp=chain.pending_timestamp + TEST_SET.max_age + 1)
    feeds[ETH].updateAnswer(1_000 * 10**8, sender=liquidator)  # fresh prices, stale arrays
    feeds[BTC].updateAnswer(BTC_USD * 10**8, sender=liquidator)
    with ape.reverts():
        account.trade(BTC, -WAD, sender=trader)
    margin, fallback = account.maintenanceMargin(trader)
    assert fallback and margin == 25 * 1_000 * WAD * 2_500 // 10_000 > account.equity(trader)
    receipt = account.liquidate(trader, sender=liquidator)
    [event] = receipt.decode_logs(account.Liquidated)
    assert event.usedFallback


def test_listing_and_prices_are_checked(venue, project, governance, chain):
    account, _, feeds, (trader, _, _) = venue
    with ape.reverts(account.NotOwner):
        account.listAsset(b"\x01" * 32, feeds[ETH], sender=trader)
    with ape.reverts(account.BadAsset):
        account.listAsset(ETH, feeds[ETH], sender=governance)
    six = project.MockV3Aggregator.deploy(6, 10**6, "X / USD", sender=governance)
    with ape.reverts(account.BadAsset):
        account.listAsset(b"\x02" * 32, six, sender=governance)
    account.deposit(1_000 * USDC, sender=trader)
    chain.mine(timestamp=chain.pending_timestamp + DAY + 1)
    with ape.reverts(account.BadPrice):
        account.trade(ETH, WAD, sender=trader)
