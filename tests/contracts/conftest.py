"""Shared contract fixtures: the example lending pool with a borrower and a funded liquidator, and the
risk-array contract with its batch factories."""

from __future__ import annotations

import pytest

from oracle.signing import model_version_bytes
from oracle.signing.risk_arrays import RiskArrayBatch, RiskArrayUpdate, sign_arrays
from tests.helpers.arrays import SET_ID, TEST_SET
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


@pytest.fixture(scope="session")
def arrays(project, registry, governance):
    """The risk-array contract on the 1-of-1 registry, with the test scenario set configured."""
    contract = project.RiskArrayRegistry.deploy(registry, sender=governance)
    contract.setScenarioSet(SET_ID, TEST_SET.as_tuple(), sender=governance)
    return contract


@pytest.fixture
def array_batch(chain, signer_keys):
    """Builds and signs a risk-array batch; every field can be overridden to craft attacks."""

    def factory(contract, entries, *, signers=None, nonce=None, deadline=None, chain_id=None, scenario_set=SET_ID):
        batch = RiskArrayBatch(
            chain_id=chain.chain_id if chain_id is None else chain_id,
            nonce=contract.batchNonce() if nonce is None else nonce,
            deadline=chain.pending_timestamp + 3600 if deadline is None else deadline,
            inputs_hash=b"\x22" * 32,
            model_version=model_version_bytes("arrays-test"),
            scenario_set=scenario_set,
            arrays=tuple(RiskArrayUpdate(asset, values) for asset, values in entries),
        )
        return batch, sign_arrays(batch, contract.address, signers or signer_keys[:1])

    return factory


@pytest.fixture
def publish(array_batch, relayer):
    """Signs with the first key and relays a risk-array batch; returns the receipt."""

    def do(contract, entries, **kw):
        batch, sigs = array_batch(contract, entries, **kw)
        return contract.submitRiskArrays(batch.as_tuple(), sigs, sender=relayer)

    return do
