"""The Aave v3 risk adapter (`contracts/adapters/AaveV3RiskAdapter.sol`) from Python: deploy it,
link markets to reserves, sync, and read what a sync would do.

The unit mapping and the ramp bound are the contract's; `to_aave` mirrors the mapping for tools
that show a council what Aave will hold (the adapter's tests prove the two agree)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from oracle.artifacts import load as load_artifact
from oracle.chain import ErrorDecoder, RegistryClient, Transactor, TxResult, deploy_contract
from oracle.markets import market_id
from oracle.types import BPS

ADAPTER = "AaveV3RiskAdapter"


def to_aave(ltv_bps: int, threshold_bps: int, bonus_bps: int) -> tuple[int, int, int]:
    """Registry values in Aave's units: LTV and threshold unchanged, the bonus as 10,000 + the
    liquidator's discount, capped so threshold x bonus stays within 100 % (Aave's own check)."""
    discount = bonus_bps if threshold_bps == 0 else min(bonus_bps, BPS * BPS // threshold_bps - BPS)
    return min(ltv_bps, threshold_bps), threshold_bps, BPS + discount


class SkipReason(IntEnum):
    """Mirror of the contract's `SkipReason`."""

    NOT_MAPPED = 0
    REGISTRY_REJECTED = 1
    AAVE_REJECTED = 2


@dataclass(frozen=True)
class Synced:
    """One reserve a sync changed (Aave's units)."""

    market: bytes
    asset: str
    values: tuple[int, int, int]
    previous: tuple[int, int, int]
    registry_threshold: int

    @property
    def held_back(self) -> bool:
        """Whether the ramp bound kept Aave's threshold above the registry's."""
        return self.values[1] > self.registry_threshold


@dataclass(frozen=True)
class Skipped:
    market: bytes
    reason: SkipReason
    detail: str  # the decoded revert ("StaleParameters(...)", "Error(20)") or ""


@dataclass(frozen=True)
class SyncReport:
    tx: TxResult
    synced: list[Synced]
    skipped: list[Skipped]


@dataclass(frozen=True)
class Preview:
    """What a sync of one market would write now."""

    values: tuple[int, int, int]
    changes: bool
    skipped: SkipReason | None


class RiskAdapterClient:
    """An `AaveV3RiskAdapter` at `address`, read and driven through web3.py."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(
            address=self.address, abi=load_artifact(ADAPTER)["abi"]
        )
        registry = RegistryClient(w3, self.contract.functions.registry().call())
        self._decoders = (registry.errors, ErrorDecoder(load_artifact(ADAPTER)["abi"]))

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        sender: LocalAccount | str,
        *,
        registry: str,
        addresses_provider: str,
        max_age: int,
    ) -> RiskAdapterClient:
        """Deploys an adapter (it still needs RISK_ADMIN from Aave's ACL admin)."""
        contract, _ = deploy_contract(
            w3,
            sender,
            ADAPTER,
            to_checksum_address(registry),
            to_checksum_address(addresses_provider),
            max_age,
        )
        return cls(w3, contract.address)

    def set_market(self, symbol: str, asset: str, governance: LocalAccount | str) -> TxResult:
        """Links `symbol`'s registry market to `asset`'s reserve (the zero address unlinks)."""
        fn = self.contract.functions.setMarket(market_id(symbol), to_checksum_address(asset))
        return Transactor(self.w3, governance).send(fn)

    def set_max_age(self, seconds: int, governance: LocalAccount | str) -> TxResult:
        return Transactor(self.w3, governance).send(self.contract.functions.setMaxAge(seconds))

    def detach(self, governance: LocalAccount | str) -> TxResult:
        return Transactor(self.w3, governance).send(self.contract.functions.detach())

    def max_age(self) -> int:
        return int(self.contract.functions.maxAge().call())

    def linked_asset(self, symbol: str) -> str | None:
        asset = self.contract.functions.link(market_id(symbol)).call()[0]
        return None if int(asset, 16) == 0 else to_checksum_address(asset)

    def preview(self, symbol: str) -> Preview:
        ltv, lt, bonus, changes, reason, skipped = self.contract.functions.preview(
            market_id(symbol)
        ).call()
        return Preview((ltv, lt, bonus), changes, SkipReason(reason) if skipped else None)

    def sync(self, symbols: Sequence[str], sender: LocalAccount | str) -> SyncReport:
        """Syncs `symbols` in one transaction and reports what changed and what was skipped."""
        fn = self.contract.functions.sync([market_id(s) for s in symbols])
        tx = Transactor(self.w3, sender).send(fn)
        synced, skipped = [], []
        for log in tx.logs:
            if to_checksum_address(log["address"]) != self.address:
                continue
            if log["topics"][0] == self._topic("ReserveSynced"):
                e = self.contract.events.ReserveSynced().process_log(log)["args"]
                synced.append(
                    Synced(
                        bytes(e["market"]),
                        to_checksum_address(e["asset"]),
                        (e["ltv"], e["liquidationThreshold"], e["liquidationBonus"]),
                        (
                            e["previousLtv"],
                            e["previousLiquidationThreshold"],
                            e["previousLiquidationBonus"],
                        ),
                        e["registryThresholdBps"],
                    )
                )
            elif log["topics"][0] == self._topic("MarketSkipped"):
                e = self.contract.events.MarketSkipped().process_log(log)["args"]
                reason = SkipReason(e["reason"])
                skipped.append(Skipped(bytes(e["market"]), reason, self._why(e["data"])))
        return SyncReport(tx, synced, skipped)

    def _topic(self, event: str) -> bytes:
        return bytes(HexBytes(self.contract.events[event]().topic))

    def _why(self, data: bytes) -> str:
        if not data:
            return ""
        for decoder in self._decoders:
            revert = decoder.decode(data)
            if revert.name != "UnknownRevert":
                return str(revert)
        return "0x" + bytes(data).hex()
