"""EIP-712 batches exactly as `MarginParameterRegistry` verifies them, signed with local keys
(eth-account).

The typed-data definitions here mirror the Solidity typehashes;
`tests/contracts/test_signed_updates.py` proves the two agree by having the contract accept
Python-signed batches and reject every tampered field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blake3 import blake3
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils import keccak, to_checksum_address

from oracle.errors import SigningError
from oracle.types import Params

DOMAIN_NAME = "MarginParameterRegistry"
DOMAIN_VERSION = "1"

MARKET_UPDATE_FIELDS = [
    {"name": "market", "type": "bytes32"},
    {"name": "ltvBps", "type": "uint16"},
    {"name": "liquidationThresholdBps", "type": "uint16"},
    {"name": "liquidationBonusBps", "type": "uint16"},
]
BATCH_FIELDS = [
    {"name": "chainId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
    {"name": "inputsHash", "type": "bytes32"},
    {"name": "modelVersion", "type": "bytes32"},
    {"name": "updates", "type": "MarketUpdate[]"},
]
#: Primary type for the fast path (`submitUpdates`) and for the governance path (`proposeUpdates`).
#: Distinct names give distinct digests, so a relayer cannot turn a signed fast-path batch into a
#: proposal or the reverse.
FAST_PATH = "Batch"
PROPOSAL_PATH = "ProposalBatch"


Fields = list[dict[str, str]]
EIP712_DOMAIN_FIELDS: Fields = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def encode_type(name: str, fields: Fields) -> str:
    """EIP-712 `encodeType` of one struct, e.g. `MarketUpdate(bytes32 market,…)`."""
    return f"{name}({','.join(f['type'] + ' ' + f['name'] for f in fields)})"


def typed_message(
    domain: tuple[str, str, int, str],
    primary: tuple[str, Fields],
    item: tuple[str, Fields],
    message: dict[str, Any],
) -> dict[str, Any]:
    """The full EIP-712 message of a batch: `domain` (name, version, chain id, verifying
    contract), the batch's type and the one item type its array holds."""
    name, version, chain_id, contract = domain
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, primary[0]: primary[1], item[0]: item[1]},
        "primaryType": primary[0],
        "domain": {
            "name": name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(contract),
        },
        "message": message,
    }


def typed_digest(full_message: dict[str, Any]) -> bytes:
    """The 32-byte EIP-712 digest of a full message (what a contract's `hashBatch` returns)."""
    signable = encode_typed_data(full_message=full_message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def typehash(primary_type: str) -> bytes:
    """The EIP-712 typehash of `MarketUpdate`, `Batch` or `ProposalBatch` from the field lists
    above: keccak of the type's encoding with its referenced types appended (the registry's
    `ConstantsLib` holds the same three values as literals)."""
    market_update = encode_type("MarketUpdate", MARKET_UPDATE_FIELDS)
    if primary_type == "MarketUpdate":
        return keccak(text=market_update)
    if primary_type not in (FAST_PATH, PROPOSAL_PATH):
        raise SigningError(f"no EIP-712 type {primary_type!r}")
    return keccak(text=encode_type(primary_type, BATCH_FIELDS) + market_update)


@dataclass(frozen=True, order=True)
class MarketUpdate:
    """New values for one market, in basis points."""

    market: bytes
    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int

    def __post_init__(self) -> None:
        if len(self.market) != 32:
            raise SigningError(f"market id must be 32 bytes, got {len(self.market)}")
        for name in ("ltv_bps", "liquidation_threshold_bps", "liquidation_bonus_bps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**16:
                raise SigningError(
                    f"{name} of market 0x{self.market.hex()} must fit uint16, got {value!r}"
                )

    @classmethod
    def of(cls, market: bytes, params: Params) -> MarketUpdate:
        return cls(market, *params.as_tuple())

    @property
    def params(self) -> Params:
        return Params(self.ltv_bps, self.liquidation_threshold_bps, self.liquidation_bonus_bps)

    def as_tuple(self) -> tuple[bytes, int, int, int]:
        """ABI tuple for the contract's `MarketUpdate` struct."""
        return (
            self.market,
            self.ltv_bps,
            self.liquidation_threshold_bps,
            self.liquidation_bonus_bps,
        )


def batch_inputs_hash(entries: Iterable[tuple[bytes, bytes, bytes, bytes]]) -> bytes:
    """A batch's `inputsHash`: what anyone holding the batch's inputs bundle recomputes to check
    that the signed values came from those inputs (`oracle verify`).

    `entries` holds, per market of the batch, (market id, snapshot hash, risk inputs hash, decision
    inputs hash), each 32 bytes: the id is `keccak256(symbol)`, the snapshot hash is
    `MarketSnapshot.hash()` (BLAKE3 of the canonical snapshot), the risk inputs hash is
    `MarketInput.inputs_hash()` (BLAKE3 of every input the engine read) and the decision inputs
    hash is `oracle.audit.bundle.decision_inputs_hash` (BLAKE3 of what the policy read besides the
    recommendation: the registry's state at the cycle's block, the open positions, the settings).
    The hash is BLAKE3 over the 128-byte concatenations, in increasing market id order (the
    batch's order). Fixed widths make the encoding unambiguous.
    """
    h = blake3()
    for entry in sorted(entries):
        if len(entry) != len(_ENTRY_PARTS):
            raise SigningError(
                f"an inputs-hash entry has {len(_ENTRY_PARTS)} parts, got {len(entry)}"
            )
        for name, part in zip(_ENTRY_PARTS, entry, strict=True):
            if len(part) != 32:
                raise SigningError(
                    f"{name} of an inputs-hash entry must be 32 bytes, got {len(part)}"
                )
            h.update(part)
    return h.digest()


_ENTRY_PARTS = ("market id", "snapshot hash", "inputs hash", "decision inputs hash")


def model_version_bytes(version: str) -> bytes:
    """A model version string as the contract's `bytes32` (ASCII, right-padded with zeros)."""
    raw = version.encode("ascii")
    if not raw or len(raw) > 32:
        raise SigningError(f"model version {version!r} must be 1 to 32 ASCII characters")
    return raw.ljust(32, b"\0")


@dataclass(frozen=True)
class Batch:
    """One signed batch; `updates` are kept sorted by market id, as the contract requires."""

    chain_id: int
    nonce: int
    deadline: int
    inputs_hash: bytes
    model_version: bytes
    updates: tuple[MarketUpdate, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.updates:
            raise SigningError("a batch needs at least one market update")
        markets = [u.market for u in self.updates]
        if len(set(markets)) != len(markets):
            raise SigningError("a batch may hold each market only once")
        object.__setattr__(self, "updates", tuple(sorted(self.updates, key=lambda u: u.market)))
        if len(self.inputs_hash) != 32 or len(self.model_version) != 32:
            raise SigningError("inputs_hash and model_version must be 32 bytes")

    def as_tuple(self) -> tuple[Any, ...]:
        """ABI tuple for the contract's `Batch` struct."""
        return (
            self.chain_id,
            self.nonce,
            self.deadline,
            self.inputs_hash,
            self.model_version,
            [u.as_tuple() for u in self.updates],
        )

    def typed_data(self, registry: str, primary_type: str = FAST_PATH) -> dict[str, Any]:
        """The full EIP-712 message for `registry` on this batch's chain."""
        return typed_message(
            (DOMAIN_NAME, DOMAIN_VERSION, self.chain_id, registry),
            (primary_type, BATCH_FIELDS),
            ("MarketUpdate", MARKET_UPDATE_FIELDS),
            {
                "chainId": self.chain_id,
                "nonce": self.nonce,
                "deadline": self.deadline,
                "inputsHash": self.inputs_hash,
                "modelVersion": self.model_version,
                "updates": [
                    {
                        "market": u.market,
                        "ltvBps": u.ltv_bps,
                        "liquidationThresholdBps": u.liquidation_threshold_bps,
                        "liquidationBonusBps": u.liquidation_bonus_bps,
                    }
                    for u in self.updates
                ],
            },
        )

    def digest(self, registry: str, primary_type: str = FAST_PATH) -> bytes:
        """The 32-byte EIP-712 digest (equal to the contract's `hashBatch`)."""
        return typed_digest(self.typed_data(registry, primary_type))


class Signer:
    """A local signing key. Its repr and every error it raises show the address only, never the
    key."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @property
    def address(self) -> str:
        return str(self._account.address)

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    @classmethod
    def from_key(cls, key: str | bytes) -> Signer:
        try:
            return cls(Account.from_key(key))
        except Exception:  # the key must not leak through the original message
            raise SigningError("the private key is not a valid secp256k1 key") from None

    @classmethod
    def from_env(cls, variable: str) -> Signer:
        """Reads a hex private key from environment variable `variable`."""
        key = os.environ.get(variable)
        if not key:
            raise SigningError(f"environment variable {variable} holding a signer key is not set")
        try:
            return cls(Account.from_key(key.strip()))
        except Exception:
            raise SigningError(
                f"environment variable {variable} does not hold a valid key"
            ) from None

    @classmethod
    def from_keystore(cls, path: Path, password_variable: str) -> Signer:
        """Decrypts an Ethereum keystore (v3 JSON) with the password in `password_variable`."""
        password = os.environ.get(password_variable)
        if password is None:
            raise SigningError(
                f"environment variable {password_variable} (keystore password) is not set"
            )
        try:
            encrypted = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise SigningError(f"cannot read keystore {path}: {exc}") from None
        try:
            key = Account.decrypt(encrypted, password)
        except Exception:
            raise SigningError(
                f"cannot decrypt keystore {path}: wrong password or corrupt file"
            ) from None
        return cls(Account.from_key(key))

    @property
    def account(self) -> LocalAccount:
        """The eth-account object, for signing transactions."""
        return self._account

    def sign_digest(self, digest: bytes) -> bytes:
        """65-byte r‖s‖v signature (v = 27/28, low s) of an EIP-712 digest."""
        signed = self._account.unsafe_sign_hash(Hash32(digest))
        return bytes(signed.signature)


def sign_batch(
    batch: Batch, registry: str, signers: Iterable[Signer], primary_type: str = FAST_PATH
) -> list[bytes]:
    """Signatures of all `signers`, ordered by increasing signer address as the contract
    requires."""
    return sign_sorted(batch.digest(registry, primary_type), signers)


def sign_sorted(digest: bytes, signers: Iterable[Signer]) -> list[bytes]:
    """Signatures of `digest` by all `signers`, ordered by increasing signer address (the
    registry's and the arrays contract's rule)."""
    ordered = sorted(signers, key=lambda s: int(s.address, 16))
    if len({s.address for s in ordered}) != len(ordered):
        raise SigningError("the same signer key is given twice")
    return [s.sign_digest(digest) for s in ordered]
