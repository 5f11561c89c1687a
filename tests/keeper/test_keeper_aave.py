"""The keeper driving a real Aave v3 market (Aave's npm bytecode) through the risk adapter: it
syncs after its pushes, reads the reserve's borrowers for the policy's cut sizing and the review,
and a failing sync is recorded without failing the cycle."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from oracle.chain import Transactor, deploy_contract
from oracle.devnet.aave import ReserveSpec, deploy_aave_market
from oracle.errors import ChainError, ConfigError
from oracle.integrations.aave_v3 import AavePositions, RiskAdapterClient, to_aave
from oracle.keeper.config import parse_config
from oracle.keeper.cycle import AdapterLink, Keeper, MarketSetup
from oracle.keeper.runtime import build_keeper
from oracle.markets import market_id
from oracle.policy import PolicySettings
from oracle.signing import Batch, MarketUpdate, model_version_bytes, sign_batch
from oracle.types import Params
from tests.helpers.guardrails import KEEPER_GUARDRAILS, guardrails
from tests.helpers.markets import E18, MARKET

USD = 10**6
#: ETH's close on 10 March 2020, 23:00 UTC, the replay's last bar before the rig's start.
START_PRICE = 200


@pytest.fixture
def aave_rig(rig_factory, governance, accounts):
    rig = rig_factory("2020-03-11T00:00:00")
    w3, gov = rig.chain.provider.web3, governance.address
    weth, _ = deploy_contract(w3, gov, "MockERC20", "Wrapped Ether", "WETH", 18)
    usdc, _ = deploy_contract(w3, gov, "MockERC20", "USD Coin", "USDC", 6)
    eth_feed, _ = deploy_contract(w3, gov, "MockV3Aggregator", 8, START_PRICE * 10**8, "ETH")
    usd_feed, _ = deploy_contract(w3, gov, "MockV3Aggregator", 8, 10**8, "USDC")
    market = deploy_aave_market(
        w3,
        gov,
        [
            ReserveSpec(weth, eth_feed.address, 8000, 8250, 10_500),
            ReserveSpec(usdc, usd_feed.address, borrowable=True),
        ],
    )
    adapter = RiskAdapterClient.deploy(
        w3,
        gov,
        registry=rig.registry.address,
        addresses_provider=market.provider.address,
        max_age=86_400,
    )
    market.grant_risk_admin(adapter.address, gov)
    adapter.set_market(MARKET, weth.address, gov)

    def send(fn, who):
        Transactor(w3, who).send(fn)

    send(usdc.functions.mint(gov, 10**6 * USD), gov)
    send(usdc.functions.approve(market.pool.address, 2**256 - 1), gov)
    send(market.pool.functions.supply(usdc.address, 10**6 * USD, gov, 0), gov)
    # Three borrowers with 10 WETH ($2,000) each, at 40 %, 55 % and 70 % of its value.
    borrowers = [a.address for a in accounts[4:7]]
    for who, share in zip(borrowers, (0.40, 0.55, 0.70), strict=True):
        send(weth.functions.mint(who, 10 * E18), gov)
        send(weth.functions.approve(market.pool.address, 2**256 - 1), who)
        send(market.pool.functions.supply(weth.address, 10 * E18, who, 0), who)
        amount = int(10 * START_PRICE * share * USD)
        send(market.pool.functions.borrow(usdc.address, amount, 2, 0, who), who)
    positions = AavePositions(w3, market.provider.address, weth.address)
    setup = MarketSetup(
        MARKET,
        rig.setup.sources,
        rig.setup.history,
        size=1_000.0,
        memory=rig.setup.memory,
        positions=positions,
    )
    keeper = Keeper(
        rig.registry,
        [rig.signer],
        gov,
        rig.store,
        [setup],
        policy=PolicySettings(deadband_bps=25, heartbeat_after=6 * 3_600, loosen_after_cycles=3),
        clock=lambda: rig.now,
        adapters=[AdapterLink(adapter, (MARKET,))],
    )
    return rig, keeper, market, adapter, weth, positions


def test_the_keeper_syncs_aave_after_its_push_and_only_then(aave_rig):
    rig, keeper, market, adapter, weth, _ = aave_rig
    report = keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"]
    on_chain = rig.registry.parameters(market_id(MARKET)).params
    assert market.configuration(weth.address) == to_aave(*on_chain.as_tuple())
    [row] = rig.store.syncs(MARKET)
    assert row["status"] == "synced" and row["tx_hash"] and row["gas_used"] > 0
    assert any("aave-v3" in n and "->" in n for n in report.notes)
    assert not adapter.preview(MARKET).changes
    rig.advance(600)
    quiet = keeper.cycle()  # ten minutes on: nothing to push, nothing to sync
    assert not quiet.pushes, quiet.decision(MARKET).reason
    assert len(rig.store.syncs(MARKET)) == 1


def test_the_policy_reads_the_reserves_borrowers(aave_rig):
    _, keeper, *_ = aave_rig
    keeper.cycle()
    ev = keeper._evaluations[MARKET]
    assert ev.positions is not None
    assert sorted(ev.positions.loan_ratio_bps.round()) == [4000, 5500, 7000]
    # Aave's debt in its base currency (USD, 8 decimals), stressed by the threshold's tail.
    assert ev.positions.total_debt == pytest.approx(3_300 * 10**8, rel=1e-4)
    assert ev.positions.stress_move == ev.explanation["derived"]["threshold_tail"] > 0


def test_a_failing_sync_is_recorded_and_does_not_fail_the_cycle(aave_rig, monkeypatch):
    rig, keeper, market, adapter, weth, _ = aave_rig

    def node_down(*args, **kwargs):
        raise ChainError("transaction failed to send or confirm: connection refused")

    monkeypatch.setattr(adapter, "sync", node_down)
    report = keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"]  # the registry push landed
    assert any("sync failed" in n and "connection refused" in n for n in report.notes)
    assert [r["status"] for r in rig.store.syncs(MARKET)] == ["failed"]
    assert market.configuration(weth.address) == (8000, 8250, 10_500)
    monkeypatch.undo()
    rig.advance(600)
    keeper.cycle()  # the next cycle finds the change still to carry, and carries it
    assert [r["status"] for r in rig.store.syncs(MARKET)] == ["failed", "synced"]


def test_a_detached_adapter_is_noted_and_not_retried(aave_rig, governance):
    rig, keeper, market, adapter, weth, _ = aave_rig
    adapter.detach(governance.address)
    report = keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"]
    assert any("is detached: nothing synced" in n for n in report.notes)
    assert rig.store.syncs(MARKET) == []
    assert market.configuration(weth.address) == (8000, 8250, 10_500)


def test_unreadable_positions_hold_the_threshold_not_the_cycle(aave_rig, monkeypatch):
    rig, keeper, *_ = aave_rig

    def unreadable():
        raise ChainError("cannot read Aave positions: RPC timeout")

    keeper.markets[0] = replace(keeper.markets[0], positions=unreadable)
    report = keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"]  # the first values still go out
    first = rig.on_chain()
    rig.advance(36 * 3_600)  # 12 March 2020, 12:00: the engine wants far lower values
    report = keeper.cycle()
    d = report.decision(MARKET)
    assert "positions could not be read" in d.reason
    assert d.update is not None
    assert d.update.liquidation_threshold_bps == first.target_liquidation_threshold_bps  # held
    assert d.update.ltv_bps < first.ltv_bps  # the LTV still tightens


def test_the_keeper_syncs_along_a_ramp_in_cycles_that_push_nothing(aave_rig, governance):
    """A threshold cut ramps in over 6 h; the cycles in between push nothing (the cut waits for
    the ramp in progress), yet each one carries the threshold in force to Aave."""
    rig, keeper, market, adapter, weth, _ = aave_rig
    gov = governance.address
    rig.registry.set_guardrail_profile(
        1, guardrails(KEEPER_GUARDRAILS, threshold_ramp_duration=6 * 3_600), gov
    )
    # The hand-over: the registry starts from values above the model's, so the keeper cuts.
    now = int(rig.chain.provider.web3.eth.get_block("latest")["timestamp"])
    batch = Batch(
        rig.chain.chain_id,
        rig.registry.nonce(),
        now + 600,
        b"\x00" * 32,
        model_version_bytes("hand-over"),
        (MarketUpdate.of(market_id(MARKET), Params(8050, 8300, 500)),),
    )
    seeded = rig.registry.submit(batch, sign_batch(batch, rig.registry.address, [rig.signer]), gov)
    seeded_at = rig.chain.provider.web3.eth.get_block(seeded.block_number)["timestamp"]
    adapter.set_market(MARKET, weth.address, gov)
    # The borrowers' 70 % position lies within the tail of any cut: let the cut through here, this
    # test is about carrying a ramp to Aave (the sizing has its own tests).
    keeper.policy = replace(keeper.policy, max_induced_share=1.0)
    # The seed was a change: wait out the update interval from its block (the fixture's
    # transactions moved the chain's clock past the rig's).
    rig.advance(seeded_at + KEEPER_GUARDRAILS.min_update_interval - rig.now + 1)
    first = keeper.cycle()
    assert (first.pushes[0].kind, first.pushes[0].status) == ("update", "mined")
    cut_to = rig.on_chain().target_liquidation_threshold_bps
    assert cut_to < 8300, first.decision(MARKET).reason
    rows = len(rig.store.syncs(MARKET))
    rig.advance(3 * 3_600)
    middle = keeper.cycle()
    assert not middle.pushes, middle.decision(MARKET).reason
    synced = rig.store.syncs(MARKET)[rows:]
    assert [r["status"] for r in synced] == ["synced"]
    in_force = rig.registry.parameters(market_id(MARKET)).params.liquidation_threshold_bps
    assert cut_to < market.configuration(weth.address)[1] == in_force < 8300


def test_the_config_wires_the_adapter_and_checks_its_link(deployment, monkeypatch):
    """`keeper.markets.<m>.aave` builds the sync link and the positions reader, and refuses an
    asset the adapter does not link to the market."""
    path, registry, env = deployment
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    w3 = registry.w3
    gov = w3.eth.accounts[0]
    w3.provider.make_request("evm_setAutomine", [True])  # deploy without waiting a second a tx
    weth, _ = deploy_contract(w3, gov, "MockERC20", "Wrapped Ether", "WETH", 18)
    usdc, _ = deploy_contract(w3, gov, "MockERC20", "USD Coin", "USDC", 6)
    feed, _ = deploy_contract(w3, gov, "MockV3Aggregator", 8, START_PRICE * 10**8, "ETH")
    market = deploy_aave_market(w3, gov, [ReserveSpec(weth, feed.address, 8000, 8250, 10_500)])
    adapter = RiskAdapterClient.deploy(
        w3,
        gov,
        registry=registry.address,
        addresses_provider=market.provider.address,
        max_age=86_400,
    )
    adapter.set_market(MARKET, weth.address, gov)
    w3.provider.make_request("evm_setIntervalMining", [1])
    data = yaml.safe_load(path.read_text())
    aave = {"adapter": adapter.address, "asset": weth.address}
    data["keeper"]["markets"][MARKET]["aave"] = aave
    keeper = build_keeper(parse_config(data))
    assert [(link.client.address, link.markets) for link in keeper.adapters] == [
        (adapter.address, (MARKET,))
    ]
    assert isinstance(keeper.markets[0].positions, AavePositions)
    assert keeper.markets[0].positions().total_debt == 0  # nobody borrows yet
    keeper.store.close()  # the keeper's store lock, for the builds below
    data["keeper"]["markets"][MARKET]["aave"] = {**aave, "asset": usdc.address}
    with pytest.raises(ConfigError, match=r"keeper\.markets\.ETH/USDT\.aave\.asset"):
        build_keeper(parse_config(data))
    data["keeper"]["markets"][MARKET]["lending_pool"] = weth.address
    with pytest.raises(ConfigError, match="not both"):
        parse_config(data)
