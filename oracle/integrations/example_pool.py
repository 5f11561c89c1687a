"""Open positions of an `ExampleLendingPool` (or any pool with its read functions), for the
policy's cut sizing and the governance reviews."""

from __future__ import annotations

import numpy as np
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from oracle import artifacts
from oracle.errors import ChainError
from oracle.integrations.events import scan
from oracle.policy.impact import OpenPositions
from oracle.types import BPS


class ExamplePoolPositions:
    """Every account that deposited into the pool at `address`, as loan ratios against the pool's
    collateral value, read at one block. Depositors are collected from `Deposited` events,
    incrementally: each read scans only the blocks since the previous one. The pool reads the
    registry itself, so its threshold is the registry's (no `consumer_threshold_bps`)."""

    def __init__(self, w3: Web3, address: str, from_block: int = 0) -> None:
        self.w3 = w3
        abi = artifacts.load("ExampleLendingPool")["abi"]
        self.contract = w3.eth.contract(address=to_checksum_address(address), abi=abi)
        self._next_block = from_block
        self._accounts: set[str] = set()

    def __call__(self) -> OpenPositions:
        try:
            block = self.w3.eth.block_number
            if block >= self._next_block:
                logs = scan(self.contract.events.Deposited, self._next_block, block)
                self._accounts |= {log["args"]["account"] for log in logs}
                self._next_block = block + 1
            accounts = sorted(self._accounts)
            fns = self.contract.functions
            debt = [fns.debtOf(a).call(block_identifier=block) for a in accounts]
            value = [fns.collateralValue(a).call(block_identifier=block) for a in accounts]
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"cannot read the lending pool's positions: {exc}") from None
        d, v = np.array(debt, dtype=np.float64), np.array(value, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(v > 0, d / v * BPS, np.inf)
        open_ = d > 0
        return OpenPositions(ratio[open_], d[open_])
