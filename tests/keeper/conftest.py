"""Shared keeper fixtures: a rig on ape's Anvil (registry, three emulated venues, store, keeper
on a clock the test moves) and a deployment on a fresh Anvil for the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml

from oracle.anvil import AnvilNode, dev_account
from oracle.chain import Guardrails, RegistryClient
from oracle.feeds.emulator import ExchangeEmulator
from oracle.feeds.exchange import ExchangeSource
from oracle.keeper import Keeper, MarketSetup
from oracle.marketdata import shipped_bars
from oracle.markets import market_id
from oracle.policy import PolicySettings
from oracle.store import Store
from tests.risk.conftest import ts

MARKET = "ETH/USDT"
GUARDRAILS = Guardrails(1000, 8500, 2000, 9000, 100, 1500, 1500, 300, 86_400, 0)


@pytest.fixture(scope="module")
def eth_bars():
    return shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", MARKET)


class Rig:
    """Keeper, chain and venues sharing one clock the test moves."""

    def __init__(self, chain, governance, signer, eth_bars, start: str, store_path):
        self.chain = chain
        self.now = chain.pending_timestamp + 10
        self.offset = self.now - ts(start)  # the venues replay `start` as if it were now
        self.venues = [
            ExchangeEmulator(
                {"ETHUSDT": ("ETH", "USDT", eth_bars)}, now=self.now, offset=self.offset
            ).start()
            for _ in range(3)
        ]
        w3 = chain.provider.web3
        self.registry, _ = RegistryClient.deploy(
            w3,
            governance.address,
            governance=governance.address,
            guardian=governance.address,
            signers=[signer.address],
            threshold=1,
            timelock_delay=3_600,
        )
        self.registry.configure_profile(1, GUARDRAILS, [market_id(MARKET)], governance.address)
        sources = [
            ExchangeSource(f"venue{i}", MARKET, "binance", MARKET, api_url=v.url, max_age=7_200)
            for i, v in enumerate(self.venues)
        ]
        setup = MarketSetup(MARKET, sources, lambda: sources[0].history("1h", 1_000), size=1_000.0)
        self.store = Store(store_path)
        self.signer, self.governance = signer, governance
        self.keeper = self.make_keeper(setup)
        self.setup = setup

    def make_keeper(self, setup=None):
        return Keeper(
            self.registry,
            [self.signer],
            self.governance.address,
            self.store,
            [setup or self.setup],
            policy=PolicySettings(
                deadband_bps=25, heartbeat_after=6 * 3_600, loosen_after_cycles=3
            ),
            clock=lambda: self.now,
        )

    def advance(self, seconds: int) -> None:
        self.now += seconds
        for v in self.venues:
            v.now = self.now
        self.chain.mine(timestamp=self.now)

    def on_chain(self):
        return self.registry.market_state(market_id(MARKET))

    def close(self):
        for v in self.venues:
            v.stop()
        self.store.close()


@pytest.fixture
def rig_factory(chain, governance, signer_keys, eth_bars, tmp_path):
    rigs = []

    def make(start):
        rig = Rig(
            chain, governance, signer_keys[0], eth_bars, start, tmp_path / f"store{len(rigs)}.db"
        )
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def oracle(cfg, *args, env=None, check=True):
    return subprocess.run(
        [sys.executable, "-m", "oracle.cli", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def venues():
    """Two emulated venues replaying ETH/USDT from 11 March 2020 on the wall clock."""
    bars = shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", MARKET)
    offset = int(time.time()) - ts("2020-03-11T00:00:00")
    return [ExchangeEmulator({"ETHUSDT": ("ETH", "USDT", bars)}, offset=offset) for _ in range(2)]


@pytest.fixture
def deployment(tmp_path, venues):
    node = AnvilNode()
    w3 = node.start()
    try:
        for v in venues:
            v.start()
        gov = w3.eth.accounts[0]
        signer = dev_account(5)
        client, _ = RegistryClient.deploy(
            w3,
            gov,
            governance=gov,
            guardian=gov,
            signers=[signer.address],
            threshold=1,
            timelock_delay=3_600,
        )
        client.configure_profile(
            1,
            Guardrails(1000, 8500, 2000, 9000, 100, 1500, 1500, 300, 86_400, 0),
            [market_id(MARKET)],
            gov,
        )
        cfg = {
            "chain": {"rpc_url": node.url, "sender": {"unlocked": gov}},
            "registry": {
                "address": client.address,
                "governance": gov,
                "guardian": gov,
                "signers": [signer.address],
            },
            "feeds": {
                "markets": {
                    MARKET: {
                        "exchanges": [
                            {
                                "name": f"venue{i}",
                                "exchange": "binance",
                                "symbol": MARKET,
                                "api_url": v.url,
                                "max_age": 7_200,
                            }
                            for i, v in enumerate(venues)
                        ]
                    }
                }
            },
            "keeper": {
                "store": str(tmp_path / "oracle.db"),
                "signers": [{"key_env": "TEST_SIGNER_KEY"}],
                "markets": {MARKET: {"size": 1000, "history": {"source": "venue0", "bars": 1000}}},
            },
        }
        path = tmp_path / "oracle.yaml"
        path.write_text(yaml.safe_dump(cfg))
        yield path, client, {"TEST_SIGNER_KEY": signer.key.hex()}
    finally:
        for v in venues:
            v.stop()
        node.stop()
