"""One keeper for several chains: each chain has its own registry, sender, nonce and store (a
`Keeper`), and they run as one.

A cycle reads every market's feeds and price history once, for every chain (`read_markets`):
the prices and the risk are the market's, not the chain's. Then each chain's keeper judges its
markets against its own registry and pushes, on a thread of its own, so a chain that is down or
slow holds back no other: the cycle waits for the chains up to `wait` seconds and reports the
ones still running as such; a chain whose previous cycle is still running is skipped (noted),
never run twice at once; a chain whose RPC fails reports its error and the others their pushes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial

from oracle.errors import OracleError
from oracle.keeper.cycle import CycleReads, CycleReport, Keeper, MarketSetup, read_markets

LOG = logging.getLogger("oracle.keeper.chains")

#: The name the config's `chain` section goes by beside `chains` (metrics, logs, `oracle once`).
PRIMARY_CHAIN = "primary"


@dataclass(frozen=True)
class ChainOutcome:
    """What one chain's part of a cycle came to: its report, or why there is none (`error`:
    its cycle failed; `running`: still running at the wait's end; `skipped`: its previous cycle
    was still running)."""

    chain: str
    report: CycleReport | None = None
    error: OracleError | None = None
    status: str = "done"  # done, failed, running, skipped


class ChainSet:
    """The keepers of several chains (`keepers` by chain name, the first the primary), cycled as
    one. Their markets' setups may be shared: a market on several chains is read once."""

    def __init__(self, keepers: Mapping[str, Keeper], wait: float = 60.0) -> None:
        if not keepers:
            raise ValueError("a chain set needs at least one chain")
        self.keepers = dict(keepers)
        self.wait = wait
        self.primary = next(iter(self.keepers.values()))
        self._busy = {name: threading.Lock() for name in self.keepers}
        self._threads = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"chain-{name}")
            for name in self.keepers
        }

    @property
    def markets(self) -> list[MarketSetup]:
        """Every market any chain serves, once (the first chain's setup of it)."""
        seen: dict[str, MarketSetup] = {}
        for k in self.keepers.values():
            for setup in k.markets:
                seen.setdefault(setup.market, setup)
        return list(seen.values())

    def cycle(self, reads: CycleReads | None = None) -> dict[str, ChainOutcome]:
        """Reads every market once (unless `reads` holds them), then runs each idle chain's
        cycle on its own thread; returns each chain's outcome once all are done or `wait` seconds
        have passed."""
        p = self.primary
        if reads is None:
            reads = read_markets(self.markets, p.clock(), p.feeds_timeout, max(1, p.feed_workers))
        outcomes: dict[str, ChainOutcome] = {}
        running: dict[str, Future[CycleReport]] = {}
        for name, keeper in self.keepers.items():
            if not self._busy[name].acquire(blocking=False):
                LOG.warning("chain %s skipped: its previous cycle is still running", name)
                outcomes[name] = ChainOutcome(name, status="skipped")
                continue
            try:
                running[name] = self._threads[name].submit(self._run, name, keeper, reads)
            except RuntimeError:  # the set is closed
                self._busy[name].release()
                raise
        deadline = time.monotonic() + self.wait
        for name, future in running.items():
            try:
                outcomes[name] = ChainOutcome(
                    name, future.result(timeout=max(0.0, deadline - time.monotonic()))
                )
            except FutureTimeout:
                LOG.warning("chain %s still running after %.0f s", name, self.wait)
                outcomes[name] = ChainOutcome(name, status="running")
                future.add_done_callback(partial(_late, name))
            except Exception as exc:  # one chain's failure, whatever it is, is its own
                LOG.error("chain %s: cycle failed: %s", name, exc)
                failure = exc if isinstance(exc, OracleError) else OracleError(f"{exc!r}")
                outcomes[name] = ChainOutcome(name, error=failure, status="failed")
        return {name: outcomes[name] for name in self.keepers}

    def _run(self, name: str, keeper: Keeper, reads: CycleReads) -> CycleReport:
        """One chain's cycle on its thread; the chain is free again when it ends, however."""
        try:
            return keeper.cycle(reads)
        finally:
            self._busy[name].release()

    def close(self) -> None:
        """Waits for every chain's cycle in flight, then stops their threads."""
        for pool in self._threads.values():
            pool.shutdown(wait=True)


def _late(chain: str, future: Future[CycleReport]) -> None:
    """The end of a chain's cycle that outlived the wait: logged, so a late failure is seen."""
    exc = future.exception()
    if exc is not None:
        LOG.error("chain %s: cycle failed after the wait: %s", chain, exc)
    else:
        LOG.info("chain %s: cycle finished after the wait", chain)
