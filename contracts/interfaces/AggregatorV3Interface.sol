// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// @notice Chainlink's price-feed interface (same signatures as `@chainlink/contracts`, whose npm package does not
/// install offline; only the interface is needed).
interface AggregatorV3Interface {
    function decimals() external view returns (uint8);

    function description() external view returns (string memory);

    function version() external view returns (uint256);

    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80 roundId_, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
