"""Anvil's well-known development accounts. Their keys are public test keys: never hold value
with them, and never use them outside a local chain."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

#: Anvil's default mnemonic; every Anvil derives the same accounts from it.
TEST_MNEMONIC = "test test test test test test test test test test test junk"


def dev_account(index: int) -> LocalAccount:
    """Account `index` of Anvil's development mnemonic."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(TEST_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
