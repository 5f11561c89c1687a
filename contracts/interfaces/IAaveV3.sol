// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @dev The few Aave v3 functions the risk adapter calls, declared from Aave v3.0.2's public interfaces
/// (`@aave/core-v3`), so the adapter compiles with this project's solc instead of Aave's 0.8.10 sources.

/// @notice Aave v3's registry of a market's contracts; its addresses survive Aave's proxy upgrades.
interface IAaveAddressesProvider {
    /// @notice The market's Pool proxy.
    function getPool() external view returns (address);
    /// @notice The market's PoolConfigurator proxy.
    function getPoolConfigurator() external view returns (address);
    /// @notice The market's ACLManager (roles: pool admin, risk admin, ...).
    function getACLManager() external view returns (address);
}

/// @notice A reserve's packed configuration word in Aave v3: bits 0-15 LTV, 16-31 liquidation threshold, 32-47
/// liquidation bonus (all in bps; the bonus as 10,000 + the liquidator's discount), then flags and caps.
struct AaveReserveConfiguration {
    uint256 data;
}

/// @notice The part of Aave v3's Pool the adapter reads.
interface IAavePool {
    /// @notice The configuration word of `asset`'s reserve.
    function getConfiguration(address asset) external view returns (AaveReserveConfiguration memory);
}

/// @notice The part of Aave v3's PoolConfigurator the adapter writes: callable by a RISK_ADMIN or POOL_ADMIN.
interface IAavePoolConfigurator {
    /// @notice Sets a reserve's LTV, liquidation threshold and bonus at once (Aave applies no ramp). Reverts with
    /// Aave's string error `20` unless `ltv <= liquidationThreshold`, `liquidationBonus > 10_000` and
    /// `liquidationThreshold * liquidationBonus <= 10_000 ** 2` (rounded half up), or all three are zero with
    /// no supplier.
    function configureReserveAsCollateral(
        address asset,
        uint256 ltv,
        uint256 liquidationThreshold,
        uint256 liquidationBonus
    ) external;
}

/// @notice The part of Aave v3's ACLManager (an OpenZeppelin AccessControl) the adapter uses.
interface IAaveACLManager {
    /// @notice The role `configureReserveAsCollateral` accepts besides POOL_ADMIN.
    function RISK_ADMIN_ROLE() external view returns (bytes32);
    /// @notice Whether `admin` holds RISK_ADMIN.
    function isRiskAdmin(address admin) external view returns (bool);
    /// @notice Gives up `role`; the caller must be `account`.
    function renounceRole(bytes32 role, address account) external;
}
