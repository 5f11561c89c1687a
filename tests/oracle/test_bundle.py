"""Inputs bundles without a chain: what is written reads back to the same inputs and the same
hashes, byte for byte; a broken bundle is one clear BundleError."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

import numpy as np
import pytest

from oracle.audit.bundle import (
    BundleError,
    BundleStore,
    Context,
    InputsBundle,
    MarketInputs,
    canonical_json,
    parse,
)
from oracle.feeds.base import FailureKind, Reading, SourceFailure
from oracle.policy import OnChain, PolicySettings
from oracle.policy.impact import OpenPositions
from oracle.risk import ModelSettings
from oracle.snapshot import HealthPolicy, MarketSnapshot, aggregate
from oracle.types import Params
from tests.helpers.guardrails import KEEPER_GUARDRAILS
from tests.helpers.series import synthetic


def _bundle(**context) -> InputsBundle:
    history = synthetic("ETH/USDT", n=500)
    price = float(history.close[-1])
    now = int(history.timestamps[-1]) + 3_600
    results = [
        Reading("a", "ETH/USDT", price * 1.001, now - 5, bids=((price, 3.5), (price * 0.99, 10.0))),
        Reading(
            "b", "ETH/USDT", price, now - 9, block=123, pool=(1e4, 1e4 * price), pool_fee=0.003
        ),
        SourceFailure("c", "ETH/USDT", FailureKind.STALE, "answered 3 h ago"),
    ]
    snap = aggregate("ETH/USDT", results, now, HealthPolicy())
    daily = synthetic("ETH/USDT", n=400, seed=3)
    memory = type(daily)("ETH/USDT", 1_500_000_000 + 86_400 * np.arange(400), daily.close, None)
    market = MarketInputs(
        "ETH/USDT",
        snap,
        history,
        1_000.0,
        ModelSettings(ltv_z=2.0),
        OnChain(Params(7_000, 8_000, 500), now - 600, 0, KEEPER_GUARDRAILS, now - 600, None),
        2,
        memory,
        # the last position has debt and no collateral left (an infinite loan ratio)
        positions=OpenPositions(
            np.array([7_100, 7_950, np.inf]), np.array([1e5, 2.5e4, 10.0]), 0.12, 8_100
        ),
    )
    ctx = {
        "now": now,
        "block": 42,
        "health": HealthPolicy(),
        "policy": PolicySettings(),
        "model_version": "risk-2.0.0",
        **context,
    }
    return InputsBundle(Context(**ctx), (market,))


def test_a_bundle_reads_back_to_the_same_inputs_and_hash(tmp_path):
    bundle = _bundle()
    store = BundleStore(tmp_path / "bundles")
    inputs_hash, path = store.write(bundle)
    assert path.name == f"0x{inputs_hash.hex()}.json.gz"
    assert path.stat().st_mode & 0o777 == 0o644  # readable by whoever it is published to
    assert inputs_hash == bundle.inputs_hash()
    loaded = store.read(inputs_hash)
    back = loaded.bundle
    assert back.inputs_hash() == inputs_hash and back.to_json() == bundle.to_json()
    # written without encoding the arrays twice, yet exactly the canonical JSON of its content
    assert bundle.to_json() == canonical_json(json.loads(bundle.to_json()))
    assert loaded.claimed_fields == bundle.field_digests()
    [m] = back.markets
    assert m.snapshot.canonical() == bundle.markets[0].snapshot.canonical()
    assert m.risk_input().inputs_hash() == bundle.markets[0].risk_input().inputs_hash()
    assert m.on_chain == bundle.markets[0].on_chain and m.settings.ltv_z == 2.0
    assert np.isinf(m.positions.loan_ratio_bps[-1])
    # Written again: the same file, left as it is; the same bytes everywhere (no gzip time).
    before = path.read_bytes()
    assert store.write(back) == (inputs_hash, path) and path.read_bytes() == before
    assert gzip.compress(bundle.to_json(), compresslevel=6, mtime=0) == before
    assert store.hashes() == [f"0x{inputs_hash.hex()}"]


def test_every_part_of_the_inputs_changes_the_hash():
    base = _bundle().inputs_hash()
    assert _bundle(block=43).inputs_hash() != base  # the registry state read at another block
    assert _bundle(policy=PolicySettings(threshold_step_bps=50)).inputs_hash() != base
    assert _bundle(health=HealthPolicy(min_healthy=1)).inputs_hash() != base
    assert _bundle(model_version="other").inputs_hash() == base  # committed as modelVersion


def test_a_snapshot_reads_back_from_its_canonical_bytes():
    snap = _bundle().markets[0].snapshot
    assert MarketSnapshot.from_canonical(snap.canonical()) == snap
    # a book's read time, when a source gives it, is part of the bytes and reads back
    dated = replace(snap, results=(replace(snap.results[0], book_at=snap.taken_at - 600),))
    assert b'"book_at":' in dated.canonical()
    assert MarketSnapshot.from_canonical(dated.canonical()) == dated
    # unset, it is left out: a snapshot taken before the field existed keeps its bytes and hash
    assert b"book_at" not in snap.canonical()
    old = json.loads(snap.canonical())
    assert "book_at" not in old["results"][0]
    assert MarketSnapshot.from_canonical(json.dumps(old)).hash() == snap.hash()
    with pytest.raises(ValueError, match="not a canonical snapshot"):
        MarketSnapshot.from_canonical(b'{"market": "X"}')


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x1f\x8b\x08garbage", "not a readable gzip file"),
        (b"{not json", "not JSON"),
        (b'{"format": "something else"}', "not an inputs bundle of format"),
    ],
)
def test_a_broken_bundle_is_one_clear_error(raw, message):
    with pytest.raises(BundleError, match=message):
        parse(raw, "x.json.gz")


def test_a_malformed_field_is_named(tmp_path):
    body = json.loads(_bundle().to_json())
    body["markets"][0]["history"]["close"][3] = -1.0
    with pytest.raises(BundleError, match=r"markets\[ETH/USDT\] is malformed: .*non-positive"):
        parse(json.dumps(body).encode(), "x")
    body = json.loads(_bundle().to_json())
    del body["markets"][0]["on_chain"]
    with pytest.raises(BundleError, match=r"markets\[ETH/USDT\] is malformed: missing 'on_chain'"):
        parse(json.dumps(body).encode(), "x")
    store = BundleStore(tmp_path / "none")
    with pytest.raises(BundleError, match="no inputs bundle 0x00"):
        store.read(b"\0" * 32)
    assert store.hashes() == []


def test_an_unwritable_directory_is_a_bundle_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(BundleError, match="cannot write the inputs bundle"):
        BundleStore(blocker / "bundles").write(_bundle())
