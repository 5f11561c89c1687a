"""One keeper for two chains: two Anvils with different chain ids, a registry on each, the same
market read once for both; a chain killed mid-cycle or slow holds back no other."""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest

from oracle.devnet.accounts import dev_account
from oracle.devnet.anvil import AnvilNode
from oracle.devnet.registry import deploy_registry
from oracle.errors import ChainError
from oracle.keeper.chains import ChainSet
from oracle.keeper.cycle import Keeper, MarketSetup
from oracle.keeper.store import Store
from oracle.markets import market_id
from oracle.multicall import MULTICALL3_ADDRESS
from oracle.policy import PolicySettings
from oracle.signing import Signer
from tests.helpers.guardrails import KEEPER_GUARDRAILS
from tests.helpers.markets import MARKET

from .conftest import replay_venues, venue_sources

TICKER = "/api/v3/ticker/24hr"


class TwoChains:
    def __init__(self, eth_bars, tmp_path):
        self.nodes = {
            "main": AnvilNode(extra_args=["--chain-id", "31337"]),
            "arbitrum": AnvilNode(extra_args=["--chain-id", "42161"]),
        }
        self.w3 = {name: node.start() for name, node in self.nodes.items()}
        self.now = max(int(w3.eth.get_block("latest")["timestamp"]) for w3 in self.w3.values()) + 10
        self.venues = replay_venues(eth_bars, self.now, "2020-02-01T00:00:00")
        sources = venue_sources(self.venues)
        setup = MarketSetup(MARKET, sources, partial(sources[0].history, "1h", 1_000), 1_000.0)
        signer = Signer(dev_account(5))
        self.keepers = {}
        for name, w3 in self.w3.items():
            registry = deploy_registry(
                w3,
                w3.eth.accounts[0],
                signers=[signer.address],
                markets=[MARKET],
                guardrails=KEEPER_GUARDRAILS,
            )
            self.keepers[name] = Keeper(
                registry,
                [signer],
                w3.eth.accounts[1],
                Store(tmp_path / f"{name}.db"),
                [setup],  # one setup, shared: the market is read once for both chains
                policy=PolicySettings(deadband_bps=25, loosen_after_cycles=3),
                clock=lambda: self.now,
                multicall=MULTICALL3_ADDRESS,
            )

    def advance(self, seconds: int) -> None:
        self.now += seconds
        for v in self.venues:
            v.now = self.now
        for name, w3 in self.w3.items():
            if self.nodes[name].process.poll() is None:
                w3.provider.make_request("evm_mine", [self.now])

    def state(self, name: str):
        return self.keepers[name].registry.market_state(market_id(MARKET))

    def close(self):
        for k in self.keepers.values():
            k.store.close()
        for v in self.venues:
            v.stop()
        for node in self.nodes.values():
            node.stop()


@pytest.fixture
def two(eth_bars, tmp_path):
    rig = TwoChains(eth_bars, tmp_path)
    yield rig
    rig.close()


def test_each_chain_gets_its_own_batch_from_one_read(two, monkeypatch):
    import oracle.keeper.cycle as cycle_module

    engine_runs = []
    real_engine = cycle_module.compute_market

    def counted(inp):
        engine_runs.append(inp.prices.market)
        return real_engine(inp)

    monkeypatch.setattr(cycle_module, "compute_market", counted)
    chains = ChainSet(two.keepers)
    for v in two.venues:
        v.requests.clear()
    try:
        outcomes = chains.cycle()
    finally:
        chains.close()
    assert engine_runs == [MARKET]  # the same inputs on both chains: one engine run
    assert {n: o.status for n, o in outcomes.items()} == {"main": "done", "arbitrum": "done"}
    assert [w3.eth.chain_id for w3 in two.w3.values()] == [31337, 42161]
    pushed = {n: [(p.kind, p.status) for p in o.report.pushes] for n, o in outcomes.items()}
    assert pushed["main"] == pushed["arbitrum"] and ("update", "mined") in pushed["main"]
    assert two.state("main").ltv_bps == two.state("arbitrum").ltv_bps > 0  # same market, same risk
    # the market's venues were asked once for both chains: one ticker request each
    assert [sum(p == TICKER for p in v.requests) for v in two.venues] == [1, 1, 1]


def test_a_chain_killed_mid_cycle_holds_back_no_other(two):
    chains = ChainSet(two.keepers)
    try:
        chains.cycle()
        two.advance(3_600)
        arbitrum = two.keepers["arbitrum"]
        pushing = arbitrum._push

        def killed_while_pushing(*args, **kwargs):
            two.nodes["arbitrum"].kill()  # as a crash: mid-cycle, after its reads
            return pushing(*args, **kwargs)

        arbitrum._push = killed_while_pushing
        updated = two.state("main").updated_at
        two.keepers["main"].policy = PolicySettings(deadband_bps=0, heartbeat_after=1)
        outcomes = chains.cycle()
        assert outcomes["main"].status == "done"
        assert ("update", "mined") in [(p.kind, p.status) for p in outcomes["main"].report.pushes]
        assert two.state("main").updated_at > updated
        assert outcomes["arbitrum"].status == "failed"
        assert isinstance(outcomes["arbitrum"].error, ChainError)
        # the next cycle: the dead chain fails again, the live one goes on
        two.advance(3_600)
        again = chains.cycle()
        assert again["main"].status == "done" and again["arbitrum"].status == "failed"
    finally:
        chains.close()


def test_a_slow_chain_is_reported_running_and_skipped_until_done(two):
    chains = ChainSet(two.keepers, wait=2.0)
    release = threading.Event()
    arbitrum = two.keepers["arbitrum"]
    cycle = arbitrum.cycle

    def slow(reads=None):
        release.wait(30)
        return cycle(reads)

    arbitrum.cycle = slow
    try:
        started = time.monotonic()
        first = chains.cycle()
        assert time.monotonic() - started < 10  # waited 2 s for the slow chain, not 30
        assert first["main"].status == "done" and first["arbitrum"].status == "running"
        second = chains.cycle()
        assert second["main"].status == "done" and second["arbitrum"].status == "skipped"
        release.set()
    finally:
        release.set()
        chains.close()
    assert two.state("arbitrum").ltv_bps > 0  # its first cycle went on and pushed


def test_the_service_runs_every_chain_and_labels_its_metrics(two):
    from prometheus_client import generate_latest
    from prometheus_client.core import CollectorRegistry

    from oracle.keeper.metrics import ChainMetrics
    from oracle.keeper.scheduler import KeeperService

    chains = ChainSet(two.keepers)
    service = KeeperService(
        two.keepers["main"], interval=300, price_move=0.03, check_every=15, chains=chains
    )
    try:
        two.nodes["arbitrum"].kill()
        report = service.run_cycle("test")
    finally:
        chains.close()
    assert report is not None and ("update", "mined") in [(p.kind, p.status) for p in report.pushes]
    registry = CollectorRegistry()
    registry.register(ChainMetrics(service.chain_metrics))
    text = generate_latest(registry).decode()
    assert text.count("# TYPE oracle_cycles_total counter") == 1  # one family for both chains
    assert 'oracle_cycles_total{chain="main",status="done"} 1.0' in text
    assert 'oracle_cycles_total{chain="arbitrum",status="failed"} 1.0' in text
    assert f'oracle_feed_health{{chain="main",market="{MARKET}"}} 0.0' in text


def test_any_failure_of_one_chain_is_its_own(two):
    """A bug in one chain's cycle (not an OracleError) is that chain's failed outcome: the other
    chain's report is still returned."""
    chains = ChainSet(two.keepers)

    def broken(reads=None):
        raise KeyError("a bug")

    two.keepers["arbitrum"].cycle = broken
    try:
        outcomes = chains.cycle()
        assert outcomes["main"].status == "done" and outcomes["main"].report is not None
        assert outcomes["arbitrum"].status == "failed" and "a bug" in str(
            outcomes["arbitrum"].error
        )
        assert chains.cycle()["arbitrum"].status == "failed"  # freed again, not stuck busy
    finally:
        chains.close()
