// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice Why `sync` left a market's reserve untouched.
/// @param NotMapped Governance has not linked the market to an Aave reserve.
/// @param RegistryRejected The registry's checked read reverted: the market is unset or its values are older than
/// `maxAge` (the revert data is in the event).
/// @param AaveRejected Aave's `configureReserveAsCollateral` reverted, e.g. the adapter lost RISK_ADMIN or Aave's
/// own checks refused the values (the revert data is in the event).
enum SkipReason {
    NotMapped,
    RegistryRejected,
    AaveRejected
}

/// @notice A registry market linked to an Aave reserve, and the state of its ramp bound.
/// @param asset The reserve's underlying asset (zero: not linked).
/// @param syncedThresholdBps The registry's liquidation threshold in force at the last sync that wrote or checked
/// the reserve (at linking, the registry's value then, zero if unset).
/// @param holdThresholdBps Aave's threshold when the current hold began (0: no hold): see `sync`.
/// @param holdSince When the hold began (0: no hold).
struct MarketLink {
    address asset;
    uint16 syncedThresholdBps;
    uint16 holdThresholdBps;
    uint40 holdSince;
}

/// @title IAaveV3RiskAdapter
/// @notice Carries the margin oracle's parameters into an Aave v3 market. It is the market's only RISK_ADMIN that
/// the oracle needs; it writes nothing on Aave but `configureReserveAsCollateral` (and `renounceRole` on itself, to
/// detach). Anyone may call `sync`; the registry's governance links markets to reserves, sets the staleness bound
/// and can detach the adapter for good.
/// @dev Units: the registry's LTV and threshold are Aave's (bps); Aave's bonus is 10,000 + the registry's bonus,
/// capped as the registry caps it and at least 1 bps. Aave applies a change at once, so the adapter keeps the
/// registry's threshold ramp: a sync lowers Aave's threshold by at most how far the registry's threshold in force
/// fell since the market's previous sync. Where Aave's threshold is higher than that leaves it (a gap that did not
/// come from the registry: Aave's own value when the reserve was linked, or a raise by Aave's governance), the
/// adapter holds it on a line starting at the first sync that finds the gap and falling by `maxTightenStepBps`
/// per `thresholdRampDuration` of the market's guardrail profile, measured from the line's start (so neither
/// frequent syncs nor idle time change its pace); when the registry's own fall is faster, Aave follows that.
/// Raises and LTV changes apply at once: the registry already bounds them.
interface IAaveV3RiskAdapter {
    /// @notice Thrown when a caller other than the registry's governance calls a governance function.
    error NotGovernance(address caller);
    /// @notice Thrown by `sync` and governance functions once the adapter has renounced RISK_ADMIN.
    error AdapterDetached();
    /// @notice Thrown when linking an asset that another market already drives.
    error AssetAlreadyLinked(address asset, bytes32 market);
    /// @notice Thrown when setting a staleness bound of zero or above `MAX_AGE_LIMIT`.
    error InvalidMaxAge(uint256 maxAge);

    /// @notice Governance linked `market` to `asset`'s reserve (zero asset: unlinked).
    event MarketLinked(bytes32 indexed market, address indexed asset);
    /// @notice Governance set the staleness bound passed to the registry's checked read.
    event MaxAgeSet(uint256 maxAge);
    /// @notice A sync changed `asset`'s reserve; all values in Aave's units (bonus = 10,000 + discount).
    /// @param registryThresholdBps The registry's threshold in force; above `liquidationThreshold` never, below it
    /// when the ramp bound held the cut back.
    event ReserveSynced(
        bytes32 indexed market,
        address indexed asset,
        uint256 ltv,
        uint256 liquidationThreshold,
        uint256 liquidationBonus,
        uint256 previousLtv,
        uint256 previousLiquidationThreshold,
        uint256 previousLiquidationBonus,
        uint256 registryThresholdBps
    );
    /// @notice A sync left `market` untouched for `reason`; `data` is the revert data of the call that failed.
    event MarketSkipped(bytes32 indexed market, SkipReason reason, bytes data);
    /// @notice The adapter renounced RISK_ADMIN; it can write nothing to Aave any more.
    event Detached();

    /// @notice Writes each market's parameters in force (from `getParametersChecked(market, maxAge())`) to its Aave
    /// reserve, within the ramp bound. A market that is not linked, stale, unset or refused by Aave is skipped
    /// with `MarketSkipped` and never written; a reserve already at the values is not written either (the
    /// adapter's own link state is written only when it changes).
    /// @return applied How many reserves were changed.
    function sync(bytes32[] calldata markets) external returns (uint256 applied);

    /// @notice What `sync(market)` would write now, in Aave's units, without writing it.
    /// @return ltv The LTV a sync would set.
    /// @return liquidationThreshold The threshold a sync would set (the ramp bound applied).
    /// @return liquidationBonus The bonus a sync would set (10,000 + discount).
    /// @return changes Whether they differ from the reserve's (false when the market would be skipped).
    /// @return reason Why it would be skipped; meaningful only when `skipped`.
    /// @return skipped Whether a sync would skip the market.
    function preview(bytes32 market)
        external
        view
        returns (
            uint256 ltv,
            uint256 liquidationThreshold,
            uint256 liquidationBonus,
            bool changes,
            SkipReason reason,
            bool skipped
        );

    /// @notice Links `market` to `asset`'s reserve, or unlinks it with `asset == address(0)`. Governance only.
    /// @dev Records the registry's threshold in force now as the ramp bound's starting point; no hold yet.
    function setMarket(bytes32 market, address asset) external;

    /// @notice Sets the staleness bound (seconds) for the registry's checked read. Governance only.
    function setMaxAge(uint256 maxAge) external;

    /// @notice Renounces the adapter's RISK_ADMIN role in Aave for good. Governance only. Aave's own ACL admin can
    /// also revoke the role at any time; this is the oracle side's off switch.
    function detach() external;

    /// @notice The link and last applied sync of `market`.
    function link(bytes32 market) external view returns (MarketLink memory);
    /// @notice The market linked to `asset`'s reserve (zero: none).
    function marketOf(address asset) external view returns (bytes32);
    /// @notice The registry the adapter reads (its governance governs the adapter).
    function registry() external view returns (address);
    /// @notice Aave's PoolAddressesProvider of the market the adapter writes to.
    function addressesProvider() external view returns (address);
    /// @notice Staleness bound (seconds) of the registry read.
    function maxAge() external view returns (uint256);
    /// @notice Whether the adapter has renounced RISK_ADMIN.
    function detached() external view returns (bool);
}
