"""Front-running a threshold cut on a real Aave v3 market, priced in dollars.

The keeper's batch is public once broadcast and anyone may relay it and call the adapter's `sync`.
The strongest front-runner (`AaveCutBackrunner`) relays the batch, syncs and calls Aave's
`liquidationCall` in one transaction. Aave applies a change at once; without a ramp that earns the
liquidation bonus on a position that was healthy a block before. With the registry's ramp, which
the adapter keeps, the threshold in force has not moved in that transaction: Aave refuses the
liquidation, and the position only becomes liquidatable after a delay proportional to its margin.
"""

from __future__ import annotations

import ape
import pytest

from tests.helpers.guardrails import RAMP, guardrails
from tests.helpers.markets import E18, ETH
from tests.integrations.conftest import USD

PRICE_AFTER = 1800  # the borrower's 13,900 USDC against 10 WETH is then 77.2 %, under Aave's 80 %
GAS_PRICE_GWEI = 30  # an assumed busy-mainnet gas price, to price the attempt itself
CUT = (ETH, 6500, 7500, 500)  # LT 80 % -> 75 %: the position falls between the two
REPAY = 6_000 * USD  # within Aave's 50 % close factor


@pytest.fixture
def attack(
    aave,
    position,
    project,
    registry,
    push,
    relayer,
    make_batch,
    signer_keys,
    governance,
    borrower,
    accounts,
):
    """Aave holds the registry's 70 / 80 / 5 %, then ETH falls to $1,800. Returns a function that
    runs the attack on the keeper's next cut under a profile ramping over `ramp` seconds and gives
    the attacker's profit in dollars and the WETH it seized."""
    w3 = aave.market.w3
    # Aave's admin hands WETH over at the registry's values (a gap would close at the ramp's pace).
    align = aave.market.configurator.functions.configureReserveAsCollateral(
        aave.weth.address, 7000, 8000, 10_500
    )
    w3.eth.wait_for_transaction_receipt(align.transact({"from": governance.address}))
    push(registry, [(ETH, 7000, 8000, 500)])
    aave.adapter.sync([ETH], sender=relayer)
    assert aave.config() == (7000, 8000, 10_500)
    position(PRICE_AFTER)
    liquidator = accounts[9]
    mint = aave.usdc.functions.mint(liquidator.address, 1_000_000 * USD)
    w3.eth.wait_for_transaction_receipt(mint.transact({"from": governance.address}))
    backrunner = project.AaveCutBackrunner.deploy(sender=liquidator)
    approve = aave.usdc.functions.approve(backrunner.address, 2**256 - 1)
    w3.eth.wait_for_transaction_receipt(approve.transact({"from": liquidator.address}))

    def run(ramp: int) -> tuple[float, float]:
        profile = guardrails(threshold_ramp_duration=ramp).as_tuple()
        registry.setGuardrailProfile(2, profile, sender=governance)
        registry.assignProfile([ETH], 2, sender=governance)
        batch, sigs = make_batch(registry, [CUT], signer_keys[:1])  # what the mempool shows
        usd_before = aave.usdc.functions.balanceOf(liquidator.address).call()
        weth_before = aave.weth.functions.balanceOf(liquidator.address).call()
        receipt = backrunner.relaySyncAndLiquidate(
            registry,
            batch.as_tuple(),
            sigs,
            aave.adapter,
            aave.market.pool.address,
            aave.weth.address,
            aave.usdc.address,
            borrower.address,
            REPAY,
            sender=liquidator,
        )
        gained = (aave.weth.functions.balanceOf(liquidator.address).call() - weth_before) / E18
        paid = (usd_before - aave.usdc.functions.balanceOf(liquidator.address).call()) / USD
        gas = receipt.gas_used * GAS_PRICE_GWEI * 1e-9 * PRICE_AFTER
        return gained * PRICE_AFTER - paid - gas, gained

    return run


def account(aave, borrower):
    """Aave's view of the borrower: (debt in USD, health factor)."""
    data = aave.market.pool.functions.getUserAccountData(borrower.address).call()
    return data[1] / 1e8, data[5] / 1e18


def test_an_instant_cut_pays_the_front_runner_on_aave(attack, aave, borrower):
    assert account(aave, borrower)[1] > 1  # healthy under 80 %
    profit, seized = attack(ramp=0)
    # Aave pays the debt repaid in collateral at the oracle price plus the 5 % bonus (10,500).
    assert seized == pytest.approx(6_000 * 1.05 / PRICE_AFTER, rel=1e-9)
    # $300 of bonus minus the gas of relay + sync + liquidation.
    assert 250 < profit < 300
    assert account(aave, borrower)[0] == pytest.approx(7_900, abs=1)


def test_the_ramp_kept_by_the_adapter_makes_the_same_attack_fail(
    attack, aave, borrower, registry, push, relayer, chain
):
    with ape.reverts("45"):  # Aave: HEALTH_FACTOR_NOT_BELOW_THRESHOLD
        attack(ramp=RAMP)  # the cut is in the batch, but the threshold in force is still 80 %
    assert account(aave, borrower)[0] == pytest.approx(13_900, abs=1)
    # After the keeper's own relay, syncs move Aave along the ramp; the position (77.2 %) is only
    # reached after (8000 - 7722) / 500 x 6 h = 3.3 h, time the borrower can use.
    start = push(registry, [CUT]).timestamp
    for share in (0.25, 0.5):
        chain.mine(timestamp=start + int(RAMP * share))
        aave.adapter.sync([ETH], sender=relayer)
        assert aave.config()[1] == pytest.approx(8000 - 500 * share, abs=2)
        assert account(aave, borrower)[1] > 1
    chain.mine(timestamp=start + RAMP)
    aave.adapter.sync([ETH], sender=relayer)
    assert aave.config()[1] == 7500 and account(aave, borrower)[1] < 1
