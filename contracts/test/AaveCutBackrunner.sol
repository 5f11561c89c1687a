// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IMarginParameterRegistry, Batch} from "../interfaces/IMarginParameterRegistry.sol";
import {IAaveV3RiskAdapter} from "../interfaces/IAaveV3RiskAdapter.sol";

/// @dev Aave v3's liquidation entry point (IPool.liquidationCall), declared here: only this adversary calls it.
interface IAaveLiquidation {
    function liquidationCall(
        address collateralAsset,
        address debtAsset,
        address user,
        uint256 debtToCover,
        bool receiveAToken
    ) external;
}

/// @notice Test adversary on a real Aave v3 market: relays the keeper's threshold cut from the mempool, syncs the
/// adapter and liquidates in one transaction, before the borrower can react. Reverts if Aave refuses the
/// liquidation (the position is still healthy under Aave's threshold).
contract AaveCutBackrunner {
    using SafeERC20 for IERC20;

    function relaySyncAndLiquidate(
        IMarginParameterRegistry registry,
        Batch calldata batch,
        bytes[] calldata signatures,
        IAaveV3RiskAdapter adapter,
        IAaveLiquidation pool,
        IERC20 collateral,
        IERC20 debt,
        address victim,
        uint256 amount
    ) external returns (uint256 seized) {
        registry.submitUpdates(batch, signatures);
        bytes32[] memory markets = new bytes32[](1);
        markets[0] = batch.updates[0].market;
        adapter.sync(markets);
        debt.safeTransferFrom(msg.sender, address(this), amount);
        debt.forceApprove(address(pool), amount);
        pool.liquidationCall(address(collateral), address(debt), victim, amount, false);
        seized = collateral.balanceOf(address(this));
        collateral.safeTransfer(msg.sender, seized);
        uint256 left = debt.balanceOf(address(this));
        if (left != 0) debt.safeTransfer(msg.sender, left);
    }
}
