"""The registry as the contract tests deploy it through ape."""

from __future__ import annotations

from collections.abc import Sequence

from oracle.signing import Signer
from tests.helpers.time import DAY

#: Id of the guardrail profile the fixtures assign to their markets.
PROFILE = 1
#: The fixtures' governance timelock.
TIMELOCK = 2 * DAY


def deploy(project, governance, guardian, signers: Sequence[Signer], threshold: int):
    """A registry with `signers` (m-of-n with m = `threshold`) and the fixtures' timelock."""
    return project.MarginParameterRegistry.deploy(
        governance, guardian, [s.address for s in signers], threshold, TIMELOCK, sender=governance
    )
