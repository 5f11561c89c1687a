"""Chainlink-style aggregators on Anvil (MockV3Aggregator semantics), read with web3.py."""

from __future__ import annotations

import pytest

from oracle.feeds import FailureKind, Reading, collect
from oracle.feeds.chainlink import ChainlinkSource
from oracle.feeds.onchain import Node

HEARTBEAT = 3_600


@pytest.fixture
def feed(project, governance):
    return project.MockV3Aggregator.deploy(8, 2_000 * 10**8, "ETH / USD", sender=governance)


def source(node, feed, **kw):
    return ChainlinkSource("chainlink", "ETH/USD", node, feed.address, heartbeat=HEARTBEAT, **kw)


def fetch(chain, src, now=None):
    [result] = collect([src], chain.pending_timestamp if now is None else now, 10.0)
    return result


def test_latest_round(chain, node, feed, governance):
    feed.updateAnswer(2_150_5000_0000, sender=governance)
    r = fetch(chain, source(node, feed))
    assert isinstance(r, Reading)
    assert r.price == pytest.approx(2_150.5)
    assert r.timestamp == feed.getTimestamp(feed.latestRound())
    assert r.block == chain.blocks.head.number
    inverted = fetch(chain, source(node, feed, invert=True))
    assert inverted.price == pytest.approx(1 / 2_150.5)


@pytest.mark.parametrize("answer", [0, -5 * 10**8])
def test_non_positive_answer(chain, node, feed, governance, answer):
    feed.updateAnswer(answer, sender=governance)
    r = fetch(chain, source(node, feed))
    assert r.kind == FailureKind.BAD_VALUE and "chainlink answer is" in r.detail


def test_stale_round(chain, node, feed):
    updated = feed.getTimestamp(feed.latestRound())
    chain.mine(timestamp=updated + HEARTBEAT + 60)
    r = fetch(chain, source(node, feed), now=updated + HEARTBEAT + 60)
    assert r.kind == FailureKind.STALE and f"{HEARTBEAT + 60} s old" in r.detail


def test_round_carried_over_is_incomplete(chain, node, feed, governance):
    feed.setCarriedOverRound(7, 2_000 * 10**8, chain.pending_timestamp - 10, 6, sender=governance)
    r = fetch(chain, source(node, feed))
    assert r.kind == FailureKind.INCOMPLETE_ROUND and "answered in earlier round 6" in r.detail


def test_round_from_the_future(chain, node, feed, governance):
    ahead = chain.pending_timestamp + 3_600
    feed.updateRoundData(9, 2_000 * 10**8, ahead, ahead, sender=governance)
    r = fetch(chain, source(node, feed))
    assert r.kind == FailureKind.FUTURE_TIMESTAMP


def test_not_an_aggregator(chain, node, governance, accounts):
    r = fetch(
        chain,
        ChainlinkSource("x", "ETH/USD", node, accounts[9].address, heartbeat=60),
    )
    assert r.kind == FailureKind.BAD_RESPONSE
    assert "latestRoundData returned nothing (no contract there?)" in r.detail


def test_rpc_down_is_unreachable(chain, feed):
    from web3 import Web3

    from oracle.devnet.anvil import free_port

    dead = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}", request_kwargs={"timeout": 2}))
    r = fetch(chain, ChainlinkSource("c", "ETH/USD", Node(dead), feed.address, heartbeat=60))
    assert r.kind == FailureKind.UNREACHABLE


def test_history_walks_back_and_skips_bad_rounds(chain, node, feed, governance):
    for answer in (2_010, 0, 2_030):  # round 3 (answer 0) is not a price
        feed.updateAnswer(answer * 10**8, sender=governance)
    history = source(node, feed).history(10)
    assert [(rid, p) for rid, p, _ in history] == [(4, 2_030.0), (2, 2_010.0), (1, 2_000.0)]
