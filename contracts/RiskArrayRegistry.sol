// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IMarginParameterRegistry} from "./interfaces/IMarginParameterRegistry.sol";
import {IPortfolioMargin, MarginBreakdown, RiskArray} from "./interfaces/IPortfolioMargin.sol";
import {IRiskArrays, RiskArrayUpdate, RiskArrayBatch, ScenarioSet, ArrayField} from "./interfaces/IRiskArrays.sol";
import {
    RiskArrayWord,
    SCENARIOS,
    UNITS_PER_ONE,
    MOVES_MASK,
    SIGN_BITS,
    moveAt,
    decodeDepth,
    packArray,
    setWeight,
    setMaxAge,
    setActive,
    setFactorPairs
} from "./libraries/RiskArrayWord.sol";

/// @dev keccak256("RiskArrayUpdate(bytes32 asset,uint256 moves,uint8 floorUnits,uint16 depth)"); derived from the
/// Python typed data by `oracle.signing.risk_arrays.typehash` and checked equal by the contract tests.
bytes32 constant RISK_ARRAY_UPDATE_TYPEHASH = 0xe78f274d57f5cd4d8158fef7eba8f02390329b93d26906a69f4d0a99c647ad08;
/// @dev keccak256("RiskArrayBatch(uint256 chainId,uint256 nonce,uint256 deadline,bytes32 inputsHash,
/// bytes32 modelVersion,uint8 scenarioSet,RiskArrayUpdate[] arrays)RiskArrayUpdate(...)"), one line.
bytes32 constant RISK_ARRAY_BATCH_TYPEHASH = 0xb2f0102e8e5d79a6af5451cea7275c5adbd3fc09e30d69e7081e9668fe77f9fe;
/// @dev The contract's release, returned by `version()`.
string constant RISK_ARRAYS_VERSION = "1.0.0";
/// @dev Move units to the 18-decimal USD of a position and percent weights, in one divisor.
uint256 constant LOSS_SCALE = UNITS_PER_ONE * 100;

/// @title RiskArrayRegistry
/// @notice Per-asset stress-scenario arrays for portfolio margin, published by the margin-parameter registry's
/// signer set within its governance's guardrails, and the margin of a portfolio computed on them.
contract RiskArrayRegistry is IRiskArrays, EIP712 {
    IMarginParameterRegistry internal immutable _registry;

    uint256 internal _nonce;
    mapping(bytes32 => RiskArrayWord) internal _arrays;
    // Per set: the hot word the margin reads (weights, max age, active), then the two words of publication limits.
    mapping(uint256 => uint256) internal _setHead;
    mapping(uint256 => uint256) internal _setLower;
    mapping(uint256 => uint256) internal _setUpper;

    constructor(IMarginParameterRegistry registry_) EIP712("RiskArrayRegistry", "1") {
        _registry = registry_;
    }

    /* SIGNED (ANYONE MAY RELAY) */

    /// @inheritdoc IRiskArrays
    function submitRiskArrays(RiskArrayBatch calldata batch, bytes[] calldata signatures) external {
        if (_registry.paused()) revert RegistryPaused();
        if (block.timestamp > batch.deadline) revert SignatureExpired(batch.deadline, block.timestamp);
        uint256 latestDeadline = block.timestamp + _registry.maxBatchLifetime();
        if (batch.deadline > latestDeadline) revert DeadlineTooFar(batch.deadline, latestDeadline);
        if (batch.chainId != block.chainid) revert WrongChain(batch.chainId, block.chainid);
        uint256 expected = _nonce;
        if (batch.nonce < expected) revert NonceAlreadyUsed(batch.nonce, expected);
        if (batch.nonce > expected) revert NonceOutOfOrder(batch.nonce, expected);
        RiskArrayUpdate[] calldata arrays = batch.arrays;
        uint256 n = arrays.length;
        if (n == 0) revert EmptyBatch();
        uint256 set = batch.scenarioSet;
        if (!setActive(_setHead[set])) revert ScenarioSetNotActive(set);
        _verifySignatures(_hashBatch(batch), signatures);
        _nonce = expected + 1;
        (uint256 lower, uint256 upper) = (_setLower[set], _setUpper[set]);
        for (uint256 i; i < n; ++i) {
            _publish(arrays[i], set, lower, upper);
        }
        emit RiskArraysSubmitted(batch.nonce, batch.inputsHash, batch.modelVersion, set, n);
    }

    /* GOVERNANCE */

    /// @inheritdoc IRiskArrays
    function setScenarioSet(uint8 id, ScenarioSet calldata c) external {
        if (msg.sender != _registry.governance()) revert NotGovernance(msg.sender);
        if (
            id == 0 || c.maxAge == 0 || c.maxStepUnits == 0 || c.minFloorUnits > c.maxFloorUnits
                || c.factorPairs > SCENARIOS / 2
        ) revert InvalidScenarioSet(id);
        uint256 head;
        uint256 lowerMoves;
        uint256 upperMoves;
        for (uint256 s; s < SCENARIOS; ++s) {
            (int256 lo, int256 hi) = (c.minMoves[s], c.maxMoves[s]);
            if (lo > hi || lo < -2048 || hi > 2047 || c.weightPct[s] > 100) revert InvalidScenarioSet(id);
            if (s < 2 * uint256(c.factorPairs) && c.weightPct[s] != 100) revert InvalidScenarioSet(id);
            head |= uint256(c.weightPct[s]) << (s * 8);
            lowerMoves |= (uint256(lo) & 0xfff) << (s * 12);
            upperMoves |= (uint256(hi) & 0xfff) << (s * 12);
        }
        _setHead[id] = head | (uint256(c.maxAge) << 128) | (c.active ? 1 << 160 : 0) | (uint256(c.factorPairs) << 161);
        _setLower[id] = lowerMoves | (uint256(c.minFloorUnits) << 192) | (uint256(c.maxFloorUnits) << 200)
            | (uint256(c.maxStepUnits) << 208) | (uint256(c.widenUnitsPerHour) << 224)
            | (uint256(c.narrowUnitsPerDay) << 240);
        _setUpper[id] = upperMoves | (uint256(c.maxDepthGrowthPct) << 192);
        emit ScenarioSetChanged(id, c);
    }

    /* MARGIN */

    /// @inheritdoc IPortfolioMargin
    function portfolioMargin(bytes32[] calldata assets, int256[] calldata positions) external view returns (uint256) {
        return _portfolio(assets, positions).margin;
    }

    /// @inheritdoc IPortfolioMargin
    function marginBreakdown(bytes32[] calldata assets, int256[] calldata positions)
        external
        view
        returns (MarginBreakdown memory)
    {
        return _portfolio(assets, positions);
    }

    /// @inheritdoc IPortfolioMargin
    function isolatedMargin(bytes32[] calldata assets, int256[] calldata positions)
        external
        view
        returns (uint256 total)
    {
        uint256 n = _checkLengths(assets, positions);
        uint256 expectedSet;
        uint256 head;
        bytes32 previous;
        for (uint256 i; i < n; ++i) {
            bytes32 asset = assets[i];
            if (i != 0 && asset <= previous) revert AssetsNotSorted(i, asset);
            previous = asset;
            int256 pos = positions[i];
            if (pos == 0) continue;
            RiskArrayWord w;
            (w, expectedSet, head) = _read(asset, pos, expectedSet, head);
            uint256 size = pos < 0 ? uint256(-pos) : uint256(pos);
            int256 worst;
            uint256 squares;
            assembly ("memory-safe") {
                let factorRows := shl(1, and(shr(161, head), 0xff))
                for { let s := 0 } lt(s, 16) { s := add(s, 1) } {
                    let m := sar(4, signextend(1, shl(4, and(shr(mul(s, 12), w), 0xfff))))
                    let loss := mul(mul(sub(0, pos), m), and(shr(shl(3, s), head), 0xff))
                    if sgt(loss, worst) { worst := loss }
                    if and(lt(s, factorRows), iszero(and(s, 1))) {
                        let p := mul(pos, m)
                        squares := add(squares, mul(p, p))
                    }
                }
            }
            uint256 floorSum = size * w.floorUnits();
            squares += floorSum * floorSum;
            if (squares != 0) {
                uint256 norm = Math.sqrt(squares, Math.Rounding.Ceil) * 100;
                if (norm > uint256(worst)) worst = int256(norm);
            }
            uint256 scan = _ceilDiv(uint256(worst), LOSS_SCALE);
            uint256 floor = _ceilDiv(floorSum, UNITS_PER_ONE);
            total += (scan > floor ? scan : floor) + _addOn(size, w.depthUsd());
        }
    }

    /* VIEWS */

    /// @inheritdoc IPortfolioMargin
    function riskArray(bytes32 asset) external view returns (RiskArray memory a) {
        RiskArrayWord w = _arrays[asset];
        for (uint256 s; s < SCENARIOS; ++s) {
            a.moves[s] = int16(w.move(s));
        }
        a.floorUnits = w.floorUnits();
        a.depthUsd = w.depthUsd();
        a.updatedAt = w.updatedAt();
        a.scenarioSet = w.scenarioSet();
    }

    /// @inheritdoc IRiskArrays
    function scenarioSet(uint8 id) external view returns (ScenarioSet memory c) {
        (uint256 head, uint256 lower, uint256 upper) = (_setHead[id], _setLower[id], _setUpper[id]);
        for (uint256 s; s < SCENARIOS; ++s) {
            c.weightPct[s] = uint8(setWeight(head, s));
            c.minMoves[s] = int16(moveAt(lower, s));
            c.maxMoves[s] = int16(moveAt(upper, s));
        }
        c.minFloorUnits = uint8(lower >> 192);
        c.maxFloorUnits = uint8(lower >> 200);
        c.maxStepUnits = uint16(lower >> 208);
        c.widenUnitsPerHour = uint16(lower >> 224);
        c.narrowUnitsPerDay = uint16(lower >> 240);
        c.maxDepthGrowthPct = uint16(upper >> 192);
        c.maxAge = uint32(setMaxAge(head));
        c.active = setActive(head);
        c.factorPairs = uint8(setFactorPairs(head));
    }

    /// @inheritdoc IRiskArrays
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IRiskArrays
    function arrayWord(bytes32 asset) external view returns (uint256) {
        return RiskArrayWord.unwrap(_arrays[asset]);
    }

    /// @inheritdoc IRiskArrays
    function batchNonce() external view returns (uint256) {
        return _nonce;
    }

    /// @inheritdoc IRiskArrays
    function hashBatch(RiskArrayBatch calldata batch) external view returns (bytes32) {
        return _hashBatch(batch);
    }

    /// @inheritdoc IRiskArrays
    function version() external pure returns (string memory) {
        return RISK_ARRAYS_VERSION;
    }

    /// @notice The EIP-712 domain separator (chain id and this contract's address included).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /* INTERNAL: MARGIN */

    /// @dev Accumulates Σ position · move per row (in 18-decimal USD times move units), then takes the largest
    /// weighted loss or the norm of the factor rows' losses and the floor sum, whichever is larger. The sums live in one memory array (rows 0-15, then Σ position, Σ |position| · floor and the
    /// add-on): kept as locals they pushed the loop past the stack, and the compiler moved them all to memory.
    function _portfolio(bytes32[] calldata assets, int256[] calldata positions)
        internal
        view
        returns (MarginBreakdown memory b)
    {
        uint256 n = _checkLengths(assets, positions);
        uint256[19] memory acc;
        uint256 expectedSet;
        uint256 head;
        uint256 maxAge;
        bytes32 previous;
        for (uint256 i; i < n; ++i) {
            bytes32 asset = assets[i];
            if (i != 0 && asset <= previous) revert AssetsNotSorted(i, asset);
            previous = asset;
            int256 pos = positions[i];
            if (pos == 0) continue;
            uint256 w = RiskArrayWord.unwrap(_arrays[asset]);
            bool usual;
            // The usual case checked in a few opcodes; anything else (the first asset, or an error) takes the
            // `_read` path, which sets the expected set or reverts with the exact error.
            assembly ("memory-safe") {
                let published := and(shr(192, w), 0xffffffff)
                let bound := shl(100, 1)
                usual := and(
                    and(eq(and(shr(224, w), 0xff), expectedSet), and(slt(pos, bound), sgt(pos, sub(0, bound)))),
                    and(iszero(iszero(published)), iszero(gt(sub(timestamp(), published), maxAge)))
                )
            }
            if (!usual) {
                (, expectedSet, head) = _read(asset, pos, expectedSet, head);
                maxAge = setMaxAge(head);
            }
            _accumulate(acc, pos, w);
        }
        int256 worst;
        uint256 worstRow;
        uint256 squares;
        assembly ("memory-safe") {
            let bias := mul(mload(add(acc, 0x200)), 2048)
            for { let s := 0 } lt(s, 16) { s := add(s, 1) } {
                let loss := mul(sub(bias, mload(add(acc, shl(5, s)))), and(shr(shl(3, s), head), 0xff))
                if sgt(loss, worst) {
                    worst := loss
                    worstRow := s
                }
            }
            // the factor rows' losses (rows 0, 2, …) and the floor sum: each < 2^112 per asset below the
            // position bound, so the squares of any book a block can hold stay far inside 256 bits
            let floorSum := mload(add(acc, 0x220))
            squares := mul(floorSum, floorSum)
            for { let j := 0 } lt(j, and(shr(161, head), 0xff)) { j := add(j, 1) } {
                let p := sub(mload(add(acc, shl(6, j))), bias)
                squares := add(squares, mul(p, p))
            }
        }
        if (squares != 0) {
            uint256 norm = Math.sqrt(squares, Math.Rounding.Ceil) * 100; // weight 100, as the set requires
            if (norm > uint256(worst)) (worst, worstRow) = (int256(norm), SCENARIOS);
        }
        b.worstScenario = worstRow;
        b.addOn = acc[18];
        b.scenarioMargin = _ceilDiv(uint256(worst), LOSS_SCALE);
        b.floorMargin = _ceilDiv(acc[17], UNITS_PER_ONE);
        b.margin = (b.scenarioMargin > b.floorMargin ? b.scenarioMargin : b.floorMargin) + b.addOn;
        b.scenarioSet = expectedSet;
    }

    /// @dev Adds one position to `acc`. Each 12-bit move m is read as u = m + 2048 (its sign bit flipped: no sign
    /// extension per row) and Σ pos·u accumulated; 2048·Σ pos comes off each row once at the end. |pos| < 2^100
    /// and u < 2^12 keep the sums of any realistic number of assets far inside int256, as are the floor
    /// (< 2^135 each) and add-on (< 2^188 each) sums. Unrolled: a loop's own jumps and compares cost as much as
    /// its work.
    function _accumulate(uint256[19] memory acc, int256 pos, uint256 w) internal pure {
        assembly ("memory-safe") {
            let size := pos
            if slt(pos, 0) { size := sub(0, pos) }
            let cell := add(acc, 0x200)
            mstore(cell, add(mload(cell), pos))
            cell := add(acc, 0x220)
            mstore(cell, add(mload(cell), mul(size, and(shr(232, w), 0xff))))
            // add-on: ceil(size² / (100 · depth · 1e18)); depth = mantissa · 10^exponent, never 0 once published
            let d := mul(mul(and(shr(240, w), 0xfff), exp(10, shr(252, w))), 100000000000000000000)
            let sq := mul(size, size)
            cell := add(acc, 0x240)
            mstore(cell, add(mload(cell), add(div(sq, d), iszero(iszero(mod(sq, d))))))
            let u := xor(and(w, MOVES_MASK), SIGN_BITS)
                mstore(acc, add(mload(acc), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x20), add(mload(add(acc, 0x20)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x40), add(mload(add(acc, 0x40)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x60), add(mload(add(acc, 0x60)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x80), add(mload(add(acc, 0x80)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0xa0), add(mload(add(acc, 0xa0)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0xc0), add(mload(add(acc, 0xc0)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0xe0), add(mload(add(acc, 0xe0)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x100), add(mload(add(acc, 0x100)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x120), add(mload(add(acc, 0x120)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x140), add(mload(add(acc, 0x140)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x160), add(mload(add(acc, 0x160)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x180), add(mload(add(acc, 0x180)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x1a0), add(mload(add(acc, 0x1a0)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x1c0), add(mload(add(acc, 0x1c0)), mul(pos, and(u, 0xfff))))
                u := shr(12, u)
                mstore(add(acc, 0x1e0), add(mload(add(acc, 0x1e0)), mul(pos, and(u, 0xfff))))
        }
    }

    /// @dev An asset's word, checked: published, under the same set as the others, that set active, not stale.
    function _read(bytes32 asset, int256 pos, uint256 expectedSet, uint256 head)
        internal
        view
        returns (RiskArrayWord w, uint256, uint256)
    {
        if (pos >= 2 ** 100 || pos <= -(2 ** 100)) revert PositionTooLarge(asset, pos);
        w = _arrays[asset];
        uint256 published = w.updatedAt();
        if (published == 0) revert RiskArrayNotSet(asset);
        uint256 set = w.scenarioSet();
        if (expectedSet == 0) {
            (expectedSet, head) = (set, _setHead[set]);
            if (!setActive(head)) revert ScenarioSetRetired(set);
        } else if (set != expectedSet) {
            revert MixedScenarioSets(asset, set, expectedSet);
        }
        uint256 maxAge = setMaxAge(head);
        if (block.timestamp - published > maxAge) revert StaleRiskArray(asset, published, maxAge);
        return (w, expectedSet, head);
    }

    function _checkLengths(bytes32[] calldata assets, int256[] calldata positions) internal pure returns (uint256 n) {
        n = assets.length;
        if (positions.length != n) revert LengthMismatch(n, positions.length);
    }

    /// @dev position² / (100 · depth), in 18-decimal USD, rounded up; a zero depth cannot be published.
    /// Unchecked: sizes are below 2^100 (`_read`) and depths below 2^62, so neither product can overflow.
    function _addOn(uint256 size, uint256 depth) internal pure returns (uint256) {
        unchecked {
            return _ceilDiv(size * size, 100 * depth * 1e18);
        }
    }

    function _ceilDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        unchecked {
            return a == 0 ? 0 : (a - 1) / b + 1;
        }
    }

    /* INTERNAL: PUBLICATION */

    /// @dev One entry: bounds, then (if the asset already has an array under this set) the rates, then the write.
    function _publish(RiskArrayUpdate calldata u, uint256 set, uint256 lower, uint256 upper) internal {
        bytes32 asset = u.asset;
        uint256 moves = u.moves;
        if (moves > MOVES_MASK) revert MalformedMoves(asset);
        RiskArrayWord old = _arrays[asset];
        bool steps = old.updatedAt() != 0 && old.scenarioSet() == set;
        uint256 elapsed = steps ? block.timestamp - old.updatedAt() : 0;
        // Allowances in units: growth of a magnitude at the widening rate, shrinkage at the narrowing rate, both
        // capped by the largest step.
        uint256 maxStep = uint16(lower >> 208);
        uint256 widen = _allowance(uint16(lower >> 224), elapsed, 1 hours, maxStep);
        uint256 narrow = _allowance(uint16(lower >> 240), elapsed, 1 days, maxStep);
        if (!_rowsPass(moves, RiskArrayWord.unwrap(old), lower, upper, steps, widen, narrow)) {
            uint256 bad = _firstBadRow(moves, RiskArrayWord.unwrap(old), lower, upper, steps, widen, narrow);
            _revertRow(asset, bad - 1, moves, RiskArrayWord.unwrap(old), lower, upper, widen, narrow);
        }
        uint256 floor = u.floorUnits;
        (uint256 minFloor, uint256 maxFloor) = (uint8(lower >> 192), uint8(lower >> 200));
        if (floor < minFloor || floor > maxFloor) {
            revert ArrayOutOfBounds(asset, ArrayField.Floor, 0, int256(floor), int256(minFloor), int256(maxFloor));
        }
        uint256 depth = decodeDepth(u.depth);
        if (depth == 0) revert ArrayOutOfBounds(asset, ArrayField.Depth, 0, 0, 1, type(int256).max);
        if (steps) {
            uint256 oldFloor = old.floorUnits();
            if (floor != oldFloor) {
                uint256 allowed = floor > oldFloor ? widen : narrow;
                uint256 change = floor > oldFloor ? floor - oldFloor : oldFloor - floor;
                if (change > allowed) {
                    revert ArrayStepTooLarge(asset, ArrayField.Floor, 0, int256(oldFloor), int256(floor), allowed);
                }
            }
            if (u.depth != old.depthCode()) {
                _checkDepthStep(asset, old.depthUsd(), depth, elapsed, uint16(upper >> 192));
            }
        }
        RiskArrayWord w = packArray(moves, block.timestamp, set, floor, u.depth);
        _arrays[asset] = w;
        emit RiskArrayPublished(asset, RiskArrayWord.unwrap(w));
    }

    /// @dev `rate` units per `period` over `elapsed` seconds, rounded down, at most `cap`.
    function _allowance(uint256 rate, uint256 elapsed, uint256 period, uint256 cap) internal pure returns (uint256) {
        uint256 a = rate * elapsed / period;
        return a < cap ? a : cap;
    }

    /// @dev Whether every row passes its bounds and (with `steps`) its step: the rule of `_firstBadRow` on all 16 rows
    /// at once (SIMD within a register). Each 12-bit move is read as u = m + 2048, so signed order is unsigned
    /// order; the even rows and then the odd rows are spread into 24-bit lanes, whose 12 spare bits let one
    /// subtraction compare eight lanes: bit 12 of `(a | H) - b` is set exactly where a >= b. Row by row, the checks
    /// cost about 4,000 gas an asset; this way, about 300. `_firstBadRow` finds the row to name when this fails.
    function _rowsPass(
        uint256 moves,
        uint256 oldMoves,
        uint256 lower,
        uint256 upper,
        bool steps,
        uint256 widen,
        uint256 narrow
    ) internal pure returns (bool pass) {
        assembly ("memory-safe") {
            let lane := 0x000fff000fff000fff000fff000fff000fff000fff000fff
            let h := 0x001000001000001000001000001000001000001000001000
            let ones := 0x000001000001000001000001000001000001000001000001
            function ge(a, b, hBits) -> r {
                r := and(sub(or(a, hBits), b), hBits)
            }
            let zero := mul(2048, ones)
            // allowances above 4,095 never bind a 12-bit change
            if gt(widen, 4095) { widen := 4095 }
            if gt(narrow, 4095) { narrow := 4095 }
            let widenLanes := mul(widen, ones)
            let narrowLanes := mul(narrow, ones)
            let m := xor(moves, SIGN_BITS)
            let o := xor(oldMoves, SIGN_BITS)
            let lo := xor(lower, SIGN_BITS)
            let hi := xor(upper, SIGN_BITS)
            pass := 1
            for { let half := 0 } lt(half, 2) { half := add(half, 1) } {
                let shift := mul(half, 12)
                let mu := and(shr(shift, m), lane)
                let inBounds := and(ge(mu, and(shr(shift, lo), lane), h), ge(and(shr(shift, hi), lane), mu, h))
                if iszero(eq(inBounds, h)) { pass := 0 }
                if steps {
                    let ou := and(shr(shift, o), lane)
                    let d1 := sub(or(mu, h), ou) // per lane 4096 + mu - ou
                    let d2 := sub(or(ou, h), mu) // per lane 4096 + ou - mu
                    let mGeO := and(d1, h)
                    let select := mul(shr(12, mGeO), 0xfff)
                    let change := or(and(d1, select), and(and(d2, not(select)), lane))
                    let oPositive := and(not(ge(zero, ou, h)), h)
                    let oNegative := and(not(ge(ou, zero, h)), h)
                    let oAboveM := and(not(mGeO), h)
                    let mAboveO := and(not(ge(ou, mu, h)), h)
                    // shrinking toward zero without crossing it: 0 <= m < o, or o < m <= 0
                    let shrink := or(
                        and(and(oPositive, ge(mu, zero, h)), oAboveM), and(and(oNegative, mAboveO), ge(zero, mu, h))
                    )
                    let ok := or(
                        and(shrink, ge(narrowLanes, change, h)), and(and(not(shrink), h), ge(widenLanes, change, h))
                    )
                    if iszero(eq(ok, h)) { pass := 0 }
                }
            }
        }
    }

    /// @dev 1 + the first row whose move is out of bounds or (with `steps`) moves too far from the old one; 0 if none.
    /// A move whose magnitude grows (or that changes sign) tightens the asset's own margin: widening rate; one whose
    /// magnitude shrinks toward zero without crossing it loosens it: narrowing rate. Row by row, so only run once
    /// `_rowsPass` has failed, to name the row (`_revertRow` says which rule failed).
    function _firstBadRow(
        uint256 moves,
        uint256 oldMoves,
        uint256 lower,
        uint256 upper,
        bool steps,
        uint256 widen,
        uint256 narrow
    ) internal pure returns (uint256 bad) {
        assembly ("memory-safe") {
            // Every 12-bit field read as u = m + 2048 (sign bit flipped): signed comparisons become unsigned ones and
            // no field needs sign extension; 2048 is a move of zero.
            let m := xor(moves, SIGN_BITS)
            let lo := xor(lower, SIGN_BITS)
            let hi := xor(upper, SIGN_BITS)
            let o := xor(oldMoves, SIGN_BITS)
            for { let s := 1 } lt(s, 17) { s := add(s, 1) } {
                let mu := and(m, 0xfff)
                if or(lt(mu, and(lo, 0xfff)), gt(mu, and(hi, 0xfff))) {
                    bad := s
                    break
                }
                if steps {
                    let ou := and(o, 0xfff)
                    if iszero(eq(mu, ou)) {
                        let change := sub(mu, ou)
                        if lt(mu, ou) { change := sub(ou, mu) }
                        let absM := sub(mu, 2048)
                        if lt(mu, 2048) { absM := sub(2048, mu) }
                        let absO := sub(ou, 2048)
                        if lt(ou, 2048) { absO := sub(2048, ou) }
                        let allowed := widen
                        if and(lt(absM, absO), or(eq(mu, 2048), eq(lt(mu, 2048), lt(ou, 2048)))) { allowed := narrow }
                        if gt(change, allowed) {
                            bad := s
                            break
                        }
                    }
                    o := shr(12, o)
                }
                m := shr(12, m)
                lo := shr(12, lo)
                hi := shr(12, hi)
            }
        }
    }

    /// @dev Reverts with the error of row `s`, which `_firstBadRow` found to fail.
    function _revertRow(
        bytes32 asset,
        uint256 s,
        uint256 moves,
        uint256 oldMoves,
        uint256 lower,
        uint256 upper,
        uint256 widen,
        uint256 narrow
    ) internal pure {
        (int256 m, int256 lo, int256 hi) = (moveAt(moves, s), moveAt(lower, s), moveAt(upper, s));
        if (m < lo || m > hi) revert ArrayOutOfBounds(asset, ArrayField.Move, s, m, lo, hi);
        int256 from = moveAt(oldMoves, s);
        uint256 absFrom = from < 0 ? uint256(-from) : uint256(from);
        uint256 absTo = m < 0 ? uint256(-m) : uint256(m);
        bool shrinks = absTo < absFrom && (m == 0 || (from < 0) == (m < 0));
        revert ArrayStepTooLarge(asset, ArrayField.Move, s, from, m, shrinks ? narrow : widen);
    }

    /// @dev Depth may fall by at most half per update (a thinner book adds margin: that tightens, but not at once)
    /// and grow by at most `growthPct` percent per day since the last publication.
    function _checkDepthStep(bytes32 asset, uint256 from, uint256 to, uint256 elapsed, uint256 growthPct)
        internal
        pure
    {
        if (to < from) {
            if (to * 2 < from) revert ArrayStepTooLarge(asset, ArrayField.Depth, 0, int256(from), int256(to), from / 2);
        } else {
            uint256 allowed = from * growthPct * elapsed / (100 * 1 days);
            if (to - from > allowed) {
                revert ArrayStepTooLarge(asset, ArrayField.Depth, 0, int256(from), int256(to), allowed);
            }
        }
    }

    /* INTERNAL: SIGNATURES */

    /// @dev EIP-712 digest of the batch; also enforces strictly increasing asset ids.
    function _hashBatch(RiskArrayBatch calldata batch) internal view returns (bytes32) {
        RiskArrayUpdate[] calldata arrays = batch.arrays;
        uint256 n = arrays.length;
        bytes32[] memory hashes = new bytes32[](n);
        bytes32 previous;
        for (uint256 i; i < n; ++i) {
            RiskArrayUpdate calldata u = arrays[i];
            if (i != 0 && u.asset <= previous) revert AssetsNotSorted(i, u.asset);
            previous = u.asset;
            (bytes32 asset, uint256 moves, uint256 floor, uint256 depth) = (u.asset, u.moves, u.floorUnits, u.depth);
            bytes32 h;
            assembly ("memory-safe") {
                // keccak256(abi.encode(typehash, asset, moves, floorUnits, depth)) in scratch memory past the free
                // pointer, which is not moved: one allocation per entry cost more than the hash.
                let p := mload(0x40)
                mstore(p, RISK_ARRAY_UPDATE_TYPEHASH)
                mstore(add(p, 0x20), asset)
                mstore(add(p, 0x40), moves)
                mstore(add(p, 0x60), floor)
                mstore(add(p, 0x80), depth)
                h := keccak256(p, 0xa0)
            }
            hashes[i] = h;
        }
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    RISK_ARRAY_BATCH_TYPEHASH,
                    batch.chainId,
                    batch.nonce,
                    batch.deadline,
                    batch.inputsHash,
                    batch.modelVersion,
                    batch.scenarioSet,
                    keccak256(abi.encodePacked(hashes))
                )
            )
        );
    }

    /// @dev The registry's rule: at least its threshold of its signers, sorted, low-s, no duplicates.
    function _verifySignatures(bytes32 digest, bytes[] calldata signatures) internal view {
        uint256 required = _registry.threshold();
        if (signatures.length < required) revert NotEnoughSignatures(signatures.length, required);
        address previous;
        for (uint256 i; i < signatures.length; ++i) {
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err == ECDSA.RecoverError.InvalidSignatureS) revert MalleableSignature(i);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (!_registry.isSigner(recovered)) revert UnknownSigner(i, recovered);
            if (recovered == previous) revert DuplicateSigner(i, recovered);
            if (recovered < previous) revert SignersNotSorted(i, recovered, previous);
            previous = recovered;
        }
    }
}
