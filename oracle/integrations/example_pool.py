"""Open positions of an `ExampleLendingPool` (or any pool with its read functions), for the
policy's cut sizing and the governance reviews."""

from __future__ import annotations

import numpy as np
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from oracle import artifacts
from oracle.errors import ChainError
from oracle.policy.impact import OpenPositions
from oracle.types import BPS


class ExamplePoolPositions:
    """Every account that deposited into the pool at `address`, as loan ratios against the pool's
    collateral value. Depositors are collected from `Deposited` events, incrementally: each read
    scans only the blocks since the previous one."""

    def __init__(self, w3: Web3, address: str, from_block: int = 0) -> None:
        self.w3 = w3
        abi = artifacts.load("ExampleLendingPool")["abi"]
        self.contract = w3.eth.contract(address=to_checksum_address(address), abi=abi)
        self._next_block = from_block
        self._accounts: set[str] = set()

    def __call__(self) -> OpenPositions:
        try:
            latest = self.w3.eth.block_number
            if latest >= self._next_block:
                logs = self.contract.events.Deposited.get_logs(
                    from_block=self._next_block, to_block=latest
                )
                self._accounts |= {log["args"]["account"] for log in logs}
                self._next_block = latest + 1
            accounts = sorted(self._accounts)
            debt = [self.contract.functions.debtOf(a).call() for a in accounts]
            value = [self.contract.functions.collateralValue(a).call() for a in accounts]
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"cannot read the lending pool's positions: {exc}") from None
        d, v = np.array(debt, dtype=np.float64), np.array(value, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(v > 0, d / v * BPS, np.inf)
        open_ = d > 0
        return OpenPositions(ratio[open_], d[open_])
