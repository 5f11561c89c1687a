"""The scheduled keeper: APScheduler jobs around `Keeper.cycle`.

- `cycle`: every `interval` seconds.
- `trigger`: every `check_every` seconds, reads the feeds only; runs a cycle at once when a market's
  price has moved more than `price_move` since the last cycle's snapshot, or when the volatility of
  the prices seen by these checks exceeds `vol_jump` times what the last cycle's σ predicts for
  that spacing (`volatility_jumped`).
- `heartbeat`: when a market's on-chain `updatedAt` is older than the policy's `heartbeat_after`,
  runs a cycle (the policy then sends the heartbeat).

Cycles never overlap: one lock guards them, and a cycle asked for while another runs is logged and
skipped, not queued (APScheduler's `max_instances=1`, `coalesce=True` do the same for each job).
A failing cycle (RPC outage, feed trouble) is logged and counted; the next one runs as scheduled.
SIGINT/SIGTERM stop the scheduler after the cycle in flight has finished.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from apscheduler.schedulers.background import BackgroundScheduler

from oracle.errors import OracleError
from oracle.feeds import SourceResult, collect, collect_all
from oracle.keeper.chains import PRIMARY_CHAIN as PRIMARY
from oracle.keeper.chains import ChainOutcome, ChainSet
from oracle.keeper.cycle import CycleReport, Keeper, read_markets
from oracle.keeper.metrics import FIELDS, HEALTH_VALUE, Metrics
from oracle.markets import market_id
from oracle.snapshot import Health, aggregate

log = logging.getLogger("oracle.keeper.scheduler")

#: After a cycle a trigger started has failed (a chain down), the checks read and start nothing for
#: one check interval, doubling with each further failure up to this many intervals: in an outage a
#: moved market would otherwise start a cycle — reading every market's feeds — at every check. The
#: schedule still runs, and any cycle that succeeds ends the rest.
TRIGGER_REST_MAX = 4


def volatility_jumped(
    prices: Sequence[float],
    sigma_per_bar: float,
    bar_seconds: int,
    check_every: float,
    factor: float,
) -> float | None:
    """The ratio realized / expected volatility of the trigger checks' prices when it exceeds
    `factor`, else None. Expected per check: σ_bar·√(check_every / bar_seconds); realized: the root
    mean square of the log changes between checks (at least 10 of them)."""
    if len(prices) < 11 or sigma_per_bar <= 0:
        return None
    changes = np.diff(np.log(np.asarray(prices, dtype=np.float64)))
    realized = float(np.sqrt(np.mean(changes * changes)))
    expected = sigma_per_bar * math.sqrt(check_every / bar_seconds)
    ratio = realized / expected
    return ratio if ratio > factor else None


class KeeperService:
    def __init__(
        self,
        keeper: Keeper,
        *,
        interval: float,
        price_move: float,
        check_every: float,
        vol_jump: float = 3.0,
        metrics: Metrics | None = None,
        chains: ChainSet | None = None,
        keep_reports: int | None = 10,
    ) -> None:
        """`chains`: the keepers of several chains, `keeper` their primary: each cycle runs them
        all (`ChainSet.cycle`), each chain observed in its own metrics (`chain_metrics`)."""
        self.keeper, self.interval = keeper, interval
        self.chains = chains
        self.price_move, self.check_every, self.vol_jump = price_move, check_every, vol_jump
        self._seen: dict[str, deque[float]] = {}  # prices the trigger checks saw, per market
        self._recovering: set[str] = set()  # read healthy again after unhealthy cycles: re-decided
        # each market's price at its last healthy cycle, from the store at start: after a restart
        # a market read unhealthy by the first cycle is compared with where it stood before
        self._rest_until = 0.0  # no triggered cycle before (clock seconds): the last one failed
        self._failed_triggers = 0
        self._healthy: dict[str, float] = {
            setup.market: price
            for setup in keeper.markets
            if (price := keeper.store.last_healthy_price(setup.market)) is not None
        }
        self.metrics = metrics or Metrics()
        self.chain_metrics = {PRIMARY: self.metrics}
        if chains is not None:
            self.chain_metrics = {
                name: self.metrics if k is keeper else Metrics()
                for name, k in chains.keepers.items()
            }
        for name, m in self.chain_metrics.items():
            restored = self._keeper(name).store.last_mined_at()  # a restart does not reset it
            if restored is not None:
                m.last_push.set(restored)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # (why it ran, what it did) of the primary chain's last `keep_reports` cycles (None: all):
        # bounded, so a long run's memory is not (a 500-market report holds every snapshot)
        self.reports: deque[tuple[str, CycleReport]] = deque(maxlen=keep_reports)
        self.skipped = 0
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # Jobs -----------------------------------------------------------------------------------

    def _keeper(self, chain: str) -> Keeper:
        return self.keeper if self.chains is None else self.chains.keepers[chain]

    def run_cycle(
        self, why: str, seen: dict[str, list[SourceResult]] | None = None
    ) -> CycleReport | None:
        """One cycle (of every chain); the primary chain's report, None when it has none.
        `seen`: the feeds by market a trigger check read just now for the markets that set it off
        — the cycle decides those from these prices, not from a second read of them, and reads
        every other market itself, at its own moment (the markets it reads again are stamped
        then; the check's readings are moments old, within every source's age)."""
        if not self._lock.acquire(blocking=False):
            self.skipped += 1
            log.warning("cycle skipped: the previous one is still running", extra={"why": why})
            return None
        try:
            k = self.keeper
            if self.chains is None:
                try:
                    reads = None
                    if seen is not None and k.feed_workers > 0:
                        now = k.clock()
                        reads = read_markets(k.markets, now, k.feeds_timeout, k.feed_workers, seen)
                    outcomes = {PRIMARY: ChainOutcome(PRIMARY, k.cycle(reads))}
                except OracleError as exc:
                    outcomes = {PRIMARY: ChainOutcome(PRIMARY, error=exc, status="failed")}
            else:
                shared = None
                if seen is not None:
                    now = k.clock()
                    workers = max(1, k.feed_workers)
                    shared = read_markets(self.chains.markets, now, k.feeds_timeout, workers, seen)
                outcomes = self.chains.cycle(shared)
        finally:
            self._lock.release()
        # Every market was just judged afresh: the prices the checks saw before it say nothing
        # about the new σ (kept, 500 markets would each trigger the same storm in turn).
        self._seen.clear()
        report = outcomes[PRIMARY].report if PRIMARY in outcomes else None
        if report is not None:
            self._rest_until, self._failed_triggers = 0.0, 0
        for market, snap in ({} if report is None else report.snapshots).items():
            if snap.health == Health.OK and snap.price is not None:
                self._healthy[market] = snap.price
        primary = None
        for name, outcome in outcomes.items():
            m = self.chain_metrics[name]
            if outcome.report is not None:
                self._observe(outcome.report, why, m, self._keeper(name), name)
                if self._keeper(name) is self.keeper:
                    primary = outcome.report
            elif outcome.error is not None:
                m.cycles.labels("failed").inc()
                m.failures.labels(type(outcome.error).__name__).inc()
                log.error("cycle failed: %s", outcome.error, extra={"why": why, "chain": name})
            else:
                m.cycles.labels(outcome.status).inc()
        return primary

    def check_trigger(self) -> None:
        """Reads every watched market's feeds (one collection) and runs a cycle when any moved
        more than `price_move` or its volatility jumped, or read healthy where the last cycle read
        it degraded or failed. The cycle decides the markets that set it off from the prices this
        check read (when that read is healthy), and reads the others again: a check's reads are
        not one instant (a venue's tickers come in chunks, its books one by one), and a move that
        lands while the check is reading shows in some markets and not yet in the rest — decided
        from this check's prices, those would wait for a second cycle, which starts only when
        this one has sent and mined everything.

        A market decided from a degraded read (a venue lagging a move, dropped as diverging) may
        only tighten, from a history that may not show the move; its snapshot then holds the moved
        price, so no later check sees a move, and it would wait for the schedule. Read healthy
        again more than `price_move` from its last healthy cycle's price, it is decided again. Not
        when it has not moved: at 500 markets some venue times out in most cycles, and a cycle
        for each would run them back to back for nothing a degraded decision missed. And once
        per spell of unhealthy cycles (`_recovering`, marked only when a cycle decided it), so a
        venue that flaps between checks and cycles costs one extra cycle, not one per check."""
        k = self.keeper
        watched = [
            (setup, before)
            for setup in k.markets
            if (before := k.last_snapshot(setup.market)) is not None
        ]
        now = k.clock()
        if now < self._rest_until:  # the last triggered cycle failed (`TRIGGER_REST_MAX`)
            return
        if k.feed_workers > 0:  # one collection: a ticker request per venue, not per market
            groups = [setup.sources for setup, _ in watched]
            reads = collect_all(groups, now, k.feeds_timeout, k.feed_workers)
        else:
            reads = [collect(setup.sources, now, k.feeds_timeout) for setup, _ in watched]
        reasons: dict[str, str] = {}  # the markets that set the cycle off, and why
        whole: set[str] = set()  # the markets this check read healthy: decided from its read
        recovered: set[str] = set()  # read healthy again after moving while unhealthy
        for (setup, before), results in zip(watched, reads, strict=True):
            market = setup.market
            if before.health == Health.OK:
                self._recovering.discard(market)  # its last cycle read it healthy
            snap = aggregate(market, results, now, k.health)
            if snap.price is None:
                continue
            if snap.health == Health.OK:
                whole.add(market)
                healthy = self._healthy.get(market)
                if (
                    before.health != Health.OK
                    and market not in self._recovering
                    and (healthy is None or abs(snap.price / healthy - 1) > self.price_move)
                ):
                    recovered.add(market)
                    reasons[market] = (
                        f"{market} read healthy again ({before.health} at the last cycle)"
                        + ("" if healthy is None else f", {snap.price / healthy - 1:+.2%} since")
                    )
                    continue
            if before.price is None:
                continue
            move = snap.price / before.price - 1
            if abs(move) > self.price_move:
                reasons[market] = f"{market} moved {move:+.2%} since the last cycle"
                continue
            seen_prices = self._seen.setdefault(market, deque(maxlen=60))
            seen_prices.append(snap.price)
            sigma = self.keeper.last_sigma(market)
            if sigma is not None:
                ratio = volatility_jumped(
                    seen_prices, sigma[0], sigma[1], self.check_every, self.vol_jump
                )
                if ratio is not None:
                    seen_prices.clear()
                    reasons[market] = f"{market} volatility {ratio:.1f}x the model's"
        if not reasons:
            return
        first, *more = reasons.values()
        why = f"trigger: {first}" + (f" (and {len(more)} more markets)" if more else "")
        # A market the move reached on some venues only (the others dropped as diverging) is read
        # again too: decided from this read it would be DEGRADED (tightening only), its history
        # (one venue's, the bar in progress closed at that venue's last trade) possibly without
        # the move, and the next check would compare against the moved price and not see it.
        feeds = {
            setup.market: list(r)
            for (setup, _), r in zip(watched, reads, strict=True)
            if setup.market in reasons and setup.market in whole
        }
        skipped = self.skipped
        report = self.run_cycle(why, feeds)
        # Marked only where the cycle decided the market: a cycle skipped (one was running) or
        # failed (a chain error) re-decided nothing, and a later check asks again.
        if report is not None:
            self._recovering |= recovered & report.snapshots.keys()
        elif self.skipped == skipped:  # failed: rest before the next triggered cycle
            self._failed_triggers += 1
            rest = self.check_every * min(TRIGGER_REST_MAX, 2 ** (self._failed_triggers - 1))
            self._rest_until = k.clock() + rest
            log.warning("triggered cycle failed: the checks start none for %.0f s", rest)

    def check_heartbeat(self) -> None:
        now = self.keeper.clock()
        for name in self.chain_metrics:
            keeper = self._keeper(name)
            for setup in keeper.markets:
                try:
                    state = keeper.registry.market_state(market_id(setup.market))
                except OracleError as exc:  # a chain that is down is the cycle's to report
                    log.warning("heartbeat check: %s", exc, extra={"chain": name})
                    break
                if state.updated_at and now - state.updated_at >= keeper.policy.heartbeat_after:
                    self.run_cycle(
                        f"heartbeat: {setup.market} unchanged for {now - state.updated_at} s"
                        + ("" if name == PRIMARY else f" on {name}")
                    )
                    return

    def _observe(
        self, report: CycleReport, why: str, m: Metrics, keeper: Keeper, chain_name: str
    ) -> None:
        if keeper is self.keeper:
            self.reports.append((why, report))
        m.cycles.labels("done").inc()
        m.last_cycle.set(report.started_at)
        for market, snap in report.snapshots.items():
            m.health.labels(market).set(HEALTH_VALUE[snap.health])
        pushed = {
            market
            for p in report.pushes
            if p.kind == "update" and p.status == "mined"
            for market in p.markets
        }
        for d in report.decisions:
            ev = keeper.last_evaluation(d.market)
            if ev is None:
                continue
            chain = ev.chain
            values = d.update if d.market in pushed else chain.values if chain else None
            for label, name in FIELDS:
                if values is not None:
                    m.parameter.labels(d.market, label).set(getattr(values, name))
                if ev.recommendation is not None:
                    m.recommended.labels(d.market, label).set(getattr(ev.recommendation, name))
            if d.market in pushed:
                m.age.labels(d.market).set(0)
            elif chain is not None and chain.values is not None:
                chain_now = report.started_at if chain.chain_time is None else chain.chain_time
                m.age.labels(d.market).set(chain_now - chain.updated_at)
        for p in report.pushes:
            m.pushes.labels(p.kind, p.status).inc()
            if p.status == "mined":
                m.last_push.set(report.started_at)
                m.gas.inc(p.gas_used or 0)
        log.info(
            "cycle %d: %s",
            report.cycle_id,
            "; ".join(f"{d.market} {d.action.value} ({d.reason})" for d in report.decisions),
            extra={"why": why, "chain": chain_name, "pushes": [p.status for p in report.pushes]},
        )

    # Life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.scheduler.add_job(
            self.run_cycle, "interval", seconds=self.interval, args=["schedule"], id="cycle"
        )
        self.scheduler.add_job(
            self.check_trigger, "interval", seconds=self.check_every, id="trigger"
        )
        self.scheduler.add_job(
            self.check_heartbeat,
            "interval",
            seconds=max(1.0, self.keeper.policy.heartbeat_after / 4),
            id="heartbeat",
        )
        self.scheduler.start()
        log.info(
            "keeper started", extra={"interval": self.interval, "markets": len(self.keeper.markets)}
        )

    def stop(self) -> None:
        """Stops the jobs; waits for a cycle in flight to finish."""
        self.scheduler.shutdown(wait=True)
        # A cycle started outside the scheduler (run_cycle called directly) holds the lock: taking
        # it means that cycle has finished too.
        self._lock.acquire()
        self._lock.release()
        log.info("keeper stopped")

    def run_forever(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            log.info("signal %d: stopping after the cycle in flight", signum)
            self._stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        self.start()
        try:  # the jobs stop, whatever ends this, before the caller closes what they use
            self.run_cycle("start")
            self._stop.wait()
        finally:
            self.stop()
