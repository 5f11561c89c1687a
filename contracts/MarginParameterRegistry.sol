// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IMarginParameters, Parameters} from "./interfaces/IMarginParameters.sol";
import {
    IMarginParameterRegistry,
    MarketUpdate,
    Batch,
    Guardrails,
    Field,
    Duration,
    Proposal,
    ProposalStatus
} from "./interfaces/IMarginParameterRegistry.sol";
import {
    MarketSlot, MarketWord, packMarket, packValues, packChange, cappedBonusDown
} from "./libraries/MarketWord.sol";
import {
    BPS,
    MARKET_UPDATE_TYPEHASH,
    BATCH_TYPEHASH,
    PROPOSAL_BATCH_TYPEHASH,
    MAX_PROPOSALS_PER_BATCH,
    MAX_TIMELOCK_DELAY,
    MIN_PROPOSAL_GRACE_PERIOD,
    MAX_PROPOSAL_GRACE_PERIOD,
    MIN_BATCH_LIFETIME,
    MAX_BATCH_LIFETIME,
    MAX_LOOSEN_INTERVAL,
    MAX_RAMP_DURATION,
    MAX_UPDATE_INTERVAL,
    DEFAULT_PROPOSAL_GRACE_PERIOD,
    DEFAULT_BATCH_LIFETIME,
    REGISTRY_VERSION
} from "./libraries/ConstantsLib.sol";
import {GuardrailWord, packGuardrails} from "./libraries/GuardrailWord.sol";

/// @title MarginParameterRegistry
/// @notice Per-market LTV, liquidation threshold and liquidation bonus, pushed by a keeper's signer set within
/// on-chain guardrails, with a timelocked governance path and an emergency guardian.
contract MarginParameterRegistry is IMarginParameterRegistry, EIP712 {
    /* STORAGE */

    // One slot, read once per batch: the nonce, the signature threshold, the pause flag and the batch lifetime.
    uint64 internal _nonce;
    uint8 internal _threshold;
    bool internal _paused;
    uint32 internal _maxBatchLifetime;

    address public governance;
    address public pendingGovernance;
    address public guardian;
    uint256 public timelockDelay;
    uint256 public proposalGracePeriod;
    uint256 public proposalCount;

    address[] internal _signers;
    mapping(address => bool) public isSigner;
    mapping(bytes32 => MarketSlot) internal _markets;
    mapping(uint256 => GuardrailWord) internal _profiles;
    mapping(uint256 => Proposal) internal _proposals;
    mapping(bytes32 => uint256) public latestProposal; // id + 1 of a market's latest proposal; 0: none

    /* CONSTRUCTOR */

    constructor(
        address governance_,
        address guardian_,
        address[] memory signers_,
        uint256 threshold_,
        uint256 timelockDelay_
    ) EIP712("MarginParameterRegistry", "1") {
        if (governance_ == address(0)) revert ZeroGovernance();
        _checkDuration(Duration.TimelockDelay, timelockDelay_, 0, MAX_TIMELOCK_DELAY);
        governance = governance_;
        guardian = guardian_;
        timelockDelay = timelockDelay_;
        proposalGracePeriod = DEFAULT_PROPOSAL_GRACE_PERIOD;
        _maxBatchLifetime = uint32(DEFAULT_BATCH_LIFETIME);
        _setSigners(signers_, threshold_);
        emit GovernanceTransferred(address(0), governance_);
        emit GuardianChanged(address(0), guardian_);
        emit TimelockDelayChanged(0, timelockDelay_);
        emit ProposalGracePeriodChanged(0, DEFAULT_PROPOSAL_GRACE_PERIOD);
        emit MaxBatchLifetimeChanged(0, DEFAULT_BATCH_LIFETIME);
    }

    /* MODIFIERS */

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    modifier onlyGuardian() {
        if (msg.sender != guardian && msg.sender != governance) revert NotGuardian(msg.sender);
        _;
    }

    modifier whenNotPaused() {
        if (_paused) revert RegistryPaused();
        _;
    }

    /* SIGNED (ANYONE MAY RELAY) */

    /// @inheritdoc IMarginParameterRegistry
    function submitUpdates(Batch calldata batch, bytes[] calldata signatures) external whenNotPaused {
        _consumeSignedBatch(batch, signatures, BATCH_TYPEHASH);
        MarketUpdate[] calldata updates = batch.updates; // decoded once, not once per entry
        uint256 n = updates.length;
        // Markets of a batch mostly share a profile: keep the last one read instead of reading it again.
        uint256 profileId;
        GuardrailWord g;
        for (uint256 i; i < n; ++i) {
            (profileId, g) = _applySigned(updates[i], profileId, g);
        }
        emit BatchSubmitted(batch.nonce, batch.inputsHash, batch.modelVersion, n);
    }

    /// @inheritdoc IMarginParameterRegistry
    function proposeUpdates(Batch calldata batch, bytes[] calldata signatures)
        external
        whenNotPaused
        returns (uint256 firstId)
    {
        uint256 n = batch.updates.length;
        if (n > MAX_PROPOSALS_PER_BATCH) revert TooManyProposals(n, MAX_PROPOSALS_PER_BATCH);
        _consumeSignedBatch(batch, signatures, PROPOSAL_BATCH_TYPEHASH);
        for (uint256 i; i < n; ++i) {
            bytes32 market = batch.updates[i].market;
            if (_markets[market].word.profile() == 0) revert MarketNotConfigured(market);
        }
        firstId = _queue(batch.updates, batch.inputsHash, batch.modelVersion, true);
        emit BatchSubmitted(batch.nonce, batch.inputsHash, batch.modelVersion, batch.updates.length);
    }

    /* GOVERNANCE */

    /// @inheritdoc IMarginParameterRegistry
    function propose(MarketUpdate[] calldata updates) external onlyGovernance returns (uint256 firstId) {
        if (updates.length == 0) revert EmptyBatch();
        firstId = _queue(updates, bytes32(0), bytes32(0), false);
    }

    /// @inheritdoc IMarginParameterRegistry
    function execute(uint256 id) external onlyGovernance {
        Proposal storage p = _proposals[id];
        if (p.status != ProposalStatus.Queued) revert ProposalNotQueued(id, p.status);
        if (block.timestamp < p.eta) revert TimelockNotExpired(id, p.eta, block.timestamp);
        if (block.timestamp > p.expiresAt) revert ProposalExpired(id, p.expiresAt, block.timestamp);
        p.status = ProposalStatus.Executed;
        bytes32 market = p.market;
        (uint256 ltv, uint256 lt, uint256 lb) = (p.ltvBps, p.liquidationThresholdBps, p.liquidationBonusBps);
        _checkRange(market, lt, lb);
        _checkInvariants(market, ltv, lt, lb);
        MarketSlot storage slot = _markets[market];
        MarketWord s = slot.word;
        uint256 lastLoosen = block.timestamp; // a first value counts as loosening, as on the signed path
        if (s.updatedAt() != 0) {
            (bool a, bool b, bool c) = _loosening(s, ltv, lt, lb);
            if (!(a || b || c)) lastLoosen = s.lastLoosenAt();
        }
        _write(
            slot,
            market,
            s,
            ltv,
            lt,
            lb,
            _profiles[s.profile()].thresholdRampDuration(),
            lastLoosen,
            s.changeAgeAt(block.timestamp)
        );
        emit ProposalExecuted(id, market);
    }

    /// @inheritdoc IMarginParameterRegistry
    function cancel(uint256 id) external onlyGovernance {
        Proposal storage p = _proposals[id];
        if (p.status != ProposalStatus.Queued) revert ProposalNotQueued(id, p.status);
        p.status = ProposalStatus.Cancelled;
        emit ProposalCancelled(id, p.market);
    }

    /// @inheritdoc IMarginParameterRegistry
    function setGuardrailProfile(uint16 profileId, Guardrails calldata g) external onlyGovernance {
        if (
            profileId == 0 || g.minLtvBps > g.maxLtvBps || g.minLiquidationThresholdBps > g.maxLiquidationThresholdBps
                || g.minLiquidationBonusBps > g.maxLiquidationBonusBps || g.maxLiquidationThresholdBps == 0
                || g.maxLiquidationThresholdBps > BPS || g.maxLtvBps >= g.maxLiquidationThresholdBps
                || g.maxLiquidationBonusBps > BPS
        ) revert InvalidGuardrails(profileId);
        _checkDuration(Duration.MinLoosenInterval, g.minLoosenInterval, 0, MAX_LOOSEN_INTERVAL);
        _checkDuration(Duration.ThresholdRampDuration, g.thresholdRampDuration, 0, MAX_RAMP_DURATION);
        _checkDuration(Duration.MinUpdateInterval, g.minUpdateInterval, 1, MAX_UPDATE_INTERVAL);
        Guardrails memory previous = _profiles[profileId].unpackGuardrails();
        _profiles[profileId] = packGuardrails(g);
        emit GuardrailProfileSet(profileId, previous, g);
    }

    /// @inheritdoc IMarginParameterRegistry
    function assignProfile(bytes32[] calldata markets, uint16 profileId) external onlyGovernance {
        if (profileId != 0 && _profiles[profileId].maxLiquidationThresholdBps() == 0) {
            revert ProfileNotConfigured(profileId);
        }
        for (uint256 i; i < markets.length; ++i) {
            bytes32 market = markets[i];
            MarketSlot storage slot = _markets[market];
            MarketWord s = slot.word;
            slot.word = s.withProfile(profileId);
            emit MarketProfileAssigned(market, uint16(s.profile()), profileId);
        }
    }

    /// @inheritdoc IMarginParameterRegistry
    function setSigners(address[] calldata signers_, uint256 threshold_) external onlyGovernance {
        _setSigners(signers_, threshold_);
    }

    /// @inheritdoc IMarginParameterRegistry
    function setGuardian(address guardian_) external onlyGovernance {
        emit GuardianChanged(guardian, guardian_);
        guardian = guardian_;
    }

    /// @inheritdoc IMarginParameterRegistry
    function setTimelockDelay(uint256 delay) external onlyGovernance {
        _checkDuration(Duration.TimelockDelay, delay, 0, MAX_TIMELOCK_DELAY);
        emit TimelockDelayChanged(timelockDelay, delay);
        timelockDelay = delay;
    }

    /// @inheritdoc IMarginParameterRegistry
    function setProposalGracePeriod(uint256 gracePeriod) external onlyGovernance {
        _checkDuration(Duration.ProposalGracePeriod, gracePeriod, MIN_PROPOSAL_GRACE_PERIOD, MAX_PROPOSAL_GRACE_PERIOD);
        emit ProposalGracePeriodChanged(proposalGracePeriod, gracePeriod);
        proposalGracePeriod = gracePeriod;
    }

    /// @inheritdoc IMarginParameterRegistry
    function setMaxBatchLifetime(uint256 lifetime) external onlyGovernance {
        _checkDuration(Duration.MaxBatchLifetime, lifetime, MIN_BATCH_LIFETIME, MAX_BATCH_LIFETIME);
        emit MaxBatchLifetimeChanged(_maxBatchLifetime, lifetime);
        _maxBatchLifetime = SafeCast.toUint32(lifetime);
    }

    /// @inheritdoc IMarginParameterRegistry
    function unpause() external onlyGovernance {
        _paused = false;
        emit Unpaused(msg.sender);
    }

    /// @inheritdoc IMarginParameterRegistry
    function transferGovernance(address pending) external onlyGovernance {
        pendingGovernance = pending;
        emit GovernanceTransferStarted(governance, pending);
    }

    /// @inheritdoc IMarginParameterRegistry
    function acceptGovernance() external {
        if (msg.sender != pendingGovernance) revert NotPendingGovernance(msg.sender);
        emit GovernanceTransferred(governance, msg.sender);
        governance = msg.sender;
        pendingGovernance = address(0);
    }

    /* GUARDIAN */

    /// @inheritdoc IMarginParameterRegistry
    function pause() external onlyGuardian {
        _paused = true;
        emit Paused(msg.sender);
    }

    /// @inheritdoc IMarginParameterRegistry
    function tighten(MarketUpdate calldata u) external onlyGuardian {
        bytes32 market = u.market;
        MarketSlot storage slot = _markets[market];
        MarketWord s = slot.word;
        if (s.updatedAt() == 0) revert MarketNotSet(market);
        (uint256 ltv, uint256 lt, uint256 lb) = (u.ltvBps, u.liquidationThresholdBps, u.liquidationBonusBps);
        (bool ltvLoosens, bool ltLoosens, bool lbLoosens) = _loosening(s, ltv, lt, lb);
        if (ltvLoosens) revert GuardianCanOnlyTighten(market, Field.Ltv, s.ltvBps(), ltv);
        if (ltLoosens) {
            revert GuardianCanOnlyTighten(market, Field.LiquidationThreshold, s.liquidationThresholdBps(), lt);
        }
        if (lbLoosens) revert GuardianCanOnlyTighten(market, Field.LiquidationBonus, s.liquidationBonusBps(), lb);
        _checkRange(market, lt, lb);
        _checkInvariants(market, ltv, lt, lb);
        // The guardian's cut restarts the loosening clock: the signed path cannot undo it before
        // `minLoosenInterval` has passed.
        _write(
            slot,
            market,
            s,
            ltv,
            lt,
            lb,
            _profiles[s.profile()].thresholdRampDuration(),
            block.timestamp,
            s.changeAgeAt(block.timestamp)
        );
    }

    /* VIEWS */

    /// @inheritdoc IMarginParameterRegistry
    function batchNonce() external view returns (uint256) {
        return _nonce;
    }

    /// @inheritdoc IMarginParameterRegistry
    function threshold() external view returns (uint256) {
        return _threshold;
    }

    /// @inheritdoc IMarginParameterRegistry
    function paused() external view returns (bool) {
        return _paused;
    }

    /// @inheritdoc IMarginParameterRegistry
    function maxBatchLifetime() external view returns (uint256) {
        return _maxBatchLifetime;
    }

    /// @inheritdoc IMarginParameterRegistry
    function signers() external view returns (address[] memory) {
        return _signers;
    }

    /// @inheritdoc IMarginParameterRegistry
    function guardrails(bytes32 market) external view returns (Guardrails memory) {
        return _profiles[_markets[market].word.profile()].unpackGuardrails();
    }

    /// @inheritdoc IMarginParameterRegistry
    function guardrailProfile(uint16 profileId) external view returns (Guardrails memory) {
        return _profiles[profileId].unpackGuardrails();
    }

    /// @inheritdoc IMarginParameterRegistry
    function marketProfile(bytes32 market) external view returns (uint16) {
        return uint16(_markets[market].word.profile());
    }

    /// @inheritdoc IMarginParameterRegistry
    function proposal(uint256 id) external view returns (Proposal memory) {
        return _proposals[id];
    }

    /// @inheritdoc IMarginParameterRegistry
    function marketState(bytes32 market)
        external
        view
        returns (uint16, uint16, uint16, uint40, uint16, uint40, uint40, uint40, uint16, uint40)
    {
        MarketWord s = _markets[market].word;
        return (
            uint16(s.ltvBps()),
            uint16(s.liquidationThresholdBps()),
            uint16(s.liquidationBonusBps()),
            uint40(s.updatedAt()),
            uint16(s.rampStartThresholdBps()),
            uint40(s.rampStart()),
            uint40(s.rampEnd()),
            uint40(s.lastLoosenAt()),
            uint16(s.profile()),
            uint40(s.lastChangeAt())
        );
    }

    /// @inheritdoc IMarginParameterRegistry
    function hashBatch(Batch calldata batch, bool proposal_) external view returns (bytes32) {
        return _hashBatch(batch, proposal_ ? PROPOSAL_BATCH_TYPEHASH : BATCH_TYPEHASH);
    }

    /// @inheritdoc IMarginParameterRegistry
    function version() external pure returns (string memory) {
        return REGISTRY_VERSION;
    }

    /// @notice The EIP-712 domain separator (chain id and this contract's address included).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IMarginParameters
    function getParameters(bytes32 market) public view returns (Parameters memory p) {
        MarketWord s = _markets[market].word;
        uint256 lt = s.thresholdAt(block.timestamp);
        p.ltvBps = uint16(s.ltvBps());
        p.liquidationThresholdBps = uint16(lt);
        p.liquidationBonusBps = uint16(cappedBonusDown(s.liquidationBonusBps(), lt));
        p.updatedAt = uint40(s.updatedAt());
    }

    /// @inheritdoc IMarginParameters
    function getParametersChecked(bytes32 market, uint256 maxAge) external view returns (Parameters memory p) {
        p = getParameters(market);
        if (p.updatedAt == 0) revert MarketNotSet(market);
        if (block.timestamp - p.updatedAt > maxAge) revert StaleParameters(market, p.updatedAt, maxAge);
    }

    /* INTERNAL: SIGNATURES */

    /// @dev Checks deadline, chain, nonce, ordering and signatures, then consumes the nonce (Morpho-style order).
    function _consumeSignedBatch(Batch calldata batch, bytes[] calldata signatures, bytes32 typehash) internal {
        if (block.timestamp > batch.deadline) revert SignatureExpired(batch.deadline, block.timestamp);
        uint256 latestDeadline = block.timestamp + _maxBatchLifetime;
        if (batch.deadline > latestDeadline) revert DeadlineTooFar(batch.deadline, latestDeadline);
        if (batch.chainId != block.chainid) revert WrongChain(batch.chainId, block.chainid);
        uint256 expected = _nonce;
        if (batch.nonce < expected) revert NonceAlreadyUsed(batch.nonce, expected);
        if (batch.nonce > expected) revert NonceOutOfOrder(batch.nonce, expected);
        if (batch.updates.length == 0) revert EmptyBatch();
        _verifySignatures(_hashBatch(batch, typehash), signatures);
        _nonce = SafeCast.toUint64(expected + 1);
    }

    /// @dev EIP-712 `hashStruct` of the batch; also enforces strictly increasing market ids.
    function _hashBatch(Batch calldata batch, bytes32 typehash) internal view returns (bytes32) {
        MarketUpdate[] calldata updates = batch.updates;
        uint256 n = updates.length;
        bytes32[] memory hashes = new bytes32[](n);
        bytes32 previous;
        for (uint256 i; i < n; ++i) {
            MarketUpdate calldata u = updates[i];
            if (i != 0 && u.market <= previous) revert MarketsNotSorted(i, u.market);
            previous = u.market;
            hashes[i] = keccak256(
                abi.encode(
                    MARKET_UPDATE_TYPEHASH, u.market, u.ltvBps, u.liquidationThresholdBps, u.liquidationBonusBps
                )
            );
        }
        bytes32 structHash = keccak256(
            abi.encode(
                typehash,
                batch.chainId,
                batch.nonce,
                batch.deadline,
                batch.inputsHash,
                batch.modelVersion,
                keccak256(abi.encodePacked(hashes))
            )
        );
        return _hashTypedDataV4(structHash);
    }

    function _verifySignatures(bytes32 digest, bytes[] calldata signatures) internal view {
        uint256 required = _threshold;
        if (signatures.length < required) revert NotEnoughSignatures(signatures.length, required);
        address previous;
        for (uint256 i; i < signatures.length; ++i) {
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err == ECDSA.RecoverError.InvalidSignatureS) revert MalleableSignature(i);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (!isSigner[recovered]) revert UnknownSigner(i, recovered);
            if (recovered == previous) revert DuplicateSigner(i, recovered);
            if (recovered < previous) revert SignersNotSorted(i, recovered, previous);
            previous = recovered;
        }
    }

    function _setSigners(address[] memory signers_, uint256 threshold_) internal {
        if (signers_.length == 0 || threshold_ == 0 || threshold_ > signers_.length || signers_.length > 255) {
            revert InvalidSignerSet();
        }
        uint256 previousCount = _signers.length;
        for (uint256 i; i < previousCount; ++i) {
            isSigner[_signers[i]] = false;
        }
        for (uint256 i; i < signers_.length; ++i) {
            address signer = signers_[i];
            if (signer == address(0) || isSigner[signer]) revert InvalidSignerSet();
            isSigner[signer] = true;
        }
        _signers = signers_;
        _threshold = SafeCast.toUint8(threshold_);
        emit SignerSetChanged(signers_, threshold_);
    }

    /* INTERNAL: UPDATES */

    /// @dev One signed entry: bounds and invariants, then heartbeat, or steps, update interval, loosening interval
    /// and write. The first value of a market checks bounds and invariants only. A field the market holds outside its
    /// bounds (after a guardian or governance action, or a narrower profile) may stay there or move toward them.
    /// Works on packed words throughout (see MarketWord for why).
    /// The caller passes the last profile read (`cachedId`, `cached`) and gets this market's back.
    function _applySigned(MarketUpdate calldata u, uint256 cachedId, GuardrailWord cached)
        internal
        returns (uint256 profileId, GuardrailWord g)
    {
        bytes32 market = u.market;
        MarketSlot storage slot = _markets[market];
        MarketWord s = slot.word;
        profileId = s.profile();
        if (profileId == 0) revert MarketNotConfigured(market);
        g = profileId == cachedId ? cached : _profiles[profileId];
        (uint256 ltv, uint256 lt, uint256 lb) = (u.ltvBps, u.liquidationThresholdBps, u.liquidationBonusBps);
        // Each rule group is one short-circuit test on the happy path; only a failing update pays for the calls
        // that name the field. Bounds come first: they also keep every value at or below 100 %.
        if (
            ltv < g.minLtvBps() || ltv > g.maxLtvBps() || lt < g.minLiquidationThresholdBps()
                || lt > g.maxLiquidationThresholdBps() || lb < g.minLiquidationBonusBps()
                || lb > g.maxLiquidationBonusBps()
        ) _checkWidenedBounds(market, s, ltv, lt, lb, g);
        _checkInvariants(market, ltv, lt, lb);

        uint256 lastLoosen = block.timestamp;
        if (s.updatedAt() != 0) {
            if (packValues(ltv, lt, lb) == s.values()) {
                slot.word = s.withHeartbeat(block.timestamp);
                emit Heartbeat(market);
                return (profileId, g);
            }
            (uint256 oldLtv, uint256 oldLt, uint256 oldLb) =
                (s.ltvBps(), s.liquidationThresholdBps(), s.liquidationBonusBps());
            (uint256 tightenStep, uint256 loosenStep) = (g.maxTightenStepBps(), g.maxLoosenStepBps());
            // Loosening is a higher LTV or threshold or a lower bonus (see `_loosening`).
            unchecked {
                if (
                    (ltv > oldLtv ? ltv - oldLtv > loosenStep : oldLtv - ltv > tightenStep)
                        || (lt > oldLt ? lt - oldLt > loosenStep : oldLt - lt > tightenStep)
                        || (lb < oldLb ? oldLb - lb > loosenStep : lb - oldLb > tightenStep)
                ) _revertStepTooLarge(market, s, ltv, lt, lb, g);
            }
            uint256 age = s.changeAgeAt(block.timestamp);
            if (age < g.minUpdateInterval()) {
                uint256 lastChange = block.timestamp - age;
                revert UpdateTooSoon(market, lastChange, lastChange + g.minUpdateInterval());
            }
            lastLoosen = s.lastLoosenAt();
            if (ltv > oldLtv || lt > oldLt || lb < oldLb) {
                uint256 nextAllowed;
                unchecked {
                    nextAllowed = lastLoosen + g.minLoosenInterval(); // 40-bit + 32-bit values
                }
                if (block.timestamp < nextAllowed) revert LoosenTooSoon(market, lastLoosen, nextAllowed);
                lastLoosen = block.timestamp;
            }
        }
        _write(slot, market, s, ltv, lt, lb, g.thresholdRampDuration(), lastLoosen, 0);
    }

    /// @dev Stores new values. An unchanged target keeps a ramp in progress (so a write that moves only LTV or LB,
    /// or repeats the values, never restarts a cut); a threshold below the one in force ramps down from it over
    /// `rampDuration`, or sooner at the pace of a ramp in progress; any other change applies at once and ends the
    /// ramp. `changeAge` is 0 for a signed change;
    /// governance and the guardian carry the market's age forward, so they neither use nor reset its update interval.
    function _write(
        MarketSlot storage slot,
        bytes32 market,
        MarketWord s,
        uint256 ltv,
        uint256 lt,
        uint256 lb,
        uint256 rampDuration,
        uint256 lastLoosen,
        uint256 changeAge
    ) internal {
        uint256 rampFrom;
        uint256 rampStart;
        uint256 rampEnd;
        if (lt == s.liquidationThresholdBps() && s.rampEnd() > block.timestamp) {
            (rampFrom, rampStart, rampEnd) = (s.rampStartThresholdBps(), s.rampStart(), s.rampEnd());
        } else {
            uint256 inForce = s.thresholdAt(block.timestamp);
            if (s.updatedAt() != 0 && lt < inForce && rampDuration != 0) {
                uint256 duration = rampDuration;
                uint256 oldFrom = s.rampStartThresholdBps();
                uint256 oldTarget = s.liquidationThresholdBps();
                if (s.rampEnd() > block.timestamp && oldFrom > oldTarget) {
                    // A cut inside a ramp goes on at the ramp's pace (bps per second) or faster, never slower:
                    // repeated small cuts cannot stall the threshold in force.
                    uint256 paced = (inForce - lt) * (s.rampEnd() - s.rampStart()) / (oldFrom - oldTarget);
                    if (paced < duration) duration = paced == 0 ? 1 : paced;
                }
                unchecked {
                    (rampFrom, rampStart, rampEnd) = (inForce, block.timestamp, block.timestamp + duration);
                }
            }
        }
        slot.word = packMarket(
            ltv, lt, lb, block.timestamp, rampFrom, rampStart, rampEnd, lastLoosen, s.profile(), changeAge
        );
        emit ParametersUpdated(market, packChange(packValues(ltv, lt, lb), s.values(), rampEnd));
    }

    function _queue(MarketUpdate[] calldata updates, bytes32 inputsHash, bytes32 modelVersion, bool fromSigners)
        internal
        returns (uint256 firstId)
    {
        firstId = proposalCount;
        uint40 eta = SafeCast.toUint40(block.timestamp + timelockDelay);
        uint40 expiresAt = SafeCast.toUint40(eta + proposalGracePeriod);
        for (uint256 i; i < updates.length; ++i) {
            MarketUpdate calldata u = updates[i];
            _checkRange(u.market, u.liquidationThresholdBps, u.liquidationBonusBps);
            _checkInvariants(u.market, u.ltvBps, u.liquidationThresholdBps, u.liquidationBonusBps);
            uint256 id = firstId + i;
            _supersede(u.market, id, fromSigners);
            _proposals[id] = Proposal({
                market: u.market,
                ltvBps: u.ltvBps,
                liquidationThresholdBps: u.liquidationThresholdBps,
                liquidationBonusBps: u.liquidationBonusBps,
                eta: eta,
                expiresAt: expiresAt,
                status: ProposalStatus.Queued,
                fromSigners: fromSigners
            });
            emit ProposalQueued(
                id,
                u.market,
                u.ltvBps,
                u.liquidationThresholdBps,
                u.liquidationBonusBps,
                eta,
                inputsHash,
                modelVersion
            );
        }
        proposalCount = firstId + updates.length;
    }

    /// @dev Marks the market's latest proposal superseded by `id` if it is still queued, and records `id` as latest.
    /// A signed proposal never supersedes governance's own while it can still be executed: the signer set cannot
    /// cancel governance's decisions.
    function _supersede(bytes32 market, uint256 id, bool fromSigners) internal {
        uint256 previous = latestProposal[market];
        if (previous != 0) {
            Proposal storage p = _proposals[previous - 1];
            if (p.status == ProposalStatus.Queued) {
                if (fromSigners && !p.fromSigners && block.timestamp <= p.expiresAt) {
                    revert GovernanceProposalPending(market, previous - 1);
                }
                p.status = ProposalStatus.Superseded;
                emit ProposalSuperseded(previous - 1, id, market);
            }
        }
        latestProposal[market] = id + 1;
    }

    /* INTERNAL: CHECKS */

    /// @dev Reverts unless `min <= value <= max`, naming the duration.
    function _checkDuration(Duration duration, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert DurationOutOfRange(duration, value, min, max);
    }

    /// @dev For the paths without guardrail bounds (governance, guardian); signed values pass the bounds first.
    function _checkRange(bytes32 market, uint256 lt, uint256 lb) internal pure {
        if (lt > BPS) revert AboveOneHundredPercent(market, Field.LiquidationThreshold, lt);
        if (lb > BPS) revert AboveOneHundredPercent(market, Field.LiquidationBonus, lb);
    }

    function _checkInvariants(bytes32 market, uint256 ltv, uint256 lt, uint256 lb) internal pure {
        if (ltv >= lt) revert LtvNotBelowThreshold(market, ltv, lt);
        // Cannot overflow: lt and lb are 16-bit values.
        unchecked {
            if (lt * (BPS + lb) > BPS * BPS) revert BonusExceedsCollateral(market, lt, lb);
        }
    }

    /// @dev Slow path of the bounds test in `_applySigned`, taken only when a value is outside the profile's bounds:
    /// each field's bounds widen to include the value the market holds (a set market only), so a market left
    /// outside them may stay there or move toward them; reverts naming the first field outside the widened bounds.
    function _checkWidenedBounds(bytes32 market, MarketWord s, uint256 ltv, uint256 lt, uint256 lb, GuardrailWord g)
        internal
        pure
    {
        bool set = s.updatedAt() != 0;
        _checkBounds(market, Field.Ltv, ltv, g.minLtvBps(), g.maxLtvBps(), set, s.ltvBps());
        _checkBounds(
            market,
            Field.LiquidationThreshold,
            lt,
            g.minLiquidationThresholdBps(),
            g.maxLiquidationThresholdBps(),
            set,
            s.liquidationThresholdBps()
        );
        _checkBounds(
            market,
            Field.LiquidationBonus,
            lb,
            g.minLiquidationBonusBps(),
            g.maxLiquidationBonusBps(),
            set,
            s.liquidationBonusBps()
        );
    }

    function _checkBounds(
        bytes32 market,
        Field field,
        uint256 value,
        uint256 min,
        uint256 max,
        bool set,
        uint256 current
    ) internal pure {
        if (set) {
            if (current < min) min = current;
            if (current > max) max = current;
        }
        if (value < min || value > max) revert OutOfBounds(market, field, value, min, max);
    }

    /// @dev Slow path of the step test in `_applySigned`: reverts naming the first field that moves too far.
    function _revertStepTooLarge(bytes32 market, MarketWord s, uint256 ltv, uint256 lt, uint256 lb, GuardrailWord g)
        internal
        pure
    {
        (bool ltvLoosens, bool ltLoosens, bool lbLoosens) = _loosening(s, ltv, lt, lb);
        _checkStep(market, Field.Ltv, s.ltvBps(), ltv, ltvLoosens, g);
        _checkStep(market, Field.LiquidationThreshold, s.liquidationThresholdBps(), lt, ltLoosens, g);
        _checkStep(market, Field.LiquidationBonus, s.liquidationBonusBps(), lb, lbLoosens, g);
    }

    /// @dev Reverts when a field moves by more than the guardrail step for its direction.
    function _checkStep(bytes32 market, Field field, uint256 from, uint256 to, bool loosens, GuardrailWord g)
        internal
        pure
    {
        uint256 step;
        unchecked {
            step = to > from ? to - from : from - to;
        }
        uint256 maxStep = loosens ? g.maxLoosenStepBps() : g.maxTightenStepBps();
        if (step > maxStep) revert StepTooLarge(market, field, from, to, maxStep);
    }

    /// @dev The one definition of loosening, per field: a higher LTV or threshold, a lower bonus.
    function _loosening(MarketWord s, uint256 ltv, uint256 lt, uint256 lb)
        internal
        pure
        returns (bool ltvLoosens, bool ltLoosens, bool lbLoosens)
    {
        return (ltv > s.ltvBps(), lt > s.liquidationThresholdBps(), lb < s.liquidationBonusBps());
    }
}
