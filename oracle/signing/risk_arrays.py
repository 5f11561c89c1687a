"""EIP-712 batches of risk arrays exactly as `RiskArrayRegistry` verifies them.

The arrays contract has its own domain ("RiskArrayRegistry", "1") and nonce but the registry's
signer set, so the keys that sign parameter batches sign these too (`oracle.signing.Signer`).
`tests/contracts/test_risk_arrays.py` proves the typed data here and the contract's typehashes
agree by having the contract accept Python-signed batches and reject tampered ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from oracle.errors import SigningError
from oracle.policy.arrays import ArrayValues
from oracle.signing import (
    Fields,
    Signer,
    encode_type,
    sign_sorted,
    typed_digest,
    typed_message,
)

DOMAIN_NAME = "RiskArrayRegistry"
DOMAIN_VERSION = "1"

UPDATE_TYPE = "RiskArrayUpdate"
BATCH_TYPE = "RiskArrayBatch"
UPDATE_FIELDS: Fields = [
    {"name": "asset", "type": "bytes32"},
    {"name": "moves", "type": "uint256"},
    {"name": "floorUnits", "type": "uint8"},
    {"name": "depth", "type": "uint16"},
]
BATCH_FIELDS: Fields = [
    {"name": "chainId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
    {"name": "inputsHash", "type": "bytes32"},
    {"name": "modelVersion", "type": "bytes32"},
    {"name": "scenarioSet", "type": "uint8"},
    {"name": "arrays", "type": f"{UPDATE_TYPE}[]"},
]


def typehash(primary_type: str) -> bytes:
    """The EIP-712 typehash of `RiskArrayUpdate` or `RiskArrayBatch` (the contract holds both as
    literals)."""
    update = encode_type(UPDATE_TYPE, UPDATE_FIELDS)
    if primary_type == UPDATE_TYPE:
        return keccak(text=update)
    if primary_type != BATCH_TYPE:
        raise SigningError(f"no EIP-712 type {primary_type!r}")
    return keccak(text=encode_type(BATCH_TYPE, BATCH_FIELDS) + update)


@dataclass(frozen=True)
class RiskArrayUpdate:
    """One asset's array in a batch."""

    asset: bytes
    values: ArrayValues

    def __post_init__(self) -> None:
        if len(self.asset) != 32:
            raise SigningError(f"asset id must be 32 bytes, got {len(self.asset)}")

    def as_tuple(self) -> tuple[bytes, int, int, int]:
        v = self.values
        return (self.asset, v.packed_moves, v.floor_units, v.depth_code)


@dataclass(frozen=True)
class RiskArrayBatch:
    """One signed batch of arrays under one scenario set; kept sorted by asset id."""

    chain_id: int
    nonce: int
    deadline: int
    inputs_hash: bytes
    model_version: bytes
    scenario_set: int
    arrays: tuple[RiskArrayUpdate, ...]

    def __post_init__(self) -> None:
        if not self.arrays:
            raise SigningError("a risk-array batch needs at least one array")
        assets = [a.asset for a in self.arrays]
        if len(set(assets)) != len(assets):
            raise SigningError("a risk-array batch may hold each asset only once")
        if not 1 <= self.scenario_set <= 255:
            raise SigningError(f"scenario set must be 1 to 255, got {self.scenario_set}")
        if len(self.inputs_hash) != 32 or len(self.model_version) != 32:
            raise SigningError("inputs_hash and model_version must be 32 bytes")
        object.__setattr__(self, "arrays", tuple(sorted(self.arrays, key=lambda a: a.asset)))

    def as_tuple(self) -> tuple[Any, ...]:
        """ABI tuple for the contract's `RiskArrayBatch`."""
        return (
            self.chain_id,
            self.nonce,
            self.deadline,
            self.inputs_hash,
            self.model_version,
            self.scenario_set,
            [a.as_tuple() for a in self.arrays],
        )

    def typed_data(self, contract: str) -> dict[str, Any]:
        """The full EIP-712 message for `contract` on this batch's chain."""
        return typed_message(
            (DOMAIN_NAME, DOMAIN_VERSION, self.chain_id, contract),
            (BATCH_TYPE, BATCH_FIELDS),
            (UPDATE_TYPE, UPDATE_FIELDS),
            {
                "chainId": self.chain_id,
                "nonce": self.nonce,
                "deadline": self.deadline,
                "inputsHash": self.inputs_hash,
                "modelVersion": self.model_version,
                "scenarioSet": self.scenario_set,
                "arrays": [
                    {
                        "asset": a.asset,
                        "moves": a.values.packed_moves,
                        "floorUnits": a.values.floor_units,
                        "depth": a.values.depth_code,
                    }
                    for a in self.arrays
                ],
            },
        )

    def digest(self, contract: str) -> bytes:
        """The 32-byte EIP-712 digest (equal to the contract's `hashBatch`)."""
        return typed_digest(self.typed_data(contract))


def sign_arrays(batch: RiskArrayBatch, contract: str, signers: Iterable[Signer]) -> list[bytes]:
    """Signatures of all `signers`, ordered by increasing signer address as the contract
    requires."""
    return sign_sorted(batch.digest(contract), signers)
