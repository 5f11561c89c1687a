// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice The two Uniswap v3 pool actions tests need (add liquidity, swap), paying the pool from the caller's
/// approved tokens in the pool's callbacks. Uniswap's real pool calls back into the sender, so an EOA cannot do
/// either directly; v3-periphery's routers do the same in production.
interface IUniswapV3PoolActions {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256 amount0, uint256 amount1);
    function swap(
        address recipient,
        bool zeroForOne,
        int256 amountSpecified,
        uint160 sqrtPriceLimitX96,
        bytes calldata data
    ) external returns (int256 amount0, int256 amount1);
}

contract UniswapV3Actions {
    address private _pool; // the pool allowed to call back, set for the duration of one action

    error UnexpectedCallback(address caller);

    function mint(address pool, int24 tickLower, int24 tickUpper, uint128 amount) external {
        _pool = pool;
        IUniswapV3PoolActions(pool).mint(msg.sender, tickLower, tickUpper, amount, abi.encode(msg.sender));
        _pool = address(0);
    }

    function swap(address pool, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96) external {
        _pool = pool;
        IUniswapV3PoolActions(pool).swap(
            msg.sender, zeroForOne, amountSpecified, sqrtPriceLimitX96, abi.encode(msg.sender)
        );
        _pool = address(0);
    }

    function uniswapV3MintCallback(uint256 owed0, uint256 owed1, bytes calldata data) external {
        _pay(owed0, owed1, data);
    }

    function uniswapV3SwapCallback(int256 delta0, int256 delta1, bytes calldata data) external {
        _pay(delta0 > 0 ? uint256(delta0) : 0, delta1 > 0 ? uint256(delta1) : 0, data);
    }

    function _pay(uint256 owed0, uint256 owed1, bytes calldata data) private {
        if (msg.sender != _pool) revert UnexpectedCallback(msg.sender);
        address payer = abi.decode(data, (address));
        IUniswapV3PoolActions pool = IUniswapV3PoolActions(msg.sender);
        if (owed0 > 0) IERC20(pool.token0()).transferFrom(payer, msg.sender, owed0);
        if (owed1 > 0) IERC20(pool.token1()).transferFrom(payer, msg.sender, owed1);
    }
}
