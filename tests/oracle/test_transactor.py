"""Sending under trouble: a stuck transaction is replaced with higher fees; transient RPC errors are
retried with backoff and real errors are not. Runs its own Anvil (started and stopped by PID) so it
can switch automining off."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError

from oracle.chain import (
    ErrorDecoder,
    RawCall,
    Transactor,
    TxResult,
    deploy_contract,
    node_knows,
    rpc_retry,
)
from oracle.devnet.accounts import dev_account
from oracle.devnet.anvil import AnvilNode
from oracle.errors import ContractRevert


def test_stuck_transaction_is_replaced_with_higher_fees():
    with AnvilNode() as w3:
        gov = w3.eth.accounts[0]
        token, _ = deploy_contract(w3, gov, "MockERC20", "Test", "TST", 18)
        key = dev_account(3)
        w3.provider.make_request("evm_setAutomine", [False])
        hashes: list[str] = []
        result: dict = {}

        def send():
            tx = Transactor(w3, key, wait=0.8, replacements=3)
            result["tx"] = tx.send(token.functions.mint(key.address, 10**18), on_sent=hashes.append)

        worker = threading.Thread(target=send)
        worker.start()
        deadline = time.monotonic() + 20
        # one replacement, at the node (its hash is recorded before it is sent)
        while not (len(hashes) >= 2 and node_knows(w3, hashes[-1])):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        w3.provider.make_request("evm_mine", [])
        worker.join(20)
        assert len(hashes) >= 2, hashes
        mined = w3.eth.get_transaction(result["tx"].tx_hash)
        assert result["tx"].tx_hash in hashes[1:]  # a replacement landed, not the original
        assert mined["nonce"] == w3.eth.get_transaction_count(key.address) - 1
        assert token.functions.balanceOf(key.address).call() == 10**18  # applied exactly once


def test_transient_errors_are_retried_then_succeed():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise requests.ConnectionError("connection reset by peer")
        return 42

    assert rpc_retry(flaky)() == 42 and len(calls) == 3


def test_real_errors_are_not_retried():
    calls = []

    def reverts():
        calls.append(1)
        raise ContractLogicError("execution reverted")

    with pytest.raises(ContractLogicError):
        rpc_retry(reverts)()
    assert len(calls) == 1


def test_persistent_outage_surfaces_after_backoff():
    calls = []

    def down():
        calls.append(time.monotonic())
        raise requests.ConnectionError("refused")

    with pytest.raises(requests.ConnectionError):
        rpc_retry(down)()
    assert len(calls) == 4 and calls[-1] - calls[0] >= 0.25 + 0.5 + 1.0 - 0.05


def test_nonce_taken_by_a_manual_transaction_is_recovered(monkeypatch):
    with AnvilNode() as w3:
        gov = w3.eth.accounts[0]
        token, _ = deploy_contract(w3, gov, "MockERC20", "Test", "TST", 18)
        key = dev_account(4)
        stale = w3.eth.get_transaction_count(key.address)
        # The operator sends a transaction by hand from the keeper's account ...
        manual = key.sign_transaction(
            {
                "to": gov,
                "value": 1,
                "gas": 21_000,
                "nonce": stale,
                "chainId": w3.eth.chain_id,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(manual.raw_transaction))
        # ... after the keeper read its nonce: the first read returns the nonce now taken.
        real = w3.eth.get_transaction_count
        reads = []

        def racing(address, block="latest"):
            reads.append(block)
            return stale if len(reads) == 1 else real(address, block)

        monkeypatch.setattr(w3.eth, "get_transaction_count", racing)
        result = Transactor(w3, key).send(token.functions.mint(key.address, 5))
        monkeypatch.undo()
        assert w3.eth.get_transaction(result.tx_hash)["nonce"] == stale + 1
        assert token.functions.balanceOf(key.address).call() == 5


def test_calls_sent_back_to_back_share_a_block_and_keep_their_own_outcomes():
    """`send_all` signs consecutive nonces and sends every call before waiting for any: one block
    holds them. A call that reverts is that call's outcome (decoded), not its neighbours'."""
    with AnvilNode() as w3:
        gov = w3.eth.accounts[0]
        token, _ = deploy_contract(w3, gov, "MockERC20", "Test", "TST", 18)
        key = dev_account(6)
        errors = ErrorDecoder(token.abi)

        def call(fn) -> RawCall:
            return RawCall(token.address, HexBytes(fn._encode_transaction_data()), 200_000, errors)

        calls = [
            call(token.functions.mint(key.address, 5)),
            call(token.functions.transfer(gov, 10**30)),  # more than the account holds
            call(token.functions.mint(key.address, 7)),
        ]
        first = w3.eth.get_transaction_count(key.address)
        w3.provider.make_request("evm_setAutomine", [False])
        hashes: list[str] = []
        outcomes: list = []
        worker = threading.Thread(
            target=lambda: outcomes.extend(
                Transactor(w3, key).send_all(calls, [hashes.append] * len(calls))
            )
        )
        worker.start()
        deadline = time.monotonic() + 20
        while len(hashes) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(hashes) == 3 and not outcomes  # all three out, none confirmed yet
        w3.provider.make_request("evm_mine", [])
        worker.join(20)
        w3.provider.make_request("evm_setAutomine", [True])
        minted, refused, minted_again = outcomes
        assert isinstance(minted, TxResult) and isinstance(minted_again, TxResult)
        assert isinstance(refused, ContractRevert) and refused.name == "ERC20InsufficientBalance"
        assert minted.block_number == minted_again.block_number
        nonces = [w3.eth.get_transaction(h)["nonce"] for h in hashes]
        assert nonces == [first, first + 1, first + 2]
        assert token.functions.balanceOf(key.address).call() == 12


def test_a_retried_send_whose_first_attempt_arrived_is_not_sent_twice(monkeypatch):
    """The node takes the transaction but the answer is lost (a timeout), so the send is retried:
    the node says the nonce is used — by this very transaction. It is one send, not a reason to
    sign the call again on the next nonce (which would mint twice)."""
    with AnvilNode() as w3:
        gov = w3.eth.accounts[0]
        token, _ = deploy_contract(w3, gov, "MockERC20", "Test", "TST", 18)
        key = dev_account(8)
        real = w3.eth.send_raw_transaction
        attempts = []

        def answer_lost(raw):
            attempts.append(raw)
            if len(attempts) == 1:
                real(raw)  # it arrives (and automining mines it) ...
                raise requests.Timeout("read timed out")  # ... but the answer does not
            return real(raw)

        monkeypatch.setattr(w3.eth, "send_raw_transaction", answer_lost)
        call = RawCall(
            token.address,
            HexBytes(token.functions.mint(key.address, 5)._encode_transaction_data()),
            200_000,
            ErrorDecoder(token.abi),
        )
        hashes: list[str] = []
        (outcome,) = Transactor(w3, key).send_all([call], [hashes.append])
        monkeypatch.undo()
        assert isinstance(outcome, TxResult)
        assert len(attempts) == 2 and hashes == [outcome.tx_hash]
        assert token.functions.balanceOf(key.address).call() == 5  # minted once


def _mints(w3, key, amounts):
    gov = w3.eth.accounts[0]
    token, _ = deploy_contract(w3, gov, "MockERC20", "Test", "TST", 18)
    errors = ErrorDecoder(token.abi)
    calls = [
        RawCall(
            token.address,
            HexBytes(token.functions.mint(key.address, a)._encode_transaction_data()),
            200_000,
            errors,
        )
        for a in amounts
    ]
    return token, calls


def test_a_stuck_transaction_is_replaced_with_every_one_sent_behind_it():
    """Fees too low for the first transaction of a back-to-back sequence are too low for the rest:
    when the first is replaced, so is every one behind it, at once — not each after the one before
    it is mined and its own wait has run out (k waits for the k-th). All land, once each, in the
    block that follows, each as a replacement."""
    with AnvilNode() as w3:
        key = dev_account(6)
        token, calls = _mints(w3, key, (1, 2, 4))
        w3.provider.make_request("evm_setAutomine", [False])
        hashes: list[list[str]] = [[], [], []]
        outcomes: list = []
        sender = Transactor(w3, key, wait=0.8, replacements=3)
        worker = threading.Thread(
            target=lambda: outcomes.extend(sender.send_all(calls, [h.append for h in hashes]))
        )
        worker.start()
        deadline = time.monotonic() + 20
        while not all(len(h) >= 2 and node_knows(w3, h[-1]) for h in hashes):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        replaced = [len(h) for h in hashes]
        w3.provider.make_request("evm_mine", [])
        worker.join(20)
        w3.provider.make_request("evm_setAutomine", [True])
        assert min(replaced) >= 2, replaced  # the last two replaced while the first was unmined
        assert all(isinstance(o, TxResult) for o in outcomes), outcomes
        assert len({o.block_number for o in outcomes}) == 1
        for versions, outcome in zip(hashes, outcomes, strict=True):
            assert outcome.tx_hash in versions[1:]  # a replacement landed
        assert token.functions.balanceOf(key.address).call() == 7  # each applied exactly once


def test_a_transaction_mined_while_the_one_before_it_was_handled_is_not_replaced():
    """Both land in one block; handling the first one's outcome (a store write, a revert replay)
    outlasts the second's wait. Its receipt is looked for before any replacement: a replacement
    first would be refused (nonce too low) and a mined transaction reported as failed."""
    with AnvilNode() as w3:
        key = dev_account(7)
        token, calls = _mints(w3, key, (1, 2))
        w3.provider.make_request("evm_setAutomine", [False])
        outcomes: list = []

        def on_outcome(i, _outcome):
            if i == 0:
                time.sleep(1.2)

        sender = Transactor(w3, key, wait=1.0, replacements=3)
        worker = threading.Thread(
            target=lambda: outcomes.extend(sender.send_all(calls, None, on_outcome))
        )
        worker.start()
        time.sleep(0.4)
        w3.provider.make_request("evm_mine", [])  # both land, inside the first one's wait
        worker.join(20)
        w3.provider.make_request("evm_setAutomine", [True])
        assert token.functions.balanceOf(key.address).call() == 3
        assert all(isinstance(o, TxResult) for o in outcomes), outcomes


def test_a_replacement_whose_answer_is_lost_is_still_recorded_and_found():
    """The replacement of a transaction behind the stuck one reaches the node, but the answer is
    lost and the retry is refused as already known: its hash was recorded before it was sent,
    and is looked for, so the outcome is the replacement's receipt."""
    with AnvilNode() as w3:
        key = dev_account(8)
        token, calls = _mints(w3, key, (1, 2))
        w3.provider.make_request("evm_setAutomine", [False])
        real = w3.eth.send_raw_transaction
        count = [0]

        def answer_lost(raw):
            count[0] += 1
            tx_hash = real(raw)
            if count[0] == 4:  # sends: A, B, A's replacement, B's replacement <- answer lost
                raise requests.Timeout("reply lost")
            return tx_hash

        w3.eth.send_raw_transaction = answer_lost
        hashes: list[list[str]] = [[], []]
        outcomes: list = []
        sender = Transactor(w3, key, wait=1.0, replacements=3)
        worker = threading.Thread(
            target=lambda: outcomes.extend(sender.send_all(calls, [h.append for h in hashes]))
        )
        worker.start()
        time.sleep(1.6)  # after the first replacements
        w3.provider.make_request("evm_mine", [])
        worker.join(30)
        w3.provider.make_request("evm_setAutomine", [True])
        assert token.functions.balanceOf(key.address).call() == 3
        assert all(isinstance(o, TxResult) for o in outcomes), outcomes
        assert all(o.tx_hash in h for o, h in zip(outcomes, hashes, strict=True))
