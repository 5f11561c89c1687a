// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice A market's stored state, unpacked. On chain it is one 256-bit word (see `pack`), so an update costs a
/// single SSTORE; Solidity's own struct packing would re-read and re-write the slot once per field.
struct MarketState {
    uint16 ltvBps;
    uint16 liquidationThresholdBps; // target; a decrease is reached at rampEnd
    uint16 liquidationBonusBps;
    uint40 updatedAt;
    uint16 rampStartThresholdBps;
    uint40 rampStart;
    uint40 rampEnd; // 0 when no ramp is in progress
    uint40 lastLoosenAt;
}

/// @notice Packing of `MarketState` and the threshold ramp arithmetic.
library MarketStateLib {
    uint256 internal constant BPS = 10_000;

    function unpack(uint256 word) internal pure returns (MarketState memory s) {
        s.ltvBps = uint16(word);
        s.liquidationThresholdBps = uint16(word >> 16);
        s.liquidationBonusBps = uint16(word >> 32);
        s.updatedAt = uint40(word >> 48);
        s.rampStartThresholdBps = uint16(word >> 88);
        s.rampStart = uint40(word >> 104);
        s.rampEnd = uint40(word >> 144);
        s.lastLoosenAt = uint40(word >> 184);
    }

    function pack(MarketState memory s) internal pure returns (uint256) {
        return uint256(s.ltvBps) | (uint256(s.liquidationThresholdBps) << 16) | (uint256(s.liquidationBonusBps) << 32)
            | (uint256(s.updatedAt) << 48) | (uint256(s.rampStartThresholdBps) << 88) | (uint256(s.rampStart) << 104)
            | (uint256(s.rampEnd) << 144) | (uint256(s.lastLoosenAt) << 184);
    }

    /// @notice Threshold in force at `timestamp`: linear from the ramp's start value down to the target.
    /// @dev Rounds down, toward the target (the safer side for the protocol).
    function effectiveThresholdDown(MarketState memory s, uint256 timestamp) internal pure returns (uint16) {
        if (timestamp >= s.rampEnd || s.rampStartThresholdBps <= s.liquidationThresholdBps) {
            return s.liquidationThresholdBps;
        }
        uint256 drop = uint256(s.rampStartThresholdBps - s.liquidationThresholdBps);
        uint256 remaining = drop * (s.rampEnd - timestamp) / (s.rampEnd - s.rampStart);
        return uint16(s.liquidationThresholdBps + remaining);
    }

    /// @notice Largest bonus that keeps `threshold * (BPS + bonus) <= BPS²`, capped at `bonus`.
    function cappedBonusDown(uint256 bonus, uint256 threshold) internal pure returns (uint16) {
        if (threshold == 0) return uint16(bonus);
        uint256 maxBonus = BPS * BPS / threshold - BPS;
        return uint16(bonus < maxBonus ? bonus : maxBonus);
    }
}
