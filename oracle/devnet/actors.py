"""Market actors for a local chain: an arbitrageur keeping a real Uniswap v3 pool at a recorded
price, and a rational liquidator working an `ExampleLendingPool`. With them a replay on Anvil
moves like a market — the keeper reads a pool that follows the price, and unhealthy positions get
liquidated — instead of standing still."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from oracle.artifacts import load as load_artifact
from oracle.chain import Transactor, deploy_contract
from oracle.errors import ContractRevert
from oracle.types import BPS

E18 = 10**18
#: Full-range ticks of a 0.3 % pool (tick spacing 60).
FULL_RANGE = (-887_220, 887_220)


class UniswapPool:
    """A real Uniswap v3 pool (npm bytecode) of `collateral` against `debt` (6 decimals) with 0.3 %
    fee and full-range liquidity worth `depth` collateral units, which `arbitrage_to` swaps to a
    given price (debt per collateral), as an arbitrageur would."""

    def __init__(
        self,
        w3: Web3,
        owner: str,
        collateral: Contract,
        debt: Contract,
        price: float,
        depth: float = 50_000.0,
    ) -> None:
        self.w3, self.owner = w3, owner
        factory, _ = deploy_contract(w3, owner, "UniswapV3Factory")
        self._send(factory.functions.createPool(collateral.address, debt.address, 3_000))
        address = factory.functions.getPool(collateral.address, debt.address, 3_000).call()
        self.pool = w3.eth.contract(address=address, abi=load_artifact("UniswapV3Pool")["abi"])
        self.collateral_is_token0 = self.pool.functions.token0().call() == collateral.address
        self._send(self.pool.functions.initialize(self._sqrt_x96(price)))
        self._send(self.pool.functions.increaseObservationCardinalityNext(100))
        self.actions, _ = deploy_contract(w3, owner, "UniswapV3Actions")
        for token in (collateral, debt):
            self._send(token.functions.mint(owner, 10**40))
            self._send(token.functions.approve(self.actions.address, 2**256 - 1))
        sqrt_raw = self._sqrt_x96(price) / 2**96
        raw = depth * E18
        liquidity = int(raw * sqrt_raw) if self.collateral_is_token0 else int(raw / sqrt_raw)
        self._send(self.actions.functions.mint(self.pool.address, *FULL_RANGE, liquidity))

    def _send(self, fn: object) -> None:
        Transactor(self.w3, self.owner).send(fn)

    def _sqrt_x96(self, price: float) -> int:
        raw = price * 1e6 / 1e18  # debt (6 decimals) per collateral (18)
        if not self.collateral_is_token0:
            raw = 1 / raw
        return int(math.sqrt(raw) * 2**96)

    def arbitrage_to(self, price: float) -> None:
        """Swaps the pool to `price` (one swap with a price limit: nothing more is traded)."""
        target = self._sqrt_x96(price)
        current = self.pool.functions.slot0().call()[0]
        if target == current:
            return
        zero_for_one = target < current  # selling token0 lowers its price
        self._send(self.actions.functions.swap(self.pool.address, zero_for_one, 10**36, target))


@dataclass(frozen=True)
class Liquidation:
    borrower: str
    repaid: int  # debt-token units
    loan_ratio_bps: int = 0  # debt / collateral value when the liquidator found it unhealthy


class Liquidator:
    """A rational liquidator of an `ExampleLendingPool`: for each unhealthy borrower it repays half
    the debt, but never more than the collateral pays for with the bonus; below `dust` debt-token
    units it is not worth the gas, and what no collateral covers is left as bad debt."""

    def __init__(self, w3: Web3, pool: Contract, account: str, dust: int = 10**6) -> None:
        self.w3, self.pool, self.account, self.dust = w3, pool, account, dust

    def sweep(self, borrowers: Sequence[str]) -> tuple[list[Liquidation], list[str]]:
        """Liquidates every unhealthy borrower once; returns the liquidations and the refusals."""
        done: list[Liquidation] = []
        refused: list[str] = []
        for b in borrowers:
            debt = self.pool.functions.debtOf(b).call()
            if not debt or self.pool.functions.healthFactorBps(b).call() >= BPS:
                continue
            value = self.pool.functions.collateralValue(b).call()
            bonus = self.pool.functions.liquidationParameters().call()[1]
            amount = min(debt // 2 or debt, value * BPS // (BPS + bonus))
            if amount <= self.dust:
                continue
            try:
                Transactor(self.w3, self.account).send(self.pool.functions.liquidate(b, amount))
                done.append(Liquidation(b, amount, debt * BPS // max(1, value)))
            except ContractRevert as err:
                refused.append(f"liquidation of {b[:10]}… refused: {err}")
        return done, refused


class AaveLiquidator:
    """A rational liquidator of an Aave v3 market: for each borrower whose health factor is below
    1 it calls Aave's `liquidationCall` for as much debt as Aave allows (Aave applies its own close
    factor: half the debt, all of it below a 0.95 health factor, never more than the collateral
    pays for with the bonus), receiving the collateral itself. Below `dust` debt (Aave's base
    currency, USD with 8 decimals) it is not worth the gas."""

    def __init__(
        self,
        w3: Web3,
        pool: Contract,
        collateral: Contract,
        debt: Contract,
        account: str,
        dust: int = 10**8,
    ) -> None:
        self.w3, self.pool, self.account, self.dust = w3, pool, account, dust
        self.collateral, self.debt = collateral, debt
        Transactor(w3, account).send(debt.functions.approve(pool.address, 2**256 - 1))

    def sweep(self, borrowers: Sequence[str]) -> tuple[list[Liquidation], list[str]]:
        """Liquidates every unhealthy borrower once; returns the liquidations (repaid in debt-token
        units) and the refusals."""
        done: list[Liquidation] = []
        refused: list[str] = []
        for b in borrowers:
            coll, debt, _, _, _, health = self.pool.functions.getUserAccountData(b).call()
            if debt <= self.dust or health >= E18 or coll == 0:
                continue  # healthy, dust, or nothing left to seize (the rest is bad debt)
            before = self.debt.functions.balanceOf(self.account).call()
            fn = self.pool.functions.liquidationCall(
                self.collateral.address, self.debt.address, b, 2**256 - 1, False
            )
            try:
                Transactor(self.w3, self.account).send(fn)
            except ContractRevert as err:
                refused.append(f"Aave liquidation of {b[:10]}… refused: {err}")
                continue
            repaid = before - self.debt.functions.balanceOf(self.account).call()
            done.append(Liquidation(b, repaid, debt * BPS // max(1, coll)))
        return done, refused
