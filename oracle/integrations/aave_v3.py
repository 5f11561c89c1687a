"""Aave v3 from Python: the risk adapter (`contracts/adapters/AaveV3RiskAdapter.sol`) — deploy it,
link markets to reserves, sync, read what a sync would do — and the open positions of one
reserve's borrowers, which size the policy's threshold cuts and the governance reviews.

The unit mapping and the ramp bound are the contract's; `to_aave` mirrors the mapping for tools
that show a council what Aave will hold (the adapter's tests prove the two agree)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from oracle.artifacts import load as load_artifact
from oracle.chain import ErrorDecoder, RegistryClient, Transactor, TxResult, deploy_contract
from oracle.errors import ChainError
from oracle.integrations.events import scan
from oracle.markets import market_id
from oracle.policy.impact import OpenPositions
from oracle.policy.rules import capped_bonus
from oracle.types import BPS

ADAPTER = "AaveV3RiskAdapter"


#: Aave refuses a bonus of exactly 10,000: the adapter's smallest discount (`MIN_DISCOUNT`).
MIN_DISCOUNT_BPS = 1


def to_aave(ltv_bps: int, threshold_bps: int, bonus_bps: int) -> tuple[int, int, int]:
    """Registry values in Aave's units, as the adapter writes them: LTV (at most the threshold) and
    threshold unchanged, the bonus as 10,000 + the liquidator's discount, capped by the registry's
    rule (threshold x bonus within 100 %, Aave's own check too) and at least 1 bps."""
    discount = max(MIN_DISCOUNT_BPS, capped_bonus(bonus_bps, threshold_bps))
    return min(ltv_bps, threshold_bps), threshold_bps, BPS + discount


def reserve_configuration(word: int) -> tuple[int, int, int]:
    """(LTV, liquidation threshold, bonus) from Aave v3's reserve configuration word (bits 0-15,
    16-31, 32-47: ReserveConfiguration.sol), as the adapter reads it."""
    return word & 0xFFFF, (word >> 16) & 0xFFFF, (word >> 32) & 0xFFFF


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

    def detached(self) -> bool:
        return bool(self.contract.functions.detached().call())

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


def _contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name)["abi"])


class AavePositions:
    """The open positions that hold `asset` as collateral in the Aave v3 market of
    `addresses_provider`, as loan ratios against `asset`'s threshold.

    A position may hold several collaterals. It becomes liquidatable when its debt exceeds
    Σ collateral_j × LT_j; with everything but `asset` fixed, that happens once `asset`'s threshold
    falls below r = (debt − Σ_{j≠asset} collateral_j × LT_j) / collateral_asset. That r is the
    position's loan ratio for the policy (`OpenPositions`): with one collateral it is plain
    debt / collateral. Accounts in an e-mode category are left out: their threshold is the
    category's, which the adapter does not set. Borrowers come from the Pool's `Borrow` events
    (only a borrower has debt), scanned incrementally from `from_block`."""

    def __init__(self, w3: Web3, addresses_provider: str, asset: str, from_block: int = 0) -> None:
        self.w3 = w3
        self.asset = to_checksum_address(asset)
        provider = _contract(w3, "PoolAddressesProvider", addresses_provider)
        self.pool = _contract(w3, "Pool", provider.functions.getPool().call())
        self.oracle = _contract(w3, "AaveOracle", provider.functions.getPriceOracle().call())
        reserve = self.pool.functions.getReserveData(self.asset).call()
        self._collateral_bit = 1 << (2 * reserve[7] + 1)  # the reserve id's "used as collateral"
        self.a_token = _contract(w3, "AToken", reserve[8])
        self._unit = 10 ** self.a_token.functions.decimals().call()
        self._next_block = from_block
        self._borrowers: set[str] = set()

    def borrowers(self, block: int) -> list[str]:
        """Every account that borrowed in the market up to `block` (incremental event scan)."""
        if block >= self._next_block:
            logs = scan(self.pool.events.Borrow, self._next_block, block)
            self._borrowers |= {log["args"]["onBehalfOf"] for log in logs}
            self._next_block = block + 1
        return sorted(self._borrowers)

    def __call__(self) -> OpenPositions:
        """The positions at the latest block, every read pinned to that block. The loan ratios
        use Aave's rounded-down weighted threshold of the account: with several collaterals, the
        ratio may be off by up to (total collateral / this collateral) bps."""
        try:
            block = self.w3.eth.block_number
            pool = self.pool.functions

            def read(fn: Any) -> Any:
                return fn.call(block_identifier=block)

            price = read(self.oracle.functions.getAssetPrice(self.asset))  # USD, 8 decimals
            _, threshold, _ = reserve_configuration(read(pool.getConfiguration(self.asset))[0])
            ratios, debts = [], []
            for user in self.borrowers(block):
                coll, debt, _, user_lt, _, _ = read(pool.getUserAccountData(user))
                flags = read(pool.getUserConfiguration(user))[0]
                if debt == 0 or not flags & self._collateral_bit:
                    continue
                if read(pool.getUserEMode(user)):
                    continue  # its threshold is its e-mode category's: the cut does not reach it
                mine = read(self.a_token.functions.balanceOf(user)) * price / self._unit
                if mine <= 0:
                    continue
                others = coll * user_lt / BPS - mine * threshold / BPS  # Σ_{j≠asset} c_j LT_j
                ratios.append((debt - others) / mine * BPS)
                debts.append(float(debt))
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"cannot read Aave positions of {self.asset}: {exc}") from None
        return OpenPositions(
            np.array(ratios, dtype=np.float64),
            np.array(debts, dtype=np.float64),
            consumer_threshold_bps=threshold,
        )
