"""The chain node dies mid-cycle and comes back from its persisted state without its mempool, or
from an older state than the keeper saw (a rollback). After each restart the keeper resumes, the
chain and the audit trail agree, and no nonce is applied twice.

A separate Anvil per test (started and stopped by PID, restarted on the same port with
`--load-state`), as a node operator's restart would look to the keeper.
"""

from __future__ import annotations

import gzip
import sqlite3
import threading
import time
from collections import Counter

import pytest

from oracle.anvil import AnvilNode, dev_account
from oracle.chain import RegistryClient
from oracle.feeds.emulator import ExchangeEmulator
from oracle.feeds.exchange import ExchangeSource
from oracle.keeper import Keeper, MarketSetup
from oracle.markets import market_id
from oracle.policy import PolicySettings
from oracle.signing import Signer
from oracle.store import Store
from tests.keeper.conftest import GUARDRAILS, MARKET
from tests.risk.conftest import ts


class NodeRig:
    """A keeper (local relayer key, as in production) on an Anvil the test can crash and restart."""

    def __init__(self, tmp_path, eth_bars, start: str) -> None:
        self.tmp_path = tmp_path
        self.node = AnvilNode()
        self.w3 = self.node.start()
        self.now = int(self.w3.eth.get_block("latest")["timestamp"]) + 10
        self.venues = [
            ExchangeEmulator(
                {"ETHUSDT": ("ETH", "USDT", eth_bars)}, now=self.now, offset=self.now - ts(start)
            ).start()
            for _ in range(3)
        ]
        gov = self.w3.eth.accounts[0]
        self.registry, _ = RegistryClient.deploy(
            self.w3,
            gov,
            governance=gov,
            guardian=gov,
            signers=[dev_account(5).address],
            threshold=1,
            timelock_delay=3_600,
        )
        self.registry.configure_profile(1, GUARDRAILS, [market_id(MARKET)], gov)
        sources = [
            ExchangeSource(f"venue{i}", MARKET, "binance", MARKET, api_url=v.url, max_age=7_200)
            for i, v in enumerate(self.venues)
        ]
        setup = MarketSetup(MARKET, sources, lambda: sources[0].history("1h", 1_000), size=1_000.0)
        self.store_path = tmp_path / "oracle.db"
        self.store = Store(self.store_path)
        self.keeper = Keeper(
            self.registry,
            [Signer.from_key(dev_account(5).key)],
            dev_account(1),  # a local key: signed EIP-1559 transactions
            self.store,
            [setup],
            policy=PolicySettings(deadband_bps=25, heartbeat_after=6 * 3_600),
            clock=lambda: self.now,
        )

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
        in flight, and the registry emitted one update per mined batch."""
        rows = self.pushes()
        mined = Counter(n for n, status in rows if status == "mined")
        assert sorted(mined) == list(range(self.registry.nonce())), rows
        assert set(mined.values()) == {1}, rows
        assert not [r for r in rows if r[1] in ("signed", "sent")], rows
        logs = self.registry.contract.events.ParametersUpdated().get_logs(from_block=0)
        assert len(logs) == len(mined)  # one market per batch here: one event per applied nonce

    def close(self) -> None:
        for v in self.venues:
            v.stop()
        self.store.close()
        self.node.stop()


@pytest.fixture
def node_rig(tmp_path, eth_bars):
    rigs: list[NodeRig] = []

    def make(start: str) -> NodeRig:
        rigs.append(NodeRig(tmp_path, eth_bars, start))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


def start_cycle_and_wait_until_sent(rig):
    """Starts a cycle in a thread with the node not mining; returns once its batch is broadcast."""
    rig.rpc("evm_setAutomine", False)  # the update waits in the mempool
    reports: list = []
    cycle = threading.Thread(target=lambda: reports.append(rig.keeper.cycle()))
    cycle.start()
    deadline = time.monotonic() + 60
    while "sent" not in {s for _, s in rig.pushes()} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "sent" in {s for _, s in rig.pushes()}
    return cycle, reports


def test_node_down_with_the_update_in_its_mempool(node_rig):
    """The node dies while the update waits in its mempool and stays down past the keeper's
    patience; it comes back without the transaction."""
    rig = node_rig("2020-03-12T00:00:00")
    assert [p.status for p in rig.keeper.cycle().pushes] == ["mined"]
    rig.advance(12 * 3_600)  # into the crash: the keeper will want to tighten
    state = rig.dump_state()  # what the node has persisted when it dies
    cycle, reports = start_cycle_and_wait_until_sent(rig)
    rig.node.kill()
    cycle.join(60)
    assert not cycle.is_alive()
    (report,) = reports
    assert [p.status for p in report.pushes] == ["pending"]  # sent, fate unknown
    rig.restart(state)
    assert rig.registry.nonce() == 1  # the restarted node never saw it

    rig.advance(60)  # well inside the batch's 300 s deadline
    report = rig.keeper.cycle()
    assert any("no longer knows its transaction" in n for n in report.notes), report.notes
    assert [p.status for p in report.pushes] == ["mined"]  # no five-minute hold
    assert rig.registry.nonce() == 2
    state = rig.registry.market_state(market_id(MARKET))
    assert state.target_liquidation_threshold_bps < 8_000  # the tightening landed

    rig.advance(3_600)
    rig.keeper.cycle()  # settles the lost push: its nonce went to the fresh batch
    assert sorted(s for n, s in rig.pushes() if n == 1) == ["consumed", "mined"]
    rig.assert_agreement()


def test_node_restarted_while_the_keeper_waits(node_rig):
    """A quick restart: the keeper is still waiting for its receipt when the node comes back
    without the transaction. It re-broadcasts the same signed bytes and the cycle ends mined."""
    rig = node_rig("2020-03-12T00:00:00")
    assert [p.status for p in rig.keeper.cycle().pushes] == ["mined"]
    rig.advance(12 * 3_600)
    state = rig.dump_state()
    cycle, reports = start_cycle_and_wait_until_sent(rig)
    rig.node.kill()
    rig.restart(state)  # automine is back on in the new process
    cycle.join(60)
    assert not cycle.is_alive()
    (report,) = reports
    assert [p.status for p in report.pushes] == ["mined"]
    assert rig.registry.nonce() == 2
    rig.assert_agreement()


def test_node_restarted_from_an_older_state_than_the_keeper_saw(node_rig):
    rig = node_rig("2020-03-12T00:00:00")
    state = rig.dump_state()  # the node's last persisted state is before the first push
    assert [p.status for p in rig.keeper.cycle().pushes] == ["mined"]
    rig.crash_and_restart(state)  # the block holding that push is gone
    assert rig.registry.nonce() == 0

    rig.advance(60)
    report = rig.keeper.cycle()
    assert any("block the chain no longer has" in n for n in report.notes), report.notes
    assert [p.status for p in report.pushes] == ["mined"]  # pushed again, under a fresh batch
    assert rig.registry.nonce() == 1
    rig.advance(3_600)
    rig.keeper.cycle()
    assert sorted(s for n, s in rig.pushes() if n == 0) == ["consumed", "mined"]
    rig.assert_agreement()
