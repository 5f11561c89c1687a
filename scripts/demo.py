"""`make demo`: the keeper at work on a local Anvil through Black Thursday (March 2020).

Starts Anvil (its clock set to March 2020), deploys the registry with a guardrail profile, a real
Aave v3 market (Aave's own npm bytecode) whose WETH reserve the keeper drives through the
`AaveV3RiskAdapter`, the ExampleLendingPool (the smallest integrator, reading the registry
directly), a Chainlink-style price feed both read, and starts three local exchanges (the
Binance-format emulator on 127.0.0.1) replaying the real Binance ETH/USDT hourly bars. Five
borrowers supply WETH and borrow USDC on Aave, five more borrow in the example pool. Then, hour by
hour over 5–20 March 2020, the price feed follows the market, the keeper service runs as scheduled
— a cycle every 6 hours, the price-move trigger checked every hour — reading the venues through
ccxt, computing parameters with the risk engine (threshold cuts sized on Aave's open positions),
pushing signed batches within the on-chain guardrails and syncing Aave through the adapter; a
liquidator calls Aave's `liquidationCall` and another liquidates the example pool. Prints progress
and a summary, writes `reports/demo.md`, and stops every process it started, also on failure. The
keeper's audit trail is `reports/demo.db` (SQLite; `oracle history` reads it).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from web3 import Web3

from oracle.audit.bundle import BundleStore
from oracle.audit.verify import Verdict, verify
from oracle.backtest.baselines import aave_v3
from oracle.backtest.runner import BacktestSettings, replay
from oracle.chain import RegistryClient, Transactor, deploy_contract
from oracle.devnet.aave import AaveMarket, ReserveSpec, deploy_aave_market
from oracle.devnet.accounts import dev_account
from oracle.devnet.actors import E18, AaveLiquidator, Liquidation, Liquidator, UniswapPool
from oracle.devnet.anvil import AnvilNode
from oracle.devnet.emulator import ExchangeEmulator
from oracle.devnet.registry import deploy_registry
from oracle.feeds.chainlink import ChainlinkSource
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.marketdata import shipped_bars
from oracle.feeds.onchain import Node
from oracle.feeds.uniswap import UniswapV3TwapSource
from oracle.feeds.venue import Venue
from oracle.integrations.aave_v3 import AavePositions, RiskAdapterClient, to_aave
from oracle.keeper.cycle import AdapterLink, Keeper, MarketSetup
from oracle.keeper.scheduler import KeeperService
from oracle.keeper.store import Store
from oracle.markets import market_id
from oracle.report.backtest import write_report as write_backtest_report
from oracle.risk import ModelSettings
from oracle.signing import MarketUpdate, Signer
from oracle.types import BLUE_CHIP_GUARDRAILS

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "demo.md"
HTML_REPORT = ROOT / "reports" / "demo-backtest.html"
STORE = ROOT / "reports" / "demo.db"
BUNDLES = ROOT / "reports" / "bundles"  # each batch's inputs: `oracle verify --bundles` reads them
MARKET = "ETH/USDT"
START, END = "2020-03-05T00:00:00", "2020-03-20T00:00:00"
CYCLE_EVERY_H = 6
DAY = 86_400


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso + "+00:00").timestamp())


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def main() -> None:
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    started = time.monotonic()
    bars = shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", MARKET)
    # The chain starts before the replay: the hand-over of Aave's WETH reserve waits out the
    # registry's two-day timelock first.
    node = AnvilNode(extra_args=["--timestamp", str(epoch(START) - 3 * DAY), "--accounts", "20"])
    venues = [
        ExchangeEmulator({"ETHUSDT": ("ETH", "USDT", bars)}, now=epoch(START)) for _ in range(3)
    ]
    w3 = node.start()
    # Block times advance 1 s per block instead of with the wall clock: the same replay gives the
    # same chain times, hence the same decisions, on every run.
    w3.provider.make_request("anvil_setBlockTimestampInterval", [1])
    try:
        for v in venues:
            v.start()
        run(w3, bars, venues)
    finally:
        for v in venues:
            v.stop()
        node.stop()
    print(f"demo finished in {time.monotonic() - started:.0f} s; Anvil and the venues are stopped")


def run(w3: Web3, bars, venues: list[ExchangeEmulator]) -> None:
    gov, guardian, liquidator = w3.eth.accounts[0], w3.eth.accounts[1], w3.eth.accounts[9]
    borrowers = w3.eth.accounts[2:7]
    signer = Signer(dev_account(8))
    registry = deploy_registry(
        w3,
        gov,
        signers=[signer.address],
        markets=[MARKET],
        guardian=guardian,
        timelock_delay=2 * 86_400,
        guardrails=BLUE_CHIP_GUARDRAILS,
    )
    weth, _ = deploy_contract(w3, gov, "MockERC20", "Wrapped Ether", "WETH", 18)
    usd, _ = deploy_contract(w3, gov, "MockERC20", "Tether USD", "USDT", 6)
    now = epoch(START)
    i0 = int(bars.timestamps.searchsorted(now))
    feed, _ = deploy_contract(
        w3, gov, "MockV3Aggregator", 8, int(bars.close[i0] * 1e8), "ETH / USD"
    )
    pool, _ = deploy_contract(
        w3,
        gov,
        "ExampleLendingPool",
        registry.address,
        market_id(MARKET),
        weth.address,
        usd.address,
        feed.address,
        2 * 86_400,
        2 * 3_600,
        6_000,
        1_000,
    )

    uniswap = UniswapPool(w3, gov, weth, usd, float(bars.close[i0]))
    liquidator_bot = Liquidator(w3, pool, liquidator)
    # Aave v3 with WETH at Aave's own static parameters and USDC to borrow; the adapter takes
    # WETH over from there (a gap to the registry's threshold closes at the guardrails' pace).
    usdc, _ = deploy_contract(w3, gov, "MockERC20", "USD Coin", "USDC", 6)
    usdc_feed, _ = deploy_contract(w3, gov, "MockV3Aggregator", 8, 10**8, "USDC / USD")
    static = aave_v3("ETH").params
    aave = deploy_aave_market(
        w3,
        gov,
        [
            ReserveSpec(weth, feed.address, *to_aave(*static.as_tuple())),
            ReserveSpec(usdc, usdc_feed.address, borrowable=True),
        ],
    )
    adapter = RiskAdapterClient.deploy(
        w3, gov, registry=registry.address, addresses_provider=aave.provider.address, max_age=DAY
    )
    aave.grant_risk_admin(adapter.address, gov)
    adapter.set_market(MARKET, weth.address, gov)
    # Hand-over: governance seeds the registry with the reserve's own values, so the first thing
    # the keeper does to Aave's threshold is its slow path (100 bps a day, sized on the open
    # positions), not a jump to the model's level that the adapter would close in hours.
    registry.propose_governance([MarketUpdate.of(market_id(MARKET), static)], gov)
    queued = w3.eth.get_block("latest")["timestamp"]
    w3.provider.make_request("evm_mine", [queued + 2 * DAY + 1])  # type: ignore[arg-type]
    registry.execute(0, gov)
    adapter.sync([MARKET], gov)
    aave_borrowers = w3.eth.accounts[10:15]
    aave_liquidator = w3.eth.accounts[15]
    node = Node(w3)  # the feed and the pool read in one Multicall3 request a cycle
    sources = [
        *(
            ExchangeSource(f"venue{i}", MARKET, Venue("binance", v.url), MARKET, max_age=7_200)
            for i, v in enumerate(venues)
        ),
        ChainlinkSource("chainlink", MARKET, node, feed.address, heartbeat=7_200),
        UniswapV3TwapSource(
            "uniswap",
            MARKET,
            node,
            uniswap.pool.address,
            window=1_800,
            collateral_is_token0=uniswap.collateral_is_token0,
            max_age=7_200,
        ),
    ]
    clock = {"now": now}
    STORE.parent.mkdir(exist_ok=True)
    STORE.unlink(missing_ok=True)
    shutil.rmtree(BUNDLES, ignore_errors=True)
    keeper = Keeper(
        registry,
        [signer],
        gov,
        Store(STORE),
        [
            MarketSetup(
                MARKET,
                sources,
                lambda: sources[0].history("1h", 1_000),
                size=1_000.0,
                memory=lambda: sources[0].history("1d", ModelSettings().memory_days),
                positions=AavePositions(w3, aave.provider.address, weth.address),
            )
        ],
        clock=lambda: clock["now"],
        adapters=[AdapterLink(adapter, (MARKET,))],
        bundles=BundleStore(BUNDLES),
    )
    service = KeeperService(
        keeper,
        interval=CYCLE_EVERY_H * 3_600,
        price_move=0.03,
        check_every=3_600,
        keep_reports=None,  # the report reads every cycle's
    )

    def send(fn: object, who: str) -> None:
        Transactor(w3, who).send(fn)

    def set_time(ts: int) -> None:
        clock["now"] = ts
        for v in venues:
            v.now = ts
        w3.provider.make_request("evm_mine", [ts])

    set_time(now)
    send(feed.functions.updateAnswer(int(bars.close[i0] * 1e8)), gov)  # fresh after the hand-over
    first = service.run_cycle("start")
    assert first is not None and first.pushes, "the keeper must push first values"
    ltv0 = registry.parameters(market_id(MARKET)).params.ltv_bps
    lt0 = registry.parameters(market_id(MARKET)).params.liquidation_threshold_bps
    print(
        f"deployed registry {registry.address}, Aave pool {aave.pool.address}, adapter "
        f"{adapter.address}, example pool {pool.address}; first push {describe(registry)}; "
        f"Aave WETH {aave.configuration(weth.address)}"
    )

    send(usd.functions.mint(gov, 10**9 * 10**6), gov)
    send(usd.functions.approve(pool.address, 2**256 - 1), gov)
    send(pool.functions.supply(10**9 * 10**6), gov)
    send(usd.functions.mint(liquidator, 10**9 * 10**6), gov)
    send(usd.functions.approve(pool.address, 2**256 - 1), liquidator)
    for i, b in enumerate(borrowers):  # 10 ETH each, borrowing 60 %..100 % of the first LTV
        send(weth.functions.mint(b, 10 * E18), gov)
        send(weth.functions.approve(pool.address, 2**256 - 1), b)
        send(pool.functions.deposit(10 * E18), b)
        value = pool.functions.collateralValue(b).call()
        send(pool.functions.borrow(value * ltv0 * (60 + 10 * i) // 100 // 10_000), b)
    send(usdc.functions.mint(gov, 10**9 * 10**6), gov)
    send(usdc.functions.approve(aave.pool.address, 2**256 - 1), gov)
    send(aave.pool.functions.supply(usdc.address, 10**9 * 10**6, gov, 0), gov)
    send(usdc.functions.mint(aave_liquidator, 10**9 * 10**6), gov)
    aave_bot = AaveLiquidator(w3, aave.pool, weth, usdc, aave_liquidator)
    aave_lt_at_open = aave.configuration(weth.address)[1]
    for i, b in enumerate(aave_borrowers):  # 10 ETH each, borrowing 60 %..92 % of Aave's LTV
        send(weth.functions.mint(b, 10 * E18), gov)
        send(weth.functions.approve(aave.pool.address, 2**256 - 1), b)
        send(aave.pool.functions.supply(weth.address, 10 * E18, b, 0), b)
        can = aave.pool.functions.getUserAccountData(b).call()[2]  # USD, 8 decimals
        send(aave.pool.functions.borrow(usdc.address, can * (60 + 8 * i) // 100 // 100, 2, 0, b), b)

    liquidations: list[tuple[int, str, int, float, int]] = []
    aave_liquidations: list[tuple[int, Liquidation, float]] = []
    hours = (epoch(END) - now) // 3_600
    for hour in range(1, hours + 1):
        ts = now + hour * 3_600
        set_time(ts)
        price = float(bars.close[int(bars.timestamps.searchsorted(ts, side="right")) - 1])
        send(feed.functions.updateAnswer(int(price * 1e8)), gov)
        uniswap.arbitrage_to(price)
        if hour % CYCLE_EVERY_H == 0:
            service.run_cycle("schedule")
        else:
            service.check_trigger()
        done, refused = liquidator_bot.sweep(borrowers)
        liquidations += [(ts, liq.borrower, liq.repaid, price, liq.loan_ratio_bps) for liq in done]
        done, aave_refused = aave_bot.sweep(aave_borrowers)
        aave_liquidations += [(ts, liq, price) for liq in done]
        for why in refused + aave_refused:
            print(f"  {iso(ts)} {why}")
        if hour % 24 == 0:
            pushes = sum(len(r.pushes) for _, r in service.reports)
            print(
                f"  {iso(ts)}  ETH {price:8.2f}  {describe(registry)}  "
                f"cycles {len(service.reports)}"
                f"  pushes {pushes}  Aave WETH {aave.configuration(weth.address)}"
                f"  liquidations Aave {len(aave_liquidations)} pool {len(liquidations)}"
            )
    underwater = sum(
        pool.functions.debtOf(b).call()
        for b in borrowers
        if pool.functions.collateralValue(b).call() < pool.functions.debtOf(b).call()
    )
    aave_outcome = AaveOutcome(
        aave_liquidations,
        deficit(aave, aave_borrowers),
        aave_lt_at_open,
        aave.configuration(weth.address),
        sum(aave.pool.functions.getUserAccountData(b).call()[1] for b in aave_borrowers) / 1e8,
    )
    # What anyone holding the bundles can do: read every batch back from the chain and rerun it.
    verdicts = verify(registry, BundleStore(BUNDLES))
    for v in verdicts:
        if not v.ok:
            print(f"  {v.line()}")
    verified = f"verified {sum(v.ok for v in verdicts)} of {len(verdicts)} batches"
    print(verified)
    write_report(
        bars,
        service,
        keeper,
        registry,
        liquidations,
        baseline_comparison(bars, registry),
        underwater / 1e6,
        lt0,
        aave_outcome,
        verdicts,
    )
    if not all(v.ok for v in verdicts):
        raise SystemExit(f"demo: {verified}: a pushed batch does not recompute from its inputs")


@dataclass(frozen=True)
class AaveOutcome:
    liquidations: list[tuple[int, Liquidation, float]]  # (time, liquidation, ETH price)
    deficit: float  # USD of debt no collateral covers at the end
    lt_at_open: int
    final: tuple[int, int, int]
    debt_left: float  # USD

    @property
    def by_cuts(self) -> int:
        """Liquidations of borrowers safe under the threshold they borrowed under."""
        return sum(liq.loan_ratio_bps <= self.lt_at_open for _, liq, _ in self.liquidations)


def deficit(aave: AaveMarket, borrowers: list[str]) -> float:
    """Debt that collateral no longer covers (USD): what Aave v3.0.2, which keeps no deficit
    account, leaves to its reserve as bad debt."""
    total = 0
    for b in borrowers:
        coll, debt, *_ = aave.pool.functions.getUserAccountData(b).call()
        total += max(0, debt - coll)
    return total / 1e8


def baseline_comparison(bars, registry: RegistryClient) -> dict:
    """The parameter path the chain actually held (every change the keeper pushed, ramps
    included) against Aave v3's static WETH parameters, on the same window, in the reference
    lending market (borrowers arriving every hour); plus the HTML report."""
    series = bars.series
    static = aave_v3("ETH")
    pushed = registry.state_history(market_id(MARKET))
    replayed = replay(
        series,
        static,
        BacktestSettings(),
        epoch(START),
        epoch(END),
        "reference",
        bars,
        pushed=pushed,
    )
    html = write_backtest_report(replayed, MARKET, HTML_REPORT)
    print(f"backtest report written to {html.relative_to(ROOT)}")
    return replayed.summary


def describe(registry: RegistryClient) -> str:
    p = registry.parameters(market_id(MARKET)).params
    return f"LTV {p.ltv_bps} LT {p.liquidation_threshold_bps} LB {p.liquidation_bonus_bps}"


def write_report(
    bars,
    service: KeeperService,
    keeper: Keeper,
    registry,
    liquidations,
    comparison: dict,
    uncovered: float,
    lt_at_open: int,
    aave: AaveOutcome,
    verdicts: list[Verdict],
) -> None:
    lo, hi = (
        int(bars.timestamps.searchsorted(epoch(START))),
        int(bars.timestamps.searchsorted(epoch(END))),
    )
    window = [
        (int(t), float(c)) for t, c in zip(bars.timestamps[lo:hi], bars.close[lo:hi], strict=True)
    ]
    low = min(window, key=lambda p: p[1])
    reasons = Counter(why.split(":")[0] for why, _ in service.reports)
    actions = Counter(d.action.value for _, r in service.reports for d in r.decisions)
    pushes = [(r.started_at, p) for _, r in service.reports for p in r.pushes]
    mined = [(t, p) for t, p in pushes if p.status == "mined"]
    path = [
        (r.started_at, d)
        for _, r in service.reports
        for d in r.decisions
        if d.update is not None and any(p.status == "mined" for p in r.pushes)
    ]
    proposals = [
        (r.started_at, d)
        for _, r in service.reports
        for d in r.decisions
        if d.proposal is not None
        and any(p.kind == "proposal" and p.status == "mined" for p in r.pushes)
    ]
    gas = sorted(p.gas_used or 0 for _, p in mined)
    lines = [
        f"# Demo report: {MARKET} on Black Thursday (Binance 1h, {START[:10]} .. {END[:10]})",
        "",
        f"- ETH from {window[0][1]:.2f} to a low of {low[1]:.2f} ({iso(low[0])} UTC), ends at "
        f"{window[-1][1]:.2f}",
        f"- keeper cycles: {len(service.reports)} "
        f"({', '.join(f'{k} {v}' for k, v in reasons.items())});"
        f" decisions: {', '.join(f'{k} {v}' for k, v in actions.items())}",
        f"- signed pushes mined: {len(mined)} of {len(pushes)}; median gas per push: "
        f"{gas[len(gas) // 2] if gas else 0}",
        f"- Aave v3 WETH liquidations (`liquidationCall`): {len(aave.liquidations)}, of which "
        f"caused by a threshold cut (loan ratio at most the {aave.lt_at_open} bps Aave held when "
        f"the positions opened): {aave.by_cuts}; "
        f"reserve deficit (debt no collateral covers): {aave.deficit:.2f} USD; Aave WETH now "
        f"LTV {aave.final[0]} LT {aave.final[1]} bonus {aave.final[2]}",
        f"- liquidations in the example pool: {len(liquidations)}, of which caused by a "
        f"threshold cut (the borrower was safe under the threshold it borrowed under, "
        f"{lt_at_open} bps): {sum(r <= lt_at_open for *_, r in liquidations)}; debt left "
        f"uncovered by collateral: {uncovered:.2f} USDT",
        f"- final on-chain parameters: {describe(registry)}",
        f"- `oracle verify --all --bundles {BUNDLES.relative_to(ROOT)}`: verified "
        f"{sum(v.ok for v in verdicts)} of {len(verdicts)} batches (each read back from the "
        "chain, its inputsHash, the registry state it read and every value recomputed from "
        "its bundle)",
        "",
        "## Dynamic vs static (the reference lending market, same window)",
        "",
        "The dynamic side replays the parameters the chain actually held: every change the keeper "
        "pushed, read back from the registry, threshold ramps included. Static baseline: "
        f"{comparison['static_source']}. Borrowers arrive every hour (five a bar, 82-98 % of the "
        "LTV in force); fractions are of all debt originated.",
        "",
        "| side | bad debt | liquidated | caused by a cut | mean LTV bps | min LTV bps | "
        "min LT in force bps | updates |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {side} | {c['bad_debt']:.4%} | {c['liquidated']:.2%} | "
            f"{c['param_liquidated']:.2%} | {c['mean_ltv_bps']:.0f} | {c['min_ltv_bps']} | "
            f"{c['min_lt_bps']} | {c['updates']} |"
            for side, c in ((side, comparison[side]) for side in ("dynamic", "static"))
        ],
        "",
        f"The example pool on chain (five borrowers of 10 ETH, opened on {START[:10]}): "
        f"{len(liquidations)} liquidations, {uncovered:.2f} USDT of debt left uncovered by "
        "collateral: a different population from the simulated market's, so its figures are "
        "reported apart.",
        "",
        "## Registry → Aave (each sync the keeper sent through the adapter)",
        "",
        "Aave applies a change at once; the adapter holds a threshold cut to the registry's ramp "
        "(and a gap from before the hand-over to the guardrails' pace), so Aave's threshold moves "
        "in the steps the keeper's syncs take along the ramp.",
        "",
        "| time (UTC) | registry LT in force | Aave LTV | Aave LT | Aave bonus | held back |",
        "|---|---|---|---|---|---|",
        *[
            f"| {iso(r['created_at'])} | {r['registry_threshold']} | "
            f"{json.loads(r['consumer_values'])[0]} | {json.loads(r['consumer_values'])[1]} | "
            f"{json.loads(r['consumer_values'])[2]} | "
            f"{'yes' if json.loads(r['consumer_values'])[1] > r['registry_threshold'] else ''} |"
            for r in keeper.store.syncs(MARKET)
            if r["status"] == "synced"
        ],
        "",
        "## Aave liquidations",
        "",
        "| time (UTC) | borrower | repaid (USDC) | ETH price | loan ratio bps | cause |",
        "|---|---|---|---|---|---|",
        *[
            f"| {iso(ts)} | {liq.borrower} | {liq.repaid / 1e6:.2f} | {p:.2f} | "
            f"{liq.loan_ratio_bps} | "
            f"{'threshold cut' if liq.loan_ratio_bps <= aave.lt_at_open else 'price'} |"
            for ts, liq, p in aave.liquidations
        ],
        "",
        "## Parameter path (values pushed, by cycle)",
        "",
        "| time (UTC) | action | LTV bps | LT bps | LB bps | reason |",
        "|---|---|---|---|---|---|",
        *[
            f"| {iso(t)} | {d.action.value} | {d.update.ltv_bps} | "
            f"{d.update.liquidation_threshold_bps}"
            f" | {d.update.liquidation_bonus_bps} | {d.reason} |"
            for t, d in path
        ],
        "",
        "## Threshold cuts put to governance (queued behind the timelock, not executed here)",
        "",
        "| time (UTC) | proposed LTV | proposed LT | proposed LB |",
        "|---|---|---|---|",
        *[
            f"| {iso(t)} | {d.proposal.ltv_bps} | {d.proposal.liquidation_threshold_bps} | "
            f"{d.proposal.liquidation_bonus_bps} |"
            for t, d in proposals
        ],
        "",
        "## Example pool liquidations",
        "",
        "A liquidation is caused by a threshold cut when the borrower's loan ratio (debt / "
        f"collateral value) was at most the threshold it borrowed under ({lt_at_open} bps): the "
        "price alone would not have liquidated it.",
        "",
        "| time (UTC) | borrower | repaid (USDT) | ETH price | loan ratio bps | cause |",
        "|---|---|---|---|---|---|",
        *[
            f"| {iso(ts)} | {b} | {amt / 1e6:.2f} | {p:.2f} | {r} | "
            f"{'threshold cut' if r <= lt_at_open else 'price'} |"
            for ts, b, amt, p, r in liquidations
        ],
        "",
        f"Every decision, snapshot and signed payload is in `{STORE.relative_to(ROOT)}` "
        "(`oracle history` reads it with a config whose keeper.store points there).",
    ]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[2:8]))
    if path:
        lowest = min(
            path, key=lambda e: e[1].update.liquidation_threshold_bps if e[1].update else 10**9
        )
        steps = [path[0], lowest, path[-1]]
        print(
            "- LT path: "
            + " → ".join(
                f"{d.update.liquidation_threshold_bps} ({iso(t)})" for t, d in steps if d.update
            )
            + f"; {sum(1 for _, d in path if d.action.value == 'update')} updates, "
            "the rest heartbeats"
        )
    section = lines.index("## Parameter path (values pushed, by cycle)")
    print("\n".join(line for line in lines[9:section] if line))
    print(f"report written to {REPORT.relative_to(ROOT)}")
    keeper.store.close()


if __name__ == "__main__":
    main()
