// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarginParameterRegistry, Guardrails} from "../interfaces/IMarginParameterRegistry.sol";
import {Parameters} from "../interfaces/IMarginParameters.sol";
import {
    IAaveAddressesProvider,
    IAavePool,
    IAavePoolConfigurator,
    IAaveACLManager
} from "../interfaces/IAaveV3.sol";
import {IAaveV3RiskAdapter, MarketLink, SkipReason} from "../interfaces/IAaveV3RiskAdapter.sol";
import {BPS} from "../libraries/ConstantsLib.sol";

/// @title AaveV3RiskAdapter
/// @notice The margin oracle's RISK_ADMIN in one Aave v3 market: `sync` copies the registry's parameters in force
/// to the linked reserves, keeping the registry's threshold ramp that Aave itself does not have.
/// @dev Why a ramp bound here and not only in the registry: the registry's threshold in force already ramps, so a
/// keeper that syncs often moves Aave along the ramp. The bound makes that hold whoever syncs and whenever: a sync
/// after a long pause, the first sync after linking a reserve whose Aave threshold is higher, or a sync relayed in
/// the same transaction as the keeper's batch by someone who wants to liquidate (the ramp has not started then,
/// so nothing is cut). See `IAaveV3RiskAdapter` for the rule.
contract AaveV3RiskAdapter is IAaveV3RiskAdapter {
    /// @notice Longest staleness bound governance may set.
    uint256 public constant MAX_AGE_LIMIT = 30 days;

    /// @dev Aave's bonus is stored as 10,000 + the liquidator's discount.
    uint256 internal constant AAVE_BONUS_BASE = BPS;
    /// @dev Masks and offsets of Aave v3's reserve configuration word (ReserveConfiguration.sol).
    uint256 internal constant FIELD_MASK = 0xFFFF;
    uint256 internal constant THRESHOLD_OFFSET = 16;
    uint256 internal constant BONUS_OFFSET = 32;

    IMarginParameterRegistry internal immutable _registry;
    IAaveAddressesProvider internal immutable _provider;

    mapping(bytes32 market => MarketLink) internal _links;
    mapping(address asset => bytes32 market) public marketOf;
    uint256 public maxAge;
    bool public detached;

    /// @dev What one market's sync would do: the values and whether to write them, or why it is skipped.
    struct Plan {
        address asset;
        uint256 ltv;
        uint256 threshold;
        uint256 bonus;
        uint256 previousLtv;
        uint256 previousThreshold;
        uint256 previousBonus;
        uint256 registryThreshold;
        bool skipped;
        SkipReason reason;
        bytes data;
    }

    modifier onlyGovernance() {
        if (msg.sender != _registry.governance()) revert NotGovernance(msg.sender);
        if (detached) revert AdapterDetached();
        _;
    }

    constructor(IMarginParameterRegistry registry_, IAaveAddressesProvider provider_, uint256 maxAge_) {
        _registry = registry_;
        _provider = provider_;
        _setMaxAge(maxAge_);
    }

    /// @inheritdoc IAaveV3RiskAdapter
    function sync(bytes32[] calldata markets) external returns (uint256 applied) {
        if (detached) revert AdapterDetached();
        IAavePool pool = IAavePool(_provider.getPool());
        IAavePoolConfigurator configurator = IAavePoolConfigurator(_provider.getPoolConfigurator());
        for (uint256 i; i < markets.length; ++i) {
            bytes32 market = markets[i];
            Plan memory plan = _plan(pool, market);
            if (plan.skipped) {
                emit MarketSkipped(market, plan.reason, plan.data);
                continue;
            }
            if (!_changes(plan)) {
                _record(market, plan);
                continue;
            }
            try configurator.configureReserveAsCollateral(plan.asset, plan.ltv, plan.threshold, plan.bonus) {
                _record(market, plan);
                ++applied;
                emit ReserveSynced(
                    market,
                    plan.asset,
                    plan.ltv,
                    plan.threshold,
                    plan.bonus,
                    plan.previousLtv,
                    plan.previousThreshold,
                    plan.previousBonus,
                    plan.registryThreshold
                );
            } catch (bytes memory data) {
                emit MarketSkipped(market, SkipReason.AaveRejected, data);
            }
        }
    }

    /// @inheritdoc IAaveV3RiskAdapter
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
        )
    {
        Plan memory plan = _plan(IAavePool(_provider.getPool()), market);
        return (plan.ltv, plan.threshold, plan.bonus, !plan.skipped && _changes(plan), plan.reason, plan.skipped);
    }

    /// @inheritdoc IAaveV3RiskAdapter
    function setMarket(bytes32 market, address asset) external onlyGovernance {
        address old = _links[market].asset;
        if (old != address(0)) delete marketOf[old];
        if (asset == address(0)) {
            delete _links[market];
        } else {
            bytes32 other = marketOf[asset];
            if (other != bytes32(0)) revert AssetAlreadyLinked(asset, other);
            marketOf[asset] = market;
            uint16 threshold = _registry.getParameters(market).liquidationThresholdBps;
            _links[market] = MarketLink(asset, threshold, uint40(block.timestamp));
        }
        emit MarketLinked(market, asset);
    }

    /// @inheritdoc IAaveV3RiskAdapter
    function setMaxAge(uint256 maxAge_) external onlyGovernance {
        _setMaxAge(maxAge_);
    }

    /// @inheritdoc IAaveV3RiskAdapter
    function detach() external onlyGovernance {
        detached = true;
        IAaveACLManager acl = IAaveACLManager(_provider.getACLManager());
        acl.renounceRole(acl.RISK_ADMIN_ROLE(), address(this));
        emit Detached();
    }

    /// @inheritdoc IAaveV3RiskAdapter
    function link(bytes32 market) external view returns (MarketLink memory) {
        return _links[market];
    }

    /// @inheritdoc IAaveV3RiskAdapter
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IAaveV3RiskAdapter
    function addressesProvider() external view returns (address) {
        return address(_provider);
    }

    function _setMaxAge(uint256 maxAge_) internal {
        if (maxAge_ == 0 || maxAge_ > MAX_AGE_LIMIT) revert InvalidMaxAge(maxAge_);
        maxAge = maxAge_;
        emit MaxAgeSet(maxAge_);
    }

    function _record(bytes32 market, Plan memory plan) internal {
        MarketLink storage l = _links[market];
        l.syncedThresholdBps = uint16(plan.registryThreshold);
        l.syncedAt = uint40(block.timestamp);
    }

    function _changes(Plan memory plan) internal pure returns (bool) {
        return plan.ltv != plan.previousLtv || plan.threshold != plan.previousThreshold
            || plan.bonus != plan.previousBonus;
    }

    /// @dev The values for `market`'s reserve now: the registry's, with the threshold cut held to the ramp bound
    /// and the bonus capped so that threshold x bonus stays within Aave's 100 % (the registry caps it for its own
    /// threshold; a threshold held above the registry's needs the same cap).
    function _plan(IAavePool pool, bytes32 market) internal view returns (Plan memory plan) {
        MarketLink memory l = _links[market];
        plan.asset = l.asset;
        if (l.asset == address(0)) {
            plan.skipped = true;
            plan.reason = SkipReason.NotMapped;
            return plan;
        }
        Parameters memory p;
        try _registry.getParametersChecked(market, maxAge) returns (Parameters memory checked) {
            p = checked;
        } catch (bytes memory data) {
            plan.skipped = true;
            plan.reason = SkipReason.RegistryRejected;
            plan.data = data;
            return plan;
        }
        uint256 word = pool.getConfiguration(l.asset).data;
        plan.previousLtv = word & FIELD_MASK;
        plan.previousThreshold = (word >> THRESHOLD_OFFSET) & FIELD_MASK;
        plan.previousBonus = (word >> BONUS_OFFSET) & FIELD_MASK;
        plan.registryThreshold = p.liquidationThresholdBps;
        plan.threshold = _boundedThreshold(market, l, plan.previousThreshold, p.liquidationThresholdBps);
        plan.ltv = p.ltvBps < plan.threshold ? p.ltvBps : plan.threshold;
        uint256 discount = p.liquidationBonusBps;
        if (plan.threshold != 0) {
            uint256 most = BPS * BPS / plan.threshold - AAVE_BONUS_BASE;
            if (discount > most) discount = most;
        }
        plan.bonus = AAVE_BONUS_BASE + discount;
    }

    /// @dev The lowest threshold this sync may set: the registry's, unless that cuts Aave's by more than the larger
    /// of the registry's fall since the last applied sync and the guard-railed pace over the time since.
    function _boundedThreshold(bytes32 market, MarketLink memory l, uint256 current, uint256 target)
        internal
        view
        returns (uint256)
    {
        if (target >= current) return target;
        uint256 allowed = l.syncedThresholdBps > target ? l.syncedThresholdBps - target : 0;
        if (current - target <= allowed) return target;
        Guardrails memory g = _registry.guardrails(market);
        if (g.thresholdRampDuration == 0) return target;
        uint256 pace = uint256(g.maxTightenStepBps) * (block.timestamp - l.syncedAt) / g.thresholdRampDuration;
        if (pace > allowed) allowed = pace;
        return current - target <= allowed ? target : current - allowed;
    }
}
