"""Shared contract fixtures: the example lending pool with a borrower and a funded liquidator."""

from __future__ import annotations

import pytest

from tests.helpers.markets import E18, ETH, ETH_PRICE
from tests.helpers.time import DAY


@pytest.fixture
def pool_setup(project, registry, push, governance, borrower, accounts):
    weth = project.MockERC20.deploy("Wrapped Ether", "WETH", 18, sender=governance)
    usd = project.MockERC20.deploy("Dollar", "USD", 6, sender=governance)
    feed = project.MockV3Aggregator.deploy(8, ETH_PRICE, "ETH / USD", sender=governance)
    pool = project.ExampleLendingPool.deploy(
        registry, ETH, weth, usd, feed, DAY, 3600, 6000, 1000, sender=governance
    )
    push(registry, [(ETH, 7000, 8000, 500)])
    usd.mint(governance, 1_000_000 * 10**6, sender=governance)
    usd.approve(pool, 2**256 - 1, sender=governance)
    pool.supply(1_000_000 * 10**6, sender=governance)
    weth.mint(borrower, 10 * E18, sender=governance)
    weth.approve(pool, 2**256 - 1, sender=borrower)
    pool.deposit(10 * E18, sender=borrower)  # $20,000 of collateral
    liquidator = accounts[9]
    usd.mint(liquidator, 1_000_000 * 10**6, sender=governance)
    usd.approve(pool, 2**256 - 1, sender=liquidator)
    return pool, weth, usd, feed, liquidator
