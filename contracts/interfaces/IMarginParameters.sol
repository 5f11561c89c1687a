// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice Risk parameters of one market, in basis points (1 bps = 0.01 %).
/// @param ltvBps Maximum loan-to-value for new borrowing.
/// @param liquidationThresholdBps Debt/collateral ratio above which a position may be liquidated. While a decrease
/// is ramping in, this is the effective value at the current block.
/// @param liquidationBonusBps Discount a liquidator receives on seized collateral.
/// @param updatedAt Time of the last signed update, heartbeat or governance change (unix seconds).
struct Parameters {
    uint16 ltvBps;
    uint16 liquidationThresholdBps;
    uint16 liquidationBonusBps;
    uint40 updatedAt;
}

/// @title IMarginParameters
/// @notice What a lending or margin protocol needs to read risk parameters from the margin oracle.
/// @dev Read with `getParametersChecked(market, maxAge)` and fall back to conservative values of your own when it
/// reverts: it reverts when the market was never set or when no update or heartbeat arrived within `maxAge`.
/// Values always satisfy `ltvBps < liquidationThresholdBps` and
/// `liquidationThresholdBps * (10_000 + liquidationBonusBps) <= 10_000 ** 2`.
/// A market id is `keccak256(bytes(symbol))`, e.g. `keccak256("ETH/USD")`, or any id agreed with the operator.
interface IMarginParameters {
    /// @notice Thrown when a market has never been given parameters.
    error MarketNotSet(bytes32 market);

    /// @notice Thrown when a market's parameters are older than the caller's `maxAge`.
    error StaleParameters(bytes32 market, uint256 updatedAt, uint256 maxAge);

    /// @notice The parameters in force for `market` at the current block, whatever their age.
    /// @dev Returns all zeros for a market that was never set. A liquidation threshold decrease is ramped in
    /// linearly, so the returned threshold may lie between the old and the new value; the bonus returned is then
    /// capped so that `liquidationThresholdBps * (10_000 + liquidationBonusBps) <= 10_000 ** 2` holds.
    function getParameters(bytes32 market) external view returns (Parameters memory);

    /// @notice Like `getParameters`, but reverts with `MarketNotSet` or `StaleParameters` instead of returning
    /// values that were never set or were last refreshed more than `maxAge` seconds ago.
    function getParametersChecked(bytes32 market, uint256 maxAge) external view returns (Parameters memory);
}
