"""The chain node dies mid-cycle and comes back from its persisted state without its mempool, or
from an older state than the keeper saw (a rollback). After each restart the keeper resumes, the
chain and the audit trail agree, and no nonce is applied twice.

A separate Anvil per test (started and stopped by PID, restarted on the same port with
`--load-state`), as a node operator's restart would look to the keeper.
"""

from __future__ import annotations

import threading
import time

from oracle.markets import market_id
from tests.helpers.markets import MARKET


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
