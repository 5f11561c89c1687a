// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IPortfolioMargin} from "./IPortfolioMargin.sol";

/// @notice One asset's new array inside a signed batch (also the EIP-712 type `RiskArrayUpdate`).
/// @param asset The asset's id, `keccak256(bytes(symbol))`.
/// @param moves The 16 scenario moves packed 12 bits each, row 0 in the lowest bits, each a two's-complement count
/// of 10 bps units (−2,048 to 2,047, so −204.8 % to +204.7 %); bits 192 and up must be zero. Packed because one
/// word costs 32 bytes of calldata where sixteen ABI-encoded negative `int16` would cost 512.
/// @param floorUnits The least margin per unit of exposure, in 10 bps units.
/// @param depth The notional whose sale costs 1 % slippage, as a 16-bit decimal float: `(depth & 0xfff) *
/// 10 ** (depth >> 12)` whole USD (the keeper rounds it down, so the add-on errs high).
struct RiskArrayUpdate {
    bytes32 asset;
    uint256 moves;
    uint8 floorUnits;
    uint16 depth;
}

/// @notice A batch of arrays signed by the registry's signer set (EIP-712 type `RiskArrayBatch`).
/// @param chainId Chain the batch is meant for; also part of the EIP-712 domain.
/// @param nonce Must equal `batchNonce()` (this contract's own sequence, apart from the registry's).
/// @param deadline Last timestamp at which the batch may be submitted (at most the registry's `maxBatchLifetime()`
/// ahead of the block).
/// @param inputsHash Hash of the inputs the arrays were computed from (see the keeper's inputs bundles).
/// @param modelVersion Version of the model, a short ASCII string right-padded with zeros.
/// @param scenarioSet The scenario set every array of the batch is published under.
/// @param arrays One entry per asset, in strictly increasing asset id order.
struct RiskArrayBatch {
    uint256 chainId;
    uint256 nonce;
    uint256 deadline;
    bytes32 inputsHash;
    bytes32 modelVersion;
    uint8 scenarioSet;
    RiskArrayUpdate[] arrays;
}

/// @notice A scenario set: what governance fixes about a family of 16-row arrays. Its rows mean the same thing for
/// every asset published under it (e.g. row 0: the market factor at −z σ); a set whose rows change meaning gets a
/// new id. Moves are in 10 bps units.
/// @param weightPct Weight of each row's loss, in percent (100 for the scan rows, e.g. 35 for SPAN's extreme rows).
/// @param minMoves Lowest move a signed array may set per row (−2,048 to 2,047).
/// @param maxMoves Highest move a signed array may set per row.
/// @param minFloorUnits Lowest floor a signed array may set.
/// @param maxFloorUnits Highest floor a signed array may set.
/// @param maxStepUnits Largest change of one move or of the floor in one update.
/// @param widenUnitsPerHour How fast a move's magnitude or the floor may grow: at most this many units per hour
/// since the asset's last publication (and at most `maxStepUnits`). Growing margins liquidate too, so they are
/// rate-limited as well, only faster than shrinking ones.
/// @param narrowUnitsPerDay How fast a move's magnitude or the floor may shrink: units per day since the asset's
/// last publication (at most `maxStepUnits`).
/// @param maxDepthGrowthPct How fast the depth may grow: by at most this percentage per day since the last
/// publication; it may fall by at most half per update.
/// @param maxAge Seconds after which reads of the set's arrays revert (`StaleRiskArray`).
/// @param active False retires the set: every margin read on it reverts and nothing more is published under it.
/// @param factorPairs k: rows 0-1, 2-3, …, 2k-2 to 2k-1 are orthogonal factors at −z and +z (weight 100), and the
/// margin takes the norm of the book's losses over rows 0, 2, …, 2k-2 (its joint, elliptical risk in the factors'
/// span) together with the floor sum (the residual's bound) besides each row alone; at most 8. 0: every row alone
/// or the floor sum, as SPAN.
struct ScenarioSet {
    uint8[16] weightPct;
    int16[16] minMoves;
    int16[16] maxMoves;
    uint8 minFloorUnits;
    uint8 maxFloorUnits;
    uint16 maxStepUnits;
    uint16 widenUnitsPerHour;
    uint16 narrowUnitsPerDay;
    uint16 maxDepthGrowthPct;
    uint32 maxAge;
    bool active;
    uint8 factorPairs;
}

/// @notice Which part of an array a guardrail error refers to.
enum ArrayField {
    Move,
    Floor,
    Depth
}

/// @title IRiskArrays
/// @notice Per-asset stress-scenario arrays, published by the margin-parameter registry's signer set in signed,
/// guard-railed batches, under scenario sets that the registry's governance defines; read through
/// `IPortfolioMargin`.
/// @dev Shares the registry's signer set, threshold, batch lifetime, pause switch and governance by reading them
/// from the registry at each call: one place to rotate a key or pause.
interface IRiskArrays is IPortfolioMargin {
    /* ERRORS */

    /// @notice Thrown when a caller other than the registry's governance calls a governance function.
    error NotGovernance(address caller);
    /// @notice Thrown when arrays are submitted while the registry is paused.
    error RegistryPaused();
    /// @notice Thrown when a batch is submitted after its deadline.
    error SignatureExpired(uint256 deadline, uint256 timestamp);
    /// @notice Thrown when a batch's deadline lies further ahead than the registry's `maxBatchLifetime()`.
    error DeadlineTooFar(uint256 deadline, uint256 latestAllowed);
    /// @notice Thrown when a batch was signed for another chain.
    error WrongChain(uint256 signedChainId, uint256 chainId);
    /// @notice Thrown when a batch's nonce was already consumed (a replay).
    error NonceAlreadyUsed(uint256 nonce, uint256 expected);
    /// @notice Thrown when a batch's nonce is ahead of `batchNonce()`.
    error NonceOutOfOrder(uint256 nonce, uint256 expected);
    /// @notice Thrown when fewer signatures than the registry's threshold are given.
    error NotEnoughSignatures(uint256 provided, uint256 threshold);
    /// @notice Thrown when a signature cannot be parsed or recovered.
    error InvalidSignature(uint256 index);
    /// @notice Thrown when a signature uses the upper half of `s` (malleable form).
    error MalleableSignature(uint256 index);
    /// @notice Thrown when a signature recovers to an address outside the registry's signer set.
    error UnknownSigner(uint256 index, address recovered);
    /// @notice Thrown when the same signer signs twice.
    error DuplicateSigner(uint256 index, address signer);
    /// @notice Thrown when signatures are not ordered by strictly increasing signer address.
    error SignersNotSorted(uint256 index, address signer, address previous);
    /// @notice Thrown when a batch holds no arrays.
    error EmptyBatch();
    /// @notice Thrown when a batch names scenario set 0 or a set governance has not configured or has retired.
    error ScenarioSetNotActive(uint256 scenarioSet);
    /// @notice Thrown when governance sets an inconsistent scenario set (id 0, a bound outside 12 bits, a minimum
    /// above its maximum, a weight above 100, a zero `maxAge` or a zero `maxStepUnits`, more than 8 factor pairs or
    /// a factor row not weighted 100).
    error InvalidScenarioSet(uint256 scenarioSet);
    /// @notice Thrown when an entry's `moves` has bits above the 16 packed rows.
    error MalformedMoves(bytes32 asset);
    /// @notice Thrown when a value lies outside the set's bounds (`row` is the scenario row for a move).
    error ArrayOutOfBounds(bytes32 asset, ArrayField field, uint256 row, int256 value, int256 min, int256 max);
    /// @notice Thrown when a value changes by more than the set's rates allow since the asset's last publication.
    error ArrayStepTooLarge(bytes32 asset, ArrayField field, uint256 row, int256 from, int256 to, uint256 allowed);

    /* EVENTS */

    /// @notice Emitted once per accepted batch.
    event RiskArraysSubmitted(
        uint256 indexed nonce, bytes32 indexed inputsHash, bytes32 modelVersion, uint256 scenarioSet, uint256 arrays
    );
    /// @notice Emitted for each asset published: its stored word (moves in bits 0-191, updatedAt 192-223, scenario
    /// set 224-231, floor units 232-239, depth 240-255), so the history can be rebuilt from logs alone.
    event RiskArrayPublished(bytes32 indexed asset, uint256 word);
    /// @notice Emitted when governance sets or retires a scenario set.
    event ScenarioSetChanged(uint256 indexed scenarioSet, ScenarioSet config);

    /* SIGNED (ANYONE MAY RELAY) */

    /// @notice Publishes a batch signed by at least the registry's `threshold()` of its signers. Reverts if any
    /// entry breaks its set's guardrails: nothing is applied then. An asset's first array under a set (or one moving
    /// from another set, whose rows meant something else) is checked against the bounds only.
    /// @param signatures 65-byte signatures over the EIP-712 `RiskArrayBatch`, ordered by increasing signer address.
    function submitRiskArrays(RiskArrayBatch calldata batch, bytes[] calldata signatures) external;

    /* GOVERNANCE (THE REGISTRY'S) */

    /// @notice Sets (or, with `active` false, retires) scenario set `id` (1 to 255). Weights and `maxAge` apply to
    /// every read from then on.
    function setScenarioSet(uint8 id, ScenarioSet calldata config) external;

    /* VIEWS */

    /// @notice The registry whose signer set, governance and pause switch this contract follows.
    function registry() external view returns (address);

    /// @notice An asset's stored word, as `RiskArrayPublished` carries it (0 if never published).
    function arrayWord(bytes32 asset) external view returns (uint256);

    /// @notice The nonce the next batch must carry.
    function batchNonce() external view returns (uint256);

    /// @notice Scenario set `id` as governance set it (all zeros if never set).
    function scenarioSet(uint8 id) external view returns (ScenarioSet memory);

    /// @notice EIP-712 digest of `batch` for this contract and chain (what the signers sign).
    function hashBatch(RiskArrayBatch calldata batch) external view returns (bytes32);

    /// @notice The contract's release.
    function version() external pure returns (string memory);
}
