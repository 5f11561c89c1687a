"""`RiskArrayRegistry` read and written through web3.py: scenario sets, published arrays, signed
batches and portfolio margins."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3

from oracle.chain import ContractClient, RegistryClient, Transactor, TxResult, deploy_contract
from oracle.policy.arrays import Margin, PublishedArray, ScenarioSetLimits
from oracle.signing.risk_arrays import RiskArrayBatch


class RiskArrayClient(ContractClient):
    """The arrays contract at `address`."""

    NAME = "RiskArrayRegistry"

    @classmethod
    def deploy(
        cls, w3: Web3, sender: LocalAccount | str, *, registry: str
    ) -> tuple[RiskArrayClient, TxResult]:
        contract, result = deploy_contract(w3, sender, cls.NAME, to_checksum_address(registry))
        return cls(w3, contract.address), result

    # Reads -------------------------------------------------------------------------------------

    def nonce(self, block: int | str = "latest") -> int:
        return int(self._call("batchNonce", block=block))

    def registry(self) -> str:
        return str(self._call("registry"))

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def max_batch_lifetime(self) -> int:
        """The registry's `maxBatchLifetime`, which bounds these batches' deadlines too."""
        return RegistryClient(self.w3, self.registry()).max_batch_lifetime()

    def version(self) -> str:
        return str(self._call("version"))

    def scenario_set(self, set_id: int, block: int | str = "latest") -> ScenarioSetLimits:
        return ScenarioSetLimits.from_tuple(self._call("scenarioSet", set_id, block=block))

    def published(self, asset: bytes, block: int | str = "latest") -> PublishedArray | None:
        """The asset's stored word, unpacked (None if never published)."""
        return PublishedArray.unpack(int(self._call("arrayWord", asset, block=block)))

    def portfolio_margin(self, assets: Sequence[bytes], positions: Sequence[int]) -> Margin:
        """`marginBreakdown`: positions in 18-decimal USD, assets sorted."""
        b = self._call("marginBreakdown", list(assets), list(positions))
        return Margin(int(b[0]), int(b[1]), int(b[2]), int(b[3]), int(b[4]))

    def isolated_margin(self, assets: Sequence[bytes], positions: Sequence[int]) -> int:
        return int(self._call("isolatedMargin", list(assets), list(positions)))

    # Writes ------------------------------------------------------------------------------------

    def submit(
        self,
        batch: RiskArrayBatch,
        signatures: list[bytes],
        sender: LocalAccount | str,
        on_sent: Callable[[str], None] | None = None,
    ) -> TxResult:
        """Relays a signed batch of arrays (`submitRiskArrays`)."""
        fn = self.contract.functions.submitRiskArrays(batch.as_tuple(), signatures)
        return Transactor(self.w3, sender).send(fn, on_sent)

    def set_scenario_set(
        self, set_id: int, limits: ScenarioSetLimits, sender: LocalAccount | str
    ) -> TxResult:
        """Governance sets (or retires) a scenario set."""
        fn = self.contract.functions.setScenarioSet(set_id, limits.as_tuple())
        return Transactor(self.w3, sender).send(fn)
