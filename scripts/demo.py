"""`make demo`: the registry at work on a local Anvil, replaying real ETH prices from Black Thursday
(March 2020).

Starts Anvil, deploys the registry, an ExampleLendingPool, a Chainlink-style price feed and tokens,
opens borrower positions, then replays hourly ETH/USDT closes: the feed follows the price, a keeper
step signs and pushes parameters every 6 hours (within the on-chain guardrails), and a liquidator
liquidates unhealthy positions. Prints a summary and writes `reports/demo.md`. Stops Anvil by PID on
exit, also on failure.

The parameter rule here is deliberately simple and labelled as such (`interim_parameters`): the risk
engine with expected shortfall, liquidity and correlation is issue 4 and replaces it without
changing this pipeline.
"""

from __future__ import annotations

import csv
import math
import sys
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_utils import keccak
from web3 import Web3

from oracle.anvil import AnvilNode, dev_account
from oracle.chain import Guardrails, RegistryClient, Transactor, deploy_contract
from oracle.errors import ContractRevert
from oracle.markets import market_id
from oracle.signing import Batch, MarketUpdate, Signer, model_version_bytes, sign_batch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "oracle" / "data" / "ETHUSDT_1h_2020-03-05_2020-03-20.csv"
REPORT = ROOT / "reports" / "demo.md"
MARKET = market_id("ETH/USD")
PUSH_EVERY_H = 6
GUARDRAILS = Guardrails(3000, 8500, 4000, 9000, 200, 1500, 1000, 300, 86_400, 6 * 3600)
E18 = 10**18


def load_prices() -> list[tuple[int, float]]:
    with DATA.open() as f:
        rows = list(csv.DictReader(f))
    return [
        (
            int(datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).timestamp()),
            float(r["close"]),
        )
        for r in rows
    ]


def interim_parameters(closes: list[float]) -> tuple[int, int, int]:
    """Interim rule until the risk engine lands: EWMA (λ=0.94) hourly vol scaled to a 24 h
    liquidation horizon; LT = 1 − 3·σ₂₄ − slippage, LB = 5 %, LTV = LT − 8 %, rounded down to whole
    bps."""
    returns = [math.log(b / a) for a, b in pairwise(closes)]
    var = returns[0] ** 2
    for r in returns[1:]:
        var = 0.94 * var + 0.06 * r * r
    sigma_day = math.sqrt(var * 24)
    lt = int(10_000 * (1 - 3 * sigma_day - 0.02))
    lt = max(4000, min(9000, lt))
    return lt - 800, lt, 500


def step_towards(current: int, target: int, down: int, up: int) -> int:
    return max(current - down, min(current + up, target))


def main() -> None:
    prices = load_prices()
    node = AnvilNode(
        extra_args=["--timestamp", str(prices[0][0] - 3600)]
    )  # chain clock starts in 2020
    w3 = node.start()
    try:
        run(w3, prices)
    finally:
        node.stop()


def run(w3: Web3, prices: list[tuple[int, float]]) -> None:
    gov, guardian, liquidator = w3.eth.accounts[0], w3.eth.accounts[1], w3.eth.accounts[9]
    borrowers = w3.eth.accounts[2:7]
    keeper = Signer(dev_account(8))
    registry, _ = RegistryClient.deploy(
        w3,
        gov,
        governance=gov,
        guardian=guardian,
        signers=[keeper.address],
        threshold=1,
        timelock_delay=2 * 86_400,
    )
    registry.set_guardrail_profile(1, GUARDRAILS, gov)
    registry.assign_profile([MARKET], 1, gov)
    weth, _ = deploy_contract(w3, gov, "MockERC20", "Wrapped Ether", "WETH", 18)
    usd, _ = deploy_contract(w3, gov, "MockERC20", "US Dollar", "USD", 6)
    feed, _ = deploy_contract(w3, gov, "MockV3Aggregator", 8, int(prices[0][1] * 1e8), "ETH / USD")
    pool, _ = deploy_contract(
        w3,
        gov,
        "ExampleLendingPool",
        registry.address,
        MARKET,
        weth.address,
        usd.address,
        feed.address,
        2 * 86_400,
        2 * 3600,
        6000,
        1000,
    )

    def send(fn: object, who: str) -> None:
        Transactor(w3, who).send(fn)

    history = [p for _, p in prices[:48]]
    params = interim_parameters(history)
    push(w3, registry, keeper, gov, params, prices[0][0])
    print(
        f"deployed registry {registry.address} and pool {pool.address}; "
        f"replaying {len(prices) - 48} hours"
    )

    send(usd.functions.mint(gov, 10**9 * 10**6), gov)
    send(usd.functions.approve(pool.address, 2**256 - 1), gov)
    send(pool.functions.supply(10**9 * 10**6), gov)
    send(usd.functions.mint(liquidator, 10**9 * 10**6), gov)
    send(usd.functions.approve(pool.address, 2**256 - 1), liquidator)
    ltv0 = params[0]
    for i, b in enumerate(borrowers):  # 10 ETH each, borrowing 60 %..100 % of the initial LTV
        send(weth.functions.mint(b, 10 * E18), gov)
        send(weth.functions.approve(pool.address, 2**256 - 1), b)
        send(pool.functions.deposit(10 * E18), b)
        value = pool.functions.collateralValue(b).call()
        send(pool.functions.borrow(value * ltv0 * (60 + 10 * i) // 100 // 10_000), b)

    path, liquidations, pushes, gas = [(prices[48][0], *params)], [], 0, []
    for hour, (ts, price) in enumerate(prices[48:], start=48):
        w3.provider.make_request("evm_setNextBlockTimestamp", [ts])
        send(feed.functions.updateAnswer(int(price * 1e8)), gov)
        history.append(price)
        if hour % PUSH_EVERY_H == 0:
            target = interim_parameters(history[-72:])
            # Steps start from the stored target values (what `params` holds), not the ramped reads.
            g = GUARDRAILS
            lt = step_towards(params[1], target[1], g.max_tighten_step_bps, 0)
            ltv = min(step_towards(params[0], target[0], g.max_tighten_step_bps, 0), lt - 1)
            new = (max(ltv, g.min_ltv_bps), max(lt, g.min_liquidation_threshold_bps), target[2])
            if new != params:
                try:
                    result = push(w3, registry, keeper, gov, new, ts + 1)
                    pushes += 1
                    gas.append(result.gas_used)
                    params = new
                    path.append((ts, *new))
                except ContractRevert as err:
                    print(f"  {iso(ts)} push refused on-chain: {err}")
        for b in borrowers:
            debt = pool.functions.debtOf(b).call()
            if debt and pool.functions.healthFactorBps(b).call() < 10_000:
                try:
                    send(pool.functions.liquidate(b, debt // 2), liquidator)
                    liquidations.append((ts, b, debt // 2, price))
                except ContractRevert as err:
                    print(f"  {iso(ts)} liquidation of {b} refused: {err}")
        if hour % 48 == 0:
            p = registry.parameters(MARKET)
            print(
                f"  {iso(ts)}  ETH {price:8.2f}  LTV {p.ltv_bps:5d}  "
                f"LT {p.liquidation_threshold_bps:5d}  LB {p.liquidation_bonus_bps:4d}  "
                f"pushes {pushes}  liquidations {len(liquidations)}"
            )
    write_report(prices, path, liquidations, pushes, gas, registry)


def push(
    w3: Web3,
    registry: RegistryClient,
    keeper: Signer,
    relayer: str,
    params: tuple[int, int, int],
    ts: int,
):
    batch = Batch(
        chain_id=w3.eth.chain_id,
        nonce=registry.nonce(),
        deadline=ts + 3600,
        inputs_hash=keccak(text=f"demo-snapshot-{ts}"),
        model_version=model_version_bytes("interim-0.1"),
        updates=(MarketUpdate(MARKET, *params),),
    )
    return registry.submit(batch, sign_batch(batch, registry.address, [keeper]), relayer)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def write_report(prices, path, liquidations, pushes, gas, registry) -> None:
    low = min(prices, key=lambda p: p[1])
    lines = [
        "# Demo report: ETH/USD on Black Thursday (Binance 1h, 2020-03-05 .. 2020-03-20)",
        "",
        f"- ETH from {prices[0][1]:.2f} to a low of {low[1]:.2f} ({iso(low[0])} UTC), "
        f"ends at {prices[-1][1]:.2f}",
        f"- signed pushes accepted on-chain: {pushes}; median gas per push: "
        f"{sorted(gas)[len(gas) // 2] if gas else 0}",
        f"- liquidations in the example pool: {len(liquidations)}",
        f"- final on-chain parameters: {registry.parameters(MARKET)}",
        "",
        "## Parameter path (values in force after each change)",
        "",
        "| time (UTC) | LTV bps | LT bps | LB bps |",
        "|---|---|---|---|",
        *[f"| {iso(ts)} | {a} | {b} | {c} |" for ts, a, b, c in path],
        "",
        "## Liquidations",
        "",
        "| time (UTC) | borrower | repaid (USD) | ETH price |",
        "|---|---|---|---|",
        *[f"| {iso(ts)} | {b} | {amt / 1e6:.2f} | {p:.2f} |" for ts, b, amt, p in liquidations],
        "",
        "Parameters come from the interim rule in `scripts/demo.py` (EWMA volatility); "
        "the risk engine replaces it.",
    ]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[2:7]))
    print(f"report written to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
