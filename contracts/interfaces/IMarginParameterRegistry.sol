// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IMarginParameters} from "./IMarginParameters.sol";

/// @notice New values for one market inside a signed batch (also the EIP-712 type `MarketUpdate`).
struct MarketUpdate {
    bytes32 market;
    uint16 ltvBps;
    uint16 liquidationThresholdBps;
    uint16 liquidationBonusBps;
}

/// @notice A batch signed by the signer set (EIP-712 type `Batch` for the fast path, `ProposalBatch` for the
/// governance path; both have these fields).
/// @param chainId Chain the batch is meant for; also part of the EIP-712 domain.
/// @param nonce Must equal the registry's `batchNonce()`; consumed by the batch.
/// @param deadline Last timestamp at which the batch may be submitted.
/// @param inputsHash Hash of the canonical market snapshot the values were computed from (see the keeper's store).
/// @param modelVersion Version of the risk model, a short ASCII string right-padded with zeros.
/// @param updates One entry per market, sorted by strictly increasing market id.
struct Batch {
    uint256 chainId;
    uint256 nonce;
    uint256 deadline;
    bytes32 inputsHash;
    bytes32 modelVersion;
    MarketUpdate[] updates;
}

/// @notice Limits that signed updates must respect, set by governance as numbered profiles shared by markets
/// (e.g. one for blue chips, one for stablecoins), so one vote can move the limits of many markets.
/// @dev A step is the absolute change of one field in one update. Tightening means a lower LTV, a lower liquidation
/// threshold or a higher bonus; loosening is the opposite.
struct Guardrails {
    uint16 minLtvBps;
    uint16 maxLtvBps;
    uint16 minLiquidationThresholdBps;
    uint16 maxLiquidationThresholdBps;
    uint16 minLiquidationBonusBps;
    uint16 maxLiquidationBonusBps;
    uint16 maxTightenStepBps;
    uint16 maxLoosenStepBps;
    uint32 minLoosenInterval;
    uint32 thresholdRampDuration;
}

/// @notice Which parameter a guardrail error refers to.
enum Field {
    Ltv,
    LiquidationThreshold,
    LiquidationBonus
}

/// @notice A queued change outside the guardrails, executable by governance after the timelock.
enum ProposalStatus {
    None,
    Queued,
    Executed,
    Cancelled
}

struct Proposal {
    bytes32 market;
    uint16 ltvBps;
    uint16 liquidationThresholdBps;
    uint16 liquidationBonusBps;
    uint40 eta;
    ProposalStatus status;
}

/// @title IMarginParameterRegistry
/// @notice The margin-parameter registry: signed, guard-railed updates from the keeper's signer set, a timelocked
/// governance path for changes beyond the guardrails, and an emergency guardian who can only pause or tighten.
interface IMarginParameterRegistry is IMarginParameters {
    /* ERRORS: AUTHORISATION */

    /// @notice Thrown when a caller other than governance calls a governance function.
    error NotGovernance(address caller);
    /// @notice Thrown when a caller other than the guardian or governance calls a guardian function.
    error NotGuardian(address caller);
    /// @notice Thrown when `acceptGovernance` is called by an account other than the pending governance.
    error NotPendingGovernance(address caller);
    /// @notice Thrown when the registry is deployed without governance (nobody could ever configure it).
    error ZeroGovernance();
    /// @notice Thrown when signed updates are submitted while the registry is paused.
    error RegistryPaused();

    /* ERRORS: SIGNED BATCHES */

    /// @notice Thrown when a batch is submitted after its deadline.
    error SignatureExpired(uint256 deadline, uint256 timestamp);
    /// @notice Thrown when a batch was signed for another chain.
    error WrongChain(uint256 signedChainId, uint256 chainId);
    /// @notice Thrown when a batch's nonce was already consumed (a replay).
    error NonceAlreadyUsed(uint256 nonce, uint256 expected);
    /// @notice Thrown when a batch's nonce is ahead of the registry's (submitted out of order).
    error NonceOutOfOrder(uint256 nonce, uint256 expected);
    /// @notice Thrown when fewer signatures than the threshold are given.
    error NotEnoughSignatures(uint256 provided, uint256 threshold);
    /// @notice Thrown when a signature cannot be parsed or recovered (wrong length, zero address).
    error InvalidSignature(uint256 index);
    /// @notice Thrown when a signature uses the upper half of `s` (malleable form).
    error MalleableSignature(uint256 index);
    /// @notice Thrown when a signature recovers to an address outside the signer set (tampered or foreign batch).
    error UnknownSigner(uint256 index, address recovered);
    /// @notice Thrown when the same signer signs twice.
    error DuplicateSigner(uint256 index, address signer);
    /// @notice Thrown when signatures are not ordered by strictly increasing signer address.
    error SignersNotSorted(uint256 index, address signer, address previous);
    /// @notice Thrown when a batch holds no updates.
    error EmptyBatch();
    /// @notice Thrown when a batch's markets are not in strictly increasing order (this also forbids duplicates).
    error MarketsNotSorted(uint256 index, bytes32 market);

    /* ERRORS: GUARDRAILS */

    /// @notice Thrown when a signed update targets a market without a guardrail profile.
    error MarketNotConfigured(bytes32 market);
    /// @notice Thrown when a market is assigned a profile that governance has not set.
    error ProfileNotConfigured(uint16 profile);
    /// @notice Thrown when a value lies outside the market's [min, max] for that field.
    error OutOfBounds(bytes32 market, Field field, uint256 value, uint256 min, uint256 max);
    /// @notice Thrown when a field moves by more than the market's maximum step in that direction.
    error StepTooLarge(bytes32 market, Field field, uint256 from, uint256 to, uint256 maxStep);
    /// @notice Thrown when a loosening update comes before `minLoosenInterval` has passed since the last one.
    error LoosenTooSoon(bytes32 market, uint256 lastLoosenAt, uint256 nextAllowedAt);
    /// @notice Thrown when the LTV is not strictly below the liquidation threshold.
    error LtvNotBelowThreshold(bytes32 market, uint256 ltvBps, uint256 liquidationThresholdBps);
    /// @notice Thrown when `liquidationThresholdBps * (10_000 + liquidationBonusBps) > 10_000 ** 2`.
    error BonusExceedsCollateral(bytes32 market, uint256 liquidationThresholdBps, uint256 liquidationBonusBps);
    /// @notice Thrown when a value is above 10_000 bps.
    error AboveOneHundredPercent(bytes32 market, Field field, uint256 value);
    /// @notice Thrown when the guardian's change would loosen a field.
    error GuardianCanOnlyTighten(bytes32 market, Field field, uint256 from, uint256 to);
    /// @notice Thrown when governance sets inconsistent guardrails or uses profile id 0.
    error InvalidGuardrails(uint16 profile);
    /// @notice Thrown when governance sets a signer set that is empty, holds the zero address or duplicates, or a
    /// threshold of zero or above the number of signers.
    error InvalidSignerSet();

    /* ERRORS: PROPOSALS */

    /// @notice Thrown when a proposal id does not exist or is not queued.
    error ProposalNotQueued(uint256 id, ProposalStatus status);
    /// @notice Thrown when a proposal is executed before its timelock expired.
    error TimelockNotExpired(uint256 id, uint256 eta, uint256 timestamp);

    /* EVENTS */

    /// @notice Emitted once per accepted signed batch.
    event BatchSubmitted(uint256 indexed nonce, bytes32 indexed inputsHash, bytes32 modelVersion, uint256 updates);
    /// @notice Emitted when a market's values change (signed update, governance execution or guardian).
    /// @param change New and previous values packed into one word (one data word instead of seven saves about
    /// 1,500 gas per market). From the low bits, 16 bits each: new `ltvBps`, new `liquidationThresholdBps`
    /// (the target; a decrease reaches it at the ramp end), new `liquidationBonusBps`, then the previous three in
    /// the same order; bits 96-135 hold the threshold ramp's end timestamp (0: no ramp).
    event ParametersUpdated(bytes32 indexed market, uint256 change);
    /// @notice Emitted when a signed batch refreshes a market without changing its values.
    event Heartbeat(bytes32 indexed market);
    event GuardrailProfileSet(uint16 indexed profile, Guardrails previous, Guardrails guardrails);
    event MarketProfileAssigned(bytes32 indexed market, uint16 previous, uint16 profile);
    event SignerSetChanged(address[] signers, uint256 threshold);
    event ProposalQueued(
        uint256 indexed id,
        bytes32 indexed market,
        uint16 ltvBps,
        uint16 liquidationThresholdBps,
        uint16 liquidationBonusBps,
        uint40 eta,
        bytes32 inputsHash,
        bytes32 modelVersion
    );
    event ProposalExecuted(uint256 indexed id, bytes32 indexed market);
    event ProposalCancelled(uint256 indexed id, bytes32 indexed market);
    event Paused(address indexed by);
    event Unpaused(address indexed by);
    event GuardianChanged(address previous, address guardian);
    event TimelockDelayChanged(uint256 previous, uint256 delay);
    event GovernanceTransferStarted(address indexed current, address indexed pending);
    event GovernanceTransferred(address indexed previous, address indexed governance);

    /* SIGNED (ANYONE MAY RELAY) */

    /// @notice Applies a batch signed by at least `threshold()` signers; entries equal to the current values are
    /// heartbeats. Reverts if any entry breaks its market's guardrails: nothing is applied then.
    /// @param signatures 65-byte signatures over the EIP-712 `Batch`, ordered by increasing signer address.
    function submitUpdates(Batch calldata batch, bytes[] calldata signatures) external;

    /// @notice Queues the batch's entries as governance proposals (the route for changes beyond the guardrails).
    /// @param signatures 65-byte signatures over the EIP-712 `ProposalBatch`, ordered by increasing signer address.
    /// @return firstId Id of the first proposal; the others follow consecutively.
    function proposeUpdates(Batch calldata batch, bytes[] calldata signatures) external returns (uint256 firstId);

    /* GOVERNANCE */

    function propose(MarketUpdate[] calldata updates) external returns (uint256 firstId);
    /// @notice Applies a queued proposal after its eta; bounds and steps are waived, invariants are not.
    function execute(uint256 id) external;
    function cancel(uint256 id) external;
    /// @notice Sets guardrail profile `profile` (1-65535); it applies at once to every market assigned to it.
    function setGuardrailProfile(uint16 profile, Guardrails calldata guardrails) external;
    /// @notice Puts markets under a profile that governance has set; profile 0 takes them off the signed path.
    function assignProfile(bytes32[] calldata markets, uint16 profile) external;
    function setSigners(address[] calldata signers, uint256 threshold) external;
    function setGuardian(address guardian) external;
    function setTimelockDelay(uint256 delay) external;
    function unpause() external;
    function transferGovernance(address pending) external;
    function acceptGovernance() external;

    /* GUARDIAN */

    /// @notice Stops signed updates and signed proposals. Reads and governance keep working.
    function pause() external;
    /// @notice Lowers LTV or threshold or raises the bonus at once (threshold cuts still ramp), without the timelock.
    function tighten(MarketUpdate calldata update) external;

    /* VIEWS */

    function batchNonce() external view returns (uint256);
    function threshold() external view returns (uint256);
    function signers() external view returns (address[] memory);
    function isSigner(address account) external view returns (bool);
    /// @notice The guardrails in force for `market` (its profile's; all zero when it has none).
    function guardrails(bytes32 market) external view returns (Guardrails memory);
    function guardrailProfile(uint16 profile) external view returns (Guardrails memory);
    function marketProfile(bytes32 market) external view returns (uint16);
    function proposal(uint256 id) external view returns (Proposal memory);
    function proposalCount() external view returns (uint256);
    function paused() external view returns (bool);
    function governance() external view returns (address);
    function pendingGovernance() external view returns (address);
    function guardian() external view returns (address);
    function timelockDelay() external view returns (uint256);
    /// @notice Stored state of a market: target threshold and ramp, for tools that need more than `getParameters`.
    function marketState(bytes32 market)
        external
        view
        returns (
            uint16 ltvBps,
            uint16 targetLiquidationThresholdBps,
            uint16 liquidationBonusBps,
            uint40 updatedAt,
            uint16 rampStartThresholdBps,
            uint40 rampStart,
            uint40 rampEnd,
            uint40 lastLoosenAt,
            uint16 guardrailProfile
        );
    /// @notice EIP-712 digest the signers sign for `batch` (`proposal` selects the `ProposalBatch` type).
    function hashBatch(Batch calldata batch, bool proposal) external view returns (bytes32);
}
