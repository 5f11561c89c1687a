"""Role fixtures, deploy fixtures and batch factories shared by the chain tests.

Every chain test runs on a real Anvil started by ape-foundry; ape snapshots and restores the chain
around each test, so session-scoped deployments are shared safely.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from tests.helpers import ROOT

os.environ.setdefault("SOLCX_BINARY_PATH", str(ROOT / ".solcx"))

import pytest

from oracle.signing import (
    FAST_PATH,
    Batch,
    MarketUpdate,
    Signer,
    model_version_bytes,
    sign_batch,
)
from tests.helpers.guardrails import TEST_GUARDRAILS
from tests.helpers.markets import BTC, ETH, USDC
from tests.helpers.registry import PROFILE, deploy


@pytest.fixture(scope="session")
def one_second_blocks(chain):
    """Each block one second after the last, as on a chain with blocks: Anvil's automine would
    otherwise give several transactions the same timestamp, and the update interval (at least one
    second) would refuse the second of two pushes that tests make back to back."""
    chain.provider.make_request("anvil_setBlockTimestampInterval", [1])


@pytest.fixture(scope="session")
def governance(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def guardian(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def relayer(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def attacker(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def borrower(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def signer_keys(accounts) -> list[Signer]:
    """Three signing keys from Anvil's well-known test mnemonic (accounts 5-7)."""
    return [Signer.from_key(accounts[i].private_key) for i in (5, 6, 7)]


@pytest.fixture(scope="session")
def outsider_key(accounts) -> Signer:
    return Signer.from_key(accounts[8].private_key)


@pytest.fixture(scope="session")
def registry(project, governance, guardian, signer_keys, one_second_blocks):
    """1-of-1 registry (the default setup) with guardrails on ETH, BTC and USDC markets."""
    reg = deploy(project, governance, guardian, signer_keys[:1], 1)
    reg.setGuardrailProfile(PROFILE, TEST_GUARDRAILS.as_tuple(), sender=governance)
    reg.assignProfile([ETH, BTC, USDC], PROFILE, sender=governance)
    return reg


@pytest.fixture(scope="session")
def registry3(project, governance, guardian, signer_keys, one_second_blocks):
    """2-of-3 registry with guardrails on ETH and BTC."""
    reg = deploy(project, governance, guardian, signer_keys, 2)
    reg.setGuardrailProfile(PROFILE, TEST_GUARDRAILS.as_tuple(), sender=governance)
    reg.assignProfile([ETH, BTC], PROFILE, sender=governance)
    return reg


BatchFactory = Callable[..., tuple[Batch, list[bytes]]]


@pytest.fixture
def make_batch(chain) -> BatchFactory:
    """Builds and signs a batch for `registry`; every field can be overridden to craft attacks."""

    def factory(
        registry,
        updates: Sequence[tuple[bytes, int, int, int]],
        signers: Sequence[Signer],
        *,
        nonce: int | None = None,
        deadline: int | None = None,
        chain_id: int | None = None,
        inputs_hash: bytes = b"\x11" * 32,
        model_version: str = "test-1",
        primary_type: str = FAST_PATH,
    ) -> tuple[Batch, list[bytes]]:
        batch = Batch(
            chain_id=chain.chain_id if chain_id is None else chain_id,
            nonce=registry.batchNonce() if nonce is None else nonce,
            deadline=chain.pending_timestamp + 3600 if deadline is None else deadline,
            inputs_hash=inputs_hash,
            model_version=model_version_bytes(model_version),
            updates=tuple(MarketUpdate(*u) for u in updates),
        )
        return batch, sign_batch(batch, registry.address, signers, primary_type)

    return factory


@pytest.fixture
def push(make_batch, relayer, signer_keys) -> Callable[..., object]:
    """Signs with the first key and relays a fast-path batch; returns the receipt."""

    def do(registry, updates, signers=None, **kw):
        batch, sigs = make_batch(registry, updates, signers or signer_keys[:1], **kw)
        return registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)

    return do
