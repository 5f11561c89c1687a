"""Settling signed batches left pending by a crash or a lost transaction, for any contract whose
batches carry a sequential nonce (the registry's parameter batches, the arrays contract's batches).

One rule for both: a batch whose nonce the contract has passed is mined (its receipt succeeded) or
consumed (another transaction took the nonce); one past its deadline expired; one whose
transaction reverted on chain, or the node no longer knows, may be replaced; any other may still
land, and blocks the next batch on its nonce.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception

from oracle.chain import node_knows
from oracle.errors import ChainError
from oracle.keeper.store import Store


def settle(
    store: Store,
    kinds: Sequence[str],
    chain_nonce: Callable[[], int],
    w3: Web3,
    now: int,
) -> tuple[list[str], bool]:
    """Settles the pending rows of `kinds` against the contract whose nonce `chain_nonce` reads,
    on the node `w3`; returns notes and whether one may still land."""

    def receipt(tx_hash: str | None) -> Any:
        if tx_hash is None:
            return None
        try:
            return w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"cannot read receipt {tx_hash}: {exc}") from None

    def known(tx_hash: str) -> bool:
        try:
            return node_knows(w3, tx_hash)
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"cannot read transaction {tx_hash}: {exc}") from None

    notes: list[str] = []
    blocked = False
    for row in store.mined_from(chain_nonce(), kinds):
        # The chain's nonce is behind a batch we saw mined: the node came back from an older
        # state or the block was reorganised away. Settle it again like any pending batch.
        if receipt(row.tx_hash) is None:
            store.reopen(row.id, now, "its block is no longer on the chain")
            notes.append(
                f"push {row.id} (nonce {row.nonce}) was mined in a block the chain no longer "
                "has: pending again"
            )
    for row in store.pending(kinds):
        nonce = chain_nonce()
        mined = receipt(row.tx_hash)
        if row.nonce < nonce:
            if mined is not None and mined["status"] == 1:
                store.mark(
                    row.id, "mined", now, block=mined["blockNumber"], gas_used=mined["gasUsed"]
                )
                notes.append(f"push {row.id} (nonce {row.nonce}) was mined before the restart")
            else:
                store.mark(row.id, "consumed", now)
                notes.append(f"push {row.id}: nonce {row.nonce} was taken by another transaction")
        elif now > int(row.payload["deadline"]):
            store.mark(row.id, "expired", now)
            notes.append(f"push {row.id} (nonce {row.nonce}) expired unmined; values recomputed")
        elif mined is not None and mined["status"] != 1:
            # Our transaction was mined and reverted (a crash came before its outcome was
            # stored): its account nonce is spent, so it cannot land, and a fresh batch may take
            # the registry's nonce. The row stays open until the chain passes its nonce (then
            # `consumed`) or its deadline, as anyone else relaying its public payload could
            # still apply it first.
            notes.append(
                f"push {row.id} (nonce {row.nonce}) reverted on chain; a fresh batch may take "
                "the nonce"
            )
        elif row.tx_hash is not None and not known(row.tx_hash):
            # Broadcast, yet neither mined nor in the node's pool: the node restarted without
            # its mempool, or evicted it. Waiting for the deadline would hold the contract for
            # minutes; a fresh batch may take the nonce instead. If the old transaction
            # reappears and lands first, the fresh one fails on the nonce: one applies, never
            # both, and this row is settled from the chain's receipt either way.
            notes.append(
                f"push {row.id} (nonce {row.nonce}): the node no longer knows its "
                "transaction; a fresh batch may take the nonce"
            )
        else:
            blocked = True
            notes.append(f"push {row.id} (nonce {row.nonce}) may still land until its deadline")
    return notes, blocked
