"""`oracle verify` against a keeper on Anvil: every pushed batch recomputes from its inputs bundle,
and an edited bundle, a keeper that signs values its policy does not give, one that misstates the
registry state it read or decides on an old one, each fail naming the first field that differs.
The command itself is run in `test_operator_path.py`."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

from blake3 import blake3

import oracle.keeper.cycle as cycle_module
from oracle.audit.bundle import parse
from oracle.audit.verify import verify
from oracle.markets import market_id
from oracle.signing import batch_inputs_hash
from tests.helpers.markets import MARKET

FIELD = f"markets[{MARKET}]"


def _rewrite(path, edit) -> None:
    body = json.loads(gzip.decompress(path.read_bytes()))
    edit(body)
    path.write_bytes(gzip.compress(json.dumps(body).encode()))


def test_a_pushed_batch_verifies_and_an_edited_bundle_names_its_field(rig_factory):
    rig = rig_factory("2020-03-11T00:00:00")
    report = rig.keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"]
    [verdict] = verify(rig.registry, rig.bundles, nonce=0)
    assert verdict.ok and verdict.markets == (MARKET,), verdict.line()
    assert verdict.detail == "inputsHash and 3 value(s) recomputed"

    # The committed hash is the documented recipe over the audit trail's snapshot and the
    # engine's inputs hash, plus the decision inputs the bundle holds.
    snapshot, explanation = rig.store.db.execute(
        "SELECT snapshot, explanation FROM decisions WHERE cycle_id = ? AND market = ?",
        (report.cycle_id, MARKET),
    ).fetchone()
    loaded = rig.bundles.read(verdict.inputs_hash)
    decision = loaded.bundle.parts(loaded.bundle.markets[0]).decision_inputs
    recomputed = batch_inputs_hash(
        [
            (
                market_id(MARKET),
                blake3(snapshot.encode()).digest(),
                bytes.fromhex(json.loads(explanation)["inputs_hash"][2:]),
                decision,
            )
        ]
    )
    assert "0x" + recomputed.hex() == verdict.inputs_hash
    assert loaded.bundle.markets[0].memory is not None  # the tail memory is in the bundle too

    # One close of the history edited: the field is named.
    path = rig.bundles.path(verdict.inputs_hash)
    original = path.read_bytes()
    _rewrite(path, lambda b: b["markets"][0]["history"]["close"].__setitem__(-1, 1.0))
    [edited] = verify(rig.registry, rig.bundles, nonce=0)
    assert not edited.ok and edited.field == f"{FIELD}.history", edited.line()

    # The same edit with every recorded digest recomputed: the committed inputsHash catches it.
    def forge(body):
        body["markets"][0]["history"]["close"][-1] = 1.0
        forged = parse(json.dumps(body).encode(), "forged").bundle
        body["digests"]["fields"] = forged.field_digests()
        body["digests"]["parts"] = {m.market: forged.parts(m).named() for m in forged.markets}

    path.write_bytes(original)
    _rewrite(path, forge)
    [forged] = verify(rig.registry, rig.bundles, nonce=0)
    assert not forged.ok and forged.field == "inputsHash", forged.line()

    path.unlink()
    [missing] = verify(rig.registry, rig.bundles, nonce=0)
    assert not missing.ok and missing.field == "bundle" and "no inputs bundle" in missing.detail


def test_a_value_the_policy_does_not_give_is_named(rig_factory, monkeypatch):
    honest = cycle_module.decide

    def skewed(*args, **kwargs):
        d = honest(*args, **kwargs)
        if d.update is None:
            return d
        return replace(d, update=replace(d.update, ltv_bps=d.update.ltv_bps - 7))

    monkeypatch.setattr(cycle_module, "decide", skewed)
    rig = rig_factory("2020-03-11T00:00:00")
    assert [p.status for p in rig.keeper.cycle().pushes] == ["mined"]
    [verdict] = verify(rig.registry, rig.bundles)
    assert not verdict.ok and verdict.field == f"{FIELD}.ltv_bps", verdict.line()
    carried = rig.on_chain().ltv_bps
    assert f"the batch carries {carried}, recomputed {carried + 7}" in verdict.detail


def test_a_misstated_registry_read_is_named(rig_factory):
    rig = rig_factory("2020-03-11T00:00:00")
    read = rig.keeper._on_chain
    rig.keeper._on_chain = lambda market: replace(read(market), last_loosen_at=12_345)
    assert [p.status for p in rig.keeper.cycle().pushes] == ["mined"]
    [verdict] = verify(rig.registry, rig.bundles)
    assert not verdict.ok and verdict.field == f"{FIELD}.on_chain.last_loosen_at"
    assert "the bundle has 12345, the registry held 0 at block" in verdict.detail


def test_a_keeper_deciding_on_an_old_registry_state_is_named(rig_factory):
    # The keeper claims an hour-old block as the cycle's: the state it read is not the latest.
    rig = rig_factory("2020-03-11T00:00:00")
    w3 = rig.registry.w3
    old = w3.eth.get_block("latest")
    rig.advance(3_600)
    rig.keeper._latest_block = lambda: (int(old["number"]), int(old["timestamp"]))
    assert [p.status for p in rig.keeper.cycle().pushes] == ["mined"]
    [verdict] = verify(rig.registry, rig.bundles)
    assert not verdict.ok and verdict.field == "block", verdict.line()
    assert "s older than the cycle's time (at most 300 s)" in verdict.detail


def test_a_batch_relayed_through_a_contract_verifies_from_the_registry_events(rig_factory):
    # A keeper network, a multisig or a front-runner relays the signed batch from a contract: the
    # transaction's calldata is not the registry's, so the batch is read from the registry's events.
    from ape import project

    from oracle.chain import RawCall

    rig = rig_factory("2020-03-11T00:00:00")
    relayer = project.BatchRelayer.deploy(sender=rig.governance)

    def relayed(batch, signatures, sender, *, proposal, gas=None):
        """The keeper's relay call, sent to the relayer contract instead of the registry."""
        entry = getattr(relayer, "relayProposal" if proposal else "relay")
        data = entry.encode_input(rig.registry.address, batch.as_tuple(), signatures)
        return RawCall(relayer.address, bytes(data), gas or 3_000_000, rig.registry.errors)

    rig.registry.relay_call = relayed
    assert [p.status for p in rig.keeper.cycle().pushes] == ["mined"]
    rig.advance(36 * 3_600)  # 12 March: an update and a proposal, both relayed
    assert [p.kind for p in rig.keeper.cycle().pushes] == ["update", "proposal"]
    verdicts = verify(rig.registry, rig.bundles)
    assert [(v.kind, v.ok) for v in verdicts] == [
        ("update", True),
        ("update", True),
        ("proposal", True),
    ], [v.line() for v in verdicts]
    [signed] = rig.registry.batches(nonce=1)
    assert not signed.deadline_known and signed.batch.updates[0].params == rig.on_chain().params
