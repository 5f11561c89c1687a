"""The risk-array contract: parity with the Python signer and mirror, its guardrails, and the
portfolio margin it computes against `oracle.policy.arrays`."""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import ape
import pytest
from eth_account.messages import encode_typed_data

from oracle.markets import market_id
from oracle.policy.arrays import (
    SCENARIOS,
    WAD,
    ArrayValues,
    PublishedArray,
    encode_depth,
    isolated_margin,
    portfolio_margin,
    step_toward,
)
from oracle.signing.risk_arrays import BATCH_TYPE, UPDATE_TYPE, typehash
from tests.helpers.arrays import SET_ID, TEST_SET, random_array
from tests.helpers.markets import BTC, ETH, USDC
from tests.helpers.time import DAY, HOUR

ASSETS = sorted([ETH, BTC, USDC, market_id("SOL/USD"), market_id("LINK/USD")])


def published(contract, asset) -> PublishedArray | None:
    """The asset's stored word, unpacked by the mirror and checked against the `riskArray` view."""
    found = PublishedArray.unpack(contract.arrayWord(asset))
    a = contract.riskArray(asset)
    if found is None:
        assert a.updatedAt == 0
        return None
    assert (tuple(a.moves), a.floorUnits, a.depthUsd, a.updatedAt, a.scenarioSet) == (
        found.values.moves,
        found.values.floor_units,
        found.values.depth_usd,
        found.updated_at,
        found.scenario_set,
    )
    return found


def test_python_digest_and_typehashes_equal_the_contracts(arrays, array_batch, signer_keys, project):
    batch, _ = array_batch(arrays, [(ETH, random_array(random.Random(1)))])
    assert arrays.hashBatch(batch.as_tuple()) == batch.digest(arrays.address)
    assert arrays.domainSeparator() == encode_typed_data(full_message=batch.typed_data(arrays.address)).header
    source = (project.path / "contracts" / "RiskArrayRegistry.sol").read_text()
    assert "0x" + typehash(UPDATE_TYPE).hex() in source
    assert "0x" + typehash(BATCH_TYPE).hex() in source


def test_signed_arrays_are_stored_as_the_mirror_packs_them(arrays, publish, chain):
    rng = random.Random(2)
    entries = [(a, random_array(rng)) for a in ASSETS]
    receipt = publish(arrays, entries)
    now = chain.blocks.head.timestamp
    events = {e.asset: e.word for e in receipt.decode_logs(arrays.RiskArrayPublished)}
    for asset, values in entries:
        expected = PublishedArray(values, now, SET_ID)
        assert events[asset] == expected.word()
        assert PublishedArray.unpack(events[asset]) == expected
        assert published(arrays, asset) == expected
    [batch] = receipt.decode_logs(arrays.RiskArraysSubmitted)
    assert (batch.nonce, batch.scenarioSet, batch.arrays) == (0, SET_ID, len(ASSETS))
    assert arrays.batchNonce() == 1


def test_scenario_set_reads_back_and_only_governance_sets_it(arrays, governance, attacker):
    assert tuple(arrays.scenarioSet(SET_ID)) == tuple(
        list(v) if isinstance(v, tuple) else v for v in TEST_SET.as_tuple()
    )
    with ape.reverts(arrays.NotGovernance, caller=attacker.address):
        arrays.setScenarioSet(2, TEST_SET.as_tuple(), sender=attacker)
    for bad in (
        dataclasses.replace(TEST_SET, max_age=0),
        dataclasses.replace(TEST_SET, max_step_units=0),
        dataclasses.replace(TEST_SET, min_moves=(100,) * SCENARIOS, max_moves=(-100,) * SCENARIOS),
        dataclasses.replace(TEST_SET, max_moves=(2048,) * SCENARIOS),
        dataclasses.replace(TEST_SET, weight_pct=(101,) * SCENARIOS),
        dataclasses.replace(TEST_SET, factor_pairs=9),
        dataclasses.replace(TEST_SET, weight_pct=(100, 100, 100, 35) + (100,) * 12),  # a factor row at 35 %
    ):
        with ape.reverts(arrays.InvalidScenarioSet):
            arrays.setScenarioSet(2, bad.as_tuple(), sender=governance)
    with ape.reverts(arrays.InvalidScenarioSet):
        arrays.setScenarioSet(0, TEST_SET.as_tuple(), sender=governance)


def test_batches_follow_the_registrys_signers_nonce_and_pause(
    arrays, registry, array_batch, publish, signer_keys, outsider_key, relayer, guardian, governance, chain
):
    values = random_array(random.Random(3))
    batch, sigs = array_batch(arrays, [(ETH, values)], signers=[outsider_key])
    with ape.reverts(arrays.UnknownSigner):
        arrays.submitRiskArrays(batch.as_tuple(), sigs, sender=relayer)
    batch, sigs = array_batch(arrays, [(ETH, values)])
    tampered = dataclasses.replace(batch, inputs_hash=b"\x33" * 32)
    with ape.reverts(arrays.UnknownSigner):
        arrays.submitRiskArrays(tampered.as_tuple(), sigs, sender=relayer)
    with ape.reverts(arrays.NotEnoughSignatures):
        arrays.submitRiskArrays(batch.as_tuple(), [], sender=relayer)
    registry.pause(sender=guardian)
    with ape.reverts(arrays.RegistryPaused):
        arrays.submitRiskArrays(batch.as_tuple(), sigs, sender=relayer)
    registry.unpause(sender=governance)
    arrays.submitRiskArrays(batch.as_tuple(), sigs, sender=relayer)
    with ape.reverts(arrays.NonceAlreadyUsed):
        arrays.submitRiskArrays(batch.as_tuple(), sigs, sender=relayer)
    ahead, sigs = array_batch(arrays, [(ETH, values)], nonce=5)
    with ape.reverts(arrays.NonceOutOfOrder):
        arrays.submitRiskArrays(ahead.as_tuple(), sigs, sender=relayer)
    with ape.reverts(arrays.WrongChain):
        publish(arrays, [(ETH, values)], chain_id=chain.chain_id + 1)
    with ape.reverts(arrays.SignatureExpired):
        publish(arrays, [(ETH, values)], deadline=chain.pending_timestamp - 1)
    with ape.reverts(arrays.DeadlineTooFar):
        publish(arrays, [(ETH, values)], deadline=chain.pending_timestamp + 2 * DAY)
    with ape.reverts(arrays.ScenarioSetNotActive):
        publish(arrays, [(ETH, values)], scenario_set=7)
    # a key rotation on the registry applies here at once
    registry.setSigners([outsider_key.address], 1, sender=governance)
    with ape.reverts(arrays.UnknownSigner):
        publish(arrays, [(ETH, values)])
    publish(arrays, [(ETH, values)], signers=[outsider_key])


def test_unsorted_or_malformed_entries_are_refused(arrays, array_batch, relayer):
    values = random_array(random.Random(4))
    batch, sigs = array_batch(arrays, [(ETH, values), (BTC, values)])
    swapped = dataclasses.replace(batch)
    object.__setattr__(swapped, "arrays", tuple(reversed(batch.arrays)))
    with ape.reverts(arrays.AssetsNotSorted):
        arrays.submitRiskArrays(swapped.as_tuple(), sigs, sender=relayer)
    # signed, but with bits above the 16 rows: a value the Python types refuse to build
    malformed = SimpleNamespace(
        packed_moves=values.packed_moves | 1 << 200, floor_units=values.floor_units, depth_code=values.depth_code
    )
    batch, sigs = array_batch(arrays, [(ETH, malformed)])
    with ape.reverts(arrays.MalformedMoves):
        arrays.submitRiskArrays(batch.as_tuple(), sigs, sender=relayer)


def test_bounds_and_rates_are_enforced_and_the_mirror_steps_within_them(arrays, publish, chain):
    base = ArrayValues((-200,) * 8 + (200,) * 8, 40, encode_depth(5e6))
    with ape.reverts(arrays.ArrayOutOfBounds):
        publish(arrays, [(ETH, dataclasses.replace(base, moves=(-1001,) + base.moves[1:]))])
    with ape.reverts(arrays.ArrayOutOfBounds):
        publish(arrays, [(ETH, dataclasses.replace(base, floor_units=201))])
    publish(arrays, [(ETH, base)])
    start = chain.blocks.head.timestamp
    chain.mine(timestamp=start + HOUR)
    # one hour: moves may widen by 120 units, shrink by 100/24 = 4 units
    wider = dataclasses.replace(base, moves=(-321,) + base.moves[1:])
    with ape.reverts(arrays.ArrayStepTooLarge):
        publish(arrays, [(ETH, wider)])
    narrower = dataclasses.replace(base, moves=(-190,) + base.moves[1:])
    with ape.reverts(arrays.ArrayStepTooLarge):
        publish(arrays, [(ETH, narrower)])
    deeper = dataclasses.replace(base, depth_code=encode_depth(10e6))
    with ape.reverts(arrays.ArrayStepTooLarge):
        publish(arrays, [(ETH, deeper)])
    thinner = dataclasses.replace(base, depth_code=encode_depth(2e6))
    with ape.reverts(arrays.ArrayStepTooLarge):
        publish(arrays, [(ETH, thinner)])


def test_steps_from_the_mirror_are_always_accepted(arrays, publish, chain):
    """Random targets far from the current arrays, at random intervals: the mirror's step is what
    the contract accepts, and the stored word is the one the mirror predicts."""
    rng = random.Random(5)
    assets = ASSETS[:3]
    publish(arrays, [(a, random_array(rng)) for a in assets])
    for _ in range(12):
        chain.mine(timestamp=chain.pending_timestamp + rng.choice([1, 60, 900, HOUR, 6 * HOUR, DAY]))
        now = chain.pending_timestamp
        entries, expected = [], {}
        for a in assets:
            target = random_array(rng, scale=900)
            step = step_toward(target, published(arrays, a), TEST_SET, SET_ID, now)
            entries.append((a, step.values))
            expected[a] = step.values
        receipt = publish(arrays, entries)
        mined = chain.blocks.head.timestamp
        assert mined == now
        for e in receipt.decode_logs(arrays.RiskArrayPublished):
            assert e.word == PublishedArray(expected[e.asset], mined, SET_ID).word()


def test_portfolio_margin_equals_the_mirror(arrays, publish, chain):
    rng = random.Random(6)
    entries = [(a, random_array(rng)) for a in ASSETS]
    publish(arrays, entries)
    values = [v for _, v in entries]
    for _ in range(25):
        positions = [rng.choice([0, 1, -1]) * rng.randint(1, 10**7) * WAD // 100 for _ in ASSETS]
        mirror = portfolio_margin(values, positions, TEST_SET.weight_pct, TEST_SET.factor_pairs)
        b = arrays.marginBreakdown(ASSETS, positions)
        assert (b.margin, b.scenarioMargin, b.floorMargin, b.addOn) == (
            mirror.margin,
            mirror.scenario_margin,
            mirror.floor_margin,
            mirror.add_on,
        )
        if mirror.scenario_margin:
            assert b.worstScenario == mirror.worst_scenario
        assert arrays.portfolioMargin(ASSETS, positions) == mirror.margin
        isolated = arrays.isolatedMargin(ASSETS, positions)
        assert isolated == isolated_margin(values, positions, TEST_SET.weight_pct, TEST_SET.factor_pairs)
        assert isolated >= mirror.margin  # netting never costs margin


def test_a_set_without_factor_rows_margins_rows_or_floors_as_the_mirror(arrays, publish, governance):
    """Scenario set 2 declares no factor rows (SPAN's own shape): the margin is the largest row or
    the floor sum, and the contract still equals the mirror on random books, worst row included;
    a book every row gains on is margined by its floors (row 16)."""
    plain = dataclasses.replace(TEST_SET, factor_pairs=0)
    arrays.setScenarioSet(2, plain.as_tuple(), sender=governance)
    rng = random.Random(9)
    entries = [(a, random_array(rng)) for a in ASSETS]
    publish(arrays, entries, scenario_set=2)
    values = [v for _, v in entries]
    for _ in range(15):
        positions = [rng.choice([0, 1, -1]) * rng.randint(1, 10**7) * WAD // 100 for _ in ASSETS]
        mirror = portfolio_margin(values, positions, plain.weight_pct, 0)
        b = arrays.marginBreakdown(ASSETS, positions)
        assert (b.margin, b.scenarioMargin, b.floorMargin, b.addOn, b.worstScenario) == (
            mirror.margin,
            mirror.scenario_margin,
            mirror.floor_margin,
            mirror.add_on,
            mirror.worst_scenario,
        )
        assert arrays.isolatedMargin(ASSETS, positions) == isolated_margin(
            values, positions, plain.weight_pct, 0
        )
    gains = ArrayValues((100,) * 16, 20, encode_depth(1e9))  # every row a rise
    uni = market_id("UNI/USD")
    publish(arrays, [(uni, gains)], scenario_set=2)
    b = arrays.marginBreakdown([uni], [1_000 * WAD])
    assert (b.worstScenario, b.scenarioMargin, b.floorMargin) == (16, 20 * WAD, 20 * WAD)


def test_hedged_positions_need_less_than_their_legs(arrays, publish):
    eth = ArrayValues((-300, 300, -150, 150) + (0,) * 10 + (-600, 600), 10, encode_depth(1e9))
    btc = ArrayValues((-250, 250, -120, 130) + (0,) * 10 + (-500, 500), 10, encode_depth(1e9))
    publish(arrays, [(ETH, eth), (BTC, btc)])
    assets = sorted([ETH, BTC])
    pos = {ETH: 1_000_000 * WAD, BTC: -1_000_000 * WAD}
    positions = [pos[a] for a in assets]
    hedged = arrays.portfolioMargin(assets, positions)
    isolated = arrays.isolatedMargin(assets, positions)
    assert hedged < isolated / 3
    # floor: 1 % of each leg, the least any hedge needs
    assert hedged >= 20_000 * WAD


def test_reads_refuse_what_they_cannot_stand_behind(arrays, publish, governance, chain):
    values = random_array(random.Random(7))
    assets = sorted([ETH, BTC])
    with ape.reverts(arrays.RiskArrayNotSet):
        arrays.portfolioMargin([ETH], [WAD])
    assert arrays.portfolioMargin([ETH], [0]) == 0  # a zero position reads nothing
    publish(arrays, [(ETH, values), (BTC, values)])
    with ape.reverts(arrays.AssetsNotSorted):
        arrays.portfolioMargin(list(reversed(assets)), [WAD, WAD])
    with ape.reverts(arrays.AssetsNotSorted):
        arrays.portfolioMargin([ETH, ETH], [WAD, WAD])
    with ape.reverts(arrays.LengthMismatch):
        arrays.portfolioMargin(assets, [WAD])
    with ape.reverts(arrays.PositionTooLarge):
        arrays.portfolioMargin([ETH], [2**100])
    # another set for BTC: rows that mean other things cannot be added
    arrays.setScenarioSet(2, TEST_SET.as_tuple(), sender=governance)
    publish(arrays, [(BTC, values)], scenario_set=2)
    with ape.reverts(arrays.MixedScenarioSets):
        arrays.portfolioMargin(assets, [WAD, WAD])
    arrays.setScenarioSet(2, dataclasses.replace(TEST_SET, active=False).as_tuple(), sender=governance)
    with ape.reverts(arrays.ScenarioSetRetired):
        arrays.portfolioMargin([BTC], [WAD])
    with ape.reverts(arrays.ScenarioSetNotActive):
        publish(arrays, [(BTC, values)], scenario_set=2)
    chain.mine(timestamp=chain.pending_timestamp + TEST_SET.max_age + 1)
    with ape.reverts(arrays.StaleRiskArray):
        arrays.portfolioMargin([ETH], [WAD])


@pytest.mark.parametrize("moves", [(-2048,) + (2047,) * 15, (-1,) * 16, (0,) * 16])
def test_extreme_words_round_trip(moves):
    values = ArrayValues(moves, 255, encode_depth(123_456_789))
    word = PublishedArray(values, 2**32 - 1, 255).word()
    assert PublishedArray.unpack(word) == PublishedArray(values, 2**32 - 1, 255)


def test_the_contract_accepts_exactly_what_the_mirror_allows(arrays, publish, chain):
    """Random targets near the current arrays (every kind of row: growing, shrinking, crossing zero,
    out of bounds), submitted as they are: the contract accepts a target exactly when the mirror's
    step reaches it, and names a failing row the mirror also moves."""
    rng = random.Random(8)
    publish(arrays, [(ETH, random_array(rng, scale=300))])
    accepted = refused = 0
    for _ in range(50):
        chain.mine(timestamp=chain.pending_timestamp + rng.choice([1, 600, HOUR, 3 * HOUR]))
        current = published(arrays, ETH)
        assert current is not None
        if rng.random() < 0.5:  # mostly growing by a little: often within the rates
            moves = tuple(m + (rng.randint(0, 3) if m >= 0 else -rng.randint(0, 3)) for m in current.values.moves)
        else:
            moves = tuple(
                max(-2048, min(2047, m + rng.choice([0, 0, rng.randint(-6, 6), rng.randint(-150, 150), -2 * m])))
                for m in current.values.moves
            )
        if rng.random() < 0.1:
            moves = (rng.choice([-1001, 1501]),) + moves[1:]
        target = dataclasses.replace(current.values, moves=moves)
        step = step_toward(target, current, TEST_SET, SET_ID, chain.pending_timestamp)
        if step.values == target:
            publish(arrays, [(ETH, target)])
            accepted += 1
        else:
            with ape.reverts() as failure:
                publish(arrays, [(ETH, target)])
            row = int(str(failure.value).split("row=")[1].split(",")[0])
            assert step.values.moves[row] != target.moves[row]
            refused += 1
    assert accepted >= 10 and refused >= 10
