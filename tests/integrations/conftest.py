"""A real Aave v3 market (Aave's npm bytecode) beside the contract tests' registry, with the risk
adapter holding RISK_ADMIN and ETH/USD linked to WETH."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from oracle.chain import deploy_contract
from oracle.devnet.aave import AaveMarket, ReserveSpec, deploy_aave_market
from tests.helpers.markets import E18, ETH, ETH_PRICE
from tests.helpers.time import DAY

USD = 10**6
#: WETH's parameters in Aave before the adapter takes over (Aave v3 Ethereum's WETH in 2023).
AAVE_WETH = (8000, 8250, 10_500)


@dataclass
class Aave:
    market: AaveMarket
    adapter: Any  # ape contract
    weth: Any  # web3 contracts
    usdc: Any
    eth_feed: Any

    def config(self) -> tuple[int, int, int]:
        return self.market.configuration(self.weth.address)


@pytest.fixture(scope="session")
def aave(chain, project, registry, governance) -> Aave:
    w3 = chain.provider.web3
    gov = governance.address
    weth, _ = deploy_contract(w3, gov, "MockERC20", "Wrapped Ether", "WETH", 18)
    usdc, _ = deploy_contract(w3, gov, "MockERC20", "USD Coin", "USDC", 6)
    eth_feed, _ = deploy_contract(w3, gov, "MockV3Aggregator", 8, ETH_PRICE, "ETH / USD")
    usd_feed, _ = deploy_contract(w3, gov, "MockV3Aggregator", 8, 10**8, "USDC / USD")
    market = deploy_aave_market(
        w3,
        gov,
        [
            ReserveSpec(weth, eth_feed.address, *AAVE_WETH),
            ReserveSpec(usdc, usd_feed.address, borrowable=True),
        ],
    )
    adapter = project.AaveV3RiskAdapter.deploy(
        registry, market.provider.address, DAY, sender=governance
    )
    market.grant_risk_admin(adapter.address, gov)
    adapter.setMarket(ETH, weth.address, sender=governance)
    return Aave(market, adapter, weth, usdc, eth_feed)


@pytest.fixture
def position(aave, governance, borrower):
    """The borrower supplies 10 WETH ($20,000) and borrows 13,900 USDC on Aave; a lender supplies
    the USDC. Returns a function that moves ETH's price in Aave's oracle."""
    pool, gov = aave.market.pool, governance.address
    w3 = aave.market.w3

    def send(fn, sender):
        w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))

    send(aave.usdc.functions.mint(gov, 1_000_000 * USD), gov)
    send(aave.usdc.functions.approve(pool.address, 2**256 - 1), gov)
    send(pool.functions.supply(aave.usdc.address, 1_000_000 * USD, gov, 0), gov)
    send(aave.weth.functions.mint(borrower.address, 10 * E18), gov)
    send(aave.weth.functions.approve(pool.address, 2**256 - 1), borrower.address)
    send(pool.functions.supply(aave.weth.address, 10 * E18, borrower.address, 0), borrower.address)
    borrow = pool.functions.borrow(aave.usdc.address, 13_900 * USD, 2, 0, borrower.address)
    send(borrow, borrower.address)

    def price(usd: int) -> None:
        send(aave.eth_feed.functions.updateAnswer(usd * 10**8), gov)

    return price
