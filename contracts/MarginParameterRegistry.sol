// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {IMarginParameters, Parameters} from "./interfaces/IMarginParameters.sol";
import {
    IMarginParameterRegistry,
    MarketUpdate,
    Batch,
    Guardrails,
    Field,
    Proposal,
    ProposalStatus
} from "./interfaces/IMarginParameterRegistry.sol";
import {MarketState, MarketStateLib} from "./libraries/MarketStateLib.sol";

/// @title MarginParameterRegistry
/// @notice Per-market LTV, liquidation threshold and liquidation bonus, pushed by a keeper's signer set within
/// on-chain guardrails, with a timelocked governance path and an emergency guardian.
contract MarginParameterRegistry is IMarginParameterRegistry, EIP712 {
    using MarketStateLib for MarketState;

    /* CONSTANTS */

    uint256 internal constant BPS = 10_000;
    string internal constant MARKET_UPDATE_TYPE =
        "MarketUpdate(bytes32 market,uint16 ltvBps,uint16 liquidationThresholdBps,uint16 liquidationBonusBps)";
    bytes32 internal constant MARKET_UPDATE_TYPEHASH = keccak256(bytes(MARKET_UPDATE_TYPE));
    bytes32 internal constant BATCH_TYPEHASH = keccak256(
        abi.encodePacked(
            "Batch(uint256 chainId,uint256 nonce,uint256 deadline,bytes32 inputsHash,bytes32 modelVersion,",
            "MarketUpdate[] updates)",
            MARKET_UPDATE_TYPE
        )
    );
    bytes32 internal constant PROPOSAL_BATCH_TYPEHASH = keccak256(
        abi.encodePacked(
            "ProposalBatch(uint256 chainId,uint256 nonce,uint256 deadline,bytes32 inputsHash,bytes32 modelVersion,",
            "MarketUpdate[] updates)",
            MARKET_UPDATE_TYPE
        )
    );

    /* STORAGE */

    // One slot, read once per batch: the nonce, the signature threshold and the pause flag.
    uint64 internal _nonce;
    uint8 internal _threshold;
    bool internal _paused;

    address public governance;
    address public pendingGovernance;
    address public guardian;
    uint256 public timelockDelay;
    uint256 public proposalCount;

    address[] internal _signers;
    mapping(address => bool) public isSigner;
    mapping(bytes32 => uint256) internal _packedState;
    mapping(bytes32 => Guardrails) internal _guardrails;
    mapping(uint256 => Proposal) internal _proposals;

    /* CONSTRUCTOR */

    constructor(
        address governance_,
        address guardian_,
        address[] memory signers_,
        uint256 threshold_,
        uint256 timelockDelay_
    ) EIP712("MarginParameterRegistry", "1") {
        governance = governance_;
        guardian = guardian_;
        timelockDelay = timelockDelay_;
        _setSigners(signers_, threshold_);
        emit GovernanceTransferred(address(0), governance_);
        emit GuardianChanged(address(0), guardian_);
        emit TimelockDelayChanged(0, timelockDelay_);
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
        uint256 n = batch.updates.length;
        for (uint256 i; i < n; ++i) {
            _applySigned(batch.updates[i]);
        }
        emit BatchSubmitted(batch.nonce, batch.inputsHash, batch.modelVersion, n);
    }

    /// @inheritdoc IMarginParameterRegistry
    function proposeUpdates(Batch calldata batch, bytes[] calldata signatures)
        external
        whenNotPaused
        returns (uint256 firstId)
    {
        _consumeSignedBatch(batch, signatures, PROPOSAL_BATCH_TYPEHASH);
        firstId = _queue(batch.updates, batch.inputsHash, batch.modelVersion);
        emit BatchSubmitted(batch.nonce, batch.inputsHash, batch.modelVersion, batch.updates.length);
    }

    /* GOVERNANCE */

    /// @inheritdoc IMarginParameterRegistry
    function propose(MarketUpdate[] calldata updates) external onlyGovernance returns (uint256 firstId) {
        if (updates.length == 0) revert EmptyBatch();
        firstId = _queue(updates, bytes32(0), bytes32(0));
    }

    /// @inheritdoc IMarginParameterRegistry
    function execute(uint256 id) external onlyGovernance {
        Proposal storage p = _proposals[id];
        if (p.status != ProposalStatus.Queued) revert ProposalNotQueued(id, p.status);
        if (block.timestamp < p.eta) revert TimelockNotExpired(id, p.eta, block.timestamp);
        p.status = ProposalStatus.Executed;
        bytes32 market = p.market;
        _checkInvariants(market, p.ltvBps, p.liquidationThresholdBps, p.liquidationBonusBps);
        MarketState memory s = MarketStateLib.unpack(_packedState[market]);
        if (s.updatedAt != 0 && _loosens(s, p.ltvBps, p.liquidationThresholdBps, p.liquidationBonusBps)) {
            s.lastLoosenAt = uint40(block.timestamp);
        }
        _write(
            market,
            s,
            p.ltvBps,
            p.liquidationThresholdBps,
            p.liquidationBonusBps,
            _guardrails[market].thresholdRampDuration
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
    function setGuardrails(bytes32 market, Guardrails calldata g) external onlyGovernance {
        if (
            g.minLtvBps > g.maxLtvBps || g.minLiquidationThresholdBps > g.maxLiquidationThresholdBps
                || g.minLiquidationBonusBps > g.maxLiquidationBonusBps || g.maxLiquidationThresholdBps == 0
                || g.maxLiquidationThresholdBps > BPS || g.maxLtvBps >= g.maxLiquidationThresholdBps
                || g.maxLiquidationBonusBps > BPS
        ) revert InvalidGuardrails(market);
        Guardrails memory previous = _guardrails[market];
        _guardrails[market] = g;
        emit GuardrailsSet(market, previous, g);
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
        emit TimelockDelayChanged(timelockDelay, delay);
        timelockDelay = delay;
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
        MarketState memory s = MarketStateLib.unpack(_packedState[u.market]);
        if (s.updatedAt == 0) revert MarketNotSet(u.market);
        if (u.ltvBps > s.ltvBps) revert GuardianCanOnlyTighten(u.market, Field.Ltv, s.ltvBps, u.ltvBps);
        if (u.liquidationThresholdBps > s.liquidationThresholdBps) {
            revert GuardianCanOnlyTighten(
                u.market, Field.LiquidationThreshold, s.liquidationThresholdBps, u.liquidationThresholdBps
            );
        }
        if (u.liquidationBonusBps < s.liquidationBonusBps) {
            revert GuardianCanOnlyTighten(
                u.market, Field.LiquidationBonus, s.liquidationBonusBps, u.liquidationBonusBps
            );
        }
        _checkInvariants(u.market, u.ltvBps, u.liquidationThresholdBps, u.liquidationBonusBps);
        _write(
            u.market,
            s,
            u.ltvBps,
            u.liquidationThresholdBps,
            u.liquidationBonusBps,
            _guardrails[u.market].thresholdRampDuration
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
    function signers() external view returns (address[] memory) {
        return _signers;
    }

    /// @inheritdoc IMarginParameterRegistry
    function guardrails(bytes32 market) external view returns (Guardrails memory) {
        return _guardrails[market];
    }

    /// @inheritdoc IMarginParameterRegistry
    function proposal(uint256 id) external view returns (Proposal memory) {
        return _proposals[id];
    }

    /// @inheritdoc IMarginParameterRegistry
    function marketState(bytes32 market)
        external
        view
        returns (uint16, uint16, uint16, uint40, uint16, uint40, uint40, uint40)
    {
        MarketState memory s = MarketStateLib.unpack(_packedState[market]);
        return (
            s.ltvBps,
            s.liquidationThresholdBps,
            s.liquidationBonusBps,
            s.updatedAt,
            s.rampStartThresholdBps,
            s.rampStart,
            s.rampEnd,
            s.lastLoosenAt
        );
    }

    /// @inheritdoc IMarginParameterRegistry
    function hashBatch(Batch calldata batch, bool proposal_) external view returns (bytes32) {
        return _hashBatch(batch, proposal_ ? PROPOSAL_BATCH_TYPEHASH : BATCH_TYPEHASH);
    }

    /// @notice The EIP-712 domain separator (chain id and this contract's address included).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IMarginParameters
    function getParameters(bytes32 market) public view returns (Parameters memory p) {
        MarketState memory s = MarketStateLib.unpack(_packedState[market]);
        uint16 lt = s.rampEnd == 0 ? s.liquidationThresholdBps : s.effectiveThresholdDown(block.timestamp);
        p.ltvBps = s.ltvBps;
        p.liquidationThresholdBps = lt;
        p.liquidationBonusBps = MarketStateLib.cappedBonusDown(s.liquidationBonusBps, lt);
        p.updatedAt = s.updatedAt;
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
        if (batch.chainId != block.chainid) revert WrongChain(batch.chainId, block.chainid);
        uint256 expected = _nonce;
        if (batch.nonce < expected) revert NonceAlreadyUsed(batch.nonce, expected);
        if (batch.nonce > expected) revert NonceOutOfOrder(batch.nonce, expected);
        if (batch.updates.length == 0) revert EmptyBatch();
        _verifySignatures(_hashBatch(batch, typehash), signatures);
        _nonce = uint64(expected + 1);
    }

    /// @dev EIP-712 `hashStruct` of the batch; also enforces strictly increasing market ids.
    function _hashBatch(Batch calldata batch, bytes32 typehash) internal view returns (bytes32) {
        uint256 n = batch.updates.length;
        bytes32[] memory hashes = new bytes32[](n);
        bytes32 previous;
        for (uint256 i; i < n; ++i) {
            MarketUpdate calldata u = batch.updates[i];
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
        for (uint256 i; i < _signers.length; ++i) {
            isSigner[_signers[i]] = false;
        }
        for (uint256 i; i < signers_.length; ++i) {
            address signer = signers_[i];
            if (signer == address(0) || isSigner[signer]) revert InvalidSignerSet();
            isSigner[signer] = true;
        }
        _signers = signers_;
        _threshold = uint8(threshold_);
        emit SignerSetChanged(signers_, threshold_);
    }

    /* INTERNAL: UPDATES */

    /// @dev One signed entry: guardrails, then heartbeat or write. The first value of a market checks bounds only.
    function _applySigned(MarketUpdate calldata u) internal {
        bytes32 market = u.market;
        Guardrails memory g = _guardrails[market];
        if (g.maxLiquidationThresholdBps == 0) revert MarketNotConfigured(market);
        uint16 ltv = u.ltvBps;
        uint16 lt = u.liquidationThresholdBps;
        uint16 lb = u.liquidationBonusBps;
        _checkInvariants(market, ltv, lt, lb);
        _checkBounds(market, Field.Ltv, ltv, g.minLtvBps, g.maxLtvBps);
        _checkBounds(market, Field.LiquidationThreshold, lt, g.minLiquidationThresholdBps, g.maxLiquidationThresholdBps);
        _checkBounds(market, Field.LiquidationBonus, lb, g.minLiquidationBonusBps, g.maxLiquidationBonusBps);

        MarketState memory s = MarketStateLib.unpack(_packedState[market]);
        if (s.updatedAt == 0) {
            s.lastLoosenAt = uint40(block.timestamp);
            _write(market, s, ltv, lt, lb, g.thresholdRampDuration);
            return;
        }
        if (ltv == s.ltvBps && lt == s.liquidationThresholdBps && lb == s.liquidationBonusBps) {
            s.updatedAt = uint40(block.timestamp);
            _packedState[market] = s.pack();
            emit Heartbeat(market);
            return;
        }
        // Higher LTV or threshold loosens; a higher bonus tightens.
        bool loosens = _checkStep(market, Field.Ltv, s.ltvBps, ltv, true, g);
        loosens = _checkStep(market, Field.LiquidationThreshold, s.liquidationThresholdBps, lt, true, g) || loosens;
        loosens = _checkStep(market, Field.LiquidationBonus, s.liquidationBonusBps, lb, false, g) || loosens;
        if (loosens) {
            uint256 nextAllowed = uint256(s.lastLoosenAt) + g.minLoosenInterval;
            if (block.timestamp < nextAllowed) revert LoosenTooSoon(market, s.lastLoosenAt, nextAllowed);
            s.lastLoosenAt = uint40(block.timestamp);
        }
        _write(market, s, ltv, lt, lb, g.thresholdRampDuration);
    }

    /// @dev Stores new values. A threshold below the one in force ramps down from it over the market's ramp
    /// duration; any other change applies at once and ends a ramp in progress. Callers pass the ramp duration
    /// because they hold the market's guardrails already (the signed path reads them once per market).
    function _write(
        bytes32 market,
        MarketState memory s,
        uint16 ltv,
        uint16 lt,
        uint16 lb,
        uint32 rampDuration
    ) internal {
        uint256 previous = uint256(s.ltvBps) | (uint256(s.liquidationThresholdBps) << 16)
            | (uint256(s.liquidationBonusBps) << 32);
        _setRamp(s, lt, rampDuration);
        s.ltvBps = ltv;
        s.liquidationThresholdBps = lt;
        s.liquidationBonusBps = lb;
        s.updatedAt = uint40(block.timestamp);
        _packedState[market] = s.pack();
        _emitUpdated(market, previous, s);
    }

    function _setRamp(MarketState memory s, uint16 lt, uint32 duration) internal view {
        uint16 inForce = s.rampEnd == 0 ? s.liquidationThresholdBps : s.effectiveThresholdDown(block.timestamp);
        if (s.updatedAt != 0 && lt < inForce && duration != 0) {
            s.rampStartThresholdBps = inForce;
            s.rampStart = uint40(block.timestamp);
            s.rampEnd = uint40(block.timestamp + duration);
        } else if (lt != s.liquidationThresholdBps || s.rampEnd <= block.timestamp) {
            s.rampStartThresholdBps = 0;
            s.rampStart = 0;
            s.rampEnd = 0;
        }
    }

    function _emitUpdated(bytes32 market, uint256 previous, MarketState memory s) internal {
        emit ParametersUpdated(
            market,
            uint16(previous),
            uint16(previous >> 16),
            uint16(previous >> 32),
            s.ltvBps,
            s.liquidationThresholdBps,
            s.liquidationBonusBps,
            s.rampEnd
        );
    }

    function _queue(MarketUpdate[] calldata updates, bytes32 inputsHash, bytes32 modelVersion)
        internal
        returns (uint256 firstId)
    {
        firstId = proposalCount;
        uint40 eta = uint40(block.timestamp + timelockDelay);
        for (uint256 i; i < updates.length; ++i) {
            MarketUpdate calldata u = updates[i];
            _checkInvariants(u.market, u.ltvBps, u.liquidationThresholdBps, u.liquidationBonusBps);
            uint256 id = firstId + i;
            _proposals[id] = Proposal({
                market: u.market,
                ltvBps: u.ltvBps,
                liquidationThresholdBps: u.liquidationThresholdBps,
                liquidationBonusBps: u.liquidationBonusBps,
                eta: eta,
                status: ProposalStatus.Queued
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

    /* INTERNAL: CHECKS */

    function _checkInvariants(bytes32 market, uint256 ltv, uint256 lt, uint256 lb) internal pure {
        if (lt > BPS) revert AboveOneHundredPercent(market, Field.LiquidationThreshold, lt);
        if (lb > BPS) revert AboveOneHundredPercent(market, Field.LiquidationBonus, lb);
        if (ltv >= lt) revert LtvNotBelowThreshold(market, ltv, lt);
        if (lt * (BPS + lb) > BPS * BPS) revert BonusExceedsCollateral(market, lt, lb);
    }

    function _checkBounds(bytes32 market, Field field, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert OutOfBounds(market, field, value, min, max);
    }

    /// @return loosening Whether the change loosens this field.
    function _checkStep(
        bytes32 market,
        Field field,
        uint256 from,
        uint256 to,
        bool higherIsLooser,
        Guardrails memory g
    ) internal pure returns (bool loosening) {
        if (to == from) return false;
        loosening = (to > from) == higherIsLooser;
        uint256 step = to > from ? to - from : from - to;
        uint256 maxStep = loosening ? g.maxLoosenStepBps : g.maxTightenStepBps;
        if (step > maxStep) revert StepTooLarge(market, field, from, to, maxStep);
    }

    function _loosens(MarketState memory s, uint16 ltv, uint16 lt, uint16 lb) internal pure returns (bool) {
        return ltv > s.ltvBps || lt > s.liquidationThresholdBps || lb < s.liquidationBonusBps;
    }
}
