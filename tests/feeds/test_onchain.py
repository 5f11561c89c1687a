"""Every on-chain source on one node read in one collection, on ape's Anvil with real aggregator and
Uniswap v3 bytecode: one block read and one Multicall3 request per `CHUNK` calls, the readings
each source gives when read alone with plain calls, a failure kept to its source, a node that does
not answer costing one request for all its sources, and plain calls without Multicall3."""

from __future__ import annotations

import math
import socket
from itertools import cycle

import pytest
from web3 import Web3

from oracle.chain import http_web3
from oracle.devnet.anvil import count_requests, free_port
from oracle.feeds import FailureKind, Reading, collect, collect_all
from oracle.feeds.chainlink import ChainlinkSource
from oracle.feeds.onchain import Node

from .conftest import twap_source

HEARTBEAT = 3_600
FEEDS = 12
CHUNK = 5  # calls per Multicall3 request here, so that a collection takes several
NO_CODE = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture
def feeds(project, governance):
    """Aggregators with decimals and prices of their own."""
    decimals = cycle((8, 18, 6))
    return [
        project.MockV3Aggregator.deploy(d, (1_000 + i) * 10**d, f"F{i}", sender=governance)
        for i, d in zip(range(FEEDS), decimals, strict=False)
    ]


@pytest.fixture
def counted(chain, multicall3):
    """A client of ape's Anvil of its own (the keeper's kind) and its requests, by method."""
    w3 = http_web3(chain.provider.uri, 10)
    return w3, count_requests(w3)


def on_node(node, feeds, pool=None):
    """A Chainlink source per aggregator (one inverted) and, with `pool`, two TWAPs of it."""
    out = [
        ChainlinkSource(f"chainlink{i}", f"M{i}/USD", node, f, heartbeat=HEARTBEAT, invert=i == 3)
        for i, f in enumerate(feeds)
    ]
    if pool is not None:
        out += [twap_source(pool, node, window) for window in (60, 120)]
    return out


def addresses(feeds):
    return [f.address for f in feeds]


def read_together(sources, now):
    return [r for [r] in collect_all([[s] for s in sources], now, 30.0)]


def read_alone(sources, now):
    return [r for s in sources for r in collect([s], now, 30.0)]


def requests_made(counts):
    """(block reads, eth_calls); no `eth_blockNumber` besides."""
    assert "eth_blockNumber" not in counts
    return counts["eth_getBlockByNumber"], counts["eth_call"]


def test_every_source_on_a_node_reads_in_one_request_as_it_reads_alone(chain, counted, feeds, pool):
    w3, counts = counted
    chain.mine(timestamp=chain.pending_timestamp + 180)  # observations for the 120 s window
    now = chain.blocks.head.timestamp
    alone = read_alone(on_node(Node(w3, None), addresses(feeds), pool), now)
    assert all(isinstance(r, Reading) for r in alone), alone
    # a block each; a round and its decimals each, and a pool's six calls and two decimals each
    assert requests_made(counts) == (len(alone), 2 * FEEDS + 2 * 8)
    counts.clear()
    shared = on_node(Node(w3, chunk=CHUNK), addresses(feeds), pool)
    assert read_together(shared, now) == alone
    # each round and its decimals, the two windows' observe, and slot0, liquidity, the tokens and
    # the fee the two sources on the pool share: 31 calls; then the two tokens' decimals
    assert requests_made(counts) == (1, math.ceil(31 / CHUNK) + 1)
    counts.clear()
    assert read_together(shared, now) == alone  # decimals, tokens and fee are known now
    assert requests_made(counts) == (1, math.ceil((FEEDS + 4) / CHUNK))
    counts.clear()
    assert shared[0].fetch(now) == alone[0]  # outside a collection: a read of its own
    assert requests_made(counts) == (1, 1)


def test_a_failing_source_fails_alone(chain, node, feeds, project, governance, accounts):
    """A reverting contract, an address without code, a stale, a carried-over and a zero round
    among good aggregators in one collection (through Multicall3 and call by call alike)."""
    now = chain.pending_timestamp
    feeds[1].updateRoundData(5, 10**8, now - 2 * HEARTBEAT, now - 2 * HEARTBEAT, sender=governance)
    feeds[2].setCarriedOverRound(7, 10**8, now - 10, 6, sender=governance)
    feeds[4].updateAnswer(0, sender=governance)
    not_a_feed = project.MockERC20.deploy("Token", "T", 18, sender=governance)
    now = chain.pending_timestamp
    sources = on_node(node, [*addresses(feeds), not_a_feed.address, accounts[9].address])
    results = read_together(sources, now)
    expected = {
        1: (FailureKind.STALE, "s old"),
        2: (FailureKind.INCOMPLETE_ROUND, "answered in earlier round 6"),
        4: (FailureKind.BAD_VALUE, "answer is 0.0"),
        FEEDS: (FailureKind.BAD_RESPONSE, "latestRoundData reverted"),
        FEEDS + 1: (FailureKind.BAD_RESPONSE, "returned nothing (no contract there?)"),
    }
    for i, r in enumerate(results):
        if i in expected:
            kind, detail = expected[i]
            assert r.kind == kind and detail in r.detail and r.source == f"chainlink{i}", r
        else:
            assert isinstance(r, Reading) and r.price == pytest.approx(
                1 / (1_000 + i) if i == 3 else 1_000 + i
            )


@pytest.mark.parametrize("down", ["refused", "silent"])
def test_a_node_that_does_not_answer_fails_every_source_on_it_after_one_request(feeds, down):
    """Nothing listening (unreachable), or a socket that takes the request and never answers (a
    timeout): one block request for the collection, no call, every source failed with it."""
    with socket.socket() as silent:
        if down == "silent":
            silent.bind(("127.0.0.1", 0))
            silent.listen(64)
            port = silent.getsockname()[1]
        else:
            port = free_port()
        # web3.py's own retries off: what is counted is what the node is sent
        w3 = Web3(
            Web3.HTTPProvider(
                f"http://127.0.0.1:{port}",
                request_kwargs={"timeout": 1},
                exception_retry_configuration=None,
            )
        )
        counts = count_requests(w3)
        results = read_together(on_node(Node(w3), addresses(feeds)), 1_700_000_000)
    kind = FailureKind.TIMEOUT if down == "silent" else FailureKind.UNREACHABLE
    assert [r.kind for r in results] == [kind] * FEEDS
    assert all(r.detail.startswith(f"{r.source}: ") for r in results)
    assert dict(counts) == {"eth_getBlockByNumber": 1}


@pytest.mark.parametrize("there", ["no code", "not Multicall3"])
def test_without_multicall3_at_the_address_each_source_reads_call_by_call(
    chain, counted, feeds, project, governance, there
):
    """Nothing at the configured address, or a contract that reverts the request: the
    collection's one request fails, each source then reads alone with plain calls, and the
    readings are the same."""
    w3, counts = counted
    if there == "no code":
        address = NO_CODE
    else:
        address = project.MockERC20.deploy("Token", "T", 18, sender=governance).address
    now = chain.pending_timestamp
    alone = read_alone(on_node(Node(w3, None), addresses(feeds)), now)
    counts.clear()
    assert read_together(on_node(Node(w3, address), addresses(feeds)), now) == alone
    assert requests_made(counts) == (1 + FEEDS, 1 + 2 * FEEDS)
