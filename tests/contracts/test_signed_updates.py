"""Signed batches: parity with the Python signer, and every way a batch can be wrong."""

from __future__ import annotations

import dataclasses

import ape
import pytest
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from oracle.chain import ParameterChange
from oracle.types import Params
from oracle.signing import PROPOSAL_PATH, MarketUpdate, sign_batch
from tests.helpers.guardrails import TEST_GUARDRAILS
from tests.helpers.markets import BTC, ETH, USDC
from tests.helpers.registry import deploy

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_python_digest_equals_contract_digest(registry, make_batch, signer_keys):
    batch, _ = make_batch(registry, [(ETH, 7000, 8000, 500), (BTC, 6500, 7500, 700)], signer_keys[:1])
    assert registry.hashBatch(batch.as_tuple(), False) == batch.digest(registry.address)
    assert registry.hashBatch(batch.as_tuple(), True) == batch.digest(registry.address, PROPOSAL_PATH)
    assert batch.digest(registry.address) != batch.digest(registry.address, PROPOSAL_PATH)
    domain = encode_typed_data(full_message=batch.typed_data(registry.address)).header
    assert registry.domainSeparator() == domain


def test_signed_batch_applies_every_market_and_emits(registry, make_batch, signer_keys, relayer, push):
    batch, sigs = make_batch(
        registry, [(BTC, 6500, 7500, 700), (ETH, 7000, 8000, 500)], signer_keys[:1], model_version="risk-1.0"
    )
    receipt = registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    assert registry.getParameters(ETH)[:3] == (7000, 8000, 500)
    assert registry.getParameters(BTC)[:3] == (6500, 7500, 700)
    assert registry.batchNonce() == 1
    [submitted] = receipt.decode_logs(registry.BatchSubmitted)
    assert submitted.nonce == 0
    assert submitted.inputsHash == b"\x11" * 32
    assert submitted.modelVersion.rstrip(b"\0") == b"risk-1.0"
    assert submitted.updates == 2
    updated = {e.market: ParameterChange.from_word(e.change) for e in receipt.decode_logs(registry.ParametersUpdated)}
    assert updated == {
        ETH: ParameterChange(Params(7000, 8000, 500), Params(0, 0, 0), 0),
        BTC: ParameterChange(Params(6500, 7500, 700), Params(0, 0, 0), 0),
    }
    receipt = push(registry, [(ETH, 6900, 8000, 520)])
    [event] = receipt.decode_logs(registry.ParametersUpdated)
    assert ParameterChange.from_word(event.change) == ParameterChange(Params(6900, 8000, 520), Params(7000, 8000, 500), 0)


FIELDS_TO_TAMPER = ["chain_id", "nonce", "deadline", "inputs_hash", "model_version", "ltv", "market"]


@pytest.mark.parametrize("field", FIELDS_TO_TAMPER)
def test_any_tampered_field_is_rejected(registry, make_batch, signer_keys, relayer, field):
    """A signature over a different value of any one field does not authorise the batch presented."""
    batch, _ = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    u = batch.updates[0]
    other_value = {
        "chain_id": {"chain_id": batch.chain_id + 1},  # domain and message of another chain
        "nonce": {"nonce": batch.nonce + 1},
        "deadline": {"deadline": batch.deadline + 1},
        "inputs_hash": {"inputs_hash": b"\x22" * 32},
        "model_version": {"model_version": b"evil".ljust(32, b"\0")},
        "ltv": {"updates": (MarketUpdate(u.market, 7100, 8000, 500),)},
        "market": {"updates": (MarketUpdate(BTC, 7000, 8000, 500),)},
    }
    signed = dataclasses.replace(batch, **other_value[field])
    sigs = sign_batch(signed, registry.address, signer_keys[:1])
    with ape.reverts(registry.UnknownSigner):
        registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    assert registry.batchNonce() == 0
    assert registry.getParameters(ETH)[3] == 0


def test_signature_for_another_registry_is_rejected(project, governance, guardian, signer_keys, registry,
                                                    make_batch, relayer):
    other = deploy(project, governance, guardian, signer_keys[:1], 1)
    other.setGuardrailProfile(1, TEST_GUARDRAILS.as_tuple(), sender=governance)
    other.assignProfile([ETH], 1, sender=governance)
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    with ape.reverts(other.UnknownSigner):
        other.submitUpdates(batch.as_tuple(), sigs, sender=relayer)


def test_expired(registry, make_batch, signer_keys, relayer, chain):
    deadline = chain.pending_timestamp - 1
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1], deadline=deadline)
    with ape.reverts(registry.SignatureExpired, deadline=deadline):
        registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)


def test_deadline_is_inclusive(registry, make_batch, signer_keys, relayer, chain):
    ts = chain.pending_timestamp + 10
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1], deadline=ts)
    chain.mine(timestamp=ts - 1)
    registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    assert registry.batchNonce() == 1


def test_wrong_chain(registry, make_batch, signer_keys, relayer, chain):
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1], chain_id=1)
    with ape.reverts(registry.WrongChain, signedChainId=1, chainId=chain.chain_id):
        registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)


def test_replay_is_rejected(registry, make_batch, signer_keys, relayer):
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    with ape.reverts(registry.NonceAlreadyUsed, nonce=0, expected=1):
        registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)


def test_reordered_batches_are_rejected(registry, make_batch, signer_keys, relayer):
    first, first_sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1], nonce=0)
    second, second_sigs = make_batch(registry, [(ETH, 6900, 8000, 500)], signer_keys[:1], nonce=1)
    with ape.reverts(registry.NonceOutOfOrder, nonce=1, expected=0):
        registry.submitUpdates(second.as_tuple(), second_sigs, sender=relayer)
    registry.submitUpdates(first.as_tuple(), first_sigs, sender=relayer)
    registry.submitUpdates(second.as_tuple(), second_sigs, sender=relayer)
    assert registry.getParameters(ETH)[0] == 6900


def test_empty_batch(registry, signer_keys, relayer, chain):
    from oracle.signing import model_version_bytes

    empty = (chain.chain_id, 0, chain.pending_timestamp + 100, b"\0" * 32, model_version_bytes("x"), [])
    with ape.reverts(registry.EmptyBatch):
        registry.submitUpdates(empty, [b"\0" * 65], sender=relayer)


def test_unsorted_or_duplicate_markets(registry, signer_keys, relayer, chain):
    from oracle.signing import model_version_bytes

    low, high = sorted([ETH, BTC])
    for updates, bad in (([(high, 7000, 8000, 500), (low, 7000, 8000, 500)], low),
                         ([(ETH, 7000, 8000, 500), (ETH, 6900, 8000, 500)], ETH)):
        raw = (chain.chain_id, 0, chain.pending_timestamp + 100, b"\0" * 32, model_version_bytes("x"), updates)
        with ape.reverts(registry.MarketsNotSorted, index=1, market=bad):
            registry.submitUpdates(raw, [b"\0" * 65], sender=relayer)


def test_multisig_threshold(registry3, make_batch, signer_keys, relayer):
    batch, sigs = make_batch(registry3, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    with ape.reverts(registry3.NotEnoughSignatures, provided=1, threshold=2):
        registry3.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    batch, sigs = make_batch(registry3, [(ETH, 7000, 8000, 500)], signer_keys[1:])
    registry3.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    batch, sigs = make_batch(registry3, [(ETH, 6900, 8000, 500)], signer_keys)  # all three also fine
    registry3.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    assert registry3.getParameters(ETH)[0] == 6900


def test_duplicate_signer(registry3, make_batch, signer_keys, relayer):
    batch, sigs = make_batch(registry3, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    with ape.reverts(registry3.DuplicateSigner, index=1, signer=signer_keys[0].address):
        registry3.submitUpdates(batch.as_tuple(), [sigs[0], sigs[0]], sender=relayer)


def test_unsorted_signers(registry3, make_batch, signer_keys, relayer):
    batch, sigs = make_batch(registry3, [(ETH, 7000, 8000, 500)], signer_keys[:2])
    with ape.reverts(registry3.SignersNotSorted, index=1):
        registry3.submitUpdates(batch.as_tuple(), list(reversed(sigs)), sender=relayer)


def test_outsider_signature(registry3, make_batch, signer_keys, outsider_key, relayer):
    batch, sigs = make_batch(registry3, [(ETH, 7000, 8000, 500)], [signer_keys[0], outsider_key])
    with ape.reverts(registry3.UnknownSigner, recovered=outsider_key.address):
        registry3.submitUpdates(batch.as_tuple(), sigs, sender=relayer)


def test_malleable_signature(registry, make_batch, signer_keys, relayer):
    batch, [sig] = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    flipped = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    with ape.reverts(registry.MalleableSignature, index=0):
        registry.submitUpdates(batch.as_tuple(), [flipped], sender=relayer)


@pytest.mark.parametrize("bad", [b"\x01" * 64, b"", b"\x00" * 65])
def test_unparseable_signature(registry, make_batch, signer_keys, relayer, bad):
    batch, _ = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    with ape.reverts(registry.InvalidSignature, index=0):
        registry.submitUpdates(batch.as_tuple(), [bad], sender=relayer)


def test_proposal_signature_cannot_be_used_on_fast_path(registry, make_batch, signer_keys, relayer):
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1], primary_type=PROPOSAL_PATH)
    with ape.reverts(registry.UnknownSigner):
        registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    fast, fast_sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    with ape.reverts(registry.UnknownSigner):
        registry.proposeUpdates(fast.as_tuple(), fast_sigs, sender=relayer)


def test_heartbeat_refreshes_only_updated_at(registry, push, chain):
    push(registry, [(ETH, 7000, 8000, 500)])
    first = registry.getParameters(ETH)
    chain.mine(timestamp=chain.pending_timestamp + 3600)
    receipt = push(registry, [(ETH, 7000, 8000, 500)])
    after = registry.getParameters(ETH)
    assert after[:3] == first[:3]
    assert after[3] > first[3]
    assert [e.market for e in receipt.decode_logs(registry.Heartbeat)] == [ETH]
    assert receipt.decode_logs(registry.ParametersUpdated) == []


def test_paused_registry_rejects_signed_updates(registry, make_batch, signer_keys, relayer, guardian):
    registry.pause(sender=guardian)
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    with ape.reverts(registry.RegistryPaused):
        registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    pbatch, psigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1], primary_type=PROPOSAL_PATH)
    with ape.reverts(registry.RegistryPaused):
        registry.proposeUpdates(pbatch.as_tuple(), psigs, sender=relayer)


def test_one_bad_market_reverts_the_whole_batch(registry, push, make_batch, signer_keys, relayer):
    push(registry, [(ETH, 7000, 8000, 500), (USDC, 8000, 8500, 300)])
    batch, sigs = make_batch(registry, [(ETH, 6900, 8000, 500), (USDC, 8000, 8500, 50)], signer_keys[:1])
    with ape.reverts(registry.OutOfBounds, market=USDC):
        registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
    assert registry.getParameters(ETH)[0] == 7000
    assert registry.batchNonce() == 1


def test_market_id_is_keccak_of_symbol():
    assert keccak(text="ETH/USD") == ETH
