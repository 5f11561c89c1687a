"""What the dashboard shows, gathered from the chain (the registry: the values consumers read), the
keeper's store (decisions, feed health, pushes, liveness), the inputs bundles (verification) and
the review reports. Every figure about the registry is read from the chain at one block per page,
never from the keeper's own belief of it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oracle.audit.bundle import BundleStore
from oracle.audit.verify import Verdict, unreadable, verify_batch
from oracle.chain import RegistryClient, UnreadableBatch
from oracle.errors import ChainError, OracleError
from oracle.keeper.store import Store
from oracle.markets import market_id
from oracle.policy.rules import MarketState
from oracle.series import iso


@dataclass(frozen=True)
class MarketRow:
    """One market on the overview: the registry's values and the keeper's latest view of it."""

    market: str
    is_set: bool
    ltv_bps: int | None
    threshold_target_bps: int | None
    threshold_in_force_bps: int | None
    bonus_bps: int | None
    ramp_end: str | None  # a threshold ramp in progress ends then (ISO), None: none
    updated_at: str | None
    age_s: int | None
    stale: bool
    profile: int
    health: str | None
    health_reasons: tuple[str, ...]
    last_action: str | None
    last_reason: str | None


@dataclass(frozen=True)
class UpdateRow:
    """One signed batch the keeper sent, with its markets' values and why."""

    nonce: int
    kind: str
    status: str
    created_at: str
    markets: tuple[tuple[str, str], ...]  # (symbol, "ltv/lt/lb")
    reasons: tuple[tuple[str, str], ...]  # (symbol, the decision's reason)
    inputs_hash: str
    model_version: str
    tx_hash: str | None
    verification: str  # "verified", "MISMATCH in <field>: …", or why it was not checked
    verified: bool | None


@dataclass(frozen=True)
class ProposalRow:
    id: int
    market: str
    values: str
    status: str
    eta: str
    expires_at: str
    from_signers: bool
    reports: tuple[str, ...]  # review report file names


@dataclass(frozen=True)
class Liveness:
    last_cycle_at: str | None
    last_cycle_status: str | None
    last_cycle_note: str | None
    seconds_since: int | None
    alive: bool


@dataclass
class Dashboard:
    """The dashboard's sources. `stale_after`: seconds of chain time after which a market's value
    is shown stale; `silent_after`: seconds without a keeper cycle after which the keeper is shown
    silent."""

    registry: RegistryClient
    store_path: Path
    bundles: BundleStore
    reviews: Path
    markets: tuple[str, ...]
    stale_after: int
    silent_after: int
    clock: Any = None  # wall clock for liveness (the keeper cycles by it); None: time.time
    _verdicts: dict[tuple[int, str], Verdict] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # Sources --------------------------------------------------------------------------------

    def store(self) -> Store:
        """A read-only connection per request: the keeper keeps writing beside it."""
        return Store(self.store_path, read_only=True)

    def names(self) -> dict[bytes, str]:
        return {market_id(m): m for m in self.markets}

    def block(self) -> tuple[int, int]:
        try:
            b = self.registry.w3.eth.get_block("latest")
        except Exception as exc:  # web3 and requests raise unrelated types for a node that is down
            raise ChainError(f"cannot read the latest block: {exc}") from None
        return int(b["number"]), int(b["timestamp"])

    def now(self) -> int:
        import time

        return int(self.clock() if self.clock else time.time())

    # Views ----------------------------------------------------------------------------------

    def overview(
        self, markets: tuple[str, ...] | None = None
    ) -> tuple[list[MarketRow], Liveness, int]:
        """Rows of `markets` (default: all) at one block, keeper liveness and the block's time."""
        number, chain_time = self.block()
        store = self.store()
        try:
            rows = [self._market_row(store, m, number, chain_time) for m in markets or self.markets]
            live = self.liveness(store)
        finally:
            store.close()
        return rows, live, chain_time

    def _market_row(self, store: Store, market: str, block: int, chain_time: int) -> MarketRow:
        mid = market_id(market)
        state = self.registry.market_state(mid, block)
        latest = store.decisions(market, 1)
        decision = latest[0] if latest else None
        reasons: tuple[str, ...] = ()
        if decision is not None:
            snap = store.db.execute(
                "SELECT snapshot FROM decisions WHERE id = ?", (decision["id"],)
            ).fetchone()
            reasons = tuple(json.loads(snap[0]).get("reasons", ())) if snap else ()
        age = chain_time - state.updated_at if state.is_set else None
        return MarketRow(
            market=market,
            is_set=state.is_set,
            ltv_bps=state.ltv_bps if state.is_set else None,
            threshold_target_bps=state.target_liquidation_threshold_bps if state.is_set else None,
            threshold_in_force_bps=state.threshold_at(chain_time) if state.is_set else None,
            bonus_bps=state.liquidation_bonus_bps if state.is_set else None,
            ramp_end=iso(state.ramp_end) if state.ramp_end > chain_time else None,
            updated_at=iso(state.updated_at) if state.is_set else None,
            age_s=age,
            stale=age is None or age > self.stale_after,
            profile=state.guardrail_profile,
            health=None if decision is None else decision["health"],
            health_reasons=reasons,
            last_action=None if decision is None else decision["action"],
            last_reason=None if decision is None else decision["reason"],
        )

    def liveness(self, store: Store) -> Liveness:
        last = store.last_cycle()
        if last is None:
            return Liveness(None, None, None, None, False)
        since = self.now() - int(last["finished_at"] or last["started_at"])
        return Liveness(
            iso(last["started_at"]),
            last["status"],
            last["note"],
            since,
            since <= self.silent_after and last["status"] != "failed",
        )

    def updates(self, market: str | None = None, limit: int = 20) -> list[UpdateRow]:
        names = self.names()
        store = self.store()
        try:
            pushes = store.pushes(limit * 4 if market else limit)
            rows = []
            for p in pushes:
                payload = json.loads(p["payload"])
                markets = tuple(
                    (names.get(bytes.fromhex(u[0][2:]), u[0]), f"{u[1]}/{u[2]}/{u[3]}")
                    for u in payload["updates"]
                )
                if market is not None and market not in dict(markets):
                    continue
                reasons = tuple(
                    (m, self._reason(store, p["cycle_id"], m))
                    for m, _ in markets
                    if m in names.values()
                )
                verdict = self.verdict(p) if p["status"] == "mined" else None
                rows.append(
                    UpdateRow(
                        nonce=p["nonce"],
                        kind=p["kind"],
                        status=p["status"],
                        created_at=iso(p["created_at"]),
                        markets=markets,
                        reasons=reasons,
                        inputs_hash=payload["inputs_hash"],
                        model_version=payload["model_version"],
                        tx_hash=p["tx_hash"],
                        verification=_describe(verdict, p["status"]),
                        verified=None if verdict is None else verdict.ok,
                    )
                )
                if len(rows) == limit:
                    break
        finally:
            store.close()
        return rows

    @staticmethod
    def _reason(store: Store, cycle_id: int, market: str) -> str:
        row = store.db.execute(
            "SELECT reason FROM decisions WHERE cycle_id = ? AND market = ?", (cycle_id, market)
        ).fetchone()
        return "" if row is None else str(row[0])

    def verdict(self, push: dict[str, Any]) -> Verdict | None:
        """The batch's verification. A verdict on content (verified, or a field that differs) is
        kept: a mined batch and its bundle do not change. One that could not be reached (the node
        down, the bundle not there yet) is not, so the next view tries again."""
        key = (int(push["nonce"]), str(push["tx_hash"]))
        with self._lock:
            if key in self._verdicts:
                return self._verdicts[key]
        try:
            found = self.registry.batches(tx_hash=key[1])
        except OracleError as exc:
            return Verdict(key[0], str(push["kind"]), key[1], 0, "", (), False, "chain", str(exc))
        if len(found) != 1:
            detail = f"{len(found)} batches in tx {key[1]}"
            return Verdict(key[0], str(push["kind"]), key[1], 0, "", (), False, "chain", detail)
        [batch] = found
        if isinstance(batch, UnreadableBatch):
            verdict = unreadable(batch)
        else:
            verdict = verify_batch(batch, self.bundles, self.registry)
        if verdict.ok or verdict.field not in ("chain", "bundle"):
            with self._lock:
                self._verdicts[key] = verdict
        return verdict

    def proposals(self) -> list[ProposalRow]:
        names = self.names()
        _, chain_time = self.block()
        out = []
        for pid in reversed(range(self.registry.proposal_count())):
            p = self.registry.proposal(pid)
            status = p.status_name if p.status != 1 or p.pending_at(chain_time) else "expired"
            reports = (
                tuple(sorted(r.name for r in self.reviews.glob(f"proposal-{pid}-*")))
                if self.reviews.is_dir()
                else ()
            )
            out.append(
                ProposalRow(
                    pid,
                    names.get(p.market, "0x" + p.market.hex()),
                    str(p.params),
                    status,
                    iso(p.eta),
                    iso(p.expires_at),
                    p.from_signers,
                    reports,
                )
            )
        return out

    def path(self, market: str) -> tuple[list[tuple[int, MarketState]], list[tuple[int, float]]]:
        """The market's parameter path as the registry held it (every write, from its events)
        and the prices the keeper's snapshots saw."""
        history = self.registry.state_history(market_id(market))
        store = self.store()
        try:
            prices = store.prices(market)
        finally:
            store.close()
        return history, prices


def _describe(verdict: Verdict | None, status: str) -> str:
    if verdict is None:
        return f"not on chain ({status})"
    if verdict.ok:
        return "verified"
    return f"MISMATCH in {verdict.field}: {verdict.detail}"
