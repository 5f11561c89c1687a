"""Reaction latency of the keeper: from a price shock at the venues to the tightening update mined.

Anvil runs with 1-second blocks (`--block-time 1`, Anvil's fastest; `--block-time 12` for Ethereum's
slot), so "within two blocks" is a wall-clock claim.
Each trial deploys a fresh registry, lets the keeper push its first values with three emulated
venues replaying ETH/USDT at 00:00 on 12 March 2020, then jumps the venues to 12:00 (ETH about
20 % lower) and measures, until the update is mined: seconds, and Anvil blocks between the last
block before the shock and the block that holds the update.

Two keepers in the same run: `triggered` (price-move trigger checked every 0.25 s, schedule every
60 s) and the baseline `scheduled` (the same keeper without the trigger, a cycle every 10 s — a
short schedule; the 5-minute production default would wait 30 times longer). Prints one JSON line
per keeper with medians over the trials.

Then the same shock on `--markets` markets at once (500 by default): three venues in processes of
their own listing one symbol per market (all replaying ETH/USDT), one client per venue, Multicall3
reads, each market's history read as the keeper reads it (`IncrementalHistory`, kept in the
store); the triggered keeper, whose cycle decides from the prices its trigger check read and sends
its batches back to back; measured until every market's response is mined (seconds, and blocks
from the last block before the shock to the block of the last batch; the phases of the response
from the keeper's log: the check that saw the move, the cycle's reads, its evaluations, its
sending; `by_block`: for each block after the shock that holds a batch, how many and their gas
used). As in the one-market trials (which wait for the
registry's next batch nonce), a response is a signed batch of either kind: an update, or, for a
cut beyond the guardrails, a proposal to governance.
Run with `make bench-reaction`.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataclasses import replace

from oracle.chain import Transactor
from oracle.devnet.accounts import dev_account
from oracle.devnet.anvil import AnvilNode
from oracle.devnet.emulator import EmulatorProcess, ExchangeEmulator
from oracle.devnet.registry import deploy_registry
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.history import IncrementalHistory
from oracle.feeds.marketdata import shipped_bars
from oracle.feeds.venue import Venue
from oracle.keeper.cycle import Keeper, MarketSetup
from oracle.keeper.scheduler import KeeperService
from oracle.keeper.store import Store
from oracle.multicall import MULTICALL3_ADDRESS
from oracle.signing import Signer
from oracle.types import BLUE_CHIP_GUARDRAILS

MARKET = "ETH/USDT"
RECORDING = "ohlcv/1h/ETHUSDT.csv.gz"
TRIALS = 5
BEFORE, AFTER = "2020-03-12T00:00:00", "2020-03-12T12:00:00"
#: The blue-chip profile without a ramp: the reaction measured is the keeper's, not the ramp's.
GUARDRAILS = replace(BLUE_CHIP_GUARDRAILS, threshold_ramp_duration=0)


def wall_clock() -> int:
    return int(time.time())


def epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso + "+00:00").timestamp())


def trial(w3, bars, triggered: bool, workdir: Path, n: int) -> tuple[float, int]:
    gov = w3.eth.accounts[0]
    signer = Signer(dev_account(5))
    registry = deploy_registry(
        w3, gov, signers=[signer.address], markets=[MARKET], guardrails=GUARDRAILS
    )
    offset = int(time.time()) - epoch(BEFORE)
    venues = [
        ExchangeEmulator({"ETHUSDT": ("ETH", "USDT", bars)}, offset=offset).start()
        for _ in range(3)
    ]
    try:
        sources = [
            ExchangeSource(f"v{i}", MARKET, Venue("binance", v.url), MARKET, max_age=7_200)
            for i, v in enumerate(venues)
        ]
        setup = MarketSetup(MARKET, sources, lambda: sources[0].history("1h", 1_000), 1_000.0)
        keeper = Keeper(registry, [signer], gov, Store(workdir / f"{triggered}-{n}.db"), [setup])
        service = KeeperService(
            keeper,
            interval=60 if triggered else 10,
            price_move=0.03,
            check_every=0.25 if triggered else 3_600,
        )
        service.run_cycle("first values")
        service.start()
        time.sleep(1.0)
        block0 = w3.eth.block_number
        shock_at = time.monotonic()
        for v in venues:  # the venues now print 12 hours later: the slide of 12 March
            v.offset = offset - (epoch(AFTER) - epoch(BEFORE))
        while registry.nonce() < 2:
            time.sleep(0.02)
        seconds = time.monotonic() - shock_at
        service.stop()
        mined = next(p for p in keeper.store.pushes() if p["status"] == "mined")
        block = w3.eth.get_transaction_receipt(mined["tx_hash"])["blockNumber"]
        return seconds, block - block0
    finally:
        for v in venues:
            v.stop()


def trial_many(w3, workdir: Path, n: int) -> dict[str, object]:
    """The shock on `n` markets: seconds and blocks until every market's update is mined."""
    gov = w3.eth.accounts[0]
    signer = Signer(dev_account(5))
    names = [f"B{i:03d}/USDT" for i in range(n)]
    registry = deploy_registry(
        w3, gov, signers=[signer.address], markets=names, guardrails=GUARDRAILS
    )
    offset = int(time.time()) - epoch(BEFORE)
    listing = {name.replace("/", ""): (name.split("/")[0], "USDT", RECORDING) for name in names}
    venues = [EmulatorProcess(listing, None, offset) for _ in range(3)]
    try:
        for v in venues:
            v.start()
        shared = [Venue("binance", v.url) for v in venues]
        for venue in shared:
            venue.exchange.enableRateLimit = False  # a local emulator
        store = Store(workdir / f"many-{n}.db")
        setups = []
        for name in names:
            feeds = [
                ExchangeSource(f"v{k}", name, shared[k], name, max_age=7_200) for k in range(3)
            ]
            # The keeper's own history (`IncrementalHistory`, kept in the store): fetched whole
            # at the first cycle, then only new bars. The shock (the replay 12 hours on) lands
            # in the hour in progress: the held bars stay, and the bar in progress closes at the
            # crashed price — a 20 % fall within the hour, as a flash crash is.
            history = IncrementalHistory(feeds[0], "1h", 1_000, store, wall_clock)
            setups.append(MarketSetup(name, feeds, history, 1_000.0))
        # A local key sends, as in production (EIP-1559, its transactions re-broadcast if the
        # node drops them); the one-market trials keep Anvil's unlocked account.
        sender = dev_account(6)
        keeper = Keeper(registry, [signer], sender, store, setups, multicall=MULTICALL3_ADDRESS)
        # When each cycle starts and when it starts sending: the phases of the response.
        cycles: list[float] = []
        sends: list[float] = []
        cycle = keeper.cycle

        def timed_cycle(reads=None):
            cycles.append(time.monotonic())
            return cycle(reads)

        def timed_send_all(self, calls, on_sent=None, on_outcome=None):
            sends.append(time.monotonic())
            return send_all(self, calls, on_sent, on_outcome)

        keeper.cycle = timed_cycle
        send_all = Transactor.send_all
        Transactor.send_all = timed_send_all
        service = KeeperService(keeper, interval=3_600, price_move=0.03, check_every=0.25)
        first = time.monotonic()
        service.run_cycle("first values")
        first_seconds = time.monotonic() - first
        service.start()
        time.sleep(2.0)
        block0 = w3.eth.block_number
        seen = {report.cycle_id for _why, report in service.reports}
        shock_at = time.monotonic()
        for v in venues:
            v.offset = offset - (epoch(AFTER) - epoch(BEFORE))
        tightened: set[str] = set()
        kinds: dict[str, int] = {}
        blocks: list[int] = []
        gas: list[int] = []  # each mined batch's gas used, as `blocks` lists their blocks
        missed: list[str] = []
        while len(tightened) < n and time.monotonic() - shock_at < 300:
            for _why, report in list(service.reports):
                if report.cycle_id in seen:
                    continue
                seen.add(report.cycle_id)
                for p in report.pushes:
                    if p.status == "mined":
                        kinds[p.kind] = kinds.get(p.kind, 0) + len(p.markets)
                        tightened.update(p.markets)
                        blocks.append(w3.eth.get_transaction_receipt(p.tx_hash)["blockNumber"])
                        gas.append(p.gas_used or 0)
                    else:  # every batch that did not land, and why
                        missed.append(f"{p.kind} {p.status} ({len(p.markets)}): {p.error}")
            time.sleep(0.02)
        seconds = time.monotonic() - shock_at
        service.stop()
        Transactor.send_all = send_all
        store.close()
        by_block: dict[int, list[int]] = {}
        for b, g in zip(blocks, gas, strict=True):
            by_block.setdefault(b - block0, []).append(g)
        response = [t for t in cycles if t > shock_at][:1]
        sending = [t for t in sends if response and t > response[0]][:1]
        return {
            "keeper": f"triggered, {n} markets",
            "seconds": round(seconds, 2),
            "blocks": max(blocks) - block0 if blocks else None,
            "markets_answered": len(tightened),
            "markets_by_batch_kind": kinds,
            "batches": len(blocks),
            # per block after the shock: [blocks after, batches in it, their gas used]
            "by_block": [[b, len(g), sum(g)] for b, g in sorted(by_block.items())],
            "not_mined": missed,
            "first_cycle_seconds": round(first_seconds, 2),
            # shock → the cycle the trigger check started (the check's reads included)
            "to_cycle_seconds": round(response[0] - shock_at, 2) if response else None,
            # that cycle's start → its first batch sent (reads, evaluations, signing)
            "to_send_seconds": round(sending[0] - response[0], 2) if sending else None,
            # first batch sent → the last mined
            "sent_to_mined_seconds": round(shock_at + seconds - sending[0], 2) if sending else None,
        }
    finally:
        for v in venues:
            v.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=500)
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument(
        "--block-time",
        type=int,
        default=1,
        help="Anvil's seconds per block (1: a fast L2's pace; 12: Ethereum's slot)",
    )
    args = parser.parse_args()
    # A trigger check that finds a cycle running is skipped by design; APScheduler warns of it.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logging.getLogger("oracle").setLevel(logging.ERROR)
    bars = shipped_bars(RECORDING, MARKET)
    node = AnvilNode(block_time=args.block_time, extra_args=["--gas-limit", "30000000"])
    with node as w3, tempfile.TemporaryDirectory() as tmp:
        for triggered in (True, False) if args.trials else ():
            samples = [trial(w3, bars, triggered, Path(tmp), n) for n in range(args.trials)]
            seconds = [s for s, _ in samples]
            blocks = [b for _, b in samples]
            print(
                json.dumps(
                    {
                        "keeper": "triggered" if triggered else "scheduled (10 s, baseline)",
                        "trials": args.trials,
                        "median_seconds": round(statistics.median(seconds), 2),
                        "max_seconds": round(max(seconds), 2),
                        "median_blocks": statistics.median(blocks),
                        "max_blocks": max(blocks),
                    }
                ),
                flush=True,
            )
        if args.markets:
            result = trial_many(w3, Path(tmp), args.markets)
            print(json.dumps({**result, "block_seconds": args.block_time}), flush=True)


if __name__ == "__main__":
    main()
