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
from oracle.feeds import collect
from oracle.keeper.cycle import CycleReport, Keeper
from oracle.keeper.metrics import FIELDS, HEALTH_VALUE, Metrics
from oracle.markets import market_id
from oracle.snapshot import aggregate

log = logging.getLogger("oracle.keeper.scheduler")


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
    ) -> None:
        self.keeper, self.interval = keeper, interval
        self.price_move, self.check_every, self.vol_jump = price_move, check_every, vol_jump
        self._seen: dict[str, deque[float]] = {}  # prices the trigger checks saw, per market
        self.metrics = metrics or Metrics()
        restored = keeper.store.last_mined_at()  # a restart does not reset it to 0
        if restored is not None:
            self.metrics.last_push.set(restored)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.reports: list[tuple[str, CycleReport]] = []  # (why it ran, what it did)
        self.skipped = 0
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # Jobs -----------------------------------------------------------------------------------

    def run_cycle(self, why: str) -> CycleReport | None:
        if not self._lock.acquire(blocking=False):
            self.skipped += 1
            log.warning("cycle skipped: the previous one is still running", extra={"why": why})
            return None
        try:
            report = self.keeper.cycle()
        except OracleError as exc:
            self.metrics.cycles.labels("failed").inc()
            self.metrics.failures.labels(type(exc).__name__).inc()
            log.error("cycle failed: %s", exc, extra={"why": why})
            return None
        finally:
            self._lock.release()
        self._observe(report, why)
        return report

    def check_trigger(self) -> None:
        for setup in self.keeper.markets:
            before = self.keeper.last_snapshot(setup.market)
            if before is None or before.price is None:
                continue
            now = self.keeper.clock()
            snap = aggregate(
                setup.market,
                collect(setup.sources, now, self.keeper.feeds_timeout),
                now,
                self.keeper.health,
            )
            if snap.price is None:
                continue
            move = snap.price / before.price - 1
            if abs(move) > self.price_move:
                self.run_cycle(f"trigger: {setup.market} moved {move:+.2%} since the last cycle")
                return
            seen = self._seen.setdefault(setup.market, deque(maxlen=60))
            seen.append(snap.price)
            sigma = self.keeper.last_sigma(setup.market)
            if sigma is not None:
                ratio = volatility_jumped(seen, sigma[0], sigma[1], self.check_every, self.vol_jump)
                if ratio is not None:
                    seen.clear()
                    self.run_cycle(f"trigger: {setup.market} volatility {ratio:.1f}x the model's")
                    return

    def check_heartbeat(self) -> None:
        now = self.keeper.clock()
        for setup in self.keeper.markets:
            state = self.keeper.registry.market_state(market_id(setup.market))
            if state.updated_at and now - state.updated_at >= self.keeper.policy.heartbeat_after:
                self.run_cycle(
                    f"heartbeat: {setup.market} unchanged for {now - state.updated_at} s"
                )
                return

    def _observe(self, report: CycleReport, why: str) -> None:
        self.reports.append((why, report))
        m = self.metrics
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
            ev = self.keeper.last_evaluation(d.market)
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
            extra={"why": why, "pushes": [p.status for p in report.pushes]},
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
        self.run_cycle("start")
        self._stop.wait()
        self.stop()
