"""Shared keeper fixtures: a rig on ape's Anvil (registry, three emulated venues, store, keeper
on a clock the test moves), a rig on its own Anvil the test can crash, restart or size, and a
deployment on a fresh Anvil for the CLI as a subprocess."""

from __future__ import annotations

import gzip
import json
import sqlite3
import time
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import yaml

from oracle.audit.bundle import BundleStore
from oracle.devnet.accounts import dev_account
from oracle.devnet.anvil import AnvilNode
from oracle.devnet.emulator import ExchangeEmulator
from oracle.devnet.registry import deploy_registry
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.marketdata import shipped_bars
from oracle.feeds.venue import Venue
from oracle.keeper.cycle import Keeper, MarketSetup
from oracle.keeper.store import Store
from oracle.markets import market_id
from oracle.policy import PolicySettings
from oracle.risk import ModelSettings
from oracle.signing import Signer
from tests.helpers.guardrails import KEEPER_GUARDRAILS
from tests.helpers.markets import MARKET
from tests.helpers.time import ts


def replay_venues(eth_bars, now: int, start: str) -> list[ExchangeEmulator]:
    """Three started venues on clock `now`, replaying ETH/USDT from `start` as if it were now."""
    return [
        ExchangeEmulator(
            {"ETHUSDT": ("ETH", "USDT", eth_bars)}, now=now, offset=now - ts(start)
        ).start()
        for _ in range(3)
    ]


def venue_sources(venues) -> list[ExchangeSource]:
    return [
        ExchangeSource(f"venue{i}", MARKET, Venue("binance", v.url), MARKET, max_age=7_200)
        for i, v in enumerate(venues)
    ]


@pytest.fixture(scope="module")
def eth_bars():
    return shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", MARKET)


class Rig:
    """Keeper, chain and venues sharing one clock the test moves."""

    def __init__(self, chain, governance, signer, eth_bars, start: str, store_path):
        self.chain = chain
        self.now = chain.pending_timestamp + 10
        self.venues = replay_venues(eth_bars, self.now, start)
        self.registry = deploy_registry(
            chain.provider.web3,
            governance.address,
            signers=[signer.address],
            markets=[MARKET],
            guardrails=KEEPER_GUARDRAILS,
        )
        sources = venue_sources(self.venues)
        setup = MarketSetup(
            MARKET,
            sources,
            lambda: sources[0].history("1h", 1_000),
            size=1_000.0,
            memory=lambda: sources[0].history("1d", ModelSettings().memory_days),
        )
        self.store = Store(store_path)
        self.bundles = BundleStore(Path(store_path).parent / "bundles")
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
            bundles=self.bundles,
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


@pytest.fixture
def venues():
    """Two emulated venues replaying ETH/USDT from 11 March 2020 on the wall clock."""
    bars = shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", MARKET)
    offset = int(time.time()) - ts("2020-03-11T00:00:00")
    return [ExchangeEmulator({"ETHUSDT": ("ETH", "USDT", bars)}, offset=offset) for _ in range(2)]


@pytest.fixture
def deployment(tmp_path, venues):
    """A registry on a fresh Anvil mining a block every second, as a chain does: the registry's
    intervals are judged by block time, which an idle automining Anvil would never advance."""
    node = AnvilNode(block_time=1)
    w3 = node.start()
    try:
        for v in venues:
            v.start()
        gov = w3.eth.accounts[0]
        signer = dev_account(5)
        client = deploy_registry(
            w3, gov, signers=[signer.address], markets=[MARKET], guardrails=KEEPER_GUARDRAILS
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
                "bundles": str(tmp_path / "bundles"),
                "reviews": str(tmp_path / "reviews"),
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


class NodeRig:
    """A keeper (local relayer key, as in production) on its own Anvil, which the test can crash,
    restart or size (`anvil_args`). With several `markets` they all read the same three venues
    (ETH/USDT) and share one history: a load shape, not a market model."""

    def __init__(
        self, tmp_path, eth_bars, start: str, markets=(MARKET,), anvil_args=None, **keeper_kw
    ) -> None:
        self.tmp_path = tmp_path
        self.node = AnvilNode(extra_args=anvil_args)
        self.w3 = self.node.start()
        self.venues: list = []
        try:  # a setup that fails stops what it started: no Anvil outlives its test
            self.now = int(self.w3.eth.get_block("latest")["timestamp"]) + 10
            self.venues = replay_venues(eth_bars, self.now, start)
            self.registry = deploy_registry(
                self.w3,
                self.w3.eth.accounts[0],
                signers=[dev_account(5).address],
                markets=markets,
                guardrails=KEEPER_GUARDRAILS,
            )
            sources = venue_sources(self.venues)
            if len(markets) > 1:  # one history for all; no client-side spacing on a local emulator
                cached = sources[0].history("1h", 1_000)
                setups = [
                    MarketSetup(m, sources, partial(replace, cached, market=m), size=1_000.0)
                    for m in markets
                ]
                for src in sources:
                    src.venue.exchange.enableRateLimit = False
            else:
                history = lambda: sources[0].history("1h", 1_000)  # noqa: E731
                setups = [MarketSetup(markets[0], sources, history, size=1_000.0)]
            self.store_path = tmp_path / "oracle.db"
            self.store = Store(self.store_path)
            self.keeper = Keeper(
                self.registry,
                [Signer.from_key(dev_account(5).key)],
                dev_account(1),  # a local key: signed EIP-1559 transactions
                self.store,
                setups,
                # These tests are about pushes across node restarts: a crash's deep threshold cut
                # would add a governance proposal (a second push) to the cycle, so it stays in the
                # fast path here (the slow path has its own keeper tests).
                policy=PolicySettings(
                    deadband_bps=25,
                    heartbeat_after=6 * 3_600,
                    threshold_step_bps=10_000,
                    governance_cut_bps=10_000,
                ),
                clock=lambda: self.now,
                **keeper_kw,
            )
        except BaseException:
            for v in self.venues:
                v.stop()
            self.node.stop()
            raise

    def rpc(self, method: str, *params):
        reply = self.w3.provider.make_request(method, list(params))
        assert "error" not in reply, reply
        return reply.get("result")

    def advance(self, seconds: int) -> None:
        self.now += seconds
        for v in self.venues:
            v.now = self.now
        self.rpc("evm_mine", self.now)

    def dump_state(self):
        path = self.tmp_path / f"state-{self.now}.json"
        path.write_bytes(gzip.decompress(bytes.fromhex(self.rpc("anvil_dumpState")[2:])))
        return path

    def crash_and_restart(self, state) -> None:
        self.node.kill()
        self.restart(state)

    def restart(self, state) -> None:
        """Starts the node again on the same port from its persisted `state`, mempool empty."""
        self.node = AnvilNode(port=self.node.port, extra_args=["--load-state", str(state)])
        self.node.start()
        self.rpc("evm_mine", self.now)

    def pushes(self) -> list[tuple[int, str]]:
        db = sqlite3.connect(self.store_path)
        rows = db.execute("SELECT nonce, status FROM pushes ORDER BY id").fetchall()
        db.close()
        return rows

    def assert_agreement(self) -> None:
        """Each nonce the chain consumed has exactly one push stored as mined, nothing is left
        in flight, and the registry emitted one event per market of each mined batch."""
        rows = self.pushes()
        mined = Counter(n for n, status in rows if status == "mined")
        assert sorted(mined) == list(range(self.registry.nonce())), rows
        assert set(mined.values()) == {1}, rows
        assert not [r for r in rows if r[1] in ("signed", "sent")], rows
        events = self.registry.contract.events
        applied = len(events.ParametersUpdated().get_logs(from_block=0)) + len(
            events.Heartbeat().get_logs(from_block=0)
        )
        queued = len(events.ProposalQueued().get_logs(from_block=0))
        assert (applied, queued) == self._mined_markets()  # one event per market, no more

    def _mined_markets(self) -> tuple[int, int]:
        """Markets in mined update batches and in mined proposal batches."""
        db = sqlite3.connect(self.store_path)
        rows = db.execute("SELECT kind, payload FROM pushes WHERE status = 'mined'").fetchall()
        db.close()
        count = Counter()
        for kind, payload in rows:
            count[kind] += len(json.loads(payload)["updates"])
        return count["update"], count["proposal"]

    def close(self) -> None:
        for v in self.venues:
            v.stop()
        self.store.close()
        self.node.stop()


@pytest.fixture
def node_rig(tmp_path, eth_bars):
    rigs: list[NodeRig] = []

    def make(start: str, **kw) -> NodeRig:
        rigs.append(NodeRig(tmp_path, eth_bars, start, **kw))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()
