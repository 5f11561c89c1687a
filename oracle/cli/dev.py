"""`oracle node` and `oracle emulator`: a local chain and local exchange venues for a development
setup, so the default config (`oracle init --dev`) reaches everything it needs with no internet.

The only command-line door to `oracle.devnet` (the import contract in pyproject.toml names it):
the product commands never touch development infrastructure.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import click

from oracle.cli import main
from oracle.errors import ConfigError

#: Where `oracle init --dev` points each market's venues: the emulator's first port.
EMULATOR_PORT = 9100
#: Anvil account 2, the signer `oracle init` configures (its key is a public test key).
DEV_SIGNER_INDEX = 2


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT, SIGTERM or SIGHUP (a closed terminal), installed before anything
    starts, so a signal during start-up still stops what was started."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _wait(stop: threading.Event, alive: Any = None) -> None:
    """Blocks until `stop` is set (or `alive()` turns false)."""
    while not stop.wait(0.5):
        if alive is not None and not alive():
            raise click.ClickException("the process it supervises exited")


@main.command()
@click.option("--port", type=int, default=8545, show_default=True)
@click.option(
    "--block-time", type=float, default=2.0, show_default=True, help="Seconds between blocks."
)
def node(port: int, block_time: float) -> None:
    """Run a local Anvil on 127.0.0.1 (a block every --block-time seconds, as a chain does) until
    Ctrl-C or SIGTERM; prints its URL and the dev signer key line to export."""
    from oracle.devnet.accounts import dev_account
    from oracle.devnet.anvil import AnvilNode

    stop = _stop_on_signals()
    anvil = AnvilNode(port=port, block_time=block_time)
    w3 = anvil.start()
    try:
        signer = dev_account(DEV_SIGNER_INDEX)
        click.echo(
            f"anvil on {anvil.url} (chain id {w3.eth.chain_id}, pid {anvil.process.pid}, a block "  # type: ignore[union-attr]
            f"every {block_time:g} s); stop it with Ctrl-C",
            err=True,
        )
        click.echo(
            f"# the dev signer {signer.address} (Anvil's public test key, local chains only):",
            err=True,
        )
        click.echo(f"export ORACLE_SIGNER_KEY={signer.key.hex()}", err=True)
        _wait(stop, lambda: anvil.process is not None and anvil.process.poll() is None)
    finally:
        anvil.stop()
        click.echo("anvil stopped", err=True)


@main.command()
@click.option("--port", type=int, default=EMULATOR_PORT, show_default=True, help="First port.")
@click.option("--venues", type=int, default=2, show_default=True, help="How many venues.")
@click.option(
    "--start",
    default="2020-03-11T00:00:00",
    show_default=True,
    help="The shipped history's moment served as now (ISO-8601 UTC).",
)
def emulator(port: int, venues: int, start: str) -> None:
    """Serve the shipped hourly history (ETH, BTC, LINK, UNI, AAVE, SOL against USDT) as local
    Binance-format venues on 127.0.0.1:PORT, PORT+1, … replaying from --start as if it were now,
    until Ctrl-C or SIGTERM."""
    from datetime import UTC, datetime

    from oracle.devnet.emulator import ExchangeEmulator
    from oracle.feeds.marketdata import DATA_DIR, shipped_bars

    if venues < 1:
        raise ConfigError("--venues", "at least one venue")
    try:
        at = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError("--start", f"{start!r} is not an ISO-8601 time") from None
    begin = int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp())
    symbols = {}
    for path in sorted((DATA_DIR / "ohlcv" / "1h").glob("*USDT.csv.gz")):
        pair = path.name.removesuffix(".csv.gz")
        base = pair.removesuffix("USDT")
        symbols[pair] = (base, "USDT", shipped_bars(f"ohlcv/1h/{path.name}", f"{base}/USDT"))
    offset = int(time.time()) - begin
    stop = _stop_on_signals()
    started = []
    try:
        for i in range(venues):
            em = ExchangeEmulator(symbols, offset=offset, port=port + i)
            try:
                started.append(em.start())
            except OSError as exc:
                raise ConfigError(
                    "--port", f"cannot serve on 127.0.0.1:{port + i}: {exc}"
                ) from None
            click.echo(f"venue{i} on {em.url}", err=True)
        click.echo(
            f"serving {', '.join(s[0] + '/USDT' for s in symbols.values())} from {start} as now; "
            "stop with Ctrl-C",
            err=True,
        )
        _wait(stop)
    finally:
        for em in started:
            em.stop()
        click.echo("venues stopped", err=True)
