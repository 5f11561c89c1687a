"""`oracle deploy --write-config` edits the one `registry.address` line of a config and nothing
else; a file without that line is refused in one error, left as it was."""

from __future__ import annotations

import pytest

from oracle.cli import _write_registry_address
from oracle.errors import ConfigError
from oracle.keeper.config import init_template, load_config

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_only_the_address_line_changes(tmp_path):
    path = tmp_path / "oracle.yaml"
    before = init_template(9100)
    path.write_text(before)
    _write_registry_address(path, ADDRESS)
    after = path.read_text()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert changed == [("  address: null", f'  address: "{ADDRESS}"')]
    assert load_config(path).registry.address == ADDRESS
    # a feed's api_url or another block's keys are never mistaken for it
    assert after.count(ADDRESS) == 1


def test_a_config_without_the_line_is_refused_and_kept(tmp_path):
    path = tmp_path / "oracle.yaml"
    text = init_template().replace("  address: null\n", "")
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"no such line in {path}: set it to {ADDRESS} by hand"):
        _write_registry_address(path, ADDRESS)
    assert path.read_text() == text
