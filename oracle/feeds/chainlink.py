"""Chainlink-style `AggregatorV3Interface` feeds, read through their node (`oracle.feeds.onchain`:
within a collection, in one Multicall3 request with every other on-chain source on the node).

A round is refused when its answer is not positive, when `updatedAt` is older than the feed's
heartbeat, when `answeredInRound < roundId` (the round was carried over, not answered), or when it
claims a time ahead of ours. `history` walks `getRoundData` backwards for backfills, the rounds in
one request where the node has Multicall3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_utils import to_checksum_address

from oracle.feeds.base import FailureKind, FeedError, Reading, check_price, check_time
from oracle.feeds.onchain import Answers, Node, View
from oracle.multicall import AbiFunction, Call

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
DECIMALS, LATEST_ROUND, ROUND = (
    AbiFunction(AGGREGATOR_ABI, n) for n in ("decimals", "latestRoundData", "getRoundData")
)


class ChainlinkSource:
    """One aggregator at `address`, read through `node` (shared by the on-chain sources on it);
    `invert` for a feed quoted the other way round (e.g. USD per ETH as ETH/USD when the market
    is USD in ETH)."""

    def __init__(
        self,
        name: str,
        market: str,
        node: Node,
        address: str,
        *,
        heartbeat: int,
        max_future: int = 30,
        invert: bool = False,
    ) -> None:
        self.name, self.market, self.node = name, market, node
        self.address = to_checksum_address(address)
        self.heartbeat, self.max_future, self.invert = heartbeat, max_future, invert
        self._latest = View.of(self.address, LATEST_ROUND)
        self._decimals_view = View.of(self.address, DECIMALS)
        self._decimals: int | None = None

    @property
    def shared(self) -> Node:
        """What this source reads through with the other on-chain sources on its node
        (`collect_all` opens a collection on it: one request for all of them)."""
        return self.node

    def calls(self, known: Mapping[Call, bytes | None]) -> list[Call]:
        """What a read asks: the latest round, and the decimals until they are known."""
        if self._decimals is None:
            return [self._latest.call, self._decimals_view.call]
        return [self._latest.call]

    def decimals(self, answers: Answers | None = None) -> int:
        """The feed's decimals, read once: from a read's `answers` (a read asks for them until
        they are known), else on their own."""
        if self._decimals is None:
            view = self._decimals_view
            if answers is None:
                [value] = self.node.values(self.name, [view])
            else:
                value = answers.value(view)
            self._decimals = int(value)
        return self._decimals

    def fetch(self, now: int) -> Reading:
        answers = self.node.answers(self, now)
        round_id, answer, _, updated_at, answered_in = answers.value(self._latest)
        if answered_in < round_id:
            raise FeedError(
                FailureKind.INCOMPLETE_ROUND,
                f"{self.name}: round {round_id} answered in earlier round {answered_in}",
            )
        if updated_at == 0:
            raise FeedError(
                FailureKind.INCOMPLETE_ROUND, f"{self.name}: round {round_id} not updated"
            )
        price = check_price(answer / 10 ** self.decimals(answers), f"{self.name} answer")
        check_time(
            updated_at, now, self.heartbeat, self.max_future, f"{self.name} round {round_id}"
        )
        price = 1.0 / price if self.invert else price
        return Reading(self.name, self.market, price, updated_at, answers.number)

    def history(self, rounds: int) -> list[tuple[int, float, int]]:
        """Up to `rounds` answered rounds, newest first, as (roundId, price, updatedAt); rounds that
        do not parse are skipped, never filled."""
        latest = int(self.node.values(self.name, [self._latest])[0][0])
        ids = range(latest, max(0, latest - rounds), -1)
        views = [View.of(self.address, ROUND, round_id) for round_id in ids]
        out = []
        for rid, answer, _, updated_at, answered_in in self.node.values(self.name, views):
            if answer <= 0 or updated_at == 0 or answered_in < rid:
                continue
            price = answer / 10 ** self.decimals()
            out.append((int(rid), 1.0 / price if self.invert else price, int(updated_at)))
        return out
