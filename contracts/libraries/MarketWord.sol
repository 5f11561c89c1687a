// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BPS} from "./ConstantsLib.sol";

/// @notice A market's whole stored state in one 256-bit word, so a signed update costs one SLOAD and one SSTORE.
/// @dev Bit layout, from the low bits (bps values are 16 bits, timestamps 40 bits):
/// | bits    | field                         |
/// |---------|-------------------------------|
/// | 0-15    | ltvBps                        |
/// | 16-31   | liquidationThresholdBps (target; a decrease is reached at rampEnd) |
/// | 32-47   | liquidationBonusBps           |
/// | 48-87   | updatedAt (0: never set)      |
/// | 88-103  | rampStartThresholdBps         |
/// | 104-143 | rampStart                     |
/// | 144-183 | rampEnd (0: no ramp)          |
/// | 184-223 | lastLoosenAt                  |
/// | 224-239 | guardrail profile (0: none)   |
/// | 240-255 | changeAge: seconds from the last signed change to `updatedAt`, saturating at 65,535 |
/// `changeAge` is stored relative to `updatedAt` (which a heartbeat moves) rather than as a 40-bit timestamp: 16 bits
/// are all the word has left, and an update interval is at most 65,535 s (`MAX_UPDATE_INTERVAL`), so a saturated age
/// always means "long enough ago".
/// Accessors on a value type rather than a memory struct: unpacking eight fields into memory and packing them back
/// cost about 1,000 gas per market, more than every guardrail check together.
type MarketWord is uint256;

/// @notice Storage cell holding a market's word. A struct so that a storage reference can be taken: the slot's
/// keccak is then computed once for both the read and the write of an update.
struct MarketSlot {
    MarketWord word;
}

using {
    ltvBps,
    liquidationThresholdBps,
    liquidationBonusBps,
    updatedAt,
    rampStartThresholdBps,
    rampStart,
    rampEnd,
    lastLoosenAt,
    profile,
    changeAge,
    changeAgeAt,
    lastChangeAt,
    values,
    thresholdAt,
    withProfile,
    withHeartbeat
} for MarketWord global;

uint256 constant VALUES_MASK = (1 << 48) - 1;
uint256 constant UPDATED_AT_MASK = uint256(type(uint40).max) << 48;
uint256 constant CHANGE_AGE_MASK = uint256(type(uint16).max) << 240;
uint256 constant MAX_CHANGE_AGE = type(uint16).max;

function ltvBps(MarketWord w) pure returns (uint256) {
    return uint16(MarketWord.unwrap(w));
}

function liquidationThresholdBps(MarketWord w) pure returns (uint256) {
    return uint16(MarketWord.unwrap(w) >> 16);
}

function liquidationBonusBps(MarketWord w) pure returns (uint256) {
    return uint16(MarketWord.unwrap(w) >> 32);
}

function updatedAt(MarketWord w) pure returns (uint256) {
    return uint40(MarketWord.unwrap(w) >> 48);
}

function rampStartThresholdBps(MarketWord w) pure returns (uint256) {
    return uint16(MarketWord.unwrap(w) >> 88);
}

function rampStart(MarketWord w) pure returns (uint256) {
    return uint40(MarketWord.unwrap(w) >> 104);
}

function rampEnd(MarketWord w) pure returns (uint256) {
    return uint40(MarketWord.unwrap(w) >> 144);
}

function lastLoosenAt(MarketWord w) pure returns (uint256) {
    return uint40(MarketWord.unwrap(w) >> 184);
}

function profile(MarketWord w) pure returns (uint256) {
    return uint16(MarketWord.unwrap(w) >> 224);
}

function changeAge(MarketWord w) pure returns (uint256) {
    return MarketWord.unwrap(w) >> 240;
}

/// @notice Seconds since the last signed change at `timestamp` (≥ `updatedAt`), saturating at 65,535; saturated for
/// a market never set.
function changeAgeAt(MarketWord w, uint256 timestamp) pure returns (uint256) {
    if (w.updatedAt() == 0) return MAX_CHANGE_AGE;
    uint256 age = w.changeAge() + (timestamp - w.updatedAt());
    return age < MAX_CHANGE_AGE ? age : MAX_CHANGE_AGE;
}

/// @notice When the last signed change was written: exact within 65,535 s of `updatedAt`; past that (or with none)
/// `updatedAt - 65535`, at or after the true time; 0 for a market never set.
function lastChangeAt(MarketWord w) pure returns (uint256) {
    uint256 updated = w.updatedAt();
    uint256 age = w.changeAge();
    return updated > age ? updated - age : 0;
}

/// @notice The three values (LTV, target threshold, bonus) as they sit in the low 48 bits; equal values compare
/// equal in one operation, which is how a heartbeat is recognised.
function values(MarketWord w) pure returns (uint256) {
    return MarketWord.unwrap(w) & VALUES_MASK;
}

/// @notice What a heartbeat writes: `updatedAt` set to `timestamp`, the change age carried forward; values and
/// ramp kept.
function withHeartbeat(MarketWord w, uint256 timestamp) pure returns (MarketWord) {
    uint256 age = w.changeAgeAt(timestamp);
    return MarketWord.wrap(
        (MarketWord.unwrap(w) & ~(UPDATED_AT_MASK | CHANGE_AGE_MASK)) | (timestamp << 48) | (age << 240)
    );
}

/// @notice The three values packed as they sit in the low 48 bits of a word (see `values`).
function packValues(uint256 ltv, uint256 lt, uint256 lb) pure returns (uint256) {
    return ltv | (lt << 16) | (lb << 32);
}

/// @notice The `change` word of `ParametersUpdated`: new values (bits 0-47), previous values (48-95) and the
/// threshold ramp's end (96-135; 0 when the new threshold applies at once).
function packChange(uint256 newValues, uint256 previousValues, uint256 rampEnd_) pure returns (uint256) {
    return newValues | (previousValues << 48) | (rampEnd_ << 96);
}

/// @notice The same word under guardrail profile `profileId`.
function withProfile(MarketWord w, uint256 profileId) pure returns (MarketWord) {
    return MarketWord.wrap((MarketWord.unwrap(w) & ~(uint256(type(uint16).max) << 224)) | (profileId << 224));
}

/// @notice Threshold in force at `timestamp`: linear from the ramp's start value down to the target.
/// @dev Rounds down, toward the target (the safer side for the protocol).
function thresholdAt(MarketWord w, uint256 timestamp) pure returns (uint256) {
    uint256 target = w.liquidationThresholdBps();
    uint256 end = w.rampEnd();
    uint256 from = w.rampStartThresholdBps();
    if (timestamp >= end || from <= target) return target;
    uint256 start = w.rampStart();
    // Cannot overflow or underflow: target < from, start <= timestamp < end, all at most 40 bits.
    unchecked {
        return target + (from - target) * (end - timestamp) / (end - start);
    }
}

/// @notice Packs a new state word. Fields are assumed to fit their widths (callers check bps ≤ 10,000).
function packMarket(
    uint256 ltv,
    uint256 lt,
    uint256 lb,
    uint256 updatedAt_,
    uint256 rampStartLt,
    uint256 rampStart_,
    uint256 rampEnd_,
    uint256 lastLoosenAt_,
    uint256 profileId,
    uint256 changeAge_
) pure returns (MarketWord) {
    return MarketWord.wrap(
        packValues(ltv, lt, lb) | (updatedAt_ << 48) | (rampStartLt << 88) | (rampStart_ << 104)
            | (rampEnd_ << 144) | (lastLoosenAt_ << 184) | (profileId << 224) | (changeAge_ << 240)
    );
}

/// @notice Largest bonus that keeps `threshold * (BPS + bonus) <= BPS²`, capped at `bonus`: during a threshold
/// ramp the stored bonus may not fit the higher threshold in force.
function cappedBonusDown(uint256 bonus, uint256 threshold) pure returns (uint256) {
    if (threshold == 0) return bonus;
    uint256 maxBonus = BPS * BPS / threshold - BPS;
    return bonus < maxBonus ? bonus : maxBonus;
}
