"""Many view calls at one block in one `eth_call`, through Multicall3's `aggregate3`.

Multicall3 sits at the same address on most EVM chains (`MULTICALL3_ADDRESS`, deployed by a
keyless transaction); the dev chain gets the same code at the same address
(`oracle.devnet.anvil`). A keeper with hundreds of markets reads every market's registry state
(`oracle.chain`) and every on-chain feed (`oracle.feeds.onchain`) in a few requests instead of
several per market, and each read goes through a prepared `AbiFunction` (selector and types worked
out once) rather than web3.py's contract layer, which looks the ABI up and validates it on every
call: at 500 markets that lookup alone cost seconds a cycle.

Below both the feeds and the chain layer, so both read through the one implementation; retrying
is the caller's choice (`retry`): the chain layer retries a node's transient failures, the feeds
add no retry of their own (a failed read fails that cycle's reading; the next cycle asks again).

Hand-written because web3.py (v7) has no Multicall3 support and the request is one ABI encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from eth_utils.abi import collapse_if_tuple
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import BlockIdentifier

from oracle.errors import ChainError

#: Multicall3's address on Ethereum and most other EVM chains (and on our dev chain).
MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
_AGGREGATE3 = function_signature_to_4byte_selector("aggregate3((address,bool,bytes)[])")
#: Calls per `eth_call`: a node caps a call's gas (often at the block gas limit) and its answer's
#: size; 250 registry reads stay far below both, as do 250 feed reads (a Chainlink round or a
#: Uniswap `observe` about 12,000 gas each on the dev chain).
CHUNK = 250


class NoMulticall(ChainError):
    """Multicall3 could not answer: nothing at its address answers as it does, or the request
    reverted as a whole. Read one call at a time instead (a node that does not answer is a plain
    `ChainError`: reading call by call would not help there)."""


class AbiFunction:
    """One function of a contract's ABI, prepared once: encodes calls and decodes answers the
    way web3.py's `call` returns them (one output alone, several as a tuple, addresses
    checksummed), arrays aside (tuples here, lists there)."""

    def __init__(self, abi: Sequence[Any], name: str) -> None:  # web3's ABI entries (TypedDicts)
        entries = [e for e in abi if e.get("type") == "function" and e.get("name") == name]
        if len(entries) != 1:
            raise ValueError(f"the ABI has {len(entries)} functions named {name!r}, not one")
        entry = entries[0]
        self.name = name
        self.inputs = [collapse_if_tuple(i) for i in entry["inputs"]]
        self.outputs = [collapse_if_tuple(o) for o in entry["outputs"]]
        self._output_params = entry["outputs"]
        self.selector = function_signature_to_4byte_selector(f"{name}({','.join(self.inputs)})")

    def encode(self, *args: Any) -> bytes:
        return self.selector + abi_encode(self.inputs, list(args))

    def decode(self, data: bytes) -> Any:
        values = _checksummed(abi_decode(self.outputs, data), self._output_params)
        return values[0] if len(values) == 1 else values


def _checksummed(values: Sequence[Any], params: Sequence[Any]) -> tuple[Any, ...]:
    """Addresses as web3.py returns them (checksummed; eth_abi gives them in lower case), into
    structs by the ABI's own components."""
    out = []
    for value, param in zip(values, params, strict=True):
        if param["type"] == "address":
            value = to_checksum_address(value)
        elif param["type"] == "tuple":
            value = _checksummed(value, param["components"])
        out.append(value)
    return tuple(out)


@dataclass(frozen=True)
class Call:
    """One view call: `data` sent to `target`."""

    target: str
    data: bytes


def aggregate(
    w3: Web3,
    calls: Sequence[Call],
    block: BlockIdentifier,
    *,
    address: str = MULTICALL3_ADDRESS,
    chunk: int = CHUNK,
    retry: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None,
) -> list[bytes | None]:
    """Each call's return data at `block` (None where it reverted; empty where the target has no
    code, which Multicall3 reports as a success), in order, `chunk` calls per request, each
    request through `retry` (a decorator such as `oracle.chain.rpc_retry`) when given. A missing
    Multicall3 raises `NoMulticall` (the caller then reads one call at a time, so the keeper is
    slower there but never blind), a node that does not answer `ChainError`."""
    target = to_checksum_address(address)
    send = w3.eth.call if retry is None else retry(w3.eth.call)
    results: list[bytes | None] = []
    for i in range(0, len(calls), chunk):
        results += _answers(send, target, calls[i : i + chunk], block)
    return results


def _answers(
    send: Callable[..., Any], target: str, part: Sequence[Call], block: BlockIdentifier
) -> list[bytes | None]:
    """`part`'s answers from one `aggregate3` request. A call that burns all the gas it gets
    (Multicall3 forwards 63/64 of what is left to each call) can leave too little for the calls
    after it, and the node then fails the whole request out of gas: one broken or hostile
    target (a feed's aggregator, a pool) would blind every read beside it. The request is then
    split in halves until such a call is alone, and it reads as failed (None)."""
    data = _AGGREGATE3 + abi_encode(
        ["(address,bool,bytes)[]"], [[(c.target, True, c.data) for c in part]]
    )
    try:
        raw = bytes(send({"to": target, "data": data}, block))
    except ContractLogicError as exc:  # not Multicall3: one by one
        raise NoMulticall(f"Multicall3 at {target} reverted: {exc}") from None
    except (Web3Exception, OSError, requests.RequestException) as exc:
        if not _out_of_gas(exc):
            raise ChainError(f"Multicall3 at {target}: {exc}") from None
        if len(part) == 1:
            return [None]
        half = len(part) // 2
        return _answers(send, target, part[:half], block) + _answers(
            send, target, part[half:], block
        )
    if not raw:
        raise NoMulticall(f"no Multicall3 at {target} on this chain (set chain.multicall)")
    try:
        (answers,) = abi_decode(["(bool,bytes)[]"], raw)
    except Exception as exc:  # eth_abi raises several kinds for a short or odd answer
        raise NoMulticall(f"Multicall3 at {target} answered something else: {exc}") from None
    if len(answers) != len(part):
        raise NoMulticall(f"Multicall3 at {target}: {len(answers)} answers to {len(part)} calls")
    return [bytes(r) if ok else None for ok, r in answers]


def _out_of_gas(exc: BaseException) -> bool:
    """The node's "out of gas" for a call (Anvil: "EVM error OutOfGas"; Geth, Erigon, Nethermind:
    "out of gas"), which has no revert data for web3.py to raise as a revert."""
    return "outofgas" in str(exc).replace(" ", "").replace("_", "").lower()
