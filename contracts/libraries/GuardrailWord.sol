// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Guardrails} from "../interfaces/IMarginParameterRegistry.sol";

/// @notice A guardrail profile packed into one word, in the field order of `Guardrails` from the low bits: six
/// 16-bit bounds (min/max LTV, LT, LB), the 16-bit tighten and loosen steps, the 32-bit loosen interval and ramp
/// duration, then the 16-bit update interval. Markets share profiles, so in a batch the profile's slot is cold once and warm after; reading
/// fields with shifts avoids copying ten fields to memory per market.
type GuardrailWord is uint256;

using {
    minLtvBps,
    maxLtvBps,
    minLiquidationThresholdBps,
    maxLiquidationThresholdBps,
    minLiquidationBonusBps,
    maxLiquidationBonusBps,
    maxTightenStepBps,
    maxLoosenStepBps,
    minLoosenInterval,
    thresholdRampDuration,
    minUpdateInterval,
    unpackGuardrails
} for GuardrailWord global;

function minLtvBps(GuardrailWord g) pure returns (uint256) {
    return uint16(GuardrailWord.unwrap(g));
}

function maxLtvBps(GuardrailWord g) pure returns (uint256) {
    return uint16(GuardrailWord.unwrap(g) >> 16);
}

function minLiquidationThresholdBps(GuardrailWord g) pure returns (uint256) {
    return uint16(GuardrailWord.unwrap(g) >> 32);
}

function maxLiquidationThresholdBps(GuardrailWord g) pure returns (uint256) {
    return uint16(GuardrailWord.unwrap(g) >> 48);
}

function minLiquidationBonusBps(GuardrailWord g) pure returns (uint256) {
    return uint16(GuardrailWord.unwrap(g) >> 64);
}

function maxLiquidationBonusBps(GuardrailWord g) pure returns (uint256) {
    return uint16(GuardrailWord.unwrap(g) >> 80);
}

function maxTightenStepBps(GuardrailWord g) pure returns (uint256) {
    return uint16(GuardrailWord.unwrap(g) >> 96);
}

function maxLoosenStepBps(GuardrailWord g) pure returns (uint256) {
    return uint16(GuardrailWord.unwrap(g) >> 112);
}

function minLoosenInterval(GuardrailWord g) pure returns (uint256) {
    return uint32(GuardrailWord.unwrap(g) >> 128);
}

function thresholdRampDuration(GuardrailWord g) pure returns (uint256) {
    return uint32(GuardrailWord.unwrap(g) >> 160);
}

function minUpdateInterval(GuardrailWord g) pure returns (uint256) {
    return uint16(GuardrailWord.unwrap(g) >> 192);
}

function packGuardrails(Guardrails memory g) pure returns (GuardrailWord) {
    return GuardrailWord.wrap(
        uint256(g.minLtvBps) | (uint256(g.maxLtvBps) << 16) | (uint256(g.minLiquidationThresholdBps) << 32)
            | (uint256(g.maxLiquidationThresholdBps) << 48) | (uint256(g.minLiquidationBonusBps) << 64)
            | (uint256(g.maxLiquidationBonusBps) << 80) | (uint256(g.maxTightenStepBps) << 96)
            | (uint256(g.maxLoosenStepBps) << 112) | (uint256(g.minLoosenInterval) << 128)
            | (uint256(g.thresholdRampDuration) << 160) | (uint256(g.minUpdateInterval) << 192)
    );
}

function unpackGuardrails(GuardrailWord g) pure returns (Guardrails memory) {
    return Guardrails({
        minLtvBps: uint16(g.minLtvBps()),
        maxLtvBps: uint16(g.maxLtvBps()),
        minLiquidationThresholdBps: uint16(g.minLiquidationThresholdBps()),
        maxLiquidationThresholdBps: uint16(g.maxLiquidationThresholdBps()),
        minLiquidationBonusBps: uint16(g.minLiquidationBonusBps()),
        maxLiquidationBonusBps: uint16(g.maxLiquidationBonusBps()),
        maxTightenStepBps: uint16(g.maxTightenStepBps()),
        maxLoosenStepBps: uint16(g.maxLoosenStepBps()),
        minLoosenInterval: uint32(g.minLoosenInterval()),
        thresholdRampDuration: uint32(g.thresholdRampDuration()),
        minUpdateInterval: uint16(g.minUpdateInterval())
    });
}
