// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarginParameters, Parameters} from "../interfaces/IMarginParameters.sol";

/// @notice Measures what a consumer pays to read one market (used by the gas benchmark and tests).
contract ParameterReader {
    uint256 public lastGas;
    uint256 public lastLtvBps;

    /// @notice Reads a market's parameters through `getParametersChecked` and records the gas of that call alone.
    function read(IMarginParameters registry, bytes32 market, uint256 maxAge) external {
        uint256 before = gasleft();
        Parameters memory p = registry.getParametersChecked(market, maxAge);
        lastGas = before - gasleft();
        lastLtvBps = p.ltvBps;
    }
}
