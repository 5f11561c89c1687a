"""The keeper end to end on Anvil: the registry, three emulated exchanges replaying real ETH/USDT
bars through ccxt, the risk engine, the policy and the SQLite store."""

from __future__ import annotations

import threading
import time

import pytest

from oracle.audit.verify import verify
from oracle.errors import ChainError
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.venue import Venue
from oracle.keeper.cycle import Keeper, MarketSetup
from oracle.markets import market_id
from oracle.policy import Action
from oracle.report.review import ReviewWriter
from tests.helpers.guardrails import KEEPER_GUARDRAILS, guardrails
from tests.helpers.markets import MARKET


def test_black_thursday_tightens_within_one_cycle(rig_factory):
    rig = rig_factory("2020-03-11T00:00:00")
    first = rig.keeper.cycle()
    assert first.decision(MARKET).action == Action.UPDATE, first.decision(MARKET).reason
    assert [p.status for p in first.pushes] == ["mined"]
    before = rig.on_chain()
    rig.advance(
        36 * 3_600
    )  # 12 March, 12:00: ETH has lost a third of its value since the last cycle
    crash = rig.keeper.cycle()
    d = crash.decision(MARKET)
    assert d.action == Action.UPDATE, d.reason
    # Model v2: the LTV, which only governs new borrowing, takes the crash at once; the threshold,
    # which governs open positions, moves one step, and the deep cut goes to governance.
    assert [(p.kind, p.status) for p in crash.pushes] == [
        ("update", "mined"),
        ("proposal", "mined"),
    ], d.reason
    after = rig.on_chain()
    step = rig.keeper.policy.threshold_step_bps
    assert after.target_liquidation_threshold_bps == before.target_liquidation_threshold_bps - step
    assert after.ltv_bps <= before.ltv_bps - 1_000
    assert "proposed to governance" in d.reason and d.proposal is not None
    assert d.proposal.liquidation_threshold_bps < after.target_liquidation_threshold_bps - 300
    assert rig.now <= after.updated_at <= rig.now + 30  # mined right after the cycle
    stored = rig.store.decisions(MARKET, limit=1)[0]
    assert stored["action"] == "update" and stored["snapshot_hash"].startswith("0x")
    # Anyone holding the bundles recomputes all three batches, the proposal included (it shares
    # the crash update's inputs, so one bundle serves both).
    verdicts = verify(rig.registry, rig.bundles)
    assert [(v.kind, v.ok) for v in verdicts] == [
        ("update", True),
        ("update", True),
        ("proposal", True),
    ], [v.line() for v in verdicts]
    assert verdicts[1].inputs_hash == verdicts[2].inputs_hash


def test_calm_market_does_not_churn(rig_factory):
    rig = rig_factory("2020-06-01T00:00:00")
    pushes = 0
    for _ in range(24):  # one cycle an hour for a day
        pushes += len(rig.keeper.cycle().pushes)
        rig.advance(3_600)
    assert rig.registry.nonce() == pushes
    assert pushes <= 6, [d["reason"] for d in rig.store.decisions(MARKET, limit=24)]


def test_restart_after_a_mined_push_that_was_not_recorded_does_not_push_it_again(
    rig_factory, monkeypatch
):
    rig = rig_factory("2020-03-11T00:00:00")
    real_mark = rig.store.mark

    def crash_on_mined(push_id, status, now, **fields):
        if status == "mined":
            raise KeyboardInterrupt("killed after the transaction was mined")
        return real_mark(push_id, status, now, **fields)

    monkeypatch.setattr(rig.store, "mark", crash_on_mined)
    with pytest.raises(KeyboardInterrupt):
        rig.keeper.cycle()
    monkeypatch.setattr(rig.store, "mark", real_mark)
    assert rig.registry.nonce() == 1
    assert [p["status"] for p in rig.store.pushes()] == ["sent"]
    restarted = rig.make_keeper()
    report = restarted.cycle()
    assert any("was mined before the restart" in n for n in report.notes)
    assert report.pushes == ()  # values unchanged within the deadband: nothing new to push
    assert [p["status"] for p in rig.store.pushes()] == ["mined"]
    assert rig.registry.nonce() == 1


def test_restart_after_signing_but_before_sending_waits_for_the_deadline(rig_factory, monkeypatch):
    rig = rig_factory("2020-03-11T00:00:00")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed between signing and sending")

    monkeypatch.setattr(rig.registry, "relay_call", killed)
    with pytest.raises(KeyboardInterrupt):
        rig.keeper.cycle()
    monkeypatch.undo()
    assert [p["status"] for p in rig.store.pushes()] == ["signed"]
    restarted = rig.make_keeper()
    rig.advance(60)
    waiting = restarted.cycle()  # the signed batch could still be relayed until its deadline
    assert waiting.pushes == () and any("may still land" in n for n in waiting.notes)
    assert rig.registry.nonce() == 0
    rig.advance(300)
    resumed = restarted.cycle()
    assert any("expired unmined" in n for n in resumed.notes)
    assert [p.status for p in resumed.pushes] == ["mined"]
    assert rig.registry.nonce() == 1
    assert sorted(p["status"] for p in rig.store.pushes()) == ["expired", "mined"]


def test_batches_are_split_to_fit_the_limit(rig_factory):
    rig = rig_factory("2020-03-11T00:00:00")
    names = [MARKET, "ETH2/USDT", "ETH3/USDT"]
    keeper = _batched_keeper(rig, names, 2)
    report = keeper.cycle()
    assert [(p.status, len(p.markets)) for p in report.pushes] == [("mined", 1), ("mined", 2)]
    assert rig.registry.nonce() == 2
    assert all(rig.registry.market_state(market_id(n)).updated_at for n in names)
    assert keeper._batch_limit() == 2
    unlimited = rig.make_keeper()
    assert unlimited._batch_limit() > 400  # Anvil's 30M gas block holds hundreds of markets


def test_target_outside_the_bounds_is_proposed_with_a_review(rig_factory, tmp_path):
    rig = rig_factory("2020-03-11T00:00:00")
    # A narrow profile: LT may not go below 7,000 on the fast path.
    rig.registry.set_guardrail_profile(
        1,
        guardrails(KEEPER_GUARDRAILS, min_ltv_bps=6_000, min_liquidation_threshold_bps=7_000),
        rig.governance.address,
    )
    keeper = Keeper(
        rig.registry,
        [rig.signer],
        rig.governance.address,
        rig.store,
        [rig.setup],
        clock=lambda: rig.now,
        on_proposal=ReviewWriter(tmp_path / "reviews"),
    )
    keeper.cycle()
    first_lt = rig.on_chain().target_liquidation_threshold_bps
    rig.advance(36 * 3_600)  # 12 March, 12:00
    report = keeper.cycle()
    d = report.decision(MARKET)
    assert d.action == Action.UPDATE and d.proposal is not None, d.reason
    assert "outside the guardrail bounds" in d.reason
    assert [p.kind for p in report.pushes] == ["update", "proposal"]
    assert all(p.status == "mined" for p in report.pushes)
    queued = rig.registry.proposal(0)
    assert queued.status_name == "queued"
    assert queued.params.liquidation_threshold_bps == d.proposal.liquidation_threshold_bps < 7_000
    # The fast path moves as far as steps and bounds allow; governance decides the rest.
    assert 7_000 <= rig.on_chain().target_liquidation_threshold_bps < first_lt
    md = next((tmp_path / "reviews").glob("proposal-0-ETH-USDT.md")).read_text()
    assert "| proposed |" in md and "## Backtest over the recent window" in md
    # "current" is what the market holds after this cycle's own update, not what was read before
    held = rig.on_chain().params
    row = f"| current (on-chain) | {held.ltv_bps} | {held.liquidation_threshold_bps} |"
    assert row in md, md
    assert "binding constraints" in md and "snapshot hash 0x" in md
    assert (tmp_path / "reviews" / "proposal-0-ETH-USDT.html").exists()


def test_a_market_whose_update_reverts_is_isolated(rig_factory):
    rig = rig_factory("2020-03-11T00:00:00")
    names = [MARKET, "ETH2/USDT"]
    setups = []
    for name in names:
        sources = [
            ExchangeSource(f"venue{i}", name, Venue("binance", v.url), MARKET, max_age=7_200)
            for i, v in enumerate(rig.venues)
        ]
        setups.append(
            MarketSetup(name, sources, lambda s=sources: s[0].history("1h", 1_000), 1_000.0)
        )
    # ETH2 sits in its own profile, whose bounds governance narrows after the keeper read them:
    # the keeper's ETH2 update then breaks them on chain.
    gov = rig.governance.address
    rig.registry.configure_profile(2, KEEPER_GUARDRAILS, [market_id("ETH2/USDT")], gov)
    keeper = Keeper(rig.registry, [rig.signer], gov, rig.store, setups, clock=lambda: rig.now)
    read = keeper._on_chain

    def stale_read(market):
        state = read(market)
        if market == "ETH2/USDT":
            narrow = guardrails(
                KEEPER_GUARDRAILS, max_ltv_bps=2_000, max_liquidation_threshold_bps=3_000
            )
            rig.registry.set_guardrail_profile(2, narrow, gov)
        return state

    keeper._on_chain = stale_read
    report = keeper.cycle()
    assert [(p.status, set(p.markets)) for p in report.pushes] == [
        ("reverted", {"ETH/USDT", "ETH2/USDT"}),
        ("mined", {"ETH/USDT"}),
    ]
    assert report.pushes[0].blamed == "ETH2/USDT" and "OutOfBounds" in report.pushes[0].error
    assert rig.registry.market_state(market_id(MARKET)).updated_at > 0
    assert rig.registry.market_state(market_id("ETH2/USDT")).updated_at == 0


def _setups(rig, names):
    """One setup per market name, each reading the rig's venues' ETH/USDT."""
    setups = []
    for name in names:
        sources = [
            ExchangeSource(f"venue{i}", name, Venue("binance", v.url), MARKET, max_age=7_200)
            for i, v in enumerate(rig.venues)
        ]
        setups.append(
            MarketSetup(name, sources, lambda s=sources: s[0].history("1h", 1_000), 1_000.0)
        )
    return setups


def test_a_cycles_batches_go_out_back_to_back_into_one_block(rig_factory):
    """Three batches (one market each) on consecutive nonces, all sent before any is mined: one
    block holds them. Before, each waited for the previous one's receipt: a block each."""
    rig = rig_factory("2020-03-11T00:00:00")
    names = [MARKET, "ETH2/USDT", "ETH3/USDT"]
    keeper = _batched_keeper(rig, names, 1)
    w3 = rig.registry.w3
    w3.provider.make_request("evm_setAutomine", [False])
    reports = []
    try:
        cycle = threading.Thread(target=lambda: reports.append(keeper.cycle()))
        cycle.start()
        waited = 0.0
        while int(w3.provider.make_request("txpool_status", [])["result"]["pending"], 16) < 3:
            assert cycle.is_alive() and waited < 60, "the three batches were not all sent"
            time.sleep(0.05)
            waited += 0.05
        w3.provider.make_request("evm_mine", [rig.now + 1])
        cycle.join(60)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    (report,) = reports
    assert [(p.status, p.nonce) for p in report.pushes] == [
        ("mined", 0),
        ("mined", 1),
        ("mined", 2),
    ]
    blocks = {w3.eth.get_transaction_receipt(p.tx_hash)["blockNumber"] for p in report.pushes}
    assert len(blocks) == 1
    assert rig.registry.nonce() == 3
    assert all(rig.registry.market_state(market_id(n)).updated_at for n in names)


def _no_state_override(monkeypatch, registry):
    """The node refuses `eth_estimateGas` state overrides: a batch behind another is sent with
    the pessimistic limit, unestimated (the path before estimates ahead, and on such nodes)."""
    relay_call = registry.relay_call

    def refusing(*args, ahead=False, **kwargs):
        if ahead:
            raise ChainError("cannot estimate gas: state overrides are not supported")
        return relay_call(*args, **kwargs)

    monkeypatch.setattr(registry, "relay_call", refusing)


def test_a_batch_behind_another_that_would_revert_is_not_sent(rig_factory):
    """A batch behind the first is estimated with the registry's nonce overridden to its own:
    its revert (a market past the bounds governance narrowed after the read) is known before
    anything is sent. It stays unsent, the batch behind it too, and the next round sends that
    one, and the blamed market's batch is not sent at all."""
    rig = rig_factory("2020-03-11T00:00:00")
    names = sorted([MARKET, "ETH2/USDT", "ETH3/USDT"], key=market_id)  # the batches' order
    gov = rig.governance.address
    blamed = names[1]
    keeper = _batched_keeper(rig, names, 1, blamed)
    _stale_bounds(rig, keeper, blamed)
    sent_before = rig.registry.w3.eth.get_transaction_count(gov)
    report = keeper.cycle()
    assert [(p.status, p.markets, p.blamed) for p in report.pushes] == [
        ("mined", (names[0],), None),
        ("reverted", (blamed,), blamed),
        ("mined", (names[2],), None),
    ]
    assert report.pushes[1].tx_hash is None and "OutOfBounds" in report.pushes[1].error
    assert rig.registry.w3.eth.get_transaction_count(gov) == sent_before + 2  # no revert paid
    assert rig.registry.nonce() == 2
    assert rig.registry.market_state(market_id(blamed)).updated_at == 0
    stored = [(p["status"], p["nonce"]) for p in reversed(rig.store.pushes())]  # oldest first
    assert stored == [("mined", 0), ("reverted", 1), ("mined", 1)]


def test_a_cycles_later_batches_declare_their_own_gas(rig_factory):
    """Each batch behind the first goes with its own estimate (× GAS_MARGIN), not the pessimistic
    limit the batches are sized by: 500 proposals in two 30M blocks where that took three."""
    from oracle.chain import GAS_MARGIN

    rig = rig_factory("2020-03-11T00:00:00")
    names = [MARKET, "ETH2/USDT", "ETH3/USDT"]
    keeper = _batched_keeper(rig, names, 1)
    report = keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"] * 3
    w3 = rig.registry.w3
    for p in report.pushes[1:]:
        limit = w3.eth.get_transaction(p.tx_hash)["gas"]
        assert p.gas_used <= limit <= GAS_MARGIN * p.gas_used * 1.05, (limit, p.gas_used)
        assert limit < keeper._batch_gas("update", 1)


def _ignoring_overrides(rig, monkeypatch) -> list[int]:
    """The rig's node as one that takes state overrides and ignores them (the override aimed at
    a slot the registry does not use); returns the nonces of the estimates ahead asked of it."""
    import oracle.chain

    monkeypatch.setattr(oracle.chain, "NONCE_SLOT", 40)
    asked: list[int] = []
    estimate_ahead = rig.registry._estimate_ahead

    def counting(tx, nonce):
        asked.append(nonce)
        return estimate_ahead(tx, nonce)

    monkeypatch.setattr(rig.registry, "_estimate_ahead", counting)
    return asked


def test_a_node_that_ignores_state_overrides_gets_the_pessimistic_gas(rig_factory, monkeypatch):
    """A node that takes `eth_estimateGas` state overrides and does not apply them estimates a
    batch ahead at the registry's own nonce, and it reverts `NonceOutOfOrder`: not a revert to
    leave the batch for the next round by (before: every later batch waited a round, each round
    sending one). Here the override lands on a slot the registry does not use. The batches go
    in one round with the pessimistic limit, as on a node that refuses overrides, with limits that
    never fall along the nonces, and the client does not ask that node again."""
    rig = rig_factory("2020-03-11T00:00:00")
    names = [MARKET, "ETH2/USDT", "ETH3/USDT"]
    asked = _ignoring_overrides(rig, monkeypatch)
    keeper = _batched_keeper(rig, names, 1)
    report = keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"] * 3
    w3 = rig.registry.w3
    limits = [w3.eth.get_transaction(p.tx_hash)["gas"] for p in report.pushes]
    assert limits[1] >= keeper._batch_gas("update", 1)
    assert limits == sorted(limits)
    assert len(asked) == 1
    assert "NonceOutOfOrder" in rig.registry.overrides_ignored
    chunk = [(MARKET, report.decision(MARKET).update)]
    batch = keeper._sign(
        report.cycle_id, "update", chunk, rig.registry.nonce() + 1, rig.now, rig.now
    )
    with pytest.raises(ChainError, match="ignored the state override"):
        rig.registry.relay_call(
            batch.batch, batch.signatures, keeper.sender, proposal=False, ahead=True
        )
    assert len(asked) == 1


def test_a_node_that_ignored_overrides_is_asked_again_after_a_while(rig_factory, monkeypatch):
    """A node that ignored a state override may be upgraded, or be one backend behind a load
    balancer: it is asked again `OVERRIDE_RETRY` after its refusal (not before, and not never,
    which cost every later batch its own limit until the keeper restarted), and once it applies
    the override the batches behind the first get their own estimates again."""
    import oracle.chain

    rig = rig_factory("2020-03-11T00:00:00")
    asked = _ignoring_overrides(rig, monkeypatch)
    keeper = _batched_keeper(rig, [MARKET, "ETH2/USDT"], 1)
    report = keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"] * 2
    assert len(asked) == 1 and rig.registry.overrides_ignored is not None
    # the market's own update again, ahead of the registry's nonce: a heartbeat, so it estimates
    chunk = [(MARKET, report.decision(MARKET).update)]
    batch = keeper._sign(
        report.cycle_id, "update", chunk, rig.registry.nonce() + 1, rig.now, rig.now
    )

    def ahead():
        return rig.registry.relay_call(
            batch.batch, batch.signatures, keeper.sender, proposal=False, ahead=True
        )

    with pytest.raises(ChainError, match="ignored the state override"):
        ahead()
    assert len(asked) == 1  # within OVERRIDE_RETRY of the refusal: not asked
    monkeypatch.setattr(oracle.chain, "OVERRIDE_RETRY", 0.0)
    with pytest.raises(ChainError, match="ignored the state override"):
        ahead()
    assert len(asked) == 2  # asked again, and still ignored
    monkeypatch.setattr(oracle.chain, "NONCE_SLOT", 2)  # the node now applies overrides
    call = ahead()
    assert len(asked) == 3
    assert rig.registry.overrides_ignored is None
    assert call.gas < keeper._batch_gas("update", 1)


def test_a_batch_never_declares_less_gas_than_the_one_before_it(rig_factory, monkeypatch):
    """A node fills a block by the gas used so far plus the next transaction's declared limit,
    so a batch declaring less than the one before it could fit a gap that one did not, and be
    tried out of nonce order. Here the estimates ahead come out at half the real cost: the
    later batches are raised to the first one's limit, and so are mined (at half, they would run
    out of gas)."""
    rig = rig_factory("2020-03-11T00:00:00")
    names = [MARKET, "ETH2/USDT", "ETH3/USDT"]
    estimate_ahead = rig.registry._estimate_ahead
    monkeypatch.setattr(
        rig.registry, "_estimate_ahead", lambda tx, nonce: estimate_ahead(tx, nonce) // 2
    )
    keeper = _batched_keeper(rig, names, 1)
    report = keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"] * 3
    limits = [rig.registry.w3.eth.get_transaction(p.tx_hash)["gas"] for p in report.pushes]
    assert limits == [limits[0]] * 3
    assert all(p.gas_used > limits[0] / 2 for p in report.pushes)  # half would not have done


def test_a_batch_that_reverts_behind_another_is_sent_again_without_its_market(
    rig_factory, monkeypatch
):
    """On a node without state overrides a batch sent behind the first is not estimated (its
    nonce is not yet the registry's): when it reverts on chain naming a market, the batches
    behind it revert on their nonce, and the next round sends them again — without the market
    named."""
    rig = rig_factory("2020-03-11T00:00:00")
    _no_state_override(monkeypatch, rig.registry)
    names = sorted([MARKET, "ETH2/USDT", "ETH3/USDT"], key=market_id)  # the batches' order
    gov = rig.governance.address
    blamed = names[1]
    keeper = _batched_keeper(rig, names, 1, blamed)
    read = keeper._on_chain

    def stale_read(market):  # governance narrows the blamed market's bounds after the read
        state = read(market)
        if market == blamed:
            narrow = guardrails(
                KEEPER_GUARDRAILS, max_ltv_bps=2_000, max_liquidation_threshold_bps=3_000
            )
            rig.registry.set_guardrail_profile(2, narrow, gov)
        return state

    keeper._on_chain = stale_read
    report = keeper.cycle()
    assert [(p.status, p.markets) for p in report.pushes] == [
        ("mined", (names[0],)),
        ("reverted", (blamed,)),
        ("reverted", (names[2],)),
        ("mined", (names[2],)),
    ]
    assert report.pushes[1].blamed == blamed and "OutOfBounds" in report.pushes[1].error
    assert report.pushes[1].tx_hash is not None  # mined and reverted, not refused at estimate
    assert "NonceOutOfOrder" in report.pushes[2].error
    assert rig.registry.nonce() == 2
    assert rig.registry.market_state(market_id(blamed)).updated_at == 0
    stored = [(p["status"], p["nonce"]) for p in reversed(rig.store.pushes())]  # oldest first
    assert stored == [("mined", 0), ("reverted", 1), ("reverted", 2), ("mined", 1)]


def _batched_keeper(rig, names, max_batch, blamed=None):
    """A keeper over `names` in batches of `max_batch`, on guardrail profile 1; `blamed`, when
    given, alone on profile 2 (for `_stale_bounds` or a test's own read to narrow)."""
    gov = rig.governance.address
    rig.registry.assign_profile([market_id(n) for n in names if n != blamed], 1, gov)
    if blamed is not None:
        rig.registry.configure_profile(2, KEEPER_GUARDRAILS, [market_id(blamed)], gov)
    return Keeper(
        rig.registry,
        [rig.signer],
        gov,
        rig.store,
        _setups(rig, names),
        clock=lambda: rig.now,
        max_batch=max_batch,
    )


def _stale_bounds(rig, keeper, blamed):
    """Governance narrows `blamed`'s bounds after the keeper's read of them: its update breaks
    them on chain. (Read first, then narrowed: nothing waits on a block inside the cycle.)"""
    gov = rig.governance.address
    read = keeper._on_chain
    before = read(blamed)
    narrow = guardrails(KEEPER_GUARDRAILS, max_ltv_bps=2_000, max_liquidation_threshold_bps=3_000)
    rig.registry.set_guardrail_profile(2, narrow, gov)
    keeper._on_chain = lambda market: before if market == blamed else read(market)


def test_a_batch_that_reverts_in_the_block_of_the_one_before_is_estimated_next_round(
    rig_factory, monkeypatch
):
    """Two batches in one block, the second breaking a guardrail (unestimated: a node without
    state overrides): replayed on the block before, its revert names only the nonce (the first
    batch is not applied there). Its whole chunk goes to the next round, where the estimate
    names the market and the other market is applied."""
    rig = rig_factory("2020-03-11T00:00:00")
    _no_state_override(monkeypatch, rig.registry)
    names = sorted([MARKET, "ETH2/USDT", "ETH3/USDT", "ETH4/USDT"], key=market_id)
    blamed = names[2]
    keeper = _batched_keeper(rig, names, 2, blamed)
    _stale_bounds(rig, keeper, blamed)
    w3 = rig.registry.w3
    w3.provider.make_request("evm_setAutomine", [False])
    reports, stamp = [], [rig.now]

    def pending() -> int:
        return int(w3.provider.make_request("txpool_status", [])["result"]["pending"], 16)

    def mine() -> None:
        stamp[0] += 1
        w3.provider.make_request("evm_mine", [stamp[0]])

    try:
        cycle = threading.Thread(target=lambda: reports.append(keeper.cycle()))
        cycle.start()
        waited = 0.0
        while pending() < 2:  # both batches of the first round, then one block for both
            assert cycle.is_alive() and waited < 60, "the two batches were not both sent"
            time.sleep(0.05)
            waited += 0.05
        mine()
        while cycle.is_alive() and waited < 120:  # later rounds: a block for what is sent
            if pending():
                mine()
            time.sleep(0.05)
            waited += 0.05
        cycle.join(5)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    (report,) = reports
    rest = tuple(n for n in names[2:] if n != blamed)
    assert (
        [(p.status, p.markets, p.blamed) for p in report.pushes]
        == [
            ("mined", tuple(names[:2]), None),
            ("reverted", tuple(names[2:]), None),  # replayed on the block before: the nonce only
            ("reverted", tuple(names[2:]), blamed),  # the next round's estimate names the market
            ("mined", rest, None),
        ]
    )
    assert "NonceOutOfOrder" in report.pushes[1].error
    assert report.pushes[2].tx_hash is None  # refused at estimate: nothing sent
    assert all(rig.registry.market_state(market_id(n)).updated_at for n in names if n != blamed)
    assert rig.registry.market_state(market_id(blamed)).updated_at == 0


def test_a_crash_after_a_batch_reverted_on_chain_does_not_hold_the_nonce(rig_factory, monkeypatch):
    """The keeper dies after its batches were mined, one reverted, before their outcomes were
    stored: the restarted keeper sees the revert's receipt and signs at once (before, the row
    'may still land' and held the nonce until its deadline)."""
    from oracle.chain import Transactor

    rig = rig_factory("2020-03-11T00:00:00")
    _no_state_override(monkeypatch, rig.registry)  # the revert reaches the chain
    names = sorted([MARKET, "ETH2/USDT"], key=market_id)
    gov = rig.governance.address
    blamed = names[1]
    keeper = _batched_keeper(rig, names, 1, blamed)
    _stale_bounds(rig, keeper, blamed)
    real_send_all = Transactor.send_all

    def crash_before_outcomes(self, calls, on_sent=None, on_outcome=None):
        real_send_all(self, calls, on_sent)  # sent and mined; no outcome stored
        raise KeyboardInterrupt("killed while the receipts came in")

    monkeypatch.setattr(Transactor, "send_all", crash_before_outcomes)
    with pytest.raises(KeyboardInterrupt):
        keeper.cycle()
    monkeypatch.undo()
    assert sorted(p["status"] for p in rig.store.pushes()) == ["sent", "sent"]
    assert rig.registry.nonce() == 1
    restarted = Keeper(
        rig.registry,
        [rig.signer],
        gov,
        rig.store,
        _setups(rig, names),
        clock=lambda: rig.now,
    )
    rig.advance(60)
    report = restarted.cycle()
    assert any("reverted on chain; a fresh batch may take the nonce" in n for n in report.notes)
    assert not any("may still land" in n for n in report.notes)
    # not held: it signed at once, now within the bounds it reads
    assert any(p.status == "mined" and blamed in p.markets for p in report.pushes)
    assert rig.registry.market_state(market_id(blamed)).ltv_bps <= 2_000


def test_batches_never_broadcast_are_unsent_and_hold_nothing(rig_factory, monkeypatch):
    """The node refuses the second of three broadcasts: the first is mined, the second (its hash
    recorded before it went out) is pending, the third never left and is `unsent`. The next
    cycle finds the node does not know the second and pushes at once."""
    from oracle.devnet.accounts import dev_account

    rig = rig_factory("2020-03-11T00:00:00")
    names = [MARKET, "ETH2/USDT", "ETH3/USDT"]
    rig.registry.assign_profile([market_id(n) for n in names], 1, rig.governance.address)
    sender = dev_account(7)  # a local key: its transactions' hashes are known before sending

    def keeper():
        return Keeper(
            rig.registry,
            [rig.signer],
            sender,
            rig.store,
            _setups(rig, names),
            clock=lambda: rig.now,
            max_batch=1,
        )

    w3 = rig.registry.w3
    real_send = w3.eth.send_raw_transaction
    sends = []

    def refuse_the_second(raw):
        sends.append(raw)
        if len(sends) == 2:
            raise ValueError("the node refused it")
        return real_send(raw)

    monkeypatch.setattr(w3.eth, "send_raw_transaction", refuse_the_second)
    report = keeper().cycle()
    monkeypatch.undo()
    assert [p.status for p in report.pushes] == ["mined", "pending", "unsent"]
    stored = {p["status"]: p["tx_hash"] for p in rig.store.pushes()}
    assert stored.keys() == {"mined", "sent", "unsent"}
    assert stored["sent"] is not None and stored["unsent"] is None
    rig.advance(60)
    again = keeper().cycle()
    assert any("no longer knows its transaction" in n for n in again.notes), again.notes
    assert [p.status for p in again.pushes] == ["mined", "mined"]
    assert rig.registry.nonce() == 3


def test_a_full_or_locked_store_means_no_push(rig_factory, tmp_path):
    import sqlite3

    from oracle.keeper.store import StoreError

    rig = rig_factory("2020-03-11T00:00:00")
    # Disk full: SQLite may not grow the file by a single page.
    pages = rig.store.db.execute("PRAGMA page_count").fetchone()[0]
    rig.store.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError, match="full"):
        rig.keeper.cycle()
    assert rig.registry.nonce() == 0  # nothing signed or sent without its record
    rig.store.db.execute("PRAGMA max_page_count = 1073741823")
    # Locked: another process holds the write lock for longer than the busy timeout.
    other = sqlite3.connect(rig.store.db.execute("PRAGMA database_list").fetchone()[2], timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    rig.store.db.execute("PRAGMA busy_timeout = 200")
    with pytest.raises(StoreError, match="locked"):
        rig.keeper.cycle()
    assert rig.registry.nonce() == 0
    other.rollback()
    other.close()
    report = rig.keeper.cycle()  # the store is back: the cycle runs and pushes
    assert [p.status for p in report.pushes] == ["mined"] and rig.registry.nonce() == 1
