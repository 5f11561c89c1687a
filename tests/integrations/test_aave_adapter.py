"""The Aave v3 risk adapter on Aave's own bytecode: units, the ramp bound, skips, governance."""

from __future__ import annotations

import ape
import pytest

from oracle.artifacts import load as load_artifact
from oracle.chain import ErrorDecoder, deploy_contract
from oracle.integrations.aave_v3 import to_aave
from tests.helpers.guardrails import RAMP, TEST_GUARDRAILS
from tests.helpers.markets import BTC, ETH, USDC
from tests.helpers.time import DAY
from tests.integrations.conftest import AAVE_WETH

STEP = TEST_GUARDRAILS.max_tighten_step_bps


def synced(receipt, adapter):
    return [
        (e.ltv, e.liquidationThreshold, e.liquidationBonus, e.registryThresholdBps)
        for e in receipt.events.filter(adapter.ReserveSynced)
    ]


def skipped(receipt, adapter):
    return [(e.market, e.reason) for e in receipt.events.filter(adapter.MarketSkipped)]


def test_sync_writes_the_registry_values_in_aave_units(aave, registry, push, relayer):
    push(registry, [(ETH, 7000, 8250, 600)])
    receipt = aave.adapter.sync([ETH], sender=relayer)
    assert aave.config() == (7000, 8250, 10_600)
    assert synced(receipt, aave.adapter) == [(7000, 8250, 10_600, 8250)]
    event = next(iter(receipt.events.filter(aave.adapter.ReserveSynced)))
    assert (event.previousLtv, event.previousLiquidationThreshold) == AAVE_WETH[:2]
    assert event.asset == aave.weth.address
    # A second sync finds nothing to change: no write, no event.
    again = aave.adapter.sync([ETH], sender=relayer)
    assert synced(again, aave.adapter) == [] and skipped(again, aave.adapter) == []


def test_a_cut_reaches_aave_along_the_registry_ramp(aave, registry, push, relayer, chain):
    push(registry, [(ETH, 7000, 8250, 500)])
    aave.adapter.sync([ETH], sender=relayer)
    start = push(registry, [(ETH, 7000, 7250, 500)]).timestamp
    previous_in_force, path = 8250, []
    for share in (0.25, 0.75, 1.0):  # the keeper misses the syncs in between: no matter
        chain.mine(timestamp=start + int(RAMP * share))
        before = aave.config()[1]
        aave.adapter.sync([ETH], sender=relayer)
        in_force = registry.getParameters(ETH)[1]
        assert aave.config()[1] == in_force  # Aave holds the registry's threshold in force,
        assert before - aave.config()[1] == previous_in_force - in_force  # falling as it fell
        previous_in_force = in_force
        path.append(in_force)
    assert path[0] == pytest.approx(8000, abs=2) and path[1] == pytest.approx(7500, abs=2)
    assert path[2] == 7250


def test_a_gap_that_is_not_the_registrys_closes_along_a_line_at_the_guardrails_pace(
    aave, registry, push, relayer, chain, governance
):
    """Aave's threshold (8,250) above the registry's (7,250, set at once on a new market): the
    first sync starts a line at 8,250 that falls 1,000 bps per 6 h (the profile's fastest pace),
    and the syncs move Aave along it."""
    push(registry, [(ETH, 7000, 7250, 500)])
    aave.adapter.setMarket(ETH, aave.weth.address, sender=governance)
    chain.mine(timestamp=chain.pending_timestamp + 3 * DAY)  # idle time is not banked
    push(registry, [(ETH, 7000, 7250, 500)])  # the keeper's heartbeat: fresh again
    first = aave.adapter.sync([ETH], sender=relayer)
    assert aave.config()[1] == AAVE_WETH[1]  # the line starts here: no cut yet
    link = aave.adapter.link(ETH)
    assert (link.holdThresholdBps, link.holdSince) == (AAVE_WETH[1], first.timestamp)
    for hours in (3, 6):
        chain.mine(timestamp=first.timestamp + hours * 3600)
        receipt = aave.adapter.sync([ETH], sender=relayer)
        line = AAVE_WETH[1] - STEP * (receipt.timestamp - first.timestamp) // RAMP
        assert aave.config()[1] == max(7250, line)
        if line > 7250:
            assert synced(receipt, aave.adapter)[0][3] == 7250  # held back: the event says so
    assert aave.config()[1] == 7250
    assert aave.adapter.link(ETH).holdSince == 0  # caught up: the hold is over


def test_frequent_syncs_do_not_stall_the_line(aave, registry, push, relayer, chain, governance):
    """Syncing every 10 s, each sync's own share of the pace rounds to 0 bps; the line is measured
    from its start, so Aave still falls at the pace (about 28 bps in 10 minutes)."""
    push(registry, [(ETH, 7000, 7250, 500)])
    aave.adapter.setMarket(ETH, aave.weth.address, sender=governance)
    first = aave.adapter.sync([ETH], sender=relayer).timestamp
    for i in range(1, 61):
        chain.mine(timestamp=first + 10 * i)
        last = aave.adapter.sync([ETH], sender=relayer)
    assert aave.config()[1] == AAVE_WETH[1] - STEP * (last.timestamp - first) // RAMP < 8225


def test_the_bonus_is_capped_when_the_threshold_is_held_above_the_registrys(
    aave, registry, push, relayer, governance
):
    # Aave's own admin raised WETH's threshold to 95 %; the registry says 80 % with a 15 % bonus.
    fn = aave.market.configurator.functions.configureReserveAsCollateral(
        aave.weth.address, 8000, 9500, 10_500
    )
    aave.market.w3.eth.wait_for_transaction_receipt(fn.transact({"from": governance.address}))
    push(registry, [(ETH, 7000, 8000, 1500)])
    aave.adapter.setMarket(ETH, aave.weth.address, sender=governance)
    ltv, lt, bonus, changes, _, is_skipped = aave.adapter.preview(ETH)
    assert not is_skipped and changes
    assert 9400 < lt <= 9500  # held back by the pace bound
    assert (ltv, lt, bonus) == to_aave(7000, lt, 1500)  # the Python mirror agrees
    assert lt * bonus <= 10_000**2 < lt * (10_000 + 1500)
    aave.adapter.sync([ETH], sender=relayer)
    assert aave.config() == (ltv, lt, bonus)  # Aave accepted the capped bonus


def test_unlinked_unset_and_stale_markets_are_skipped_and_never_written(
    aave, registry, push, relayer, chain, governance
):
    aave.adapter.setMarket(BTC, aave.usdc.address, sender=governance)  # linked, never set
    push(registry, [(ETH, 7000, 8250, 500)])
    aave.adapter.sync([ETH], sender=relayer)
    written = aave.config()
    chain.mine(timestamp=chain.pending_timestamp + DAY + 60)  # past maxAge: stale
    receipt = aave.adapter.sync([ETH, BTC, USDC], sender=relayer)
    assert skipped(receipt, aave.adapter) == [
        (ETH, 1),  # RegistryRejected: StaleParameters
        (BTC, 1),  # RegistryRejected: MarketNotSet
        (USDC, 0),  # NotMapped
    ]
    decode = ErrorDecoder(load_artifact("MarginParameterRegistry")["abi"]).decode
    reasons = [decode(e.data).name for e in receipt.events.filter(aave.adapter.MarketSkipped)]
    assert reasons == ["StaleParameters", "MarketNotSet", "UnknownRevert"]
    assert aave.config() == written
    assert aave.market.configuration(aave.usdc.address) == (0, 0, 0)


def test_a_refusal_by_aave_is_skipped_with_its_reason(aave, registry, push, relayer, governance):
    fn = aave.market.acl.functions.removeRiskAdmin(aave.adapter.address)
    aave.market.w3.eth.wait_for_transaction_receipt(fn.transact({"from": governance.address}))
    push(registry, [(ETH, 7000, 8250, 500)])
    receipt = aave.adapter.sync([ETH], sender=relayer)
    assert skipped(receipt, aave.adapter) == [(ETH, 2)]  # AaveRejected
    event = next(iter(receipt.events.filter(aave.adapter.MarketSkipped)))
    revert = ErrorDecoder([]).decode(event.data)
    assert revert.args_by_name == {"reason": "4"}  # Aave's CALLER_NOT_RISK_OR_POOL_ADMIN
    assert aave.config() == AAVE_WETH


def test_only_governance_links_markets_and_one_market_drives_an_asset(aave, attacker, governance):
    with ape.reverts(aave.adapter.NotGovernance):
        aave.adapter.setMarket(BTC, aave.usdc.address, sender=attacker)
    with ape.reverts(aave.adapter.NotGovernance):
        aave.adapter.setMaxAge(60, sender=attacker)
    with ape.reverts(aave.adapter.NotGovernance):
        aave.adapter.detach(sender=attacker)
    with ape.reverts(aave.adapter.AssetAlreadyLinked):
        aave.adapter.setMarket(BTC, aave.weth.address, sender=governance)
    with ape.reverts(aave.adapter.InvalidMaxAge):
        aave.adapter.setMaxAge(0, sender=governance)
    aave.adapter.setMarket(ETH, "0x0000000000000000000000000000000000000000", sender=governance)
    assert aave.adapter.marketOf(aave.weth.address) == b"\x00" * 32
    aave.adapter.setMarket(BTC, aave.weth.address, sender=governance)  # the asset is free again
    assert aave.adapter.marketOf(aave.weth.address) == BTC


def test_detach_gives_up_risk_admin_for_good(aave, governance, relayer):
    acl = aave.market.acl.functions
    assert acl.isRiskAdmin(aave.adapter.address).call()
    aave.adapter.detach(sender=governance)
    assert not acl.isRiskAdmin(aave.adapter.address).call()
    assert aave.adapter.detached()
    with ape.reverts(aave.adapter.AdapterDetached):
        aave.adapter.sync([ETH], sender=relayer)
    with ape.reverts(aave.adapter.AdapterDetached):
        aave.adapter.setMarket(BTC, aave.usdc.address, sender=governance)


def test_an_adapter_not_yet_made_risk_admin_writes_nothing(
    aave, project, registry, push, relayer, governance
):
    fresh = project.AaveV3RiskAdapter.deploy(
        registry, aave.market.provider.address, DAY, sender=governance
    )
    aave.adapter.setMarket(ETH, "0x0000000000000000000000000000000000000000", sender=governance)
    fresh.setMarket(ETH, aave.weth.address, sender=governance)
    push(registry, [(ETH, 7000, 8250, 500)])
    receipt = fresh.sync([ETH], sender=relayer)
    assert skipped(receipt, fresh) == [(ETH, 2)]  # AaveRejected: not a risk admin
    assert aave.config() == AAVE_WETH


def test_a_reserve_aave_does_not_list_is_skipped(aave, registry, push, relayer, governance):
    """Linking a token Aave has no reserve for is governance's mistake; Aave refuses the write and
    the adapter reports it instead of reverting the whole sync."""
    unlisted, _ = deploy_contract(aave.market.w3, governance.address, "MockERC20", "B", "B", 8)
    aave.adapter.setMarket(BTC, unlisted.address, sender=governance)
    push(registry, [(ETH, 7000, 8250, 500), (BTC, 6000, 7000, 800)])
    receipt = aave.adapter.sync([BTC, ETH], sender=relayer)
    assert skipped(receipt, aave.adapter) == [(BTC, 2)]  # AaveRejected
    assert [s[:3] for s in synced(receipt, aave.adapter)] == [(7000, 8250, 10_500)]
