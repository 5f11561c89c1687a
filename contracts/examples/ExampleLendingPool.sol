// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IMarginParameters, Parameters} from "../interfaces/IMarginParameters.sol";
import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";
import {BPS} from "../libraries/ConstantsLib.sol";

/// @title ExampleLendingPool
/// @notice A minimal one-pair lending pool showing how a protocol consumes the margin oracle: borrow up to the LTV,
/// liquidate below the liquidation threshold paying the bonus, with staleness checks on both oracle and price.
/// @dev Not production code: no interest, no close factor, no bad-debt socialisation.
contract ExampleLendingPool {
    using SafeERC20 for IERC20;

    IMarginParameters public immutable registry;
    bytes32 public immutable market;
    IERC20 public immutable collateral;
    IERC20 public immutable debt;
    AggregatorV3Interface public immutable priceFeed; // collateral priced in debt units
    uint256 public immutable maxParameterAge;
    uint256 public immutable maxPriceAge;
    /// @notice Liquidation threshold and bonus used when the oracle's values are stale or unset: conservative
    /// values of the protocol's own, so liquidations keep working when the oracle stops.
    uint16 public immutable fallbackThresholdBps;
    uint16 public immutable fallbackBonusBps;

    uint256 internal immutable _scaleNum; // converts collateral amount x price into debt units
    uint256 internal immutable _scaleDen;

    mapping(address => uint256) public collateralOf;
    mapping(address => uint256) public debtOf;

    /// @notice Thrown when a borrow or withdrawal would put the position above its LTV.
    error ExceedsLtv(address account, uint256 debt, uint256 maxDebt);
    /// @notice Thrown when liquidating a position whose debt is within the liquidation threshold.
    error PositionHealthy(address account, uint256 debt, uint256 liquidationDebt);
    /// @notice Thrown when the price feed's answer is non-positive, stale or from an incomplete round.
    error BadPrice(int256 answer, uint256 updatedAt);
    /// @notice Thrown when repaying or liquidating more than the debt.
    error AmountExceedsDebt(address account, uint256 amount, uint256 debt);

    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event Borrowed(address indexed account, uint256 amount);
    event Repaid(address indexed account, uint256 amount);
    event Liquidated(
        address indexed account, address indexed liquidator, uint256 repaid, uint256 seized, bool usedFallback
    );

    constructor(
        IMarginParameters registry_,
        bytes32 market_,
        IERC20Metadata collateral_,
        IERC20Metadata debt_,
        AggregatorV3Interface priceFeed_,
        uint256 maxParameterAge_,
        uint256 maxPriceAge_,
        uint16 fallbackThresholdBps_,
        uint16 fallbackBonusBps_
    ) {
        registry = registry_;
        market = market_;
        collateral = collateral_;
        debt = debt_;
        priceFeed = priceFeed_;
        maxParameterAge = maxParameterAge_;
        maxPriceAge = maxPriceAge_;
        fallbackThresholdBps = fallbackThresholdBps_;
        fallbackBonusBps = fallbackBonusBps_;
        _scaleNum = 10 ** debt_.decimals();
        _scaleDen = 10 ** (collateral_.decimals() + priceFeed_.decimals());
    }

    /* EXTERNAL */

    /// @notice Adds debt-token liquidity that borrowers can draw.
    function supply(uint256 amount) external {
        debt.safeTransferFrom(msg.sender, address(this), amount);
    }

    function deposit(uint256 amount) external {
        collateralOf[msg.sender] += amount;
        collateral.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount);
    }

    /// @notice Borrowing needs fresh parameters: `getParametersChecked` reverts when they are stale.
    function borrow(uint256 amount) external {
        Parameters memory p = registry.getParametersChecked(market, maxParameterAge);
        uint256 newDebt = debtOf[msg.sender] + amount;
        uint256 maxDebt = Math.mulDiv(collateralValue(msg.sender), p.ltvBps, BPS);
        if (newDebt > maxDebt) revert ExceedsLtv(msg.sender, newDebt, maxDebt);
        debtOf[msg.sender] = newDebt;
        debt.safeTransfer(msg.sender, amount);
        emit Borrowed(msg.sender, amount);
    }

    function repay(uint256 amount) external {
        uint256 owed = debtOf[msg.sender];
        if (amount > owed) revert AmountExceedsDebt(msg.sender, amount, owed);
        debtOf[msg.sender] = owed - amount;
        debt.safeTransferFrom(msg.sender, address(this), amount);
        emit Repaid(msg.sender, amount);
    }

    function withdraw(uint256 amount) external {
        collateralOf[msg.sender] -= amount;
        uint256 owed = debtOf[msg.sender];
        if (owed != 0) {
            Parameters memory p = registry.getParametersChecked(market, maxParameterAge);
            uint256 maxDebt = Math.mulDiv(collateralValue(msg.sender), p.ltvBps, BPS);
            if (owed > maxDebt) revert ExceedsLtv(msg.sender, owed, maxDebt);
        }
        collateral.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice Repays `amount` of `account`'s debt and seizes collateral worth `amount × (1 + bonus)`.
    function liquidate(address account, uint256 amount) external returns (uint256 seized) {
        uint256 owed = debtOf[account];
        if (amount > owed) revert AmountExceedsDebt(account, amount, owed);
        (uint16 thresholdBps, uint16 bonusBps, bool usedFallback) = liquidationParameters();
        uint256 price = _price();
        uint256 liquidationDebt = Math.mulDiv(_value(collateralOf[account], price), thresholdBps, BPS);
        if (owed <= liquidationDebt) revert PositionHealthy(account, owed, liquidationDebt);

        seized = Math.mulDiv(amount * (BPS + bonusBps), _scaleDen, BPS * price * _scaleNum);
        if (seized > collateralOf[account]) seized = collateralOf[account];
        debtOf[account] = owed - amount;
        collateralOf[account] -= seized;
        debt.safeTransferFrom(msg.sender, address(this), amount);
        collateral.safeTransfer(msg.sender, seized);
        emit Liquidated(account, msg.sender, amount, seized, usedFallback);
    }

    /* VIEWS */

    /// @notice Threshold and bonus for liquidations: the oracle's when fresh, else the conservative fallback.
    function liquidationParameters() public view returns (uint16 thresholdBps, uint16 bonusBps, bool usedFallback) {
        try registry.getParametersChecked(market, maxParameterAge) returns (Parameters memory p) {
            return (p.liquidationThresholdBps, p.liquidationBonusBps, false);
        } catch {
            return (fallbackThresholdBps, fallbackBonusBps, true);
        }
    }

    /// @notice Collateral of `account` in debt-token units at the current feed price.
    function collateralValue(address account) public view returns (uint256) {
        return _value(collateralOf[account], _price());
    }

    /// @notice Debt × 10_000 / liquidation capacity: above 10_000 the position can be liquidated.
    function healthFactorBps(address account) external view returns (uint256) {
        (uint16 thresholdBps,,) = liquidationParameters();
        uint256 capacity = Math.mulDiv(collateralValue(account), thresholdBps, BPS);
        if (debtOf[account] == 0) return type(uint256).max;
        return Math.mulDiv(capacity, BPS, debtOf[account]);
    }

    /* INTERNAL */

    function _value(uint256 amount, uint256 price) internal view returns (uint256) {
        return Math.mulDiv(amount * price, _scaleNum, _scaleDen);
    }

    function _price() internal view returns (uint256) {
        (uint80 roundId, int256 answer,, uint256 updatedAt, uint80 answeredInRound) = priceFeed.latestRoundData();
        if (
            answer <= 0 || updatedAt == 0 || updatedAt > block.timestamp || block.timestamp - updatedAt > maxPriceAge
                || answeredInRound < roundId
        ) revert BadPrice(answer, updatedAt);
        return uint256(answer);
    }
}
