"""`oracle guardrails show|set|assign`: the registry's guardrail profiles from the command line, so
an operator or a risk council never needs Python to bound the keeper."""

from __future__ import annotations

import dataclasses
import json

import click

from oracle.cli import _config, _market_names, main
from oracle.errors import ConfigError
from oracle.markets import market_id
from oracle.types import BLUE_CHIP_GUARDRAILS, Guardrails

#: Starting points for `set --preset` (the blue-chip profile is the one we recommend; see
#: `oracle.types`).
PRESETS = {"blue-chip": BLUE_CHIP_GUARDRAILS}
FIELDS = [f.name for f in dataclasses.fields(Guardrails)]
#: The widest value each field's Solidity type holds (uint16, or uint32 for the two long intervals);
#: the registry checks the rest (min <= max, bps <= 10,000) and names what it refuses.
WIDTH = {
    name: 2**32 - 1 if name in ("min_loosen_interval", "threshold_ramp_duration") else 2**16 - 1
    for name in FIELDS
}


@main.group()
def guardrails() -> None:
    """Show, set and assign the registry's guardrail profiles (set and assign: governance)."""


@guardrails.command()
@click.argument("markets", nargs=-1)
@click.option("--profile", type=int, help="Show this profile instead of markets' profiles.")
@click.pass_context
def show(ctx: click.Context, markets: tuple[str, ...], profile: int | None) -> None:
    """One JSON line per market (default: every configured market), or the given --profile."""
    from oracle.keeper.runtime import connect, registry

    cfg = _config(ctx)
    client = registry(cfg, connect(cfg.chain))
    if profile is not None:
        g = client.guardrail_profile(profile)
        click.echo(json.dumps({"profile": profile, "guardrails": dataclasses.asdict(g)}))
        return
    for market in markets or sorted(_market_names(cfg).values()):
        mid = market_id(market)
        number = client.market_profile(mid)
        shown = dataclasses.asdict(client.guardrails(mid)) if number else None
        click.echo(json.dumps({"market": market, "profile": number, "guardrails": shown}))


@guardrails.command("set")
@click.argument("profile", type=int)
@click.option(
    "--preset",
    type=click.Choice(sorted(PRESETS)),
    help="Start from a preset instead of the profile's values on-chain.",
)
@click.option(
    "--set",
    "changes",
    multiple=True,
    metavar="FIELD=VALUE",
    help=f"Change one field (repeatable): {', '.join(FIELDS)}.",
)
@click.pass_context
def set_profile(
    ctx: click.Context, profile: int, preset: str | None, changes: tuple[str, ...]
) -> None:
    """Governance: set guardrail PROFILE (a number from 1) to a preset and/or field changes."""
    from oracle.keeper.runtime import connect, governance_sender, registry

    if not 1 <= profile < 2**16:
        raise ConfigError(
            "PROFILE", "profiles are numbered 1 to 65535 (0 is the unguarded default)"
        )
    cfg = _config(ctx)
    client = registry(cfg, connect(cfg.chain))
    base = PRESETS[preset] if preset else client.guardrail_profile(profile)
    values = dataclasses.asdict(base)
    for change in changes:
        name, sep, value = change.partition("=")
        if not sep or name not in values:
            raise ConfigError("--set", f"{change!r}: expected FIELD=VALUE, FIELD one of {FIELDS}")
        try:
            values[name] = int(value)
        except ValueError:
            raise ConfigError("--set", f"{name}: {value!r} is not a whole number") from None
        if not 0 <= values[name] <= WIDTH[name]:
            raise ConfigError("--set", f"{name}: {value} is outside 0..{WIDTH[name]}")
    new = Guardrails(**values)
    if new == Guardrails(*([0] * len(FIELDS))):
        raise ConfigError("--preset", f"profile {profile} is not set yet: start from --preset")
    tx = client.set_guardrail_profile(profile, new, governance_sender(cfg))
    click.echo(
        json.dumps(
            {"profile": profile, "guardrails": dataclasses.asdict(new), "tx_hash": tx.tx_hash}
        )
    )


@guardrails.command()
@click.argument("profile", type=int)
@click.argument("markets", nargs=-1, required=True)
@click.pass_context
def assign(ctx: click.Context, profile: int, markets: tuple[str, ...]) -> None:
    """Governance: put MARKETS under PROFILE (0 takes them off the keeper's signed path)."""
    from oracle.keeper.runtime import connect, governance_sender, registry

    if not 0 <= profile < 2**16:
        raise ConfigError("PROFILE", "profiles are numbered 0 to 65535")
    cfg = _config(ctx)
    client = registry(cfg, connect(cfg.chain))
    if profile and client.guardrail_profile(profile) == Guardrails(*([0] * len(FIELDS))):
        raise ConfigError("PROFILE", f"profile {profile} is not set: `oracle guardrails set` it")
    tx = client.assign_profile([market_id(m) for m in markets], profile, governance_sender(cfg))
    click.echo(json.dumps({"profile": profile, "markets": list(markets), "tx_hash": tx.tx_hash}))
