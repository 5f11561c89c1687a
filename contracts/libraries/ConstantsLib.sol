// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ConstantsLib
/// @notice Constants shared by the registry, its libraries, the example consumer and the test contracts, so each
/// is written once. `oracle/types.py` (BPS) and `oracle/signing.py` (the EIP-712 types) are their Python mirrors,
/// checked against these by the signing parity tests.

/// @dev Basis points in one: 10,000 bps = 100 %.
uint256 constant BPS = 10_000;

/// @dev EIP-712 type of one market's new values.
string constant MARKET_UPDATE_TYPE =
    "MarketUpdate(bytes32 market,uint16 ltvBps,uint16 liquidationThresholdBps,uint16 liquidationBonusBps)";

/// @dev The fields a `Batch` and a `ProposalBatch` share, after the type name.
string constant BATCH_FIELDS =
    "(uint256 chainId,uint256 nonce,uint256 deadline,bytes32 inputsHash,bytes32 modelVersion,MarketUpdate[] updates)";

/// @dev EIP-712 typehash of `MarketUpdate`.
bytes32 constant MARKET_UPDATE_TYPEHASH = keccak256(bytes(MARKET_UPDATE_TYPE));

/// @dev EIP-712 typehash of a fast-path batch (`submitUpdates`).
bytes32 constant BATCH_TYPEHASH = keccak256(abi.encodePacked("Batch", BATCH_FIELDS, MARKET_UPDATE_TYPE));

/// @dev EIP-712 typehash of a governance-path batch (`proposeUpdates`): a distinct name, so a signature for one
/// path can never be relayed on the other.
bytes32 constant PROPOSAL_BATCH_TYPEHASH =
    keccak256(abi.encodePacked("ProposalBatch", BATCH_FIELDS, MARKET_UPDATE_TYPE));
