"""The Solidity decoder of `ParametersUpdated.change` agrees with the registry's packing and with
the Python decoder, on a real update with a threshold ramp."""

from __future__ import annotations

from oracle.chain import ParameterChange
from tests.helpers.markets import ETH


def test_the_solidity_decoder_reads_what_the_registry_packs(
    project, registry, push, governance
):
    decoder = project.ParameterChangeDecoder.deploy(sender=governance)
    push(registry, [(ETH, 7000, 8000, 500)])
    receipt = push(registry, [(ETH, 6500, 7500, 600)])  # a cut: ramped
    [event] = list(receipt.events.filter(registry.ParametersUpdated))
    decoded = decoder.decode(event.change)
    python = ParameterChange.from_word(event.change)
    assert tuple(decoded) == (
        *python.new.as_tuple(),
        *python.previous.as_tuple(),
        python.threshold_ramp_end,
    )
    assert python.new.as_tuple() == (6500, 7500, 600)
    assert python.previous.as_tuple() == (7000, 8000, 500)
    assert python.threshold_ramp_end == registry.marketState(ETH)[6] > receipt.timestamp
    assert decoder.isThresholdCut(event.change)
    raise_ = push(registry, [(ETH, 6500, 7500, 700)])  # a higher bonus only: no cut
    [event] = list(raise_.events.filter(registry.ParametersUpdated))
    assert not decoder.isThresholdCut(event.change)
