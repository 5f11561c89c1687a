// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ConstantsLib
/// @notice Constants shared by the registry, its libraries, the example consumer and the test contracts, so each
/// is written once. Their Python mirrors: `oracle/types.py` (BPS), `oracle/signing/__init__.py` (the EIP-712 types, proven
/// equal by the signing parity tests: the registry accepts Python-signed batches) and `oracle/policy/rules.py`
/// (the limits below, proven equal by the contract tests of each limit).

/// @dev Basis points in one: 10,000 bps = 100 %.
uint256 constant BPS = 10_000;

/// @dev The registry's release, returned by `version()`. 1.1.0 added `version()` itself; 1.0.0 was the registry with
/// signed batches, guardrail profiles, threshold ramps, proposals and the guardian.
string constant REGISTRY_VERSION = "1.1.0";

// The EIP-712 typehashes are written as literals. Written as `keccak256(abi.encodePacked(...))` of shared string
// constants, they were hashed at run time (the strings sat in the bytecode; the gas baseline paid 307 more gas per market in a batch of
// 50). `oracle.signing.typehash` derives each from the Python typed data; `tests/oracle/test_config_and_signing.py`
// checks the two agree, and the signing parity tests that the registry accepts what Python signs.

/// @dev keccak256("MarketUpdate(bytes32 market,uint16 ltvBps,uint16 liquidationThresholdBps,
/// uint16 liquidationBonusBps)"), one line: the EIP-712 typehash of one market's new values.
bytes32 constant MARKET_UPDATE_TYPEHASH = 0xcd0739705ff950ac7d0cd09cf61f23a3fe359c5477e3ae54385f016f8bad970e;

/// @dev keccak256("Batch(uint256 chainId,uint256 nonce,uint256 deadline,bytes32 inputsHash,bytes32 modelVersion,
/// MarketUpdate[] updates)MarketUpdate(...)"), one line: the EIP-712 typehash of a fast-path batch (`submitUpdates`).
bytes32 constant BATCH_TYPEHASH = 0xc99faea0a0c093cd86b268c1a0c4e67b0674382eeeeca7c2004649065653fae1;

/// @dev keccak256("ProposalBatch(" the same fields ")MarketUpdate(...)"): the EIP-712 typehash of a governance-path
/// batch (`proposeUpdates`). A distinct name, so a signature for one path can never be relayed on the other.
bytes32 constant PROPOSAL_BATCH_TYPEHASH = 0x0acb28ce0b01328fdfe434e180785d458960cc4b130d475f4f1a1130a144abf8;

/// @dev Most proposals one signed `proposeUpdates` batch may queue: each costs governance a review.
uint256 constant MAX_PROPOSALS_PER_BATCH = 32;

/// @dev Bounds of the durations governance sets, so none can wrap a 40-bit timestamp or freeze a path for good.
uint256 constant MAX_TIMELOCK_DELAY = 30 days;
/// @dev Shortest and longest time a queued proposal stays executable after its eta.
uint256 constant MIN_PROPOSAL_GRACE_PERIOD = 1 days;
uint256 constant MAX_PROPOSAL_GRACE_PERIOD = 90 days;
/// @dev Shortest and longest a signed batch's deadline may lie after the block that includes it.
uint256 constant MIN_BATCH_LIFETIME = 1 minutes;
uint256 constant MAX_BATCH_LIFETIME = 1 days;
/// @dev Longest loosening interval and threshold ramp a guardrail profile may set.
uint256 constant MAX_LOOSEN_INTERVAL = 30 days;
uint256 constant MAX_RAMP_DURATION = 7 days;
/// @dev Longest update interval a profile may set: the seconds since a market's last signed change are kept in 16
/// bits of its word, saturating here, so a longer interval could never be seen to have passed.
uint256 constant MAX_UPDATE_INTERVAL = type(uint16).max;

/// @dev Defaults at deployment, changeable by governance within the bounds above.
uint256 constant DEFAULT_PROPOSAL_GRACE_PERIOD = 14 days;
uint256 constant DEFAULT_BATCH_LIFETIME = 1 hours;
