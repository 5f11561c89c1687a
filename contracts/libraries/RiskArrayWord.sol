// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Packed words of the risk-array contract: an asset's whole array in one word, so a portfolio read costs
/// one cold SLOAD per asset (two words would put ten assets over 50,000 gas on storage alone), and a scenario set's
/// hot part (weights, max age, active) in one word read once per portfolio.
/// @dev Moves are 12-bit two's-complement counts of `MOVE_UNIT_BPS`; row s sits in bits [12s, 12s + 12).
/// Asset word: | 0-191 moves | 192-223 updatedAt | 224-231 scenario set | 232-239 floor units | 240-255 depth |.
/// Set head:   | 0-127 weights (8 bits per row, percent) | 128-159 maxAge | 160 active | 161-168 factor pairs |.
/// Set lower:  | 0-191 min moves | 192-199 min floor | 200-207 max floor | 208-223 max step | 224-239 widen per
/// hour | 240-255 narrow per day |.
/// Set upper:  | 0-191 max moves | 192-207 max depth growth pct |.
/// Python mirror: `oracle/signing/risk_arrays.py` (the signing parity tests prove the two agree).

/// @dev Rows of every scenario set: 16 moves of 12 bits fill 192 bits and leave 64 for the rest of the word.
uint256 constant SCENARIOS = 16;
/// @dev One move unit in bps: 12 bits then span −204.8 % to +204.7 % at 0.1 % resolution.
uint256 constant MOVE_UNIT_BPS = 10;
/// @dev Move units in one (10,000 bps / 10).
uint256 constant UNITS_PER_ONE = 1000;
/// @dev The low 192 bits, where the moves sit (a literal: inline assembly reads only literal constants).
uint256 constant MOVES_MASK = 0xffffffffffffffffffffffffffffffffffffffffffffffff;
/// @dev Bit 11 of each of the 16 moves: XOR-ing it turns a two's-complement move m into m + 2048.
uint256 constant SIGN_BITS = 0x800800800800800800800800800800800800800800800800;

type RiskArrayWord is uint256;

using {move, updatedAt, scenarioSet, floorUnits, depthUsd, depthCode} for RiskArrayWord global;

/// @dev Row `s` of a packed 12-bit move vector, sign-extended.
function moveAt(uint256 packed, uint256 s) pure returns (int256 m) {
    assembly ("memory-safe") {
        // Shift the 12 bits to the top of a 16-bit field, sign-extend from byte 1, then shift back arithmetically.
        m := sar(4, signextend(1, shl(4, and(shr(mul(s, 12), packed), 0xfff))))
    }
}

function move(RiskArrayWord w, uint256 s) pure returns (int256) {
    return moveAt(RiskArrayWord.unwrap(w), s);
}

function updatedAt(RiskArrayWord w) pure returns (uint256) {
    return uint32(RiskArrayWord.unwrap(w) >> 192);
}

function scenarioSet(RiskArrayWord w) pure returns (uint256) {
    return uint8(RiskArrayWord.unwrap(w) >> 224);
}

function floorUnits(RiskArrayWord w) pure returns (uint256) {
    return uint8(RiskArrayWord.unwrap(w) >> 232);
}

function depthCode(RiskArrayWord w) pure returns (uint256) {
    return RiskArrayWord.unwrap(w) >> 240;
}

function depthUsd(RiskArrayWord w) pure returns (uint256) {
    return decodeDepth(RiskArrayWord.unwrap(w) >> 240);
}

/// @dev The 16-bit decimal float of a depth: 12-bit mantissa, 4-bit power of ten (at most 4,095e15, so no overflow).
/// `code` must fit 16 bits. The EXP opcode directly: Solidity's checked `**` loops and cost about 1,000 gas.
function decodeDepth(uint256 code) pure returns (uint256 d) {
    assembly ("memory-safe") {
        d := mul(and(code, 0xfff), exp(10, shr(12, code)))
    }
}

function packArray(uint256 moves, uint256 time, uint256 set, uint256 floor, uint256 depth)
    pure
    returns (RiskArrayWord)
{
    return RiskArrayWord.wrap(moves | (time << 192) | (set << 224) | (floor << 232) | (depth << 240));
}

/// @dev A scenario set's hot word: row weights, max age and the active flag.
function setWeight(uint256 head, uint256 s) pure returns (uint256) {
    return uint8(head >> (s * 8));
}

function setMaxAge(uint256 head) pure returns (uint256) {
    return uint32(head >> 128);
}

function setActive(uint256 head) pure returns (bool) {
    return (head >> 160) & 1 == 1;
}

function setFactorPairs(uint256 head) pure returns (uint256) {
    return uint8(head >> 161);
}
