"""Config errors name the key; signing keys never leak into reprs or errors."""

from __future__ import annotations

import re

import pytest
from blake3 import blake3
from eth_account import Account

from oracle.errors import ConfigError, SigningError
from oracle.keeper.config import parse_config
from oracle.multicall import MULTICALL3_ADDRESS
from oracle.signing import (
    Batch,
    MarketUpdate,
    Signer,
    batch_inputs_hash,
    model_version_bytes,
    sign_batch,
    typehash,
)
from tests.helpers import ROOT

ADDR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
GOOD = {
    "chain": {"rpc_url": "http://127.0.0.1:8545", "sender": {"unlocked": ADDR}},
    "registry": {"governance": ADDR, "guardian": ADDR, "signers": [ADDR], "threshold": 1},
}


def with_change(path: str, value):
    import copy

    data = copy.deepcopy(GOOD)
    *parents, leaf = path.split(".")
    node = data
    for p in parents:
        node = node[p]
    node[leaf] = value
    return data


def test_good_config_parses():
    cfg = parse_config(GOOD)
    assert cfg.registry.timelock_delay == 86_400 and cfg.chain.sender.unlocked == ADDR
    assert cfg.chain.multicall == MULTICALL3_ADDRESS  # the canonical Multicall3 unless set
    assert parse_config(with_change("chain.multicall", None)).chain.multicall is None


@pytest.mark.parametrize(
    ("path", "value", "key", "words"),
    [
        ("chain.rpc_url", "ftp://x", "chain.rpc_url", "http"),
        ("registry.governance", "0x1234", "registry.governance", "not an Ethereum address"),
        ("registry.threshold", 2, "registry", "exceeds"),
        ("registry.threshold", 0, "registry.threshold", "greater than or equal"),
        ("registry.signers", [ADDR, ADDR], "registry.signers", "distinct"),
        ("registry.signers", [], "registry.signers", "at least 1"),
        ("registry.timelok_delay", 5, "registry.timelok_delay", "unknown key"),
        ("chain.sender", {}, "chain.sender", "exactly one"),
        ("chain.multicall", "0xca11", "chain.multicall", "not an address"),
    ],
)
def test_bad_config_names_the_key(path, value, key, words):
    with pytest.raises(ConfigError) as info:
        parse_config(with_change(path, value))
    assert info.value.key == key
    assert words in str(info.value)


def with_chains(chains: dict, **keeper) -> dict:
    """GOOD with a keeper of one market and `chains`."""
    import copy

    data = copy.deepcopy(GOOD)
    exchanges = [
        {"name": "a", "exchange": "binance", "symbol": "ETH/USDT"},
        {"name": "b", "exchange": "binanceus", "symbol": "ETH/USDT"},
    ]
    data["feeds"] = {"markets": {"ETH/USDT": {"exchanges": exchanges}}}
    data["keeper"] = {
        "signers": [{"key_env": "K"}],
        "markets": {"ETH/USDT": {"size": 100.0, "history": {"source": "a"}}},
        **keeper,
    }
    data["chains"] = chains
    return data


def test_a_loosening_wait_longer_than_the_store_counts_is_refused():
    """The store counts a market's loosening streak up to `MAX_STREAK` cycles: a longer wait
    would never be reached, and the market would never loosen."""
    from oracle.keeper.store import MAX_STREAK

    cfg = parse_config(with_chains({}, policy={"loosen_after_cycles": MAX_STREAK}))
    assert cfg.keeper.policy.loosen_after_cycles == MAX_STREAK
    with pytest.raises(ConfigError) as info:
        parse_config(with_chains({}, policy={"loosen_after_cycles": MAX_STREAK + 1}))
    assert info.value.key == "keeper.policy.loosen_after_cycles"
    assert "less than or equal to 1000" in str(info.value) and "\n" not in str(info.value)


def other_chain(**change) -> dict:
    return {
        "chain": {"rpc_url": "http://127.0.0.1:8546", "sender": {"unlocked": ADDR}},
        "registry": {"governance": ADDR, "guardian": ADDR, "signers": [ADDR]},
        "store": "arbitrum.db",
    } | change


def test_other_chains_parse_and_each_needs_a_store_and_known_markets():
    cfg = parse_config(with_chains({"arbitrum": other_chain()}))
    assert cfg.chains["arbitrum"].chain.rpc_url.endswith("8546")
    assert cfg.chains["arbitrum"].markets is None  # every keeper market
    with pytest.raises(ConfigError, match="a store of its own"):
        parse_config(with_chains({"arbitrum": other_chain(store="oracle.db")}))
    with pytest.raises(ConfigError, match=r"not among keeper\.markets"):
        parse_config(with_chains({"arbitrum": other_chain(markets=["BTC/USDT"])}))
    with pytest.raises(ConfigError, match="name of the chain section"):
        parse_config(with_chains({"primary": other_chain()}))
    with pytest.raises(ConfigError, match="need a keeper section"):
        parse_config(GOOD | {"chains": {"arbitrum": other_chain()}})


def test_missing_section_and_non_mapping():
    with pytest.raises(ConfigError, match="'registry'"):
        parse_config({"chain": GOOD["chain"]})
    with pytest.raises(ConfigError, match="mapping"):
        parse_config(["not", "a", "mapping"])


def test_signer_never_shows_its_key(monkeypatch):
    acct = Account.create("test entropy")
    key_hex = acct.key.hex()
    monkeypatch.setenv("ORACLE_TEST_KEY", key_hex)
    signer = Signer.from_env("ORACLE_TEST_KEY")
    assert key_hex not in repr(signer) and acct.address in repr(signer)
    monkeypatch.setenv("ORACLE_TEST_KEY", key_hex[:-2] + "zz")
    with pytest.raises(SigningError) as info:
        Signer.from_env("ORACLE_TEST_KEY")
    assert key_hex[:-2] not in str(info.value) and info.value.__cause__ is None
    with pytest.raises(SigningError, match="not set"):
        Signer.from_env("ORACLE_UNSET_VARIABLE")


def test_keystore_round_trip(tmp_path, monkeypatch):
    import json

    acct = Account.create("keystore entropy")
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(acct.key, "pw", iterations=2)))
    monkeypatch.setenv("ORACLE_TEST_PW", "pw")
    assert Signer.from_keystore(path, "ORACLE_TEST_PW").address == acct.address
    monkeypatch.setenv("ORACLE_TEST_PW", "wrong")
    with pytest.raises(SigningError, match="wrong password"):
        Signer.from_keystore(path, "ORACLE_TEST_PW")


def test_batch_validation_and_ordering():
    a, b = b"\x02" * 32, b"\x01" * 32
    batch = Batch(
        1,
        0,
        10,
        b"\0" * 32,
        model_version_bytes("v"),
        (MarketUpdate(a, 1, 2, 3), MarketUpdate(b, 1, 2, 3)),
    )
    assert [u.market for u in batch.updates] == [b, a]
    with pytest.raises(SigningError, match="once"):
        Batch(1, 0, 10, b"\0" * 32, model_version_bytes("v"), (MarketUpdate(a, 1, 2, 3),) * 2)
    with pytest.raises(SigningError, match="uint16"):
        MarketUpdate(a, 70_000, 2, 3)
    with pytest.raises(SigningError, match="at least one"):
        Batch(1, 0, 10, b"\0" * 32, model_version_bytes("v"), ())
    with pytest.raises(SigningError):
        model_version_bytes("x" * 33)


def test_signatures_sorted_by_signer_and_no_duplicates():
    keys = [Signer(Account.create(f"e{i}")) for i in range(3)]
    batch = Batch(
        1, 0, 10, b"\0" * 32, model_version_bytes("v"), (MarketUpdate(b"\1" * 32, 1, 2, 3),)
    )
    sigs = sign_batch(batch, "0x" + "22" * 20, keys)
    digest = batch.digest("0x" + "22" * 20)

    recovered = [Account._recover_hash(digest, signature=s) for s in sigs]
    assert recovered == sorted((k.address for k in keys), key=lambda a: int(a, 16))
    with pytest.raises(SigningError, match="twice"):
        sign_batch(batch, "0x" + "22" * 20, [keys[0], keys[0]])


def test_batch_inputs_hash_is_the_documented_recipe():
    a = (b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x06" * 32)
    b = (b"\x00" * 32, b"\x04" * 32, b"\x05" * 32, b"\x07" * 32)
    # BLAKE3 over each 128-byte entry in increasing market id order, whatever order they come in.
    expected = blake3(b"".join(b) + b"".join(a)).digest()
    assert batch_inputs_hash([a, b]) == batch_inputs_hash([b, a]) == expected
    assert batch_inputs_hash([a]) != batch_inputs_hash([(a[0], a[1], b"\x04" * 32, a[3])])
    assert batch_inputs_hash([a]) != batch_inputs_hash([(a[0], a[1], a[2], b"\x04" * 32)])


def test_batch_inputs_hash_refuses_a_part_of_the_wrong_width():
    with pytest.raises(SigningError, match="inputs hash of an inputs-hash entry must be 32 bytes"):
        batch_inputs_hash([(b"\x01" * 32, b"\x02" * 32, b"", b"\x03" * 32)])
    with pytest.raises(SigningError, match="has 4 parts, got 3"):
        batch_inputs_hash([(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)])  # type: ignore[list-item]


def test_the_contracts_typehashes_are_the_python_types():
    source = (ROOT / "contracts" / "libraries" / "ConstantsLib.sol").read_text()
    for constant, primary in [
        ("MARKET_UPDATE_TYPEHASH", "MarketUpdate"),
        ("BATCH_TYPEHASH", "Batch"),
        ("PROPOSAL_BATCH_TYPEHASH", "ProposalBatch"),
    ]:
        literal = re.search(rf"bytes32 constant {constant} = 0x([0-9a-f]{{64}});", source)
        assert literal is not None, constant
        assert bytes.fromhex(literal.group(1)) == typehash(primary), constant
