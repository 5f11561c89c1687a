// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice One market's change as `ParametersUpdated(market, change)` reports it, unpacked.
/// @param ltvBps New LTV.
/// @param liquidationThresholdBps New target threshold (a cut is reached at `thresholdRampEnd`).
/// @param liquidationBonusBps New bonus.
/// @param previousLtvBps LTV before the change.
/// @param previousLiquidationThresholdBps Target threshold before the change.
/// @param previousLiquidationBonusBps Bonus before the change.
/// @param thresholdRampEnd When a threshold cut is fully in force (0: the new threshold applies at once).
struct ParameterChange {
    uint16 ltvBps;
    uint16 liquidationThresholdBps;
    uint16 liquidationBonusBps;
    uint16 previousLtvBps;
    uint16 previousLiquidationThresholdBps;
    uint16 previousLiquidationBonusBps;
    uint40 thresholdRampEnd;
}

/// @title ParameterChangeLib
/// @notice Decodes the `change` word of the registry's `ParametersUpdated` event, for integrators that consume the
/// event on-chain (a keeper contract, a light client's verifier) or in Solidity tests.
/// @dev The registry packs the word with `packChange` in `MarketWord.sol` (16 bits per value from the low bits:
/// new LTV, LT, LB, previous LTV, LT, LB, then the 40-bit ramp end at bit 96) because seven ABI words would cost
/// about 1,500 gas more per market. `tests/contracts/test_parameter_change_lib.py` proves this decoder, the
/// registry's packing and the Python decoder (`oracle.chain.ParameterChange.from_word`) agree.
library ParameterChangeLib {
    /// @notice The change packed in `change`.
    function decode(uint256 change) internal pure returns (ParameterChange memory c) {
        c.ltvBps = uint16(change);
        c.liquidationThresholdBps = uint16(change >> 16);
        c.liquidationBonusBps = uint16(change >> 32);
        c.previousLtvBps = uint16(change >> 48);
        c.previousLiquidationThresholdBps = uint16(change >> 64);
        c.previousLiquidationBonusBps = uint16(change >> 80);
        c.thresholdRampEnd = uint40(change >> 96);
    }

    /// @notice Whether the change lowered the threshold (a cut, ramped in until `thresholdRampEnd`).
    function isThresholdCut(ParameterChange memory c) internal pure returns (bool) {
        return c.liquidationThresholdBps < c.previousLiquidationThresholdBps;
    }
}
