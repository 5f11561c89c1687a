"""Every member of the integrator-facing interfaces carries NatSpec: a Solidity integrator reads the
interface file, not the implementation (Morpho Blue's IMorpho.sol has no undocumented member)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT

INTERFACES = [
    "IMarginParameterRegistry.sol",
    "IMarginParameters.sol",
    "IAaveV3RiskAdapter.sol",
    "IAaveV3.sol",
]
MEMBER = re.compile(r"^\s*(function|event|error)\s+(\w+)")


def undocumented(source: str) -> list[str]:
    """Members whose declaration is not directly preceded by a `///` line (multi-line NatSpec and
    multi-line declarations included)."""
    missing = []
    lines = source.splitlines()
    for i, line in enumerate(lines):
        m = MEMBER.match(line)
        if m and not lines[i - 1].strip().startswith("///"):
            missing.append(f"{m.group(1)} {m.group(2)}")
    return missing


def test_the_check_finds_an_undocumented_member():
    assert undocumented("/// @notice a\nfunction a() external;\nfunction b() external;") == [
        "function b"
    ]


@pytest.mark.parametrize("name", INTERFACES)
def test_every_interface_member_has_natspec(name):
    source = (ROOT / "contracts" / "interfaces" / name).read_text()
    members = [line for line in source.splitlines() if MEMBER.match(line)]
    assert members, f"no members found in {name}: the check would pass vacuously"
    assert undocumented(source) == []
