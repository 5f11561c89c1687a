// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IPortfolioMargin} from "../interfaces/IPortfolioMargin.sol";
import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";
import {BPS} from "../libraries/ConstantsLib.sol";

/// @title ExampleMarginAccount
/// @notice A minimal cross-margin account showing how a derivatives protocol consumes the oracle's portfolio margin:
/// USDC collateral, long and short positions in several assets priced by Chainlink-style feeds, initial margin =
/// k × the portfolio margin, maintenance = the portfolio margin, liquidation below maintenance. An account may choose
/// isolated mode instead, where each position is margined alone (`isolatedMargin`): the same arrays without netting,
/// for comparison.
/// @dev Not production code: accounts trade against this contract at the feed price (no order book, fees or
/// funding), and a touched position settles its profit or loss into collateral at once. When the oracle cannot
/// margin the account (stale arrays, unknown asset), opening risk reverts and liquidations fall back to
/// `fallbackMarginBps` of the gross notional.
contract ExampleMarginAccount {
    using SafeERC20 for IERC20;

    /// @notice Most assets the account lists (each read costs the oracle about 4,000 gas).
    uint256 public constant MAX_ASSETS = 16;

    IPortfolioMargin public immutable oracle;
    IERC20 public immutable usdc;
    address public immutable owner;
    uint256 public immutable maxPriceAge;
    /// @notice Initial margin as a multiple of the portfolio margin, in bps (15,000: 1.5×).
    uint256 public immutable initialMarginBps;
    /// @notice What a liquidator earns, in bps of the maintenance margin, paid from the account's collateral.
    uint256 public immutable liquidationFeeBps;
    /// @notice Maintenance margin in bps of gross notional when the oracle cannot margin the account.
    uint256 public immutable fallbackMarginBps;
    uint256 internal immutable _usdcToWad;

    struct Position {
        int256 size; // asset units, 18 decimals; long > 0
        int256 basis; // size × price at the last settlement, USD with 18 decimals
    }

    bytes32[] internal _assets; // sorted, as the oracle requires
    mapping(bytes32 => AggregatorV3Interface) public feedOf;
    mapping(address => int256) public collateralOf; // USD with 18 decimals; negative once losses exceed it
    mapping(address => mapping(bytes32 => Position)) internal _positions;
    mapping(address => bool) public isolated;
    /// @notice Losses liquidations could not cover, USD with 18 decimals.
    uint256 public badDebt;

    /// @notice Thrown when a caller other than the owner lists an asset.
    error NotOwner(address caller);
    /// @notice Thrown when an asset is listed twice, unlisted, or the list is full.
    error BadAsset(bytes32 asset);
    /// @notice Thrown when a trade or withdrawal would leave equity below the initial margin.
    error BelowInitialMargin(address account, int256 equity, uint256 initialMargin);
    /// @notice Thrown when liquidating an account whose equity covers its maintenance margin.
    error AccountHealthy(address account, int256 equity, uint256 maintenanceMargin);
    /// @notice Thrown when a feed's answer is non-positive, stale or from an incomplete round.
    error BadPrice(bytes32 asset, int256 answer, uint256 updatedAt);
    /// @notice Thrown when withdrawing more collateral than the account holds, or switching mode with positions.
    error NotAllowed(address account);

    /// @notice Emitted on deposits (positive) and withdrawals (negative), in USDC units.
    event CollateralChanged(address indexed account, int256 amount);
    /// @notice Emitted for each trade: the size change and the price it settled at (feed decimals).
    event Traded(address indexed account, bytes32 indexed asset, int256 sizeDelta, uint256 price);
    /// @notice Emitted when an account is liquidated: its equity and maintenance margin before, the fee paid, the
    /// loss left uncovered, and whether the fallback margin was used.
    event Liquidated(
        address indexed account,
        address indexed liquidator,
        int256 equity,
        uint256 maintenanceMargin,
        uint256 fee,
        uint256 uncovered,
        bool usedFallback
    );

    constructor(
        IPortfolioMargin oracle_,
        IERC20Metadata usdc_,
        uint256 maxPriceAge_,
        uint256 initialMarginBps_,
        uint256 liquidationFeeBps_,
        uint256 fallbackMarginBps_
    ) {
        oracle = oracle_;
        usdc = usdc_;
        owner = msg.sender;
        maxPriceAge = maxPriceAge_;
        initialMarginBps = initialMarginBps_;
        liquidationFeeBps = liquidationFeeBps_;
        fallbackMarginBps = fallbackMarginBps_;
        _usdcToWad = 10 ** (18 - usdc_.decimals());
    }

    /* ADMIN */

    /// @notice Lists `asset` (its oracle id) with its USD feed (8 decimals, as Chainlink's USD feeds), keeping the list
    /// sorted.
    function listAsset(bytes32 asset, AggregatorV3Interface feed) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (address(feedOf[asset]) != address(0) || _assets.length == MAX_ASSETS || feed.decimals() != 8) {
            revert BadAsset(asset);
        }
        feedOf[asset] = feed;
        _assets.push(asset);
        for (uint256 i = _assets.length - 1; i > 0 && _assets[i - 1] > asset; --i) {
            (_assets[i - 1], _assets[i]) = (asset, _assets[i - 1]);
        }
    }

    /// @notice Adds USDC that pays traders' profits (the counterparty's capital).
    function fund(uint256 amount) external {
        usdc.safeTransferFrom(msg.sender, address(this), amount);
    }

    /* ACCOUNTS */

    function deposit(uint256 amount) external {
        collateralOf[msg.sender] += SafeCast.toInt256(amount * _usdcToWad);
        usdc.safeTransferFrom(msg.sender, address(this), amount);
        emit CollateralChanged(msg.sender, SafeCast.toInt256(amount));
    }

    /// @notice Withdraws collateral; equity must still cover the initial margin of the open positions.
    function withdraw(uint256 amount) external {
        int256 remaining = collateralOf[msg.sender] - SafeCast.toInt256(amount * _usdcToWad);
        if (remaining < 0) revert NotAllowed(msg.sender);
        collateralOf[msg.sender] = remaining;
        _requireInitialMargin(msg.sender);
        usdc.safeTransfer(msg.sender, amount);
        emit CollateralChanged(msg.sender, -SafeCast.toInt256(amount));
    }

    /// @notice Chooses isolated (no netting) or cross (portfolio) margin; only without open positions.
    function setIsolated(bool on) external {
        uint256 n = _assets.length;
        for (uint256 i; i < n; ++i) {
            if (_positions[msg.sender][_assets[i]].size != 0) revert NotAllowed(msg.sender);
        }
        isolated[msg.sender] = on;
    }

    /// @notice Changes the position in `asset` by `sizeDelta` at the feed price, settling its profit or loss. Equity
    /// must then cover the initial margin, unless the trade does not raise the account's margin (reducing risk is
    /// always allowed). Both need fresh arrays from the oracle.
    function trade(bytes32 asset, int256 sizeDelta) external {
        if (address(feedOf[asset]) == address(0)) revert BadAsset(asset);
        uint256 price = _price(asset);
        (, int256[] memory before) = _equity(msg.sender);
        uint256 marginBefore = _oracleMargin(msg.sender, before);
        Position storage p = _positions[msg.sender][asset];
        int256 size = p.size + sizeDelta;
        collateralOf[msg.sender] += _value(p.size, price) - p.basis;
        p.size = size;
        p.basis = _value(size, price);
        (int256 e, int256[] memory notionals) = _equity(msg.sender);
        uint256 margin = _oracleMargin(msg.sender, notionals);
        uint256 required = Math.mulDiv(margin, initialMarginBps, BPS);
        if (e < SafeCast.toInt256(required) && margin > marginBefore) {
            revert BelowInitialMargin(msg.sender, e, required);
        }
        emit Traded(msg.sender, asset, sizeDelta, price);
    }

    /// @notice Closes every position of an account below its maintenance margin at the feed prices, pays the
    /// liquidator `liquidationFeeBps` of the maintenance margin from what is left, and books any shortfall as bad debt.
    function liquidate(address account) external returns (uint256 fee) {
        (int256 e, int256[] memory notionals) = _equity(account);
        (uint256 maintenance, bool usedFallback) = _maintenance(account, notionals);
        if (e >= SafeCast.toInt256(maintenance)) revert AccountHealthy(account, e, maintenance);
        uint256 n = _assets.length;
        for (uint256 i; i < n; ++i) {
            delete _positions[account][_assets[i]];
        }
        int256 left = e;
        uint256 uncovered;
        if (left <= 0) {
            uncovered = uint256(-left);
            badDebt += uncovered;
            left = 0;
        }
        fee = Math.min(Math.mulDiv(maintenance, liquidationFeeBps, BPS), uint256(left));
        collateralOf[account] = left - SafeCast.toInt256(fee);
        uint256 paid = fee / _usdcToWad;
        if (paid != 0) usdc.safeTransfer(msg.sender, paid);
        emit Liquidated(account, msg.sender, e, maintenance, fee, uncovered, usedFallback);
    }

    /* VIEWS */

    /// @notice The listed assets, sorted.
    function assets() external view returns (bytes32[] memory) {
        return _assets;
    }

    /// @notice An account's position in `asset`: size (18 decimals) and settled basis (USD, 18 decimals).
    function positionOf(address account, bytes32 asset) external view returns (int256 size, int256 basis) {
        Position storage p = _positions[account][asset];
        return (p.size, p.basis);
    }

    /// @notice Collateral plus unsettled profit and loss at the feed prices, USD with 18 decimals.
    function equity(address account) external view returns (int256 e) {
        (e,) = _equity(account);
    }

    /// @notice The account's maintenance margin (USD, 18 decimals) and whether the fallback had to be used.
    function maintenanceMargin(address account) external view returns (uint256 margin, bool usedFallback) {
        (, int256[] memory notionals) = _equity(account);
        return _maintenance(account, notionals);
    }

    /// @notice The account's initial margin: `initialMarginBps` of the oracle's margin (reverts if it cannot give one).
    function initialMargin(address account) public view returns (uint256) {
        (, int256[] memory notionals) = _equity(account);
        return Math.mulDiv(_oracleMargin(account, notionals), initialMarginBps, BPS);
    }

    /* INTERNAL */

    function _requireInitialMargin(address account) internal view {
        (int256 e, int256[] memory notionals) = _equity(account);
        uint256 required = Math.mulDiv(_oracleMargin(account, notionals), initialMarginBps, BPS);
        if (e < SafeCast.toInt256(required)) revert BelowInitialMargin(account, e, required);
    }

    /// @dev Equity and each listed asset's signed notional at the feed price (zeros for assets not held, which the
    /// oracle skips without reading).
    function _equity(address account) internal view returns (int256 e, int256[] memory notionals) {
        uint256 n = _assets.length;
        notionals = new int256[](n);
        e = collateralOf[account];
        for (uint256 i; i < n; ++i) {
            Position storage p = _positions[account][_assets[i]];
            if (p.size == 0) continue;
            notionals[i] = _value(p.size, _price(_assets[i]));
            e += notionals[i] - p.basis;
        }
    }

    function _oracleMargin(address account, int256[] memory notionals) internal view returns (uint256) {
        return isolated[account]
            ? oracle.isolatedMargin(_assets, notionals)
            : oracle.portfolioMargin(_assets, notionals);
    }

    /// @dev The oracle's margin, or `fallbackMarginBps` of the gross notional when the oracle reverts: liquidations
    /// must keep working when the oracle stops.
    function _maintenance(address account, int256[] memory notionals)
        internal
        view
        returns (uint256 margin, bool usedFallback)
    {
        bytes32[] memory listed = _assets;
        if (isolated[account]) {
            try oracle.isolatedMargin(listed, notionals) returns (uint256 m) {
                return (m, false);
            } catch {}
        } else {
            try oracle.portfolioMargin(listed, notionals) returns (uint256 m) {
                return (m, false);
            } catch {}
        }
        uint256 gross;
        for (uint256 i; i < notionals.length; ++i) {
            gross += notionals[i] < 0 ? uint256(-notionals[i]) : uint256(notionals[i]);
        }
        return (Math.mulDiv(gross, fallbackMarginBps, BPS), true);
    }

    /// @dev Signed USD value (18 decimals) of `size` units at `price` (8-decimal feeds).
    function _value(int256 size, uint256 price) internal pure returns (int256) {
        uint256 v = Math.mulDiv(size < 0 ? uint256(-size) : uint256(size), price, 1e8);
        return size < 0 ? -SafeCast.toInt256(v) : SafeCast.toInt256(v);
    }

    function _price(bytes32 asset) internal view returns (uint256) {
        (uint80 roundId, int256 answer,, uint256 updatedAt, uint80 answeredInRound) = feedOf[asset].latestRoundData();
        if (
            answer <= 0 || updatedAt == 0 || updatedAt > block.timestamp || block.timestamp - updatedAt > maxPriceAge
                || answeredInRound < roundId
        ) revert BadPrice(asset, answer, updatedAt);
        return uint256(answer);
    }
}
