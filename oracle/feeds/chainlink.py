"""Chainlink-style `AggregatorV3Interface` feeds read with web3.py.

A round is refused when its answer is not positive, when `updatedAt` is older than the feed's
heartbeat, when `answeredInRound < roundId` (the round was carried over, not answered), or when it
claims a time ahead of ours. `history` walks `getRoundData` backwards for backfills.
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from oracle.feeds.base import FailureKind, FeedError, Reading, check_price, check_time
from oracle.feeds.onchain import read

AGGREGATOR_ABI: list[dict[str, Any]] = [
    {
        "name": "decimals",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint8"}],
    },
    *[
        {
            "name": name,
            "type": "function",
            "stateMutability": "view",
            "inputs": inputs,
            "outputs": [
                {"name": "roundId", "type": "uint80"},
                {"name": "answer", "type": "int256"},
                {"name": "startedAt", "type": "uint256"},
                {"name": "updatedAt", "type": "uint256"},
                {"name": "answeredInRound", "type": "uint80"},
            ],
        }
        for name, inputs in (
            ("latestRoundData", []),
            ("getRoundData", [{"name": "roundId", "type": "uint80"}]),
        )
    ],
]


class ChainlinkSource:
    """One aggregator; `invert` for a feed quoted the other way round (e.g. USD per ETH as ETH/USD
    when the market is USD in ETH)."""

    def __init__(
        self,
        name: str,
        market: str,
        w3: Web3,
        address: str,
        *,
        heartbeat: int,
        max_future: int = 30,
        invert: bool = False,
    ) -> None:
        self.name, self.market = name, market
        self.w3 = w3
        self.contract = w3.eth.contract(address=to_checksum_address(address), abi=AGGREGATOR_ABI)
        self.heartbeat, self.max_future, self.invert = heartbeat, max_future, invert
        self._decimals: int | None = None

    def decimals(self) -> int:
        if self._decimals is None:
            self._decimals = int(read(self.name, self.contract, "decimals"))
        return self._decimals

    def fetch(self, now: int) -> Reading:
        try:
            block = int(self.w3.eth.block_number)
        except (Web3Exception, OSError, ValueError) as exc:
            raise FeedError(FailureKind.UNREACHABLE, f"{self.name}: {exc}") from None
        round_id, answer, _, updated_at, answered_in = read(
            self.name, self.contract, "latestRoundData", block=block
        )
        return self._reading(round_id, answer, updated_at, answered_in, now, block)

    def _reading(
        self, round_id: int, answer: int, updated_at: int, answered_in: int, now: int, block: int
    ) -> Reading:
        if answered_in < round_id:
            raise FeedError(
                FailureKind.INCOMPLETE_ROUND,
                f"{self.name}: round {round_id} answered in earlier round {answered_in}",
            )
        if updated_at == 0:
            raise FeedError(
                FailureKind.INCOMPLETE_ROUND, f"{self.name}: round {round_id} not updated"
            )
        price = check_price(answer / 10 ** self.decimals(), f"{self.name} answer")
        check_time(
            updated_at, now, self.heartbeat, self.max_future, f"{self.name} round {round_id}"
        )
        return Reading(
            self.name, self.market, 1.0 / price if self.invert else price, updated_at, block
        )

    def history(self, rounds: int) -> list[tuple[int, float, int]]:
        """Up to `rounds` answered rounds, newest first, as (roundId, price, updatedAt); rounds that
        do not parse are skipped, never filled."""
        latest = int(read(self.name, self.contract, "latestRoundData")[0])
        out = []
        for round_id in range(latest, max(0, latest - rounds), -1):
            rid, answer, _, updated_at, answered_in = read(
                self.name, self.contract, "getRoundData", round_id
            )
            if answer <= 0 or updated_at == 0 or answered_in < rid:
                continue
            price = answer / 10 ** self.decimals()
            out.append((int(rid), 1.0 / price if self.invert else price, int(updated_at)))
        return out
