// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice How a portfolio's margin was made up (all amounts in USD with 18 decimals, like the positions).
/// @param margin What the portfolio must hold: `max(scenarioMargin, floorMargin) + addOn`.
/// @param scenarioMargin The largest weighted loss over the scenario set's rows, or when larger the norm of the losses
/// over its factor rows and the floor sum together, `√(Σ factor loss² + (Σ |position| · floor)²)` (before rounding).
/// @param floorMargin `Σ |position| · floor`: the least any exposure needs, however well hedged; it also covers what
/// the factor rows leave out, so it adds to their losses in quadrature (and `scenarioMargin` ≥ `floorMargin`).
/// @param addOn `Σ position² / (100 · depth)`: what selling each position costs under linear price impact, with
/// `depth` the notional whose sale costs 1 % (so the add-on is 1 % of a position as large as the depth).
/// @param worstScenario Row of the largest weighted loss; 16 when the norm of the factor losses and the floors binds,
/// which is always the case for a book every row gains on (the floors are never nothing); 0 for an empty book.
/// @param scenarioSet The scenario set every array read belongs to (0 when every position is zero).
struct MarginBreakdown {
    uint256 margin;
    uint256 scenarioMargin;
    uint256 floorMargin;
    uint256 addOn;
    uint256 worstScenario;
    uint256 scenarioSet;
}

/// @notice One asset's risk array as published (moves in `MOVE_UNIT_BPS` units, see `IRiskArrays`).
/// @param moves The 16 joint scenario moves of the asset's price over the set's horizon, in units of 10 bps
/// (−300 is −30 %), row by row.
/// @param floorUnits The least margin per unit of exposure, in units of 10 bps.
/// @param depthUsd The notional (whole USD) whose sale costs 1 % slippage.
/// @param updatedAt Time of the last signed publication (0: never published).
/// @param scenarioSet The scenario set the rows belong to.
struct RiskArray {
    int16[16] moves;
    uint256 floorUnits;
    uint256 depthUsd;
    uint256 updatedAt;
    uint256 scenarioSet;
}

/// @title IPortfolioMargin
/// @notice What a margin or derivatives protocol needs to margin a portfolio of long and short positions on the
/// oracle's stress scenarios, netting what moves together (SPAN-like).
/// @dev Positions are signed notionals in USD with 18 decimals (long > 0, short < 0), one per asset, with assets in
/// strictly increasing id order (an asset id is `keccak256(bytes(symbol))`, e.g. `keccak256("ETH/USD")`). A zero
/// position is skipped without reading its asset. Both margin functions revert with `RiskArrayNotSet`,
/// `StaleRiskArray` (older than the set's `maxAge`), `MixedScenarioSets`, `ScenarioSetRetired`,
/// `AssetsNotSorted`, `LengthMismatch` or `PositionTooLarge` rather than return a margin they cannot stand behind:
/// fall back to margins of your own (or stop new risk) when they do.
interface IPortfolioMargin {
    /// @notice Thrown when an asset with a non-zero position was never published.
    error RiskArrayNotSet(bytes32 asset);
    /// @notice Thrown when an asset's array is older than its scenario set's `maxAge`.
    error StaleRiskArray(bytes32 asset, uint256 updatedAt, uint256 maxAge);
    /// @notice Thrown when the positions' arrays belong to different scenario sets (their rows mean different
    /// things, so they cannot be added).
    error MixedScenarioSets(bytes32 asset, uint256 scenarioSet, uint256 expected);
    /// @notice Thrown when the positions' scenario set was retired by governance.
    error ScenarioSetRetired(uint256 scenarioSet);
    /// @notice Thrown when assets are not in strictly increasing order (this also forbids duplicates, which would
    /// understate the size add-on).
    error AssetsNotSorted(uint256 index, bytes32 asset);
    /// @notice Thrown when `assets` and `positions` differ in length.
    error LengthMismatch(uint256 assets, uint256 positions);
    /// @notice Thrown when a position's absolute value is 2^100 or more (about 1.27e12 USD): below it no sum or
    /// square of the margin's arithmetic can overflow.
    error PositionTooLarge(bytes32 asset, int256 position);

    /// @notice The portfolio margin: `max(largest weighted scenario loss, √(Σ loss over the factor rows² +
    /// (Σ |position| · floor)²)) + Σ size add-on`, rounded up, in USD with 18 decimals. The factor rows are the set's
    /// orthogonal components at their design quantile and the floors bound what they leave out (the residual), so
    /// the two add like independent risks: the larger of them alone understates a book half in each by up to √2.
    /// @param assets Asset ids in strictly increasing order.
    /// @param positions Signed notionals in USD with 18 decimals (long > 0, short < 0).
    function portfolioMargin(bytes32[] calldata assets, int256[] calldata positions) external view returns (uint256);

    /// @notice The sum of each position margined alone on the same arrays (no netting): for comparison, or for an
    /// isolated-margin mode.
    function isolatedMargin(bytes32[] calldata assets, int256[] calldata positions) external view returns (uint256);

    /// @notice `portfolioMargin` with its parts, for explanations and liquidation tooling.
    function marginBreakdown(bytes32[] calldata assets, int256[] calldata positions)
        external
        view
        returns (MarginBreakdown memory);

    /// @notice An asset's published array, whatever its age (all zeros if never published).
    function riskArray(bytes32 asset) external view returns (RiskArray memory);
}
