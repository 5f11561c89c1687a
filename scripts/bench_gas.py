"""Gas of signed batch updates and of a consumer read, measured on a local Anvil.

Prints one JSON object per line: for N markets in a batch and M signatures (threshold M), the median
gas of batches that rewrite existing markets (guardrails, step and interval checks, events
included), next to the same batch sent to `BareSignedBatch` (no guardrails) in the same run; then
the gas of a consumer's cold read; then, on a real Aave v3 market (Aave's npm bytecode), the gas
per reserve of `AaveV3RiskAdapter.sync` next to the same change written directly by a pool admin
(`configureReserveAsCollateral`, what a risk steward's payload does); then risk arrays: the gas per
asset of publishing 50 arrays (next to the registry's gas per market for 50 parameter updates
measured above), and of a cold `portfolioMargin` over 10 assets (next to `isolatedMargin`, the same
positions without netting, and to ten cold `getParametersChecked` reads). Run with `make bench-gas`.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from web3 import Web3

from oracle.chain import RegistryClient, Transactor, deploy_contract
from oracle.devnet.aave import ReserveSpec, deploy_aave_market
from oracle.devnet.accounts import dev_account
from oracle.devnet.anvil import AnvilNode
from oracle.devnet.registry import deploy_registry, deploy_risk_arrays
from oracle.integrations.aave_v3 import RiskAdapterClient
from oracle.markets import market_id
from oracle.policy.arrays import SCENARIOS, SPAN16_LIMITS, ArrayValues, encode_depth
from oracle.signing import Batch, MarketUpdate, Signer, model_version_bytes, sign_batch
from oracle.signing.risk_arrays import RiskArrayBatch, RiskArrayUpdate, sign_arrays
from oracle.types import Guardrails

BATCHES = (1, 10, 50)
SIGNERS = (1, 3)
ROUNDS = 7
#: A profile every benchmark update fits (LTV 4,000-8,500, LT 5,000-9,000, steps of 10 % / 2 %).
GUARDRAILS = Guardrails(
    min_ltv_bps=4_000,
    max_ltv_bps=8_500,
    min_liquidation_threshold_bps=5_000,
    max_liquidation_threshold_bps=9_000,
    min_liquidation_bonus_bps=100,
    max_liquidation_bonus_bps=1_500,
    max_tighten_step_bps=1_000,
    max_loosen_step_bps=200,
    min_loosen_interval=86_400,
    threshold_ramp_duration=21_600,
    min_update_interval=1,  # each round is a real change, one block (one second) after the last
)


def batch_for(w3: Web3, nonce: int, markets: list[bytes], ltv: int) -> Batch:
    return Batch(
        chain_id=w3.eth.chain_id,
        nonce=nonce,
        deadline=w3.eth.get_block("latest")["timestamp"] + 3600,
        inputs_hash=b"\x42" * 32,
        model_version=model_version_bytes("bench"),
        updates=tuple(MarketUpdate(m, ltv, 8000, 500) for m in markets),
    )


def measure(w3: Web3, n: int, m: int) -> dict[str, object]:
    gov = w3.eth.accounts[0]
    keys = [Signer(dev_account(10 + i)) for i in range(m)]
    symbols = [f"BENCH{i}/USD" for i in range(n)]
    client = deploy_registry(
        w3,
        gov,
        signers=[k.address for k in keys],
        markets=symbols,
        threshold=m,
        timelock_delay=86_400,
        guardrails=GUARDRAILS,
    )
    bare, _ = deploy_contract(w3, gov, "BareSignedBatch", keys[0].address)
    markets = [market_id(s) for s in symbols]

    def push(nonce: int, ltv: int) -> tuple[int, int]:
        batch = batch_for(w3, nonce, markets, ltv)
        used = client.submit(batch, sign_batch(batch, client.address, keys), gov).gas_used
        bare_batch = batch_for(w3, nonce, markets, ltv)
        [sig] = sign_batch(bare_batch, bare.address, keys[:1])
        fn = bare.functions.submitUpdates(bare_batch.as_tuple(), sig)
        return used, Transactor(w3, gov).send(fn).gas_used

    fresh, fresh_bare = push(0, 7000)
    rewrites, bare_rewrites = [], []
    for r in range(1, ROUNDS + 1):
        used, bare_used = push(r, 7000 - r)  # tighten LTV by 1 bps: a real change every round
        rewrites.append(used)
        bare_rewrites.append(bare_used)
    gas = int(statistics.median(rewrites))
    bare_gas = int(statistics.median(bare_rewrites))
    return {
        "batch": n,
        "signers": m,
        "gas_total": gas,
        "gas_per_market": round(gas / n),
        "baseline_bare_gas_per_market": round(bare_gas / n),
        "fresh_gas_per_market": round(fresh / n),
        "fresh_baseline_bare_gas_per_market": round(fresh_bare / n),
        "rounds": ROUNDS,
        "_client": client,
        "_market": markets[0],
    }


def consumer_read(w3: Web3, client: RegistryClient, market: bytes) -> dict[str, object]:
    gov = w3.eth.accounts[0]
    reader, _ = deploy_contract(w3, gov, "ParameterReader")
    samples = []
    for _ in range(ROUNDS):
        fn = reader.functions.read(client.address, market, 3600)
        Transactor(w3, gov).send(fn)
        samples.append(reader.functions.lastGas().call())
    return {
        "consumer_read": "getParametersChecked",
        "cold": True,
        "gas": int(statistics.median(samples)),
    }


AAVE_RESERVES = (1, 5, 10)


def aave_sync(w3: Web3, n: int) -> dict[str, object]:
    """Median gas per reserve of a sync that changes every one of `n` reserves (LTV down 1 bps a
    round), against a pool admin's direct `configureReserveAsCollateral` of the same change."""
    gov = w3.eth.accounts[0]
    key = Signer(dev_account(10))
    symbols = [f"AAVE{i}/USD" for i in range(n)]
    client = deploy_registry(w3, gov, signers=[key.address], markets=symbols, guardrails=GUARDRAILS)
    specs = []
    for s in symbols:
        token, _ = deploy_contract(w3, gov, "MockERC20", s, s.split("/")[0], 18)
        feed, _ = deploy_contract(w3, gov, "MockV3Aggregator", 8, 2000 * 10**8, s)
        specs.append(ReserveSpec(token, feed.address, 7500, 8000, 10_500))
    aave = deploy_aave_market(w3, gov, specs)
    adapter = RiskAdapterClient.deploy(
        w3, gov, registry=client.address, addresses_provider=aave.provider.address, max_age=86_400
    )
    aave.grant_risk_admin(adapter.address, gov)
    for s, spec in zip(symbols, specs, strict=True):
        adapter.set_market(s, spec.token.address, gov)
    markets = [market_id(s) for s in symbols]
    synced, direct = [], []
    for r in range(ROUNDS + 1):
        batch = batch_for(w3, client.nonce(), markets, 7000 - r)
        client.submit(batch, sign_batch(batch, client.address, [key]), gov)
        report = adapter.sync(symbols, gov)
        assert len(report.synced) == n, report.skipped
        if r:  # round 0 is the first write of each reserve's link state
            synced.append(report.tx.gas_used)
        gas = 0
        for spec in specs:
            fn = aave.configurator.functions.configureReserveAsCollateral(
                spec.token.address, 6000 - r, 8000, 10_500
            )
            gas += Transactor(w3, gov).send(fn).gas_used
        if r:
            direct.append(gas)
    return {
        "aave_sync_reserves": n,
        "gas_per_reserve": round(statistics.median(synced) / n),
        "baseline_direct_tx_gas_per_reserve": round(statistics.median(direct) / n),
        "rounds": ROUNDS,
    }


ARRAY_ASSETS = 50
PORTFOLIO_ASSETS = 10
#: Fast enough that every round's one-unit widening of each move passes (2 units a second).
BENCH_SET = dataclasses.replace(SPAN16_LIMITS, widen_units_per_hour=7200)


def risk_array_rows(
    w3: Web3, registry_gas_per_market: int, consumer_read_gas: int
) -> list[dict[str, object]]:
    """Publishing `ARRAY_ASSETS` arrays (median of rewrites in which every move grows by one
    unit), and a cold portfolio read of `PORTFOLIO_ASSETS` of them."""
    gov = w3.eth.accounts[0]
    key = Signer(dev_account(10))
    registry = deploy_registry(w3, gov, signers=[key.address], guardrails=GUARDRAILS)
    arrays = deploy_risk_arrays(w3, gov, registry, limits=BENCH_SET)
    rng = random.Random(19)
    assets = sorted(market_id(f"ARRAY{i}/USD") for i in range(ARRAY_ASSETS))
    base = {
        a: [rng.randint(50, 400) * (1 if s % 2 else -1) for s in range(SCENARIOS)] for a in assets
    }

    def publish(round_: int) -> int:
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]  # a second passes
        entries = []
        for a in assets:
            moves = tuple(m - round_ if m < 0 else m + round_ for m in base[a])
            entries.append(RiskArrayUpdate(a, ArrayValues(moves, 30, encode_depth(5e7))))
        batch = RiskArrayBatch(
            chain_id=w3.eth.chain_id,
            nonce=arrays.nonce(),
            deadline=w3.eth.get_block("latest")["timestamp"] + 3600,
            inputs_hash=b"\x42" * 32,
            model_version=model_version_bytes("bench"),
            scenario_set=1,
            arrays=tuple(entries),
        )
        return arrays.submit(batch, sign_arrays(batch, arrays.address, [key]), gov).gas_used

    fresh = publish(0)
    rewrites = [publish(r) for r in range(1, ROUNDS + 1)]
    reader, _ = deploy_contract(w3, gov, "PortfolioMarginReader")
    picked = assets[:PORTFOLIO_ASSETS]
    samples: list[int] = []
    isolated: list[int] = []
    read, read_isolated = reader.functions.read, reader.functions.readIsolated
    for _ in range(ROUNDS):
        positions = [rng.choice([1, -1]) * rng.randint(10**3, 10**7) * 10**18 for _ in picked]
        for fn, out in ((read, samples), (read_isolated, isolated)):
            Transactor(w3, gov).send(fn(arrays.address, picked, positions))
            out.append(reader.functions.lastGas().call())
    return [
        {
            "risk_arrays": ARRAY_ASSETS,
            "gas_per_asset": round(statistics.median(rewrites) / ARRAY_ASSETS),
            "fresh_gas_per_asset": round(fresh / ARRAY_ASSETS),
            "baseline_registry_gas_per_market": registry_gas_per_market,
            "rounds": ROUNDS,
        },
        {
            "portfolio_assets": PORTFOLIO_ASSETS,
            "cold": True,
            "gas": int(statistics.median(samples)),
            "baseline_isolated_gas": int(statistics.median(isolated)),
            "baseline_parameter_reads_gas": PORTFOLIO_ASSETS * consumer_read_gas,
            "rounds": ROUNDS,
        },
    ]


def main() -> None:
    started = time.monotonic()
    with AnvilNode() as w3:
        w3.provider.make_request("anvil_setBlockTimestampInterval", [1])  # type: ignore[arg-type]
        last = None
        one_signer_gas = 0
        for m in SIGNERS:
            for n in BATCHES:
                row = measure(w3, n, m)
                last = row
                if (n, m) == (ARRAY_ASSETS, 1):
                    one_signer_gas = int(row["gas_per_market"])  # type: ignore[call-overload]
                print(
                    json.dumps({k: v for k, v in row.items() if not k.startswith("_")}), flush=True
                )
        assert last is not None
        read = consumer_read(w3, last["_client"], last["_market"])  # type: ignore[arg-type]
        print(json.dumps(read), flush=True)
        for row in risk_array_rows(w3, one_signer_gas, read["gas"]):  # type: ignore[arg-type]
            print(json.dumps(row), flush=True)
        for n in AAVE_RESERVES:
            print(json.dumps(aave_sync(w3, n)), flush=True)
    print(json.dumps({"seconds": round(time.monotonic() - started, 1)}), file=sys.stderr)


if __name__ == "__main__":
    main()
