"""Every market's registry state in a few Multicall3 requests: the same views as reading each
market alone, and market-by-market reads when the chain has no Multicall3 (the keeper slower,
never blind)."""

from __future__ import annotations

from oracle.errors import ChainError
from oracle.markets import market_id
from oracle.multicall import MULTICALL3_ADDRESS, AbiFunction, Call, aggregate
from oracle.signing import MarketUpdate
from oracle.types import Params

MARKETS = tuple(f"M{i}/USDT" for i in range(5))
NO_CODE = "0x000000000000000000000000000000000000dEaD"
BURNER = "0x00000000000000000000000000000000000000bE"
#: runtime code that loops until its gas runs out (JUMPDEST, PUSH1 0, JUMP)
LOOP = "0x5b600056"


def views_one_by_one(registry, ids, block, when):
    return {m: registry.policy_view(m, block, when) for m in ids}


def test_every_market_at_once_equals_each_market_alone(node_rig):
    """Set markets, one with a governance proposal pending and one never listed (no profile, no
    state): `policy_views` through Multicall3 equals `policy_view` market by market, at the
    same block, including the proposal, the guardrails and the unset market."""
    rig = node_rig("2020-03-12T00:00:00", markets=MARKETS, multicall=MULTICALL3_ADDRESS)
    report = rig.keeper.cycle()
    assert report.pushes and all(p.status == "mined" for p in report.pushes)
    assert not [n for n in report.notes if "one by one" in n]
    gov = rig.w3.eth.accounts[0]
    queued = MarketUpdate.of(market_id(MARKETS[2]), Params(5_000, 6_000, 800))
    rig.registry.propose_governance([queued], gov)
    ids = [market_id(m) for m in MARKETS] + [market_id("NEVER/LISTED")]
    block = rig.w3.eth.get_block("latest")
    number, when = int(block["number"]), int(block["timestamp"])
    at_once = rig.registry.policy_views(ids, number, when, MULTICALL3_ADDRESS)
    alone = views_one_by_one(rig.registry, ids, number, when)
    assert at_once == alone
    assert alone[market_id(MARKETS[2])].queued == Params(5_000, 6_000, 800)  # the proposal
    assert alone[market_id(MARKETS[2])].queued_by_governance
    assert alone[market_id(MARKETS[0])].guardrails is not None
    assert alone[market_id("NEVER/LISTED")].values is None
    assert alone[market_id("NEVER/LISTED")].guardrails is None
    # chunked: one call per request gives the same answers
    fn = AbiFunction(rig.registry.contract.abi, "marketState")
    calls = [Call(rig.registry.address, fn.encode(m)) for m in ids]
    assert aggregate(rig.w3, calls, number, chunk=1) == aggregate(rig.w3, calls, number)
    # an address comes back checksummed, as web3.py's own call returns it
    fn = AbiFunction(rig.registry.contract.abi, "governance")
    [raw] = aggregate(rig.w3, [Call(rig.registry.address, fn.encode())], number)
    assert raw is not None and fn.decode(raw) == rig.registry.contract.functions.governance().call()


def test_without_multicall3_the_keeper_reads_market_by_market(node_rig):
    """A chain without Multicall3 at the configured address: the read fails with one line naming
    the address, the cycle notes it and decides on market-by-market reads, pushing as usual."""
    rig = node_rig("2020-03-12T00:00:00", markets=MARKETS[:2], multicall=NO_CODE)
    try:
        rig.registry.policy_views([market_id(MARKETS[0])], "latest", 0, NO_CODE)
    except ChainError as exc:
        assert f"no Multicall3 at {NO_CODE}" in str(exc)
    else:
        raise AssertionError("a chain without Multicall3 must raise")
    report = rig.keeper.cycle()
    assert [n for n in report.notes if n.startswith("markets read one by one: no Multicall3")]
    assert report.pushes and all(p.status == "mined" for p in report.pushes)
    rig.assert_agreement()


def test_calls_that_burn_their_gas_fail_alone(node_rig):
    """Three calls to a contract that loops until its gas runs out, ahead of the registry reads:
    Multicall3 forwards 63/64 of what is left to each, the reads behind them get too little, and
    the node fails the whole request out of gas (before: a `ChainError`, every read of the
    request lost). The request is split until each burner is alone: the burners read as failed,
    every other call as it reads without them."""
    rig = node_rig("2020-03-12T00:00:00", markets=MARKETS[:2], multicall=MULTICALL3_ADDRESS)
    rig.w3.provider.make_request("anvil_setCode", [BURNER, LOOP])
    fn = AbiFunction(rig.registry.contract.abi, "marketState")
    reads = [Call(rig.registry.address, fn.encode(market_id(m))) for m in MARKETS[:2]]
    burn = Call(BURNER, b"")
    number = rig.w3.eth.block_number
    answers = aggregate(rig.w3, [burn, burn, burn, *reads * 20], number)
    assert answers[:3] == [None, None, None]
    alone = aggregate(rig.w3, reads, number)
    assert None not in alone and answers[3:] == alone * 20
