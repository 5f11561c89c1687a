// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IPortfolioMargin} from "../interfaces/IPortfolioMargin.sol";

/// @notice Measures what a margin protocol pays for one `portfolioMargin` call (used by the gas benchmark and tests).
contract PortfolioMarginReader {
    uint256 public lastGas;
    uint256 public lastMargin;

    /// @notice Calls `portfolioMargin` and records the gas of that call alone and its result.
    function read(IPortfolioMargin arrays, bytes32[] calldata assets, int256[] calldata positions) external {
        uint256 before = gasleft();
        uint256 margin = arrays.portfolioMargin(assets, positions);
        lastGas = before - gasleft();
        lastMargin = margin;
    }

    /// @notice Calls `isolatedMargin` (the baseline: the same positions without netting) and records its gas.
    function readIsolated(IPortfolioMargin arrays, bytes32[] calldata assets, int256[] calldata positions) external {
        uint256 before = gasleft();
        uint256 margin = arrays.isolatedMargin(assets, positions);
        lastGas = before - gasleft();
        lastMargin = margin;
    }
}
