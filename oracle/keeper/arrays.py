"""The keeper's second signed path: risk arrays for portfolio margin, published beside the
parameters to `RiskArrayRegistry`.

Each cycle, after the parameters, the publisher turns the cycle's own inputs into arrays: the
markets' hourly histories (the ones the engine just read) into the 16 joint rows
(`oracle.risk.scenarios`), each market's book or pool into its depth at 1 % slippage, then
quantises them, steps them toward that target within the scenario set's guardrails as read at the
cycle's block (`oracle.policy.arrays.step_toward`, the contract's own rule), signs and submits
them. It publishes when the last arrays are `refresh` seconds old (the heartbeat, well inside the
set's `maxAge`) or sooner when a row of the target has moved `min_change_units` from what the chain
holds. The batch, its values, targets, clamping notes and row labels go to the store; a batch left
pending by a crash is settled from the chain before another is signed (`oracle.keeper.settle`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from blake3 import blake3
from eth_account.signers.local import LocalAccount

from oracle.chain.risk_arrays import RiskArrayClient
from oracle.errors import ChainError, ContractRevert, OracleError
from oracle.keeper.settle import settle
from oracle.keeper.store import ARRAYS_KIND, Store
from oracle.markets import market_id
from oracle.policy.arrays import PublishedArray, quantize, step_toward
from oracle.report.arrays import held_by_bounds, write_arrays_review
from oracle.risk.inputs import liquidity_of
from oracle.risk.liquidity import depth_at
from oracle.risk.portfolio import ReturnPanel
from oracle.risk.scenarios import ScenarioSettings, risk_arrays
from oracle.series import PriceSeries, iso
from oracle.signing import Signer, batch_inputs_hash, model_version_bytes
from oracle.signing.risk_arrays import RiskArrayBatch, RiskArrayUpdate, sign_arrays
from oracle.snapshot import MarketSnapshot

LOG = logging.getLogger("oracle.keeper")


@dataclass(frozen=True)
class ArraysSetup:
    """Which markets get arrays, under which scenario set, and how often."""

    client: RiskArrayClient
    scenario_set: int
    markets: tuple[str, ...]
    refresh: int = 3_600
    min_change_units: int = 10
    depth_slippage: float = 0.01
    settings: ScenarioSettings = field(default_factory=ScenarioSettings)


@dataclass(frozen=True)
class ArrayInputs:
    """What the cycle already holds for one market: its history, snapshot and engine inputs hash."""

    history: PriceSeries
    snapshot: MarketSnapshot
    inputs_hash: str  # the engine's, "0x…"


@dataclass(frozen=True)
class ArraysPush:
    """One arrays batch (or why none was sent)."""

    status: str  # mined, reverted, pending, skipped
    nonce: int | None
    markets: tuple[str, ...]
    tx_hash: str | None = None
    gas_used: int | None = None
    error: str | None = None


class ArrayPublisher:
    def __init__(
        self,
        setup: ArraysSetup,
        signers: Sequence[Signer],
        sender: LocalAccount | str,
        store: Store,
        clock: Callable[[], int],
        model_version: str,
        batch_ttl: int = 300,
        reviews: Path | None = None,
    ) -> None:
        self.setup, self.signers, self.sender, self.store = setup, signers, sender, store
        self.clock, self.model_version, self.batch_ttl = clock, model_version, batch_ttl
        self.reviews = reviews  # where a batch held back by the set's bounds is put to governance

    # Crash recovery ---------------------------------------------------------------------------

    def reconcile(self) -> tuple[list[str], bool]:
        """Settles arrays batches left pending against the arrays contract's own nonce."""
        client = self.setup.client
        return settle(self.store, (ARRAYS_KIND,), client.nonce, client.w3, self.clock())

    # Publication ------------------------------------------------------------------------------

    def publish(
        self,
        cycle_id: int,
        now: int,
        inputs: Mapping[str, ArrayInputs],
        block: tuple[int, int],
    ) -> tuple[ArraysPush | None, list[str]]:
        """Publishes this cycle's arrays if due; returns the push (None: not due) and notes."""
        notes, blocked = self.reconcile()
        if blocked:
            return None, [*notes, "no arrays this cycle: an earlier arrays batch may still land"]
        missing = [m for m in self.setup.markets if m not in inputs]
        if missing:
            # Rows are joint moves: an asset left out would change every other asset's rows.
            return ArraysPush("skipped", None, ()), [
                *notes,
                f"no arrays this cycle: no engine inputs for {', '.join(missing)}",
            ]
        markets = sorted(self.setup.markets, key=market_id)
        try:
            entries, rows, entry_hashes = self._entries(markets, inputs, now, block)
        except OracleError as exc:
            return ArraysPush("skipped", None, ()), [*notes, f"no arrays this cycle: {exc}"]
        if not self._due(entries, now):
            return None, notes
        return self._send(cycle_id, now, block, markets, entries, rows, entry_hashes), notes

    def _entries(
        self,
        markets: Sequence[str],
        inputs: Mapping[str, ArrayInputs],
        now: int,
        block: tuple[int, int],
    ) -> tuple[
        list[tuple[RiskArrayUpdate, PublishedArray | None]],
        list[dict[str, Any]],
        list[tuple[bytes, bytes, bytes, bytes]],
    ]:
        s = self.setup
        panel = ReturnPanel.from_series([inputs[m].history for m in markets])
        arrays = risk_arrays(panel, s.settings)
        limits = s.client.scenario_set(s.scenario_set, block=block[0])
        if not limits.active:
            raise OracleError(f"scenario set {s.scenario_set} is not active on the contract")
        entries: list[tuple[RiskArrayUpdate, PublishedArray | None]] = []
        rows: list[dict[str, Any]] = []
        hashes: list[tuple[bytes, bytes, bytes, bytes]] = []
        for i, m in enumerate(markets):
            depth = depth_at(liquidity_of(inputs[m].snapshot), s.depth_slippage)
            target = quantize(arrays.moves[i], float(arrays.floors[i]), depth)
            asset = market_id(m)
            current = s.client.published(asset, block=block[0])
            step = step_toward(target, current, limits, s.scenario_set, now)
            entries.append((RiskArrayUpdate(asset, step.values), current))
            rows.append(
                {
                    "market": m,
                    "scenario_set": s.scenario_set,
                    "moves": list(step.values.moves),
                    "floor_units": step.values.floor_units,
                    "depth_code": step.values.depth_code,
                    "target": {
                        "moves": list(target.moves),
                        "floor_units": target.floor_units,
                        "depth_usd": target.depth_usd,
                    },
                    "notes": list(step.notes),
                    "labels": list(arrays.labels),
                }
            )
            decision = {
                "block": block[0],
                "now": now,
                "scenario_set": s.scenario_set,
                "limits": asdict(limits),
                "word": None if current is None else hex(current.word()),
                "settings": asdict(s.settings),
                "depth_slippage": s.depth_slippage,
            }
            hashes.append(
                (
                    asset,
                    inputs[m].snapshot.hash(),
                    bytes.fromhex(inputs[m].inputs_hash.removeprefix("0x")),
                    blake3(json.dumps(decision, sort_keys=True).encode()).digest(),
                )
            )
        return entries, rows, hashes

    def _due(
        self, entries: Sequence[tuple[RiskArrayUpdate, PublishedArray | None]], now: int
    ) -> bool:
        """A heartbeat is due, an asset has no array under the set, or a row moved far enough."""
        s = self.setup
        last = self.store.last_mined(ARRAYS_KIND)
        if last is None or now - int(last["created_at"]) >= s.refresh:
            return True
        for update, current in entries:
            if current is None or current.scenario_set != s.scenario_set:
                return True
            if now - current.updated_at >= s.refresh:
                return True
            old, new = current.values, update.values
            moved = max(abs(a - b) for a, b in zip(old.moves, new.moves, strict=True))
            if moved >= s.min_change_units:
                return True
        return False

    def _send(
        self,
        cycle_id: int,
        now: int,
        block: tuple[int, int],
        markets: Sequence[str],
        entries: Sequence[tuple[RiskArrayUpdate, PublishedArray | None]],
        rows: Sequence[dict[str, Any]],
        hashes: list[tuple[bytes, bytes, bytes, bytes]],
    ) -> ArraysPush:
        client = self.setup.client
        nonce = client.nonce()
        # as for parameter batches: never further than the registry's batch lifetime after the
        # block that includes it, which is at or after the cycle's block and about `now`
        lifetime = client.max_batch_lifetime()
        batch = RiskArrayBatch(
            chain_id=client.chain_id(),
            nonce=nonce,
            deadline=min(now + self.batch_ttl, max(now, block[1]) + lifetime),
            inputs_hash=batch_inputs_hash(hashes),
            model_version=model_version_bytes(self.model_version),
            scenario_set=self.setup.scenario_set,
            arrays=tuple(u for u, _ in entries),
        )
        signatures = sign_arrays(batch, client.address, self.signers)
        inputs_hex = "0x" + batch.inputs_hash.hex()
        payload: dict[str, Any] = {
            "chain_id": batch.chain_id,
            "nonce": nonce,
            "deadline": batch.deadline,
            "inputs_hash": inputs_hex,
            "model_version": self.model_version,
            "scenario_set": batch.scenario_set,
            "arrays": [["0x" + a.asset.hex(), *a.as_tuple()[1:]] for a in batch.arrays],
            "signatures": ["0x" + sig.hex() for sig in signatures],
        }
        digest = "0x" + batch.digest(client.address).hex()
        push_id = self.store.record_signed(
            cycle_id, ARRAYS_KIND, nonce, digest, inputs_hex, payload, now
        )
        self.store.record_arrays(push_id, rows)
        names = tuple(markets)

        def sent(tx_hash: str) -> None:
            self.store.mark(push_id, "sent", self.clock(), tx_hash=tx_hash)

        try:
            result = client.submit(batch, signatures, self.sender, on_sent=sent)
        except ContractRevert as exc:
            self.store.mark(push_id, "reverted", self.clock(), error=str(exc), tx_hash=exc.tx_hash)
            LOG.error("arrays batch %d reverted: %s", nonce, exc)
            return ArraysPush("reverted", nonce, names, exc.tx_hash, None, str(exc))
        except ChainError as exc:  # it may still land: reconcile settles it next cycle
            return ArraysPush("pending", nonce, names, None, None, str(exc))
        self.store.mark(
            push_id,
            "mined",
            self.clock(),
            tx_hash=result.tx_hash,
            block=result.block_number,
            gas_used=result.gas_used,
        )
        if self.reviews is not None and held_by_bounds(rows):
            write_arrays_review(self.reviews, nonce, batch.scenario_set, rows, iso(now))
        return ArraysPush("mined", nonce, names, result.tx_hash, result.gas_used)
