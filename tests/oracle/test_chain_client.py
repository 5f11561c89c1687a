"""The web3.py client against ape's Anvil: deploy, read, submit, and reverts decoded to custom
errors."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import pytest

from oracle.chain import GAS_MARGIN, NONCE_BITS, NONCE_SLOT, RegistryClient
from oracle.errors import ContractRevert
from oracle.signing import Batch, MarketUpdate, model_version_bytes, sign_batch
from oracle.types import Params
from tests.helpers import ROOT
from tests.helpers.guardrails import TEST_GUARDRAILS
from tests.helpers.markets import ETH


@pytest.fixture
def client(chain, governance, guardian, signer_keys):
    w3 = chain.provider.web3
    c, tx = RegistryClient.deploy(
        w3,
        governance.address,
        governance=governance.address,
        guardian=guardian.address,
        signers=[signer_keys[0].address],
        threshold=1,
        timelock_delay=3600,
    )
    assert tx.gas_used > 0
    c.configure_profile(1, TEST_GUARDRAILS, [ETH], governance.address)
    return c


def batch(client, chain, ltv, lt, lb):
    return Batch(
        chain_id=client.chain_id(),
        nonce=client.nonce(),
        deadline=chain.pending_timestamp + 600,
        inputs_hash=b"\x01" * 32,
        model_version=model_version_bytes("t"),
        updates=(MarketUpdate(ETH, ltv, lt, lb),),
    )


def test_submit_and_read(client, chain, signer_keys, relayer):
    b = batch(client, chain, 7000, 8000, 500)
    assert client.hash_batch(b) == b.digest(client.address)
    result = client.submit(b, sign_batch(b, client.address, signer_keys[:1]), relayer.address)
    assert result.gas_used > 0
    p = client.parameters(ETH)
    assert p.params == Params(7000, 8000, 500)
    assert client.nonce() == 1
    assert client.guardrails(ETH) == TEST_GUARDRAILS
    assert client.market_profile(ETH) == 1
    assert client.signers() == [signer_keys[0].address] and client.threshold() == 1


def test_revert_is_decoded_to_the_custom_error(client, chain, signer_keys, relayer):
    b = batch(client, chain, 7000, 8000, 500)
    client.submit(b, sign_batch(b, client.address, signer_keys[:1]), relayer.address)
    bad = batch(client, chain, 5000, 8000, 500)  # 2000 bps tightening step > 1000
    with pytest.raises(ContractRevert) as info:
        client.submit(bad, sign_batch(bad, client.address, signer_keys[:1]), relayer.address)
    err = info.value
    assert err.name == "StepTooLarge"
    assert err.args_by_name == {
        "market": ETH,
        "field": 0,
        "from": 7000,
        "to": 5000,
        "maxStep": 1000,
    }
    assert "StepTooLarge(" in str(err) and "maxStep=1000" in str(err)


def test_checked_read_error_is_decoded(client):
    with pytest.raises(ContractRevert) as info:
        client.parameters_checked(ETH, 60)
    assert info.value.name == "MarketNotSet"


def write_config(path, rpc_url, governance, guardian, signer, extra=""):
    path.write_text(
        f"chain:\n  rpc_url: {rpc_url}\n  sender: {{unlocked: '{governance.address}'}}\n"
        f"registry:\n  governance: '{governance.address}'\n  guardian: '{guardian.address}'\n"
        f"  signers: ['{signer.address}']\n{extra}"
    )
    return path


def run_cli(config, *args, check=True):
    return subprocess.run(
        [sys.executable, "-m", "oracle.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=check,
    )


def test_cli_deploy_prints_address_as_json(chain, governance, guardian, signer_keys, tmp_path):
    cfg = write_config(
        tmp_path / "oracle.yaml",
        chain.provider.uri,
        governance,
        guardian,
        signer_keys[0],
        "  threshold: 1\n  timelock_delay: 60\n",
    )
    deployed = json.loads(run_cli(cfg, "deploy").stdout)
    client = RegistryClient(chain.provider.web3, deployed["registry"])
    assert client.signers() == [signer_keys[0].address]
    assert deployed["chain_id"] == chain.chain_id
    args = ("params", "ETH/USD", "--address", deployed["registry"])
    unknown = run_cli(cfg, *args, check=False)  # never set, no profile: a typo or not yet listed
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "ETH/USD (0x" in unknown.stderr and "is not set on the registry" in unknown.stderr
    client.configure_profile(1, TEST_GUARDRAILS, [ETH], governance.address)
    shown = json.loads(run_cli(cfg, *args).stdout)
    assert shown["market_id"] == "0x" + ETH.hex() and shown["set"] is False
    assert shown["parameters"] is None and shown["guardrail_profile"] == 1
    assert shown["guardrails"] == dataclasses.asdict(TEST_GUARDRAILS)


def test_cli_reports_unreachable_rpc(governance, guardian, signer_keys, tmp_path):
    from oracle.devnet.anvil import free_port

    url = f"http://127.0.0.1:{free_port()}"
    cfg = write_config(tmp_path / "oracle.yaml", url, governance, guardian, signer_keys[0])
    out = run_cli(cfg, "deploy", check=False)
    assert out.returncode == 1
    assert "cannot reach the RPC node" in out.stderr and "chain.rpc_url" in out.stderr
    assert "Traceback" not in out.stderr


def test_state_history_is_the_path_the_chain_held(
    client, chain, signer_keys, relayer, one_second_blocks
):
    def push(ltv, lt, lb):
        b = batch(client, chain, ltv, lt, lb)
        return client.submit(b, sign_batch(b, client.address, signer_keys[:1]), relayer.address)

    first = push(7000, 8000, 500)
    push(7000, 8000, 500)  # a heartbeat: no value change, no entry
    cut = push(6500, 7500, 500)
    history = client.state_history(ETH)
    assert [s.params for _, s in history] == [Params(7000, 8000, 500), Params(6500, 7500, 500)]
    w3 = chain.provider.web3
    assert [t for t, _ in history] == [
        w3.eth.get_block(r.block_number)["timestamp"] for r in (first, cut)
    ]
    when, state = history[-1]
    assert state == client.market_state(ETH, cut.block_number)
    assert state.ramp_end == when + TEST_GUARDRAILS.threshold_ramp_duration  # the ramp comes along


def test_the_registry_reports_its_release(client):
    """`version()` returns the release written once, in ConstantsLib.sol."""
    source = (ROOT / "contracts" / "libraries" / "ConstantsLib.sol").read_text()
    [release] = re.findall(r'REGISTRY_VERSION = "([0-9.]+)"', source)
    assert client.version() == release == "1.1.0"


def test_the_nonce_word_mirrored_for_estimates_ahead_is_the_registrys(
    client, chain, signer_keys, relayer
):
    """`NONCE_SLOT`/`NONCE_BITS` (the state override of `relay_call(ahead=True)`) read the nonce
    the registry reports, and the override estimates a batch two nonces ahead of it."""
    w3 = client.w3
    b = batch(client, chain, 7_000, 8000, 500)
    client.submit(b, sign_batch(b, client.address, signer_keys[:1]), relayer.address)
    w3.provider.make_request("evm_increaseTime", [3_600])  # past the market's update interval
    w3.provider.make_request("evm_mine", [])
    word = int.from_bytes(w3.eth.get_storage_at(client.address, NONCE_SLOT))
    assert word & ((1 << NONCE_BITS) - 1) == client.nonce() == 1
    assert (word >> NONCE_BITS) & 0xFF == client.threshold() == 1  # the next field: the threshold
    ahead = dataclasses.replace(batch(client, chain, 6_900, 8000, 500), nonce=3)
    sigs = sign_batch(ahead, client.address, signer_keys[:1])
    call = client.relay_call(ahead, sigs, relayer.address, proposal=False, ahead=True)
    same = dataclasses.replace(ahead, nonce=1)
    now = client.relay_call(
        same, sign_batch(same, client.address, signer_keys[:1]), relayer.address, proposal=False
    )
    assert abs(call.gas - now.gas) <= GAS_MARGIN * 64  # the same work: only the nonce differs
    with pytest.raises(ContractRevert, match="NonceOutOfOrder"):  # without the override
        client.relay_call(ahead, sigs, relayer.address, proposal=False)
