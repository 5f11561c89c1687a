"""Thin web3.py client of the margin-parameter registry: deploy, read, submit signed batches.

Reverts come back as `ContractRevert` carrying the contract's custom error name and arguments,
decoded from the ABI, so an operator reads `StepTooLarge(market=0x…, field=1, from=8000, to=7000,
maxStep=500)`, not a hex blob. Retries, fee bumping and batch sizing belong to the keeper's
transaction manager (a later layer), not here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception
from web3.types import RPCEndpoint

from oracle import artifacts
from oracle.errors import ChainError, ContractRevert
from oracle.multicall import AbiFunction, Call, aggregate
from oracle.policy import OnChain
from oracle.policy.rules import MarketState
from oracle.signing import Batch, MarketUpdate
from oracle.types import Guardrails, Params

LOG = logging.getLogger(__name__)

GAS_MARGIN = 1.2  # estimate × margin: storage refunds and warm/cold access make estimates tight
#: Where MarginParameterRegistry keeps its batch nonce: the low 64 bits of storage slot 2 (`_nonce`,
#: after the two name and version fallback strings of OpenZeppelin's EIP712, packed with the
#: threshold, the pause flag and the batch lifetime). Mirrored only to estimate a batch whose nonce
#: is ahead of the registry's, with that word overridden (`RegistryClient.relay_call(ahead=True)`);
#: `tests/oracle/test_chain_client.py` reads it off the chain.
NONCE_SLOT = 2
NONCE_BITS = 64
#: The registry's reverts on a batch's nonce: from an estimate ahead, the node ignored the override.
NONCE_ERRORS = ("NonceAlreadyUsed", "NonceOutOfOrder")
#: How long a node that ignored a state override is not asked for estimates ahead (seconds): it
#: may be upgraded, or be one backend of several behind a load balancer. Asking again costs one
#: estimate; not asking costs every later batch its own limit (more blocks for a large cycle).
OVERRIDE_RETRY = 3_600.0


@dataclass(frozen=True)
class Parameters:
    """`getParameters(market)`: the values in force (threshold ramped, bonus capped) and when they
    were last written or refreshed (0: never)."""

    params: Params
    updated_at: int

    @classmethod
    def from_abi(cls, ltv: int, lt: int, lb: int, updated_at: int) -> Parameters:
        return cls(Params(ltv, lt, lb), updated_at)


@dataclass(frozen=True)
class Proposal:
    """`proposal(id)`: a queued change to a market, its timelock and its expiry."""

    market: bytes
    params: Params
    eta: int  # earliest execution
    expires_at: int  # latest execution
    status: int  # 0 none, 1 queued, 2 executed, 3 cancelled, 4 superseded
    from_signers: bool  # queued by the signer set (proposeUpdates), not by governance (propose)

    STATUS = ("none", "queued", "executed", "cancelled", "superseded")

    @classmethod
    def from_abi(
        cls,
        market: bytes,
        ltv: int,
        lt: int,
        lb: int,
        eta: int,
        expires_at: int,
        status: int,
        from_signers: bool,
    ) -> Proposal:
        return cls(market, Params(ltv, lt, lb), eta, expires_at, status, bool(from_signers))

    @property
    def status_name(self) -> str:
        return self.STATUS[self.status]

    def pending_at(self, timestamp: int) -> bool:
        """Queued and not expired: governance may still execute it."""
        return self.status == 1 and timestamp <= self.expires_at


@dataclass(frozen=True)
class ParameterChange:
    """A decoded `ParametersUpdated` event. The contract packs the new and previous triples into
    one word (16 bits each from the low bits, then the 40-bit ramp end at bit 96) because seven
    ABI words cost 1,500 gas more."""

    new: Params
    previous: Params
    threshold_ramp_end: int  # 0: the new threshold applies at once

    @classmethod
    def from_word(cls, word: int) -> ParameterChange:
        def bps(i: int) -> int:
            return (word >> (16 * i)) & 0xFFFF

        return cls(
            Params(bps(0), bps(1), bps(2)),
            Params(bps(3), bps(4), bps(5)),
            (word >> 96) & (2**40 - 1),
        )


MARKET_UPDATE_KEYS = ("market", "ltvBps", "liquidationThresholdBps", "liquidationBonusBps")


@dataclass(frozen=True)
class SignedBatch:
    """A batch the registry accepted, read back from the chain: which path (`update` for
    `submitUpdates`, `proposal` for `proposeUpdates`), the batch as signed, where it was mined."""

    kind: str
    batch: Batch
    tx_hash: str
    block: int
    #: False when the batch came through another contract and was read from the registry's events:
    #: its values and hashes are exact, its deadline (not emitted) is unknown.
    deadline_known: bool = True

    @property
    def nonce(self) -> int:
        return self.batch.nonce

    @property
    def model_version(self) -> str:
        """The committed `modelVersion` as text (the bytes32 without its zero padding)."""
        return self.batch.model_version.rstrip(b"\0").decode("ascii", "replace")


@dataclass(frozen=True)
class UnreadableBatch:
    """A batch the registry accepted (its `BatchSubmitted` event) whose values cannot be read back
    from its transaction's calldata (relayed through another contract, ...): why, and where."""

    nonce: int
    inputs_hash: bytes
    tx_hash: str
    block: int
    reason: str


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    block_number: int
    gas_used: int
    logs: list[Any]
    contract_address: str | None = None  # set when the transaction deployed a contract


class ErrorDecoder:
    """Maps revert data to the custom errors declared in a contract ABI."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [_abi_type(i) for i in entry["inputs"]]
            selector = function_signature_to_4byte_selector(f"{entry['name']}({','.join(types)})")
            self._errors[selector] = (entry["name"], [i["name"] for i in entry["inputs"]], types)

    def decode(self, data: str | bytes | None, tx_hash: str | None = None) -> ContractRevert:
        raw = HexBytes(data) if data else b""
        if len(raw) >= 4 and raw[:4] in self._errors:
            name, names, types = self._errors[raw[:4]]
            values = abi_decode(types, raw[4:])
            return ContractRevert(name, dict(zip(names, values, strict=True)), tx_hash)
        if len(raw) >= 4 and raw[:4] == bytes.fromhex("08c379a0"):
            return ContractRevert("Error", {"reason": abi_decode(["string"], raw[4:])[0]}, tx_hash)
        return ContractRevert("UnknownRevert", {"data": bytes(raw)}, tx_hash)


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


def http_web3(url: str, timeout: float) -> Web3:
    """A web3 client of the node at `url`. It caches `eth_chainId`, and only that: web3.py's
    request validation asks the node for its chain id before every call and transaction, which
    was 61 % of the demo's RPC requests. Nothing whose answer can change is cached (blocks by
    number are not: a node restored from an older state must be read as it is)."""
    provider = Web3.HTTPProvider(
        url,
        request_kwargs={"timeout": timeout},
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId")},
    )
    return Web3(provider)


def node_knows(w3: Web3, tx_hash: bytes | str) -> bool:
    """Whether the node has the transaction, mined or in its pool; RPC failures propagate."""
    try:
        w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return False
    return True


def decoder_for(fn: Any) -> ErrorDecoder:
    """The error decoder of the contract a web3 function or constructor belongs to."""
    return ErrorDecoder(getattr(fn, "contract_abi", None) or fn.abi)


def _revert_data(exc: ContractLogicError) -> str | None:
    data = exc.data
    if isinstance(data, dict):
        return data.get("data")
    return data


def _transient(exc: BaseException) -> bool:
    """Errors worth retrying: the node did not answer, not "the call is wrong"."""
    if isinstance(exc, ContractLogicError | ContractRevert):
        return False
    if isinstance(
        exc, requests.ConnectionError | requests.Timeout | ConnectionError | TimeoutError
    ):
        return True
    if isinstance(exc, requests.HTTPError):
        response = exc.response
        return response is not None and (response.status_code >= 500 or response.status_code == 429)
    return False


#: Transient RPC failures are retried with exponential backoff (0.25 s, 0.5 s, 1 s), then surface.
rpc_retry = retry(
    retry=retry_if_exception(_transient),
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.25, max=2.0),
    reraise=True,
)


@dataclass(frozen=True)
class RawCall:
    """A contract call encoded once, with its gas limit and its contract's error decoder: what
    `Transactor.send_all` sends back to back. web3.py's contract layer re-validates the ABI and
    re-encodes on every estimate, build and replay: 28 ms a call in a 500-market crash cycle."""

    to: ChecksumAddress
    data: bytes
    gas: int
    errors: ErrorDecoder

    def tx(self, sender: str) -> dict[str, Any]:
        return {
            "from": sender,
            "to": self.to,
            "data": HexBytes(self.data),
            "gas": self.gas,
            "value": 0,
        }


@dataclass
class _Flight:
    """A local key's transaction sent and not yet confirmed: the latest version the node took,
    every hash it went out under (same nonce; an earlier one may be the one that lands), the hook
    that records them and when it was last sent."""

    tx: dict[str, Any]
    hashes: list[bytes]
    raw: bytes  # the version the node took last, and its hash
    current: bytes
    hook: Callable[[str], None] | None
    sent_at: float


class NotSent(ChainError):
    """A transaction `Transactor.send_all` never broadcast, because one before it could not be:
    it cannot land."""


#: What became of one call of `Transactor.send_all`.
Outcome = TxResult | ContractRevert | ChainError


def _result(receipt: Any) -> TxResult:
    return TxResult(
        tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
        block_number=receipt["blockNumber"],
        gas_used=receipt["gasUsed"],
        logs=list(receipt["logs"]),
        contract_address=receipt.get("contractAddress"),
    )


class Transactor:
    """Sends contract calls from a local key (signed here) or an account the node unlocks (dev
    chains).

    Local keys send EIP-1559 transactions: tip = the node's `eth_maxPriorityFeePerGas`, fee cap =
    2 × base fee + tip. A transaction not mined within `wait` seconds is replaced — same nonce, both
    fees raised by `bump` (12.5 %, above the 10 % nodes require) — up to `replacements` times, and
    so is every transaction `send_all` sent behind it (their fees are as stale as its). While
    waiting, a node that stops answering for up to `outage_grace` seconds (a restart) is waited
    for; a longer outage ends the wait with an error, leaving the push to be settled later.
    """

    def __init__(
        self,
        w3: Web3,
        sender: LocalAccount | str,
        *,
        wait: float = 120.0,
        replacements: int = 3,
        bump: float = 1.125,
        outage_grace: float = 15.0,
    ) -> None:
        self.w3 = w3
        self.sender = sender
        self.wait, self.replacements, self.bump = wait, replacements, bump
        self.outage_grace = outage_grace

    @property
    def address(self) -> ChecksumAddress:
        raw = self.sender if isinstance(self.sender, str) else self.sender.address
        return to_checksum_address(raw)

    def send(self, fn: Any, on_sent: Callable[[str], None] | None = None) -> TxResult:
        """Estimates (surfacing reverts as the contract's decoded errors), sends, waits for the
        receipt (replacing a stuck transaction). `on_sent` gets every hash broadcast."""
        try:
            gas = int(rpc_retry(fn.estimate_gas)({"from": self.address}) * GAS_MARGIN)
        except ContractLogicError as exc:
            raise decoder_for(fn).decode(_revert_data(exc)) from None
        except (Web3Exception, OSError, requests.RequestException) as exc:
            raise ChainError(f"cannot estimate gas: {exc}") from None
        try:
            if isinstance(self.sender, str):
                tx_hash = rpc_retry(fn.transact)({"from": self.sender, "gas": gas})
                if on_sent is not None:
                    on_sent(HexBytes(tx_hash).to_0x_hex())
                receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.wait)
            else:
                receipt = self._send_signed(fn, gas, on_sent)
        except (Web3Exception, OSError, TimeoutError, requests.RequestException) as exc:
            raise ChainError(f"transaction failed to send or confirm: {exc}") from None
        if receipt["status"] != 1:
            raise self._replay_revert(fn, receipt)
        return _result(receipt)

    def _send_signed(self, fn: Any, gas: int, on_sent: Callable[[str], None] | None) -> Any:
        assert not isinstance(self.sender, str)
        tip, fee_cap = self._fees()
        nonce = rpc_retry(self.w3.eth.get_transaction_count)(self.address, "pending")
        tx = fn.build_transaction(
            {
                "from": self.address,
                "gas": gas,
                "nonce": nonce,
                "maxPriorityFeePerGas": tip,
                "maxFeePerGas": fee_cap,
            }
        )
        return self._await([self._broadcast(tx, on_sent, renonce=True)], 0)

    def send_all(
        self,
        calls: Sequence[RawCall],
        on_sent: Sequence[Callable[[str], None] | None] | None = None,
        on_outcome: Callable[[int, Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Sends `calls` back to back on consecutive account nonces, so that one block can hold
        them all, then waits for each in turn (replacing a stuck one as `send` does). Each
        outcome is its own, handed to `on_outcome` as soon as it is known: a `TxResult`; the
        contract's `ContractRevert` when it was mined and reverted; a `ChainError` when it was
        broadcast (or may have been) and not confirmed — then it, and every later one waiting on
        its nonce, may still land; `NotSent` for a call never broadcast because one before it
        could not be. `on_sent[i]` gets each hash of call i before that transaction is
        broadcast (a local key's hash is known in advance), so a crash mid-send never leaves a
        transaction on the network that the caller has no record of."""
        hooks = list(on_sent) if on_sent is not None else [None] * len(calls)
        outcomes: list[Outcome] = []

        def emit(outcome: Outcome) -> None:
            if on_outcome is not None:
                on_outcome(len(outcomes), outcome)
            outcomes.append(outcome)

        sent: list[tuple[RawCall, bytes]] = []
        flights: list[_Flight] = []  # a local key's transactions, for `_await`
        failure: ChainError | None = None
        trying = False  # a failure came while a transaction was being broadcast: it may have left
        try:
            nonce: int = rpc_retry(self.w3.eth.get_transaction_count)(self.address, "pending")
            if isinstance(self.sender, str):
                for i, call in enumerate(calls):
                    tx: Any = {**call.tx(self.address), "nonce": nonce + i}
                    trying = True
                    tx_hash: bytes = HexBytes(rpc_retry(self.w3.eth.send_transaction)(tx))
                    trying = False
                    self._sent(hooks[i], tx_hash)
                    sent.append((call, tx_hash))
            else:
                tip, fee_cap = self._fees()
                chain_id = self.w3.eth.chain_id
                for i, call in enumerate(calls):
                    tx = {
                        **call.tx(self.address),
                        "nonce": nonce + i,
                        "chainId": chain_id,
                        "maxPriorityFeePerGas": tip,
                        "maxFeePerGas": fee_cap,
                    }
                    trying = True
                    flight = self._broadcast(tx, hooks[i], renonce=i == 0)
                    trying = False
                    # the first may have taken a fresher nonce
                    nonce = int(flight.tx["nonce"]) - i
                    sent.append((call, flight.current))
                    flights.append(flight)
        except (Web3Exception, OSError, ValueError, requests.RequestException) as exc:
            failure = ChainError(f"transaction failed to send: {exc}")
        for call, tx_hash in sent:
            try:
                if isinstance(self.sender, str):
                    receipt = self.w3.eth.wait_for_transaction_receipt(
                        HexBytes(tx_hash), timeout=self.wait
                    )
                else:
                    receipt = self._await(flights, len(outcomes))
            except (Web3Exception, OSError, TimeoutError, requests.RequestException) as exc:
                failure = ChainError(f"transaction failed to confirm: {exc}")
                break
            if receipt["status"] == 1:
                emit(_result(receipt))
            else:
                emit(self._replay_call_revert(call, receipt))
        if failure is not None:
            # Broadcast and not confirmed: it may still land, and every one behind it waits on
            # its nonce. The one whose broadcast failed may have left too (its hash is recorded).
            # The rest never left.
            while len(outcomes) < len(sent) + int(trying):
                emit(failure)
            while len(outcomes) < len(calls):
                emit(NotSent(f"not sent: an earlier transaction failed ({failure})"))
        return outcomes

    def _fees(self) -> tuple[int, int]:
        """(tip, fee cap): the node's `eth_maxPriorityFeePerGas`, and 2 × base fee + tip."""
        tip = int(rpc_retry(lambda: self.w3.eth.max_priority_fee)())
        base = int(rpc_retry(self.w3.eth.get_block)("latest").get("baseFeePerGas", 0))
        return tip, 2 * base + tip

    @staticmethod
    def _sent(hook: Callable[[str], None] | None, tx_hash: bytes) -> None:
        if hook is not None:
            hook(HexBytes(tx_hash).to_0x_hex())

    def _broadcast(
        self, tx: dict[str, Any], hook: Callable[[str], None] | None, *, renonce: bool
    ) -> _Flight:
        """Signs `tx`, hands its hash to `hook`, sends it; returns it in flight (with the nonce it
        went out on). A send the node refuses because it already has the transaction (a retried
        send whose first attempt arrived) is a send. With `renonce`, a nonce another transaction
        from this account took between our read and our send (a manual one, another process) is
        replaced by the next one and sent again."""
        assert not isinstance(self.sender, str)
        signed = self.sender.sign_transaction(tx)
        self._sent(hook, signed.hash)
        try:
            rpc_retry(self.w3.eth.send_raw_transaction)(signed.raw_transaction)
        except (Web3Exception, ValueError) as exc:
            refused = str(exc).lower()
            if not ("already known" in refused or node_knows(self.w3, signed.hash)):
                if not renonce or "nonce too low" not in refused:
                    raise
                fresh = rpc_retry(self.w3.eth.get_transaction_count)(self.address, "pending")
                tx = {**tx, "nonce": fresh}
                signed = self.sender.sign_transaction(tx)
                self._sent(hook, signed.hash)
                rpc_retry(self.w3.eth.send_raw_transaction)(signed.raw_transaction)
        return _Flight(
            tx, [signed.hash], signed.raw_transaction, signed.hash, hook, time.monotonic()
        )

    def _bump(self, flight: _Flight) -> None:
        """Replaces `flight`: same nonce, both fees raised by `bump`, its hash handed to the hook
        before it is sent. The flight takes the replacement only once the node has it (a refusal
        leaves it as it was); a node that already has it (a retried send whose first attempt
        arrived) has it."""
        assert not isinstance(self.sender, str)
        tx = {
            **flight.tx,
            "maxPriorityFeePerGas": math.ceil(flight.tx["maxPriorityFeePerGas"] * self.bump),
            "maxFeePerGas": math.ceil(flight.tx["maxFeePerGas"] * self.bump),
        }
        signed = self.sender.sign_transaction(tx)
        self._sent(flight.hook, signed.hash)
        flight.hashes.append(signed.hash)  # polled from now on: it may land even if refused below
        try:
            rpc_retry(self.w3.eth.send_raw_transaction)(signed.raw_transaction)
        except (Web3Exception, ValueError) as exc:
            if "already known" not in str(exc).lower() and not node_knows(self.w3, signed.hash):
                raise
        flight.tx, flight.raw, flight.current = tx, signed.raw_transaction, signed.hash
        flight.sent_at = time.monotonic()

    def _receipt(self, flight: _Flight) -> Any | None:
        """The receipt of whichever version of `flight` was mined, or None."""
        for h in flight.hashes:
            try:
                return self.w3.eth.get_transaction_receipt(h)  # type: ignore[arg-type]
            except TransactionNotFound:
                continue
        return None

    def _await(self, flights: Sequence[_Flight], i: int) -> Any:
        """The receipt of `flights[i]`: waits `wait` seconds from its last send, then replaces it
        — same nonce, fees raised by `bump` — up to `replacements` times while it is the one
        waited for. Every transaction behind it (`flights[i + 1:]`, later nonces of the same
        account, none of which can land before it) is replaced with it: fees too low for one
        block are too low for the next ones, and waiting out `wait` for each in turn would take
        k × `wait` for the k-th. The receipts are looked for before any replacement, so a
        transaction mined while the one before it was being handled is never replaced."""
        flight = flights[i]
        bumps = 0  # replacements made while this one is waited for
        outage: float | None = None  # when the node stopped answering the receipt polls
        next_check = time.monotonic() + 1.0
        while True:
            try:
                receipt = self._receipt(flight)
                if receipt is not None:
                    return receipt
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + 1.0
                    self._rebroadcast_if_lost(flight.current, flight.raw)
                outage = None
            except Exception as exc:
                # The node is unreachable for a moment (a quick restart): keep waiting rather
                # than give the transaction up. A longer outage surfaces, so the cycle ends and
                # the next one settles the push (`Keeper.reconcile`); real errors too.
                if not _transient(exc):
                    raise
                outage = outage or time.monotonic()
                if time.monotonic() - outage > self.outage_grace:
                    raise
            if outage is None and time.monotonic() >= flight.sent_at + self.wait:
                if bumps >= self.replacements:
                    raise TimeoutError(
                        f"not mined after {self.replacements} fee bumps of {self.wait} s each "
                        f"(nonce {flight.tx['nonce']})"
                    )
                try:
                    self._bump(flight)
                except (Web3Exception, ValueError) as exc:
                    if "nonce too low" not in str(exc).lower():
                        raise
                    receipt = self._receipt(flight)  # mined since the poll above
                    if receipt is None:  # the nonce went to a transaction not ours
                        raise
                    return receipt
                bumps += 1
                for later in flights[i + 1 :]:
                    try:
                        self._bump(later)
                    except (Web3Exception, ValueError, OSError, requests.RequestException):
                        # Left at its fees: it is replaced again when its own wait runs out.
                        continue
            time.sleep(0.1)

    def _rebroadcast_if_lost(self, tx_hash: bytes, raw: bytes) -> None:
        """A node that restarted (or evicted the transaction) no longer has it: without this the
        wait would run its full course before the fee bump re-sends it. The same signed bytes, so
        the same nonce and hash: it can land once at most."""
        if node_knows(self.w3, tx_hash):
            return
        try:
            rpc_retry(self.w3.eth.send_raw_transaction)(raw)
        except (Web3Exception, ValueError) as exc:  # mined meanwhile, or the nonce went elsewhere
            if "nonce too low" not in str(exc).lower() and "already" not in str(exc).lower():
                raise

    def _replay_call_revert(self, call: RawCall, receipt: Any) -> ContractRevert:
        """`_replay_revert` for a `RawCall`."""
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        try:
            self.w3.eth.call(
                {"from": self.address, "to": call.to, "data": HexBytes(call.data)},
                receipt["blockNumber"] - 1,
            )
        except ContractLogicError as exc:
            return call.errors.decode(_revert_data(exc), tx_hash)
        except (Web3Exception, OSError, requests.RequestException) as exc:
            return ContractRevert("UnknownRevert", {"replay_error": str(exc)}, tx_hash)
        return ContractRevert("UnknownRevert", {}, tx_hash)

    def _replay_revert(self, fn: Any, receipt: Any) -> ContractRevert:
        """A mined revert carries no reason: re-run the call on the parent block to recover it."""
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        try:
            fn.call({"from": self.address}, block_identifier=receipt["blockNumber"] - 1)
        except ContractLogicError as exc:
            return decoder_for(fn).decode(_revert_data(exc), tx_hash)
        except Web3Exception as exc:
            return ContractRevert("UnknownRevert", {"replay_error": str(exc)}, tx_hash)
        return ContractRevert("UnknownRevert", {}, tx_hash)


def deploy_contract(
    w3: Web3, sender: LocalAccount | str, name: str, *args: Any
) -> tuple[Contract, TxResult]:
    """Deploys the compiled contract `name` and returns it bound to its new address."""
    artifact = artifacts.load(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    result = Transactor(w3, sender).send(factory.constructor(*args))
    if result.contract_address is None:
        raise ChainError(f"deploying {name} mined without a contract address (tx {result.tx_hash})")
    address = to_checksum_address(result.contract_address)
    return w3.eth.contract(address=address, abi=artifact["abi"]), result


def _on_chain(
    state: MarketState, guardrails: Guardrails | None, latest: Proposal | None, block_time: int
) -> OnChain:
    """The policy's view of one market from what the registry holds at one block."""
    pending = latest if latest is not None and latest.pending_at(block_time) else None
    return OnChain(
        state.params if state.is_set else None,
        state.updated_at,
        state.last_loosen_at,
        guardrails,
        state.last_change_at,
        None if pending is None else pending.params,
        pending is not None and not pending.from_signers,
        block_time,
        state.ramp_end,
        state.threshold_at(block_time) if state.is_set else None,
    )


def _answered(raw: bytes | None, what: str) -> bytes:
    """A Multicall3 answer, or `ChainError` when that call reverted (the keeper then reads the
    markets one by one, where the revert is decoded)."""
    if raw is None:
        raise ChainError(f"a market's {what} read reverted inside Multicall3")
    return raw


class ContractClient:
    """One of our compiled contracts (`NAME`) at `address`: reads with retries and decoded
    reverts."""

    NAME = ""

    def __init__(self, w3: Web3, address: str) -> None:
        artifact = artifacts.load(self.NAME)
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact["abi"])
        self.errors = ErrorDecoder(artifact["abi"])

    def _call(self, name: str, *args: Any, block: int | str = "latest") -> Any:
        try:
            fn = getattr(self.contract.functions, name)(*args)
            return rpc_retry(fn.call)(block_identifier=block)
        except ContractLogicError as exc:
            raise self.errors.decode(_revert_data(exc)) from None
        except (Web3Exception, OSError, requests.RequestException) as exc:
            raise ChainError(f"cannot read {name} from {self.address}: {exc}") from None


class RegistryClient(ContractClient):
    """The registry at `address`, read and written through web3.py."""

    NAME = "MarginParameterRegistry"
    #: Why estimates ahead are not asked of this node for now: it accepted a state override and
    #: did not apply it. None until then, and again once a later ask (`OVERRIDE_RETRY` after the
    #: refusal) is answered.
    overrides_ignored: str | None = None
    #: When (`time.monotonic()`) the node last ignored an override.
    overrides_ignored_at: float = 0.0

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        sender: LocalAccount | str,
        *,
        governance: str,
        guardian: str,
        signers: list[str],
        threshold: int,
        timelock_delay: int,
    ) -> tuple[RegistryClient, TxResult]:
        contract, result = deploy_contract(
            w3,
            sender,
            cls.NAME,
            to_checksum_address(governance),
            to_checksum_address(guardian),
            [to_checksum_address(s) for s in signers],
            threshold,
            timelock_delay,
        )
        return cls(w3, contract.address), result

    # Reads -------------------------------------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def nonce(self) -> int:
        return int(self._call("batchNonce"))

    def threshold(self) -> int:
        return int(self._call("threshold"))

    def signers(self) -> list[str]:
        return list(self._call("signers"))

    def paused(self) -> bool:
        return bool(self._call("paused"))

    def parameters(self, market: bytes) -> Parameters:
        return Parameters.from_abi(*self._call("getParameters", market))

    def parameters_checked(self, market: bytes, max_age: int) -> Parameters:
        return Parameters.from_abi(*self._call("getParametersChecked", market, max_age))

    def guardrails(self, market: bytes, block: int | str = "latest") -> Guardrails:
        return Guardrails(*self._call("guardrails", market, block=block))

    def guardrail_profile(self, profile: int) -> Guardrails:
        """A numbered profile's guardrails (all zeros: never set)."""
        return Guardrails(*self._call("guardrailProfile", profile))

    def market_profile(self, market: bytes) -> int:
        return int(self._call("marketProfile", market))

    def market_state(self, market: bytes, block: int | str = "latest") -> MarketState:
        """The market's stored word, at the latest block or at `block` (the node must keep
        history: an archive node, or Anvil)."""
        return MarketState(*self._call("marketState", market, block=block))

    def state_history(self, market: bytes, from_block: int = 0) -> list[tuple[int, MarketState]]:
        """(block time, state written) for every value change of `market` since `from_block`
        (`ParametersUpdated`, whichever path wrote it): the parameter path the chain actually
        held, ramps included, for replaying what consumers read."""
        try:
            logs = self.contract.events.ParametersUpdated().get_logs(
                from_block=from_block, argument_filters={"market": market}
            )
        except (Web3Exception, OSError, requests.RequestException) as exc:
            raise ChainError(f"cannot read the events of {self.address}: {exc}") from None
        history = []
        for log in logs:
            block = int(log["blockNumber"])
            when = int(rpc_retry(self.w3.eth.get_block)(block)["timestamp"])
            history.append((when, self.market_state(market, block)))
        return history

    def proposal_count(self) -> int:
        return int(self._call("proposalCount"))

    def proposal(self, proposal_id: int, block: int | str = "latest") -> Proposal:
        return Proposal.from_abi(*self._call("proposal", proposal_id, block=block))

    def latest_proposal(
        self, market: bytes, block: int | str = "latest"
    ) -> tuple[int, Proposal] | None:
        """The id and contents of the latest proposal queued for `market`, if any."""
        latest = int(self._call("latestProposal", market, block=block))
        return None if latest == 0 else (latest - 1, self.proposal(latest - 1, block))

    def policy_view(self, market: bytes, block: int, block_time: int) -> OnChain:
        """What the policy reads of `market` (its state, profile and pending proposal) at one
        block: the keeper decides on it, and `oracle verify` reads it again to check a bundle."""
        state = self.market_state(market, block)
        guardrails = self.guardrails(market, block) if state.guardrail_profile else None
        latest = self.latest_proposal(market, block)
        return _on_chain(state, guardrails, None if latest is None else latest[1], block_time)

    def policy_views(
        self, markets: Sequence[bytes], block: int, block_time: int, multicall: str
    ) -> dict[bytes, OnChain]:
        """`policy_view` of every market at one block through Multicall3 at `multicall`: one
        round for states, guardrails and latest proposals, a second for the proposals found,
        `CHUNK` calls a request. Equal to reading each market alone (tested); `ChainError` when
        Multicall3 is missing or the node fails, and the caller reads them one by one."""
        fns = self._prepared
        calls = [
            Call(self.address, fns[name].encode(m))
            for m in markets
            for name in ("marketState", "guardrails", "latestProposal")
        ]
        answers = aggregate(self.w3, calls, block, address=multicall, retry=rpc_retry)
        states, guards, latest = answers[0::3], answers[1::3], answers[2::3]
        ids = [int(fns["latestProposal"].decode(_answered(a, "latest proposal"))) for a in latest]
        wanted = [i for i in ids if i]  # latestProposal is the id + 1 (0: none)
        found = aggregate(
            self.w3,
            [Call(self.address, fns["proposal"].encode(i - 1)) for i in wanted],
            block,
            address=multicall,
            retry=rpc_retry,
        )
        proposals = dict(zip(wanted, found, strict=True))
        out: dict[bytes, OnChain] = {}
        for m, raw_state, raw_guard, pid in zip(markets, states, guards, ids, strict=True):
            state = MarketState(*fns["marketState"].decode(_answered(raw_state, "state")))
            guardrails = None
            if state.guardrail_profile:
                raw = _answered(raw_guard, "guardrails")
                guardrails = Guardrails(*fns["guardrails"].decode(raw))
            proposal = None
            if pid:
                raw = _answered(proposals[pid], f"proposal {pid - 1}")
                proposal = Proposal.from_abi(*fns["proposal"].decode(raw))
            out[bytes(m)] = _on_chain(state, guardrails, proposal, block_time)
        return out

    @cached_property
    def _prepared(self) -> dict[str, AbiFunction]:
        """The registry's read functions as prepared `AbiFunction`s, built once per client."""
        names = ("marketState", "guardrails", "latestProposal", "proposal")
        return {n: AbiFunction(self.contract.abi, n) for n in names}

    def batches(
        self, nonce: int | None = None, tx_hash: str | None = None, from_block: int = 0
    ) -> list[SignedBatch | UnreadableBatch]:
        """The signed batches the registry accepted (`BatchSubmitted`), oldest first: every one,
        the one that consumed `nonce`, or the one mined in `tx_hash`. Each is read back from its
        transaction's calldata (`submitUpdates` or `proposeUpdates` called on the registry)."""
        event = self.contract.events.BatchSubmitted()
        try:
            if tx_hash is not None:
                receipt = rpc_retry(self.w3.eth.get_transaction_receipt)(HexStr(tx_hash))
                logs = [
                    event.process_log(log)
                    for log in receipt["logs"]
                    if log["address"] == self.address
                    and bytes(log["topics"][0]) == HexBytes(event.topic)
                ]
            else:
                filters = {} if nonce is None else {"nonce": nonce}
                logs = event.get_logs(from_block=from_block, argument_filters=filters)
        except TransactionNotFound:
            raise ChainError(f"no transaction {tx_hash} on this chain") from None
        except (Web3Exception, OSError, requests.RequestException) as exc:
            raise ChainError(f"cannot read the batches of {self.address}: {exc}") from None
        found: list[SignedBatch | UnreadableBatch] = []
        for log in logs:
            try:
                found.append(self._batch_of(log))
            except ChainError as exc:  # this batch is reported, the others still read
                found.append(
                    UnreadableBatch(
                        int(log["args"]["nonce"]),
                        bytes(log["args"]["inputsHash"]),
                        "0x" + bytes(log["transactionHash"]).hex(),
                        int(log["blockNumber"]),
                        str(exc),
                    )
                )
        return found

    def _batch_of(self, log: Any) -> SignedBatch:
        tx_hash = "0x" + bytes(log["transactionHash"]).hex()
        try:
            tx = rpc_retry(self.w3.eth.get_transaction)(HexStr(tx_hash))
        except (Web3Exception, OSError, requests.RequestException) as exc:
            raise ChainError(f"cannot read transaction {tx_hash}: {exc}") from None
        nonce = int(log["args"]["nonce"])
        if tx["to"] != self.address:  # relayed through another contract (a keeper network, a
            return self._batch_from_events(log, tx_hash)  # multisig, a front-runner)
        try:
            fn, args = self.contract.decode_function_input(tx["input"])
        except ValueError as exc:
            raise ChainError(f"tx {tx_hash}: its calldata is not a registry call: {exc}") from None
        kinds = {"submitUpdates": "update", "proposeUpdates": "proposal"}
        if fn.fn_name not in kinds:
            raise ChainError(f"tx {tx_hash} calls {fn.fn_name}, not a signed-batch entry point")
        raw = args["batch"]
        fields = (
            [raw[k] for k in ("chainId", "nonce", "deadline", "inputsHash", "modelVersion")]
            + [raw["updates"]]
            if isinstance(raw, dict)
            else list(raw)
        )
        updates = tuple(
            MarketUpdate(*(u[k] for k in MARKET_UPDATE_KEYS))
            if isinstance(u, dict)
            else MarketUpdate(bytes(u[0]), *u[1:])
            for u in fields[5]
        )
        batch = Batch(
            int(fields[0]),
            int(fields[1]),
            int(fields[2]),
            bytes(fields[3]),
            bytes(fields[4]),
            updates,
        )
        if batch.nonce != nonce:
            raise ChainError(f"tx {tx_hash} carries batch {batch.nonce}, its event says {nonce}")
        return SignedBatch(kinds[fn.fn_name], batch, tx_hash, int(log["blockNumber"]))

    def _batch_from_events(self, log: Any, tx_hash: str) -> SignedBatch:
        """A batch sent through another contract, read from the registry's own events in its
        transaction: the market events the registry emitted just before this `BatchSubmitted`
        (since the previous one) give its markets and values: `ParametersUpdated` (the new
        values, the threshold's target), `Heartbeat` (the values held, read at that block) for
        the fast path, `ProposalQueued` for a proposal batch."""
        events = self.contract.events
        try:
            receipt = rpc_retry(self.w3.eth.get_transaction_receipt)(HexStr(tx_hash))
        except (Web3Exception, OSError, requests.RequestException) as exc:
            raise ChainError(f"cannot read receipt {tx_hash}: {exc}") from None
        ours = [x for x in receipt["logs"] if x["address"] == self.address]
        topic = {
            HexBytes(e().topic): name
            for name, e in (
                ("batch", events.BatchSubmitted),
                ("updated", events.ParametersUpdated),
                ("heartbeat", events.Heartbeat),
                ("queued", events.ProposalQueued),
            )
        }
        at = next(i for i, x in enumerate(ours) if int(x["logIndex"]) == int(log["logIndex"]))
        start = max(
            (
                i + 1
                for i, x in enumerate(ours[:at])
                if topic.get(HexBytes(x["topics"][0])) == "batch"
            ),
            default=0,
        )
        block = int(log["blockNumber"])
        updates: list[MarketUpdate] = []
        kinds = set()
        for x in ours[start:at]:
            name = topic.get(HexBytes(x["topics"][0]))
            if name == "updated":
                e = events.ParametersUpdated().process_log(x)["args"]
                updates.append(
                    MarketUpdate.of(bytes(e["market"]), ParameterChange.from_word(e["change"]).new)
                )
                kinds.add("update")
            elif name == "heartbeat":
                market = bytes(events.Heartbeat().process_log(x)["args"]["market"])
                updates.append(MarketUpdate.of(market, self.market_state(market, block).params))
                kinds.add("update")
            elif name == "queued":
                e = events.ProposalQueued().process_log(x)["args"]
                updates.append(
                    MarketUpdate(
                        bytes(e["market"]),
                        e["ltvBps"],
                        e["liquidationThresholdBps"],
                        e["liquidationBonusBps"],
                    )
                )
                kinds.add("proposal")
        args = log["args"]
        if len(kinds) != 1 or len(updates) != int(args["updates"]):
            raise ChainError(
                f"batch {int(args['nonce'])} in tx {tx_hash}: its {int(args['updates'])} market "
                f"event(s) cannot be told apart from the transaction's other events"
            )
        batch = Batch(
            int(self.w3.eth.chain_id),
            int(args["nonce"]),
            2**64 - 1,  # not emitted: unknown (`deadline_known` says so)
            bytes(args["inputsHash"]),
            bytes(args["modelVersion"]),
            tuple(updates),
        )
        return SignedBatch(kinds.pop(), batch, tx_hash, block, deadline_known=False)

    def max_batch_lifetime(self) -> int:
        """How far after the including block a signed batch's deadline may lie."""
        return int(self._call("maxBatchLifetime"))

    def proposal_grace_period(self) -> int:
        return int(self._call("proposalGracePeriod"))

    def timelock_delay(self) -> int:
        return int(self._call("timelockDelay"))

    def version(self) -> str:
        """The registry's release (`version()`)."""
        return str(self._call("version"))

    def hash_batch(self, batch: Batch, proposal: bool = False) -> bytes:
        return bytes(self._call("hashBatch", batch.as_tuple(), proposal))

    # Writes ------------------------------------------------------------------------------------

    def submit(
        self,
        batch: Batch,
        signatures: list[bytes],
        sender: LocalAccount | str,
        on_sent: Callable[[str], None] | None = None,
    ) -> TxResult:
        """Relays a signed fast-path batch (`submitUpdates`)."""
        return self._relay("submitUpdates", batch, signatures, sender, on_sent)

    def propose(
        self,
        batch: Batch,
        signatures: list[bytes],
        sender: LocalAccount | str,
        on_sent: Callable[[str], None] | None = None,
    ) -> TxResult:
        """Relays a signed governance-path batch (`proposeUpdates`)."""
        return self._relay("proposeUpdates", batch, signatures, sender, on_sent)

    def _relay(
        self,
        function: str,
        batch: Batch,
        signatures: list[bytes],
        sender: LocalAccount | str,
        on_sent: Callable[[str], None] | None,
    ) -> TxResult:
        fn = getattr(self.contract.functions, function)(batch.as_tuple(), signatures)
        return Transactor(self.w3, sender).send(fn, on_sent)

    def relay_call(
        self,
        batch: Batch,
        signatures: list[bytes],
        sender: LocalAccount | str,
        *,
        proposal: bool,
        gas: int | None = None,
        ahead: bool = False,
    ) -> RawCall:
        """A signed batch's `submitUpdates` (or, `proposal`, `proposeUpdates`) call, encoded once,
        for `Transactor.send_all`. `gas`: the limit to send with; None: estimated now at the chain's
        state (× `GAS_MARGIN`), a revert raised as the registry's decoded `ContractRevert`.

        `ahead`: the batch goes behind others not yet mined, so its nonce is ahead of the
        registry's. It is estimated at the chain's state with the registry's nonce set to its own
        (an `eth_estimateGas` state override), so its limit is its own cost and a revert it would
        meet on its markets is known before it is sent. Only the nonce differs from the state it
        will meet: the batches before it write other markets. A node that refuses state overrides
        raises `ChainError`; so does one that accepts them and does not apply them (the estimate
        reverts on the batch's nonce, which the override set): that is remembered
        (`overrides_ignored`), and this client does not ask such a node again for
        `OVERRIDE_RETRY` seconds."""
        fn = self._writes["proposeUpdates" if proposal else "submitUpdates"]
        data = fn.encode(batch.as_tuple(), signatures)
        if gas is None:
            if (
                ahead
                and self.overrides_ignored is not None
                and time.monotonic() - self.overrides_ignored_at < OVERRIDE_RETRY
            ):
                raise ChainError(f"cannot estimate gas ahead: {self.overrides_ignored}")
            frm = Transactor(self.w3, sender).address
            try:
                tx: Any = {"from": frm, "to": self.address, "data": HexBytes(data)}
                if ahead:
                    estimate = self._estimate_ahead(tx, batch.nonce)
                    if self.overrides_ignored is not None:
                        LOG.warning(
                            "registry %s: the node applies state overrides again; batches "
                            "behind the first go with their own estimates",
                            self.address,
                        )
                        self.overrides_ignored = None
                else:
                    estimate = rpc_retry(self.w3.eth.estimate_gas)(tx)
                gas = int(estimate * GAS_MARGIN)
            except ContractLogicError as exc:
                revert = self.errors.decode(_revert_data(exc))
                if ahead and revert.name in NONCE_ERRORS:  # the override was not applied
                    if self.overrides_ignored is None:
                        LOG.warning(
                            "registry %s: the node ignored the state override (%s); batches "
                            "behind the first go with the pessimistic gas limit, asked again "
                            "in %.0f s",
                            self.address,
                            revert,
                            OVERRIDE_RETRY,
                        )
                    self.overrides_ignored = f"the node ignored the state override ({revert})"
                    self.overrides_ignored_at = time.monotonic()
                    raise ChainError(
                        f"cannot estimate gas ahead: {self.overrides_ignored}"
                    ) from None
                raise revert from None
            except (Web3Exception, OSError, requests.RequestException) as exc:
                raise ChainError(f"cannot estimate gas: {exc}") from None
        return RawCall(self.address, data, gas, self.errors)

    def _estimate_ahead(self, tx: Any, nonce: int) -> int:
        """`tx`'s gas at the latest block with the registry's nonce word set to `nonce`."""
        block = rpc_retry(lambda: self.w3.eth.block_number)()
        word = int.from_bytes(
            rpc_retry(self.w3.eth.get_storage_at)(self.address, NONCE_SLOT, block)
        )
        word = word & ~((1 << NONCE_BITS) - 1) | nonce
        slot = "0x" + NONCE_SLOT.to_bytes(32).hex()
        override: Any = {self.address: {"stateDiff": {slot: "0x" + word.to_bytes(32).hex()}}}
        return int(rpc_retry(self.w3.eth.estimate_gas)(tx, block, override))

    def queued_ids(self, result: TxResult) -> dict[bytes, int]:
        """The proposals a mined `proposeUpdates` queued, by market: read from its
        `ProposalQueued` events, so ids stay right when other proposals share the block."""
        event = self.contract.events.ProposalQueued()
        out: dict[bytes, int] = {}
        for log in result.logs:
            if HexBytes(log["address"]) != HexBytes(self.address):
                continue
            try:
                decoded = event.process_log(log)
            except Web3Exception:  # another event of the registry's
                continue
            out[bytes(decoded["args"]["market"])] = int(decoded["args"]["id"])
        return out

    @cached_property
    def _writes(self) -> dict[str, AbiFunction]:
        """The signed-batch relays as prepared `AbiFunction`s, built once per client."""
        return {n: AbiFunction(self.contract.abi, n) for n in ("submitUpdates", "proposeUpdates")}

    def propose_governance(
        self, updates: list[MarketUpdate], sender: LocalAccount | str
    ) -> TxResult:
        """Governance's own proposal (`propose`), queued behind the timelock."""
        fn = self.contract.functions.propose([u.as_tuple() for u in updates])
        return Transactor(self.w3, sender).send(fn)

    def execute(self, proposal_id: int, sender: LocalAccount | str) -> TxResult:
        return Transactor(self.w3, sender).send(self.contract.functions.execute(proposal_id))

    def cancel(self, proposal_id: int, sender: LocalAccount | str) -> TxResult:
        return Transactor(self.w3, sender).send(self.contract.functions.cancel(proposal_id))

    def set_max_batch_lifetime(self, seconds: int, sender: LocalAccount | str) -> TxResult:
        return Transactor(self.w3, sender).send(
            self.contract.functions.setMaxBatchLifetime(seconds)
        )

    def set_guardrail_profile(
        self, profile: int, guardrails: Guardrails, sender: LocalAccount | str
    ) -> TxResult:
        """Sets a numbered guardrail profile (governance); it applies to every market assigned to
        it."""
        fn = self.contract.functions.setGuardrailProfile(profile, guardrails.as_tuple())
        return Transactor(self.w3, sender).send(fn)

    def configure_profile(
        self, profile: int, guardrails: Guardrails, markets: list[bytes], sender: LocalAccount | str
    ) -> None:
        """Sets a guardrail profile and puts `markets` under it (governance, two transactions)."""
        self.set_guardrail_profile(profile, guardrails, sender)
        self.assign_profile(markets, profile, sender)

    def assign_profile(
        self, markets: list[bytes], profile: int, sender: LocalAccount | str
    ) -> TxResult:
        """Puts markets under a profile (governance); profile 0 takes them off the signed path."""
        fn = self.contract.functions.assignProfile(markets, profile)
        return Transactor(self.w3, sender).send(fn)
