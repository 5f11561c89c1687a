// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IMarginParameters} from "./IMarginParameters.sol";

/// @notice New values for one market inside a signed batch (also the EIP-712 type `MarketUpdate`).
/// @param market The market's id, `keccak256(bytes(symbol))`, e.g. `keccak256("ETH/USD")`.
/// @param ltvBps Loan-to-value: the largest debt a new borrow may reach, in bps of the collateral's value.
/// @param liquidationThresholdBps Debt above this share of the collateral's value may be liquidated.
/// @param liquidationBonusBps What a liquidator receives on top of the debt repaid, in bps of that debt.
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
/// @param minLtvBps Lowest LTV a signed update may set.
/// @param maxLtvBps Highest LTV a signed update may set; below `maxLiquidationThresholdBps`.
/// @param minLiquidationThresholdBps Lowest liquidation threshold a signed update may set.
/// @param maxLiquidationThresholdBps Highest liquidation threshold a signed update may set; at most 10,000.
/// @param minLiquidationBonusBps Lowest liquidation bonus a signed update may set.
/// @param maxLiquidationBonusBps Highest liquidation bonus a signed update may set; at most 10,000.
/// @param maxTightenStepBps Largest tightening move of one field in one update.
/// @param maxLoosenStepBps Largest loosening move of one field in one update.
/// @param minLoosenInterval Seconds that must pass between two loosening updates of a market.
/// @param thresholdRampDuration Seconds over which a threshold cut is reached linearly (0: at once; at most 7 days).
/// @param minUpdateInterval Seconds that must pass between two value-changing signed updates of a market (1 to
/// 65,535): it turns the per-update steps into rates. Heartbeats are never held back.
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
    uint16 minUpdateInterval;
}

/// @notice Which parameter a guardrail error refers to.
enum Field {
    Ltv,
    LiquidationThreshold,
    LiquidationBonus
}

/// @notice Where a proposal stands: `None` (no such id), `Queued` (waiting for its eta, cancellable; it expires at
/// `expiresAt`), `Executed`, `Cancelled`, or `Superseded` (a newer proposal for the same market was queued).
enum ProposalStatus {
    None,
    Queued,
    Executed,
    Cancelled,
    Superseded
}

/// @notice The durations governance sets, each bounded (see `ConstantsLib`).
enum Duration {
    TimelockDelay,
    ProposalGracePeriod,
    MaxBatchLifetime,
    MinLoosenInterval,
    ThresholdRampDuration,
    MinUpdateInterval
}

/// @notice A queued change outside the guardrails, executable by governance after the timelock.
/// @param market The market the values are for.
/// @param ltvBps Proposed LTV.
/// @param liquidationThresholdBps Proposed liquidation threshold (a cut still ramps in when executed).
/// @param liquidationBonusBps Proposed liquidation bonus.
/// @param eta Earliest timestamp at which governance may execute it.
/// @param expiresAt Last timestamp at which it may be executed (eta plus the grace period when it was queued).
/// @param status Where it stands.
/// @param fromSigners Queued by the signer set (`proposeUpdates`) rather than by governance (`propose`).
struct Proposal {
    bytes32 market;
    uint16 ltvBps;
    uint16 liquidationThresholdBps;
    uint16 liquidationBonusBps;
    uint40 eta;
    uint40 expiresAt;
    ProposalStatus status;
    bool fromSigners;
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
    /// @notice Thrown when a signed update changes a market's values before `minUpdateInterval` has passed since its
    /// last signed change (heartbeats are exempt).
    error UpdateTooSoon(bytes32 market, uint256 lastChangeAt, uint256 nextAllowedAt);
    /// @notice Thrown when a batch's deadline lies further after the current block than `maxBatchLifetime()`.
    error DeadlineTooFar(uint256 deadline, uint256 latestAllowed);
    /// @notice Thrown when a governance setter is given a duration outside its bounds.
    error DurationOutOfRange(Duration duration, uint256 value, uint256 min, uint256 max);
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
    /// @notice Thrown when a proposal is executed after its grace period ended.
    error ProposalExpired(uint256 id, uint256 expiresAt, uint256 timestamp);
    /// @notice Thrown when a signed proposal batch holds more than `MAX_PROPOSALS_PER_BATCH` entries.
    error TooManyProposals(uint256 count, uint256 max);
    /// @notice Thrown when a signed proposal would supersede governance's own proposal for the market while it can
    /// still be executed.
    error GovernanceProposalPending(bytes32 market, uint256 id);

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
    /// @notice Emitted when governance sets a guardrail profile; `previous` is all zeros for a new profile.
    event GuardrailProfileSet(uint16 indexed profile, Guardrails previous, Guardrails guardrails);
    /// @notice Emitted for each market put under a profile (0: taken off the signed path).
    event MarketProfileAssigned(bytes32 indexed market, uint16 previous, uint16 profile);
    /// @notice Emitted when the signer set or the signature threshold changes (and once at deployment).
    event SignerSetChanged(address[] signers, uint256 threshold);
    /// @notice Emitted for each proposal queued, by the signed path (`inputsHash` and `modelVersion` of its batch)
    /// or by governance (both zero).
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
    /// @notice Emitted when governance executes a proposal (a `ParametersUpdated` for the market precedes it).
    event ProposalExecuted(uint256 indexed id, bytes32 indexed market);
    /// @notice Emitted when governance cancels a queued proposal.
    event ProposalCancelled(uint256 indexed id, bytes32 indexed market);
    /// @notice Emitted when a queued proposal is superseded by a newer one for the same market.
    event ProposalSuperseded(uint256 indexed id, uint256 indexed by, bytes32 indexed market);
    /// @notice Emitted when the grace period of proposals queued from now on changes (and once at deployment).
    event ProposalGracePeriodChanged(uint256 previous, uint256 gracePeriod);
    /// @notice Emitted when the maximum batch lifetime changes (and once at deployment).
    event MaxBatchLifetimeChanged(uint256 previous, uint256 lifetime);
    /// @notice Emitted when the guardian (or governance) pauses the signed path.
    event Paused(address indexed by);
    /// @notice Emitted when governance reopens the signed path.
    event Unpaused(address indexed by);
    /// @notice Emitted when the guardian changes (and once at deployment, from the zero address).
    event GuardianChanged(address previous, address guardian);
    /// @notice Emitted when the timelock delay changes (and once at deployment, from 0).
    event TimelockDelayChanged(uint256 previous, uint256 delay);
    /// @notice Emitted when governance names a successor, who must call `acceptGovernance`.
    event GovernanceTransferStarted(address indexed current, address indexed pending);
    /// @notice Emitted when governance changes hands (and once at deployment, from the zero address).
    event GovernanceTransferred(address indexed previous, address indexed governance);

    /* SIGNED (ANYONE MAY RELAY) */

    /// @notice Applies a batch signed by at least `threshold()` signers; entries equal to the current values are
    /// heartbeats. Reverts if any entry breaks its market's guardrails: nothing is applied then.
    /// @param signatures 65-byte signatures over the EIP-712 `Batch`, ordered by increasing signer address.
    function submitUpdates(Batch calldata batch, bytes[] calldata signatures) external;

    /// @notice Queues the batch's entries as governance proposals (the route for changes beyond the guardrails),
    /// each superseding the signer set's queued proposal for its market (never governance's own while it can still
    /// be executed: `GovernanceProposalPending`). At most `MAX_PROPOSALS_PER_BATCH` entries, each for a market under
    /// a guardrail profile: bringing a new market on is governance's own act (`propose`).
    /// @param signatures 65-byte signatures over the EIP-712 `ProposalBatch`, ordered by increasing signer address.
    /// @return firstId Id of the first proposal; the others follow consecutively.
    function proposeUpdates(Batch calldata batch, bytes[] calldata signatures) external returns (uint256 firstId);

    /* GOVERNANCE */

    /// @notice Queues governance's own changes behind the timelock (governance only), each superseding any queued
    /// proposal for its market; invariants are checked now and again at execution.
    /// @return firstId Id of the first proposal; the others follow consecutively.
    function propose(MarketUpdate[] calldata updates) external returns (uint256 firstId);
    /// @notice Applies a queued proposal between its eta and its expiry (governance only); bounds, steps and the
    /// update interval are waived, invariants and the threshold ramp are not.
    function execute(uint256 id) external;
    /// @notice Vetoes a queued proposal (governance only).
    function cancel(uint256 id) external;
    /// @notice Sets guardrail profile `profile` (1-65535); it applies at once to every market assigned to it.
    function setGuardrailProfile(uint16 profile, Guardrails calldata guardrails) external;
    /// @notice Puts markets under a profile that governance has set; profile 0 takes them off the signed path.
    function assignProfile(bytes32[] calldata markets, uint16 profile) external;
    /// @notice Replaces the signer set and the number of signatures a batch needs (m of n, 1 ≤ m ≤ n ≤ 255).
    function setSigners(address[] calldata signers, uint256 threshold) external;
    /// @notice Names the emergency guardian (governance only); the zero address leaves pausing to governance.
    function setGuardian(address guardian) external;
    /// @notice Sets the delay, in seconds, between queuing a proposal and its earliest execution (at most 30 days).
    function setTimelockDelay(uint256 delay) external;
    /// @notice Sets how long, after its eta, a proposal queued from now on stays executable (1 to 90 days).
    function setProposalGracePeriod(uint256 gracePeriod) external;
    /// @notice Sets how far after the including block a signed batch's deadline may lie (1 minute to 1 day): a batch
    /// the keeper re-signed with fresher values cannot be relayed in its older form for long.
    function setMaxBatchLifetime(uint256 lifetime) external;
    /// @notice Reopens the signed path after a pause (governance only: the guardian cannot undo its own brake).
    function unpause() external;
    /// @notice First step of a governance handover: names `pending`, who must accept.
    function transferGovernance(address pending) external;
    /// @notice Second step of a governance handover, called by the pending governance.
    function acceptGovernance() external;

    /* GUARDIAN */

    /// @notice Stops signed updates and signed proposals. Reads and governance keep working.
    function pause() external;
    /// @notice Lowers LTV or threshold or raises the bonus at once (threshold cuts still ramp), without the timelock;
    /// restarts the market's loosening clock, so the signed path cannot undo the cut before `minLoosenInterval`.
    function tighten(MarketUpdate calldata update) external;

    /* VIEWS */

    /// @notice The nonce the next signed batch (either path) must carry; it rises by one per accepted batch.
    function batchNonce() external view returns (uint256);
    /// @notice How many distinct signers a batch needs.
    function threshold() external view returns (uint256);
    /// @notice The signer set.
    function signers() external view returns (address[] memory);
    /// @notice Whether `account` is in the signer set.
    function isSigner(address account) external view returns (bool);
    /// @notice The guardrails in force for `market` (its profile's; all zero when it has none).
    function guardrails(bytes32 market) external view returns (Guardrails memory);
    /// @notice Guardrail profile `profile` (all zero when governance never set it).
    function guardrailProfile(uint16 profile) external view returns (Guardrails memory);
    /// @notice The profile `market` is under (0: none, the signed path is closed for it).
    function marketProfile(bytes32 market) external view returns (uint16);
    /// @notice Proposal `id` (status `None` when it does not exist).
    function proposal(uint256 id) external view returns (Proposal memory);
    /// @notice How many proposals were ever queued; ids run from 0 to `proposalCount() - 1`.
    function proposalCount() external view returns (uint256);
    /// @notice Whether the signed path is paused.
    function paused() external view returns (bool);
    /// @notice The governance account (configures everything, executes and cancels proposals).
    function governance() external view returns (address);
    /// @notice The account named by `transferGovernance` that has not accepted yet (zero when none).
    function pendingGovernance() external view returns (address);
    /// @notice The emergency guardian (may pause and tighten only).
    function guardian() external view returns (address);
    /// @notice Seconds between queuing a proposal and its earliest execution.
    function timelockDelay() external view returns (uint256);
    /// @notice Seconds a proposal queued now stays executable after its eta.
    function proposalGracePeriod() external view returns (uint256);
    /// @notice Longest a signed batch's deadline may lie after the block that includes it, in seconds.
    function maxBatchLifetime() external view returns (uint256);
    /// @notice Id of the latest proposal queued for `market`, plus one (0: none ever).
    function latestProposal(bytes32 market) external view returns (uint256);
    /// @notice Stored state of a market: target threshold and ramp, for tools that need more than `getParameters`.
    /// `lastChangeAt` is when the last signed change was written; once that is 65,535 s or more before `updatedAt`
    /// (or there was none) it reads `updatedAt - 65535`, at or after the true time.
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
            uint16 guardrailProfile,
            uint40 lastChangeAt
        );
    /// @notice EIP-712 digest the signers sign for `batch` (`proposal` selects the `ProposalBatch` type).
    function hashBatch(Batch calldata batch, bool proposal) external view returns (bytes32);
    /// @notice The registry's release ("major.minor.patch"): integrators and the keeper can check which rules a
    /// deployment enforces. The EIP-712 domain's version ("1") changes only when the signed types change.
    function version() external pure returns (string memory);
}
