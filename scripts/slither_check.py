"""Static analysis of the contracts with Slither; fails on any finding that is not reviewed below.

Run with `make slither` (Slither lives in its own venv: its pinned dependencies clash with ape's).
Our solc is the solc-js wrapper, which only speaks standard JSON, so the compilation goes through
crytic-compile's standard-JSON platform with the project's settings (via-IR, optimizer, Cancun).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from crytic_compile import CryticCompile
from crytic_compile.platform.solc_standard_json import SolcStandardJson
from slither import Slither
from slither.detectors import all_detectors

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("contracts/MarginParameterRegistry.sol", "contracts/examples/ExampleLendingPool.sol")

#: Detector checks reviewed and accepted for our own code, with the reason.
ACCEPTED = {
    "timestamp": "deadlines, ramps, staleness and the loosening interval are time rules by design",
    "uninitialized-local": "zero is the intended start value (no previous signer, market, profile)",
    "unused-return": "tryRecover's error argument and latestRoundData's startedAt are not needed",
    "missing-zero-check": "zero guardian disables the guardian on purpose; zero pending governance "
    "cancels a transfer; zero governance at deploy reverts (ZeroGovernance)",
    "shadowing-local": "interface parameter names mirror getters (signers, threshold, guardian)",
    "naming-convention": "leading underscores on internal storage follow OpenZeppelin's style",
    "solc-version": "interfaces use ^0.8.20 for integrators; contracts pin 0.8.28",
    "pragma": "same: floating pragma on interfaces only",
    "cache-array-length": "admin-only loop over the signer set",
    "unindexed-event-address": "role-change events are rare and read by governance tooling in full",
}


def main() -> int:
    standard_json = SolcStandardJson()
    for target in TARGETS:
        standard_json.add_source_file(target)
    standard_json.add_remapping("@openzeppelin/contracts=node_modules/@openzeppelin/contracts")
    settings = standard_json._json["settings"]  # crytic-compile has no setter for these
    settings.update(viaIR=True, optimizer={"enabled": True, "runs": 1_000_000}, evmVersion="cancun")
    compiled = CryticCompile(standard_json, solc=str(ROOT / ".solcx" / "solc-v0.8.28"))
    slither = Slither(compiled)
    for _, detector in inspect.getmembers(all_detectors, inspect.isclass):
        slither.register_detector(detector)
    unreviewed = 0
    for results in slither.run_detectors():
        for finding in results:
            if "node_modules" in finding["description"] and "contracts/" not in finding[
                "description"
            ].replace("node_modules/@openzeppelin/contracts", ""):
                continue  # OpenZeppelin's own findings
            check = finding["check"]
            first = finding["description"].strip().splitlines()[0]
            if check in ACCEPTED:
                print(f"accepted [{check}] {first[:140]}")
                continue
            unreviewed += 1
            print(f"UNREVIEWED [{finding['impact']}/{check}] {finding['description'].strip()}")
    print(f"{unreviewed} unreviewed finding(s)")
    return 1 if unreviewed else 0


if __name__ == "__main__":
    sys.exit(main())
