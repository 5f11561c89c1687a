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
import {cappedBonusDown} from "../libraries/MarketWord.sol";

/// @title AaveV3RiskAdapter
/// @notice The margin oracle's RISK_ADMIN in one Aave v3 market: `sync` copies the registry's parameters in force
/// to the linked reserves, keeping the registry's threshold ramp that Aave itself does not have.
/// @dev Why a ramp bound here and not only in the registry: the registry's threshold in force already ramps, so a
/// keeper that syncs often moves Aave along the ramp. The bound makes that hold whoever syncs and whenever: a sync
/// after a long pause, a reserve whose Aave threshold is higher than the registry's for another reason, or a sync
/// relayed in the same transaction as the keeper's batch by someone who wants to liquidate (the ramp has not
/// started then, so the threshold is not cut). See `IAaveV3RiskAdapter` for the rule.
contract AaveV3RiskAdapter is IAaveV3RiskAdapter {
    /// @notice Longest staleness bound governance may set.
    uint256 public constant MAX_AGE_LIMIT = 30 days;

    /// @dev Aave's bonus is stored as 10,000 + the liquidator's discount, and must exceed 10,000.
    uint256 internal constant AAVE_BONUS_BASE = BPS;
    uint256 internal constant MIN_DISCOUNT = 1;
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

    /// @dev What one market's sync would do: the values and whether to write them, or why it is skipped; and the
    /// link state to record once written.
    struct Plan {
        address asset;
        MarketLink link;
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
    /// @dev Two passes: every market is planned and its link state recorded first (reads only), then Aave is
    /// written. No state is written after an external write call (checks-effects-interactions across the loop).
    /// Recording before Aave's answer is safe: if Aave refuses, a later cut is bounded from the registry's value
    /// seen now, more tightly than from the last value Aave took.
    function sync(bytes32[] calldata markets) external returns (uint256 applied) {
        if (detached) revert AdapterDetached();
        IAavePool pool = IAavePool(_provider.getPool());
        Plan[] memory plans = new Plan[](markets.length);
        for (uint256 i; i < markets.length; ++i) {
            plans[i] = _plan(pool, markets[i]);
            if (!plans[i].skipped) _record(markets[i], plans[i].link);
        }
        IAavePoolConfigurator configurator = IAavePoolConfigurator(_provider.getPoolConfigurator());
        for (uint256 i; i < markets.length; ++i) {
            Plan memory plan = plans[i];
            if (plan.skipped) {
                emit MarketSkipped(markets[i], plan.reason, plan.data);
                continue;
            }
            if (!_changes(plan)) continue;
            try configurator.configureReserveAsCollateral(plan.asset, plan.ltv, plan.threshold, plan.bonus) {
                ++applied;
                emit ReserveSynced(
                    markets[i],
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
                emit MarketSkipped(markets[i], SkipReason.AaveRejected, data);
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
            _links[market] = MarketLink(asset, threshold, 0, 0);
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
        emit Detached();
        IAaveACLManager acl = IAaveACLManager(_provider.getACLManager());
        acl.renounceRole(acl.RISK_ADMIN_ROLE(), address(this));
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

    /// @dev Writes the link state only when it changed: a sync that changes nothing writes nothing.
    function _record(bytes32 market, MarketLink memory next) internal {
        MarketLink storage l = _links[market];
        if (
            l.syncedThresholdBps != next.syncedThresholdBps || l.holdThresholdBps != next.holdThresholdBps
                || l.holdSince != next.holdSince
        ) {
            (l.syncedThresholdBps, l.holdThresholdBps, l.holdSince) =
                (next.syncedThresholdBps, next.holdThresholdBps, next.holdSince);
        }
    }

    function _changes(Plan memory plan) internal pure returns (bool) {
        return plan.ltv != plan.previousLtv || plan.threshold != plan.previousThreshold
            || plan.bonus != plan.previousBonus;
    }

    /// @dev The values for `market`'s reserve now: the registry's, with the threshold cut held to the ramp bound
    /// and the bonus capped by the registry's own rule (`cappedBonusDown`) so that threshold x bonus stays within
    /// Aave's 100 % (the registry caps it for its own threshold; a threshold held above it needs the same cap), and
    /// at least 1 bps, since Aave refuses a bonus of exactly 10,000 and would refuse the LTV and threshold with it.
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
        (uint256 threshold, uint16 holdThreshold, uint40 holdSince) =
            _boundedThreshold(market, l, plan.previousThreshold, p.liquidationThresholdBps);
        plan.threshold = threshold;
        plan.link = MarketLink(l.asset, p.liquidationThresholdBps, holdThreshold, holdSince);
        plan.ltv = p.ltvBps < plan.threshold ? p.ltvBps : plan.threshold;
        uint256 discount = cappedBonusDown(p.liquidationBonusBps, plan.threshold);
        plan.bonus = AAVE_BONUS_BASE + (discount < MIN_DISCOUNT ? MIN_DISCOUNT : discount);
    }

    /// @dev The threshold this sync sets, and the hold to record. A cut follows the registry: Aave's threshold may
    /// fall by as much as the registry's threshold in force fell since the previous applied sync. Where Aave's
    /// threshold sits higher than that would leave it (a gap that did not come from the registry), the adapter
    /// holds it on a line that starts at the first sync that finds the gap and falls at the market's guard-railed
    /// pace, `maxTightenStepBps` per `thresholdRampDuration`: measured from the line's start, so neither frequent
    /// syncs (rounding) nor a long idle stretch (banked time) change how fast it closes.
    function _boundedThreshold(bytes32 market, MarketLink memory l, uint256 current, uint256 target)
        internal
        view
        returns (uint256 threshold, uint16 holdThreshold, uint40 holdSince)
    {
        if (target >= current) return (target, 0, 0);
        uint256 fell = l.syncedThresholdBps > target ? l.syncedThresholdBps - target : 0;
        uint256 followed = current > fell ? current - fell : 0;
        if (followed <= target) return (target, 0, 0);
        Guardrails memory g = _registry.guardrails(market);
        if (g.thresholdRampDuration == 0) return (target, 0, 0); // the registry itself cuts at once
        if (l.holdSince == 0 || current > l.holdThresholdBps) {
            return (followed, uint16(current), uint40(block.timestamp)); // the line starts here
        }
        uint256 paced = uint256(g.maxTightenStepBps) * (block.timestamp - l.holdSince) / g.thresholdRampDuration;
        uint256 line = l.holdThresholdBps > paced ? l.holdThresholdBps - paced : 0;
        threshold = line < followed ? line : followed;
        if (threshold <= target) return (target, 0, 0);
        return (threshold, l.holdThresholdBps, l.holdSince);
    }
}
