"""On-chain feed fixtures: Multicall3 on ape's Anvil (at its canonical address, as on a public
chain), each on-chain test run through Multicall3 and through plain calls alike, and a Uniswap v3
pool of Uniswap's own bytecode."""

from __future__ import annotations

import math

import pytest

from oracle.artifacts import load
from oracle.chain import deploy_contract
from oracle.devnet.anvil import install_multicall3
from oracle.feeds.onchain import Node
from oracle.feeds.uniswap import UniswapV3TwapSource
from oracle.multicall import MULTICALL3_ADDRESS

FEE = 3_000
TICK_SPACING = 60
MIN_TICK, MAX_TICK = -887_220, 887_220  # full range on a 60-tick grid
Q96 = 2**96


@pytest.fixture(scope="session")
def multicall3(chain):
    """Multicall3's code on ape's Anvil for the whole session (set before any test's snapshot)."""
    install_multicall3(chain.provider.web3)


@pytest.fixture(params=["multicall3", "plain"])
def node(request, chain, multicall3):
    """The chain's node read through Multicall3, or (`chain.multicall: null`) call by call."""
    address = MULTICALL3_ADDRESS if request.param == "multicall3" else None
    return Node(chain.provider.web3, address)


@pytest.fixture
def pool(chain, project, governance):
    """WETH (18 decimals) / USDC (6) at 2,000 USDC, full-range liquidity, 200 observations."""
    w3 = chain.provider.web3
    gov = governance.address
    weth = project.MockERC20.deploy("Wrapped Ether", "WETH", 18, sender=governance)
    usdc = project.MockERC20.deploy("USD Coin", "USDC", 6, sender=governance)
    factory, _ = deploy_contract(w3, gov, "UniswapV3Factory")

    def mined(call):
        """`call` sent and mined before the next read: a send's answer is not its block (once, on
        a busy machine, `getPool` right after `createPool` read the zero address)."""
        w3.eth.wait_for_transaction_receipt(call.transact({"from": gov}))

    mined(factory.functions.createPool(weth.address, usdc.address, FEE))
    address = factory.functions.getPool(weth.address, usdc.address, FEE).call()
    pool = w3.eth.contract(address=address, abi=load("UniswapV3Pool")["abi"])
    weth_is_token0 = pool.functions.token0().call() == weth.address
    price01 = 2_000 * 10**6 / 10**18 if weth_is_token0 else 10**18 / (2_000 * 10**6)
    mined(pool.functions.initialize(int(math.sqrt(price01) * Q96)))
    mined(pool.functions.increaseObservationCardinalityNext(200))
    actions = project.UniswapV3Actions.deploy(sender=governance)
    for token in (weth, usdc):
        token.mint(gov, 10**30, sender=governance)
        token.approve(actions.address, 2**256 - 1, sender=governance)
    actions.mint(address, MIN_TICK, MAX_TICK, 10**15, sender=governance)
    return {
        "w3": w3,
        "pool": pool,
        "actions": actions,
        "weth": weth,
        "usdc": usdc,
        "weth_is_token0": weth_is_token0,
    }


def twap_source(pool, node, window):
    """A TWAP of the `pool` fixture's WETH in USDC over `window` seconds, read through `node`."""
    return UniswapV3TwapSource(
        "uniswap",
        "WETH/USDC",
        node,
        pool["pool"].address,
        window=window,
        collateral_is_token0=pool["weth_is_token0"],
        max_age=600,
    )
