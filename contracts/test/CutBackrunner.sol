// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IMarginParameterRegistry, Batch} from "../interfaces/IMarginParameterRegistry.sol";
import {ExampleLendingPool} from "../examples/ExampleLendingPool.sol";

/// @notice Test adversary: the best a front-runner can do with a liquidation-threshold cut it sees in the
/// mempool. Signed batches are public and anyone may relay them, so it relays the keeper's batch itself and
/// liquidates in the same transaction, before any borrower can react. Reverts if there is nothing to seize.
contract CutBackrunner {
    using SafeERC20 for IERC20;

    function relayAndLiquidate(
        IMarginParameterRegistry registry,
        Batch calldata batch,
        bytes[] calldata signatures,
        ExampleLendingPool pool,
        address victim,
        uint256 amount
    ) external returns (uint256 seized) {
        registry.submitUpdates(batch, signatures);
        IERC20 debt = pool.debt();
        debt.safeTransferFrom(msg.sender, address(this), amount);
        debt.forceApprove(address(pool), amount);
        seized = pool.liquidate(victim, amount);
        pool.collateral().safeTransfer(msg.sender, seized);
    }
}
