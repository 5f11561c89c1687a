"""The `oracle` command line: the group, its shared helpers and the keeper, evaluation and
governance commands; larger command families live in their own modules of this package."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from oracle.errors import ConfigError, OracleError
from oracle.markets import market_id
from oracle.series import iso

if TYPE_CHECKING:  # loaded when a command runs: `oracle --help` and light commands start fast
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from oracle.keeper.config import ChainConfig, OracleConfig

DEFAULT_CONFIG = "oracle.yaml"


def _connect(chain: ChainConfig) -> Web3:
    from oracle.keeper.runtime import connect

    return connect(chain)


def _sender(chain: ChainConfig) -> LocalAccount | str:
    from oracle.keeper.runtime import sender

    return sender(chain)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Keeper configuration file (YAML).",
)
@click.pass_context
def main(ctx: click.Context, config_path: Path) -> None:
    """Dynamic margin risk oracle: deploy and operate the margin-parameter registry."""
    ctx.obj = {"config_path": config_path}


def _config(ctx: click.Context) -> OracleConfig:
    from oracle.keeper.config import load_config

    return load_config(ctx.obj["config_path"])


@main.command()
@click.option(
    "--write-config",
    is_flag=True,
    help="Set registry.address in the config file to the new registry (comments kept).",
)
@click.pass_context
def deploy(ctx: click.Context, write_config: bool) -> None:
    """Deploy the registry to the configured RPC; prints its address as JSON."""
    from oracle.chain import RegistryClient

    cfg = _config(ctx)
    if write_config and cfg.registry.address is not None:
        raise ConfigError(
            "registry.address",
            f"already {cfg.registry.address} in {ctx.obj['config_path']}: remove it first to "
            "deploy a new registry over it",
        )
    w3 = _connect(cfg.chain)
    reg = cfg.registry
    client, tx = RegistryClient.deploy(
        w3,
        _sender(cfg.chain),
        governance=reg.governance,
        guardian=reg.guardian,
        signers=reg.signers,
        threshold=reg.threshold,
        timelock_delay=reg.timelock_delay,
    )
    click.echo(
        json.dumps(
            {
                "registry": client.address,
                "chain_id": client.chain_id(),
                "tx_hash": tx.tx_hash,
                "block": tx.block_number,
                "gas_used": tx.gas_used,
            }
        )
    )
    if write_config:
        _write_registry_address(ctx.obj["config_path"], client.address)


def _write_registry_address(path: Path, address: str) -> None:
    """Sets `registry.address` in the config file by editing that one line, so the file's comments
    and layout stay; the result is loaded again to prove it reads back."""
    import re

    from oracle.keeper.config import load_config

    text = Path(path).read_text()
    pattern = re.compile(
        r"(?m)^(registry:[ \t]*\n(?:(?:[ \t]+.*|[ \t]*)\n)*?[ \t]+address:)[^\n#]*"
    )
    edited, count = pattern.subn(lambda m: f'{m.group(1)} "{address}"', text, count=1)
    if count != 1:
        raise ConfigError(
            "registry.address", f"no such line in {path}: set it to {address} by hand"
        )
    Path(path).write_text(edited)
    if load_config(Path(path)).registry.address != address:
        Path(path).write_text(text)
        raise ConfigError("registry.address", f"could not write it into {path}: set {address}")
    click.echo(f"registry.address set to {address} in {path}", err=True)


@main.command()
@click.argument("market")
@click.option("--address", help="Registry address (default: registry.address from the config).")
@click.pass_context
def params(ctx: click.Context, market: str, address: str | None) -> None:
    """Print a market's parameters, guardrail profile and guardrails as JSON (MARKET: e.g.
    ETH/USD)."""
    from oracle.chain import RegistryClient

    cfg = _config(ctx)
    address = address or cfg.registry.address
    if address is None:
        raise ConfigError("registry.address", "not set: deploy first or pass --address")
    client = RegistryClient(_connect(cfg.chain), address)
    mid = market_id(market)
    state = client.market_state(mid)
    profile = client.market_profile(mid)
    if not state.is_set and profile == 0:
        raise OracleError(
            f"{market} (0x{mid.hex()}) is not set on the registry at {address} and has no "
            "guardrail profile: check the symbol, or assign a profile (oracle guardrails assign)"
        )
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    click.echo(
        json.dumps(
            {
                "market": market,
                "market_id": "0x" + mid.hex(),
                "set": state.is_set,
                "parameters": None
                if not state.is_set
                else {
                    **dataclasses.asdict(state.params),
                    "liquidation_threshold_in_force_bps": state.threshold_at(now),
                    "ramp_end": state.ramp_end or None,
                    "updated_at": iso(state.updated_at),
                    "age_s": now - state.updated_at,
                },
                "guardrail_profile": profile,
                "guardrails": dataclasses.asdict(client.guardrails(mid)) if profile else None,
                "nonce": client.nonce(),
            }
        )
    )


@main.command()
@click.argument("markets", nargs=-1)
@click.pass_context
def snapshot(ctx: click.Context, markets: tuple[str, ...]) -> None:
    """Read every configured source of MARKETS (default: all in feeds.markets) once and print
    each market's snapshot as one JSON line: price, health and why, per-source results, hash."""
    import time

    from oracle.feeds import collect_all
    from oracle.feeds.onchain import Node
    from oracle.keeper.sources import health_policy, sources_for
    from oracle.snapshot import aggregate

    cfg = _config(ctx)
    chosen = markets or tuple(cfg.feeds.markets)
    unknown = [m for m in chosen if m not in cfg.feeds.markets]
    if unknown:
        raise ConfigError("feeds.markets", f"no sources configured for {', '.join(unknown)}")
    on_chain = any(cfg.feeds.markets[m].chainlink or cfg.feeds.markets[m].uniswap for m in chosen)
    # the markets' on-chain sources share one Multicall3 read, a venue's markets one ccxt client
    node = Node(_connect(cfg.chain), cfg.chain.multicall) if on_chain else None
    policy = health_policy(cfg.feeds)
    venues: dict = {}
    groups = [
        sources_for(market, cfg.feeds.markets[market], node, cfg.feeds.timeout, venues)
        for market in chosen
    ]
    now = int(time.time())
    reads = collect_all(groups, now, cfg.feeds.timeout, max(1, cfg.feeds.workers))
    for market, read in zip(chosen, reads, strict=True):
        snap = aggregate(market, read, now, policy)
        results = [
            {
                "type": type(r).__name__,
                **{k: v for k, v in dataclasses.asdict(r).items() if k != "bids"},
            }
            for r in snap.results
        ]
        click.echo(
            json.dumps(
                {
                    "market": market,
                    "price": snap.price,
                    "health": snap.health.value,
                    "reasons": list(snap.reasons),
                    "accepted": list(snap.accepted),
                    "divergence": snap.divergence,
                    "results": results,
                    "hash": "0x" + snap.hash().hex(),
                },
                default=str,
            )
        )


@contextlib.contextmanager
def _plain(items: Any) -> Any:
    yield items


def _decision_row(d: Any) -> dict[str, Any]:
    return {
        "market": d.market,
        "action": d.action.value,
        "reason": d.reason,
        "update": None if d.update is None else dataclasses.asdict(d.update),
        "proposal": None if d.proposal is None else dataclasses.asdict(d.proposal),
        "alert": d.alert,
    }


def _show_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        click.echo(
            "  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per market.")
@click.pass_context
def compute(ctx: click.Context, as_json: bool) -> None:
    """Recommendations and what the policy would do now; pushes nothing, stores nothing."""
    from oracle.keeper.runtime import build_keeper

    keeper = build_keeper(_config(ctx), signing=False)  # decides only: no key needed
    now = keeper.clock()
    evaluations = []
    # Progress on stderr (click's bar: no extra dependency), hidden for --json and off a terminal.
    with (
        click.progressbar(
            keeper.markets,
            label="computing",
            file=sys.stderr,
            item_show_func=lambda s: s.market if s else "",
        )
        if not as_json and sys.stderr.isatty()
        else _plain(keeper.markets) as markets
    ):
        for setup in markets:
            evaluations.append((setup, keeper.evaluate(setup, now, remember=False)))
    for setup, ev in evaluations:
        row = {
            **_decision_row(ev.decision),
            "health": ev.snapshot.health.value,
            "price": ev.snapshot.price,
            "recommendation": None
            if ev.recommendation is None
            else dataclasses.asdict(ev.recommendation),
        }
        if as_json:
            row["explanation"] = ev.explanation
            click.echo(json.dumps(row, default=str))
        else:
            rec = ev.recommendation
            shown = (
                "-"
                if rec is None
                else (f"{rec.ltv_bps}/{rec.liquidation_threshold_bps}/{rec.liquidation_bonus_bps}")
            )
            _show_table(
                [
                    {
                        "market": setup.market,
                        "health": row["health"],
                        "price": "-" if row["price"] is None else f"{row['price']:.6g}",
                        "ltv/lt/lb": shown,
                        "action": row["action"],
                        "reason": row["reason"],
                    }
                ],
                ["market", "health", "price", "ltv/lt/lb", "action", "reason"],
            )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object for the cycle.")
@click.pass_context
def once(ctx: click.Context, as_json: bool) -> None:
    """Run one full cycle: feeds, risk, policy, sign, push, store (on every configured chain)."""
    from oracle.keeper.runtime import build_chains, build_keeper

    cfg = _config(ctx)
    if cfg.chains:
        chains = build_chains(cfg)
        try:
            outcomes = chains.cycle()
        finally:
            chains.close()
            for k in chains.keepers.values():
                k.store.close()  # and its lock
        rows = {name: _cycle_out(o.report) if o.report else None for name, o in outcomes.items()}
        if as_json:
            click.echo(
                json.dumps(
                    {
                        name: {"status": o.status, "error": str(o.error) if o.error else None}
                        | (rows[name] or {})
                        for name, o in outcomes.items()
                    },
                    default=str,
                )
            )
        else:
            for name, o in outcomes.items():
                click.echo(f"chain {name}: {o.status}" + (f": {o.error}" if o.error else ""))
                shown = rows[name]
                if shown is not None:
                    _show_cycle(shown)
        if any(o.status == "failed" for o in outcomes.values()):
            ctx.exit(1)
        return
    keeper = build_keeper(cfg)
    try:
        if not as_json and sys.stderr.isatty():
            click.echo(f"cycle over {len(keeper.markets)} market(s)…", err=True)
        report = keeper.cycle()
    finally:
        keeper.store.close()  # and its lock
    out = _cycle_out(report)
    if as_json:
        click.echo(json.dumps(out, default=str))
        return
    _show_cycle(out)


def _cycle_out(report: Any) -> dict[str, Any]:
    return {
        "cycle": report.cycle_id,
        "decisions": [_decision_row(d) for d in report.decisions],
        "pushes": [dataclasses.asdict(p) for p in report.pushes],
        "arrays": None if report.arrays is None else dataclasses.asdict(report.arrays),
        "notes": list(report.notes),
    }


def _show_cycle(out: dict[str, Any]) -> None:
    _show_table(out["decisions"], ["market", "action", "update", "reason"])
    for p in out["pushes"]:
        click.echo(f"push {p['kind']} nonce {p['nonce']}: {p['status']} {p['tx_hash'] or ''}")
    a = out["arrays"]
    if a is not None:
        click.echo(f"arrays nonce {a['nonce']}: {a['status']} {a['tx_hash'] or ''}")
    for n in out["notes"]:
        click.echo(f"note: {n}")


@main.command("run")
@click.pass_context
def run_keeper(ctx: click.Context) -> None:
    """Run the scheduled keeper until SIGINT/SIGTERM (finishes the cycle in flight)."""
    from oracle.keeper.logs import configure
    from oracle.keeper.metrics import ChainMetrics
    from oracle.keeper.runtime import build_chains, build_keeper
    from oracle.keeper.scheduler import KeeperService

    cfg = _config(ctx)
    configure()
    chains = build_chains(cfg) if cfg.chains else None
    keeper = build_keeper(cfg) if chains is None else chains.primary
    keepers = [keeper] if chains is None else list(chains.keepers.values())
    assert cfg.keeper is not None
    try:
        service = KeeperService(
            keeper,
            interval=cfg.keeper.interval,
            price_move=cfg.keeper.trigger.price_move,
            check_every=cfg.keeper.trigger.check_every,
            vol_jump=cfg.keeper.trigger.vol_jump,
            chains=chains,
        )
        if cfg.keeper.metrics_port:
            if chains is None:
                service.metrics.serve(cfg.keeper.metrics_port)
            else:  # every chain's metrics on the one port, labelled by chain
                ChainMetrics(service.chain_metrics).serve(cfg.keeper.metrics_port)
        service.run_forever()
    finally:
        if chains is not None:
            chains.close()  # every chain's cycle in flight ends first
        for k in keepers:
            k.store.close()  # and its lock


@main.command()
@click.option("--market", default=None, help="Only this market.")
@click.option("--limit", default=20, show_default=True, help="How many rows.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
@click.pass_context
def history(ctx: click.Context, market: str | None, limit: int, as_json: bool) -> None:
    """Past decisions and pushes from the keeper's store (times in UTC)."""
    cfg = _config(ctx)
    if cfg.keeper is None:
        raise ConfigError("keeper", "missing: no store configured")
    if market is not None and market not in cfg.keeper.markets:
        known = ", ".join(cfg.keeper.markets)
        raise ConfigError("--market", f"{market} is not a keeper market (configured: {known})")
    store = _read_store(cfg.keeper.store, read_only=True)
    decisions = store.decisions(market, limit)
    pushes = store.pushes(limit)
    if as_json:
        for d in decisions:
            click.echo(json.dumps({"decision": d}))
        for p in pushes:
            click.echo(json.dumps({"push": {k: v for k, v in p.items() if k != "payload"}}))
        return
    if not decisions and not pushes:
        click.echo(f"nothing recorded yet in {cfg.keeper.store}: run `oracle once` or `oracle run`")
        return
    for d in decisions:
        d["started_at"] = iso(d["started_at"])
    _show_table(decisions, ["cycle_id", "started_at", "market", "health", "action", "reason"])
    click.echo("")
    for p in pushes:
        p["created_at"] = iso(p["created_at"])
    _show_table(pushes, ["id", "created_at", "kind", "nonce", "status", "tx_hash", "gas_used"])


def _read_store(path: Path, holder: str | None = None, read_only: bool = False) -> Any:
    """The keeper's store for a command beside the keeper: a missing file is an error, not a new
    store. `holder`: a command that must be alone with it (`StoreLock`); `read_only`: a command
    that only reads (nothing written, not even a schema change a keeper's writes would wait on)."""
    from oracle.keeper.store import Store

    if not Path(path).exists():
        raise ConfigError("keeper.store", f"{path} does not exist: no keeper has run with it yet")
    return Store(path, read_only=read_only, holder=holder)


@main.command()
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0),
    required=True,
    help="Move decisions of cycles older than this many days.",
)
@click.option(
    "--to",
    "to",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The archive store (created if new; a chain's store goes to NAME-CHAIN beside it).",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="Each market's latest decisions never moved (default 2,000; at least the policy's "
    "loosening streak).",
)
@click.option(
    "--vacuum",
    is_flag=True,
    help="Also shrink the file (it rewrites the file: refused while a keeper holds the store).",
)
@click.pass_context
def archive(ctx: click.Context, days: float, to: Path, keep: int | None, vacuum: bool) -> None:
    """Move old decisions and their snapshots out of the keeper's store into an archive store, so
    the store stops growing: pushes, cycles and bars stay, each market keeps its latest decisions,
    and nothing is deleted. Prints what moved, one JSON line per store."""
    import time

    from oracle.keeper.store import KEEP_DECISIONS

    cfg = _config(ctx)
    if cfg.keeper is None:
        raise ConfigError("keeper", "archive needs the keeper section (keeper.store)")
    streak = cfg.keeper.policy.loosen_after_cycles
    if keep is not None and keep < streak:
        raise ConfigError(
            "--keep",
            f"{keep} is fewer than the {streak} latest decisions the policy reads for a market's "
            "loosening streak (keeper.policy.loosen_after_cycles)",
        )
    stores = {"": cfg.keeper.store}
    for name, chain in cfg.chains.items():
        stores[name] = chain.store
    before = int(time.time() - days * 86_400)
    opened: dict[str, Any] = {}
    try:  # every store opened (with --vacuum: every lock taken) before any is touched
        for name, path in stores.items():
            opened[name] = _read_store(path, "oracle archive --vacuum" if vacuum else None)
        for name, store in opened.items():
            target = to if not name else to.with_name(f"{to.stem}-{name}{to.suffix}")
            moved = store.archive(before, target, keep or KEEP_DECISIONS, vacuum)
            out = {"store": str(stores[name]), "archive": str(target), "before": iso(before)}
            click.echo(json.dumps(out | moved))
    finally:
        for store in opened.values():
            store.close()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per market.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """On-chain values next to the latest decision, feed health and ages (seconds of chain time:
    the clock the registry and its consumers judge staleness by)."""
    from oracle.chain import RegistryClient

    cfg = _config(ctx)
    if cfg.keeper is None or cfg.registry.address is None:
        raise ConfigError("keeper", "status needs the keeper section and registry.address")
    client = RegistryClient(_connect(cfg.chain), cfg.registry.address)
    store = _read_store(cfg.keeper.store, read_only=True)
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    mined = [p for p in store.pushes(200) if p["status"] == "mined"]
    rows = []
    for market in cfg.keeper.markets:
        state = client.market_state(market_id(market))
        latest = store.decisions(market, 1)
        rows.append(
            {
                "market": market,
                "on_chain": str(state.params) if state.is_set else "not set",
                "updated_at": iso(state.updated_at) if state.is_set else None,
                "age_s": now - state.updated_at if state.is_set else None,
                "health": latest[0]["health"] if latest else None,
                "last_action": latest[0]["action"] if latest else None,
                "last_cycle_at": iso(latest[0]["started_at"]) if latest else None,
                "last_push_at": iso(mined[0]["created_at"]) if mined else None,
            }
        )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
    else:
        _show_table(rows, list(rows[0]))


@main.command()
@click.option(
    "--path", type=click.Path(path_type=Path), default=Path(DEFAULT_CONFIG), show_default=True
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option(
    "--dev",
    is_flag=True,
    help="Point the venues at `oracle emulator` (on --emulator-port and the next).",
)
@click.option("--emulator-port", type=int, default=9100, show_default=True)
def init(path: Path, force: bool, dev: bool, emulator_port: int) -> None:
    """Write a commented configuration for a local Anvil (Anvil's well-known test accounts)."""
    if path.exists() and not force:
        raise ConfigError("<file>", f"{path} exists (use --force to overwrite)")
    from oracle.keeper.config import init_template

    path.write_text(init_template(emulator_port if dev else None))
    click.echo(
        f"wrote {path}; next: `oracle node`, "
        + ("`oracle emulator`, " if dev else "")
        + "`oracle deploy --write-config`, `oracle guardrails set 1 --preset blue-chip`, "
        "`oracle guardrails assign 1 ETH/USDT`, `oracle once`"
    )


@main.command()
@click.argument("csv_files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--asset", required=True, help="Collateral symbol for the static baseline, e.g. ETH.")
@click.option("--market", default=None, help="Market name in the output (default: ASSET/DEBT).")
@click.option("--start", default=None, help="Window start, ISO-8601 (default: 90 days in).")
@click.option("--end", default=None, help="Window end, ISO-8601 (default: the last bar).")
@click.option("--static", "static_values", default=None, help="Baseline override: LTV,LT,LB bps.")
@click.option(
    "--scenario",
    type=click.Choice(["reference", "realistic", "legacy"]),
    default="reference",
    show_default=True,
    help="Lending market (hourly bars): borrowers arriving every hour under fixed rules "
    "(reference), or with leverage spread, repayments, top-ups, close factor, price impact and "
    "liquidator economics in dollars (realistic); legacy: one population opened at the start.",
)
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Settings file from `oracle calibrate`: the fold valid at the window's start.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: {dynamic, static}.")
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="HTML report path (default: reports/backtest-<asset>-<start>.html).",
)
def backtest(
    csv_files: tuple[Path, ...],
    asset: str,
    market: str | None,
    start: str | None,
    end: str | None,
    static_values: str | None,
    scenario: str,
    settings_path: Path | None,
    as_json: bool,
    report: Path | None,
) -> None:
    """Replay CSV_FILES (timestamp,open,high,low,close,volume; the collateral priced in the debt
    asset) through the risk engine and policy, and compare with a static baseline."""
    from oracle.backtest.baselines import StaticParameters, aave_v3
    from oracle.backtest.runner import replay
    from oracle.feeds.marketdata import read_csv_bars
    from oracle.series import iso as _iso

    bars = read_csv_bars(list(csv_files), market or f"{asset.upper()}/DEBT")
    if scenario != "legacy":  # the lending markets run on hourly bars; finer ones are aggregated
        bars = bars.hourly()
    series = bars.series
    if static_values:
        static = StaticParameters(_static_values(static_values), "--static")
    else:
        static = aave_v3(asset)
    window_end = _parse_time(end, "--end") if end else int(series.timestamps[-1]) + 1
    # Default: the last year of the data, after the 90 days of history the engine reads first.
    earliest = int(series.timestamps[0]) + 90 * 86_400
    window_start = (
        _parse_time(start, "--start") if start else max(earliest, window_end - 365 * 86_400)
    )
    if window_start >= window_end:
        raise ConfigError("--start", "the window is empty (start is not before end)")
    inside = series.timestamps[
        (series.timestamps >= window_start) & (series.timestamps < window_end)
    ]
    if len(inside) < 2:
        gaps = ", ".join(f"{_iso(a)} .. {_iso(b)}" for a, b in series.gaps())
        raise ConfigError(
            "--start",
            f"the window {_iso(window_start)} .. {_iso(window_end)} holds {len(inside)} bar(s) of "
            f"{series.market}; the data runs {_iso(int(series.timestamps[0]))} .. "
            f"{_iso(int(series.timestamps[-1]))}" + (f" with gaps {gaps}" if gaps else ""),
        )
    fold = None
    if settings_path is not None:
        from oracle.evaluation import settings as settings_file

        fold = settings_file.load(settings_path).fold_for(window_start)
        if fold is None:
            raise ConfigError(
                "--settings",
                f"no fold of {settings_path} is valid at {_iso(window_start)}: each fold applies "
                "only after the data it was trained on",
            )
    from oracle.evaluation.settings import backtest_settings

    replayed = replay(
        series, static, backtest_settings(fold), window_start, window_end, scenario, bars
    )
    result = replayed.summary
    if as_json:
        click.echo(json.dumps(result))
        return
    rows = [
        {"side": side, **{k: v for k, v in result[side].items() if k != "path"}}
        for side in ("dynamic", "static")
    ]
    click.echo(
        f"window {result['window']['start']} .. {result['window']['end']}; "
        f"static baseline: {result['static_source']}"
    )
    columns = ["side", "bad_debt", "liquidated", "liquidations", "mean_ltv_bps"]
    if scenario != "legacy":
        columns.insert(3, "param_liquidated")
    if scenario == "realistic":
        columns[2:2] = ["bad_debt_usd", "penalty_usd"]
    _show_table(rows, [*columns, "min_ltv_bps", "min_lt_bps", "updates"])
    from oracle.report.backtest import write_report

    day = result["window"]["start"][:10]
    target = report or Path("reports") / f"backtest-{asset.lower()}-{day}.html"
    click.echo(f"report written to {write_report(replayed, series.market, target)}")


def _static_values(value: str, key: str = "--static") -> Any:
    """LTV,LT,LB in bps, e.g. "5300,6800,700"."""
    from oracle.types import Params

    try:
        ltv, lt, lb = (int(x) for x in value.split(","))
    except ValueError:
        raise ConfigError(key, f"expected LTV,LT,LB in bps, got {value!r}") from None
    params = Params(ltv, lt, lb)
    if not params.valid():
        raise ConfigError(key, f"{value!r} is not valid: need 0 < LTV < LT and LT*(1+LB) <= 100 %")
    return params


@main.command()
@click.option(
    "--assets",
    default=None,
    help="Comma-separated symbols (default: every shipped asset: BTC,ETH,LINK,SOL,UNI,AAVE,USDC).",
)
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Settings file from `oracle calibrate`: each window uses the fold trained before it.",
)
@click.option(
    "--static",
    "statics",
    multiple=True,
    help="Baseline for an asset Aave does not list, or an override: SYMBOL=LTV,LT,LB (bps).",
)
@click.option(
    "--scenario",
    type=click.Choice(["reference", "realistic"]),
    default="reference",
    show_default=True,
    help="Lending market the windows are scored in.",
)
@click.option(
    "--windows",
    "kinds",
    type=click.Choice(["all", "years", "crashes"]),
    default="all",
    show_default=True,
)
@click.option("--workers", type=int, default=2, show_default=True, help="Local Dask workers.")
@click.option(
    "--address", default=None, help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: summary, windows, skipped.")
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=Path("reports/scorecard.html"),
    show_default=True,
    help="HTML report path.",
)
def evaluate(
    assets: str | None,
    settings_path: Path | None,
    statics: tuple[str, ...],
    scenario: str,
    kinds: str,
    workers: int,
    address: str | None,
    as_json: bool,
    report: Path,
) -> None:
    """Walk-forward scorecard: every shipped asset x calendar year plus the named crash windows,
    dynamic vs a static baseline vs the best static in hindsight."""
    import time

    from oracle.evaluation import settings as settings_file
    from oracle.evaluation.cluster import engine
    from oracle.evaluation.scorecard import plan, score_window, summarise
    from oracle.evaluation.windows import cost

    symbols = _symbols(assets)
    overrides = _statics(statics, symbols)
    loaded = settings_file.load(settings_path) if settings_path else None
    which = {"all": ("year", "crash"), "years": ("year",), "crashes": ("crash",)}[kinds]
    tasks, skipped = plan(symbols, loaded, overrides, scenario, which)
    if not tasks:
        raise ConfigError("--assets", "no window to score: " + "; ".join(skipped))
    settings_file.check_writable(report, "--report")
    began = time.perf_counter()
    with engine(workers, address) as eng:
        rows = eng.map(score_window, tasks, cost=lambda t: cost(t.window))
        where = eng.description
    seconds = round(time.perf_counter() - began, 1)
    result: dict[str, Any] = {
        "summary": {**summarise(rows), "seconds": seconds, "engine": where},
        "scenario": scenario,
        "settings": {
            "file": str(settings_path) if settings_path else None,
            "sha256": loaded.digest if loaded else None,
        },
        "windows": rows,
        "skipped": skipped,
    }
    from oracle.report.scorecard import write_scorecard

    written = write_scorecard(result, report)
    if as_json:
        click.echo(json.dumps(result))
        return
    table = [
        {
            "window": f"{r['asset']} {r['window']}",
            "bad debt dyn/static": f"{r['dynamic']['bad_debt']:.3%} / "
            f"{r['static']['bad_debt']:.3%}",
            "liquidated dyn/static": f"{r['dynamic']['liquidated']:.1%} / "
            f"{r['static']['liquidated']:.1%}",
            "by cuts": f"{r['dynamic']['param_liquidated']:.1%}",
            "mean LTV dyn/static": f"{r['dynamic']['mean_ltv_bps']:.0f} / "
            f"{r['static']['mean_ltv_bps']:.0f}",
            "hindsight liq": _hindsight(r),
            "dominates": "yes" if r["dominates"] else "no",
        }
        for r in rows
    ]
    _show_table(table, list(table[0]))
    s = result["summary"]
    click.echo(
        f"dynamic dominates static in {s['dominated']} of {s['windows']} windows "
        f"({s['years_dominated']}/{s['years']} years, {s['crashes_dominated']}/{s['crashes']} "
        f"crashes); the static parameters against themselves: {s['static_against_itself']} "
        f"(ties count); on or beyond the best-static frontier in {s['on_frontier']} (static: "
        f"{s['static_on_frontier']}); parameter cuts liquidate over 1 % of debt in "
        f"{s['param_liquidated_over_ceiling']}; largest 7-day threshold fall "
        f"{s['max_lt_drop_7d_bps']} bps; {seconds} s on {where}"
    )
    for line in skipped:
        click.echo(f"skipped: {line}")
    click.echo(f"report written to {written}")


@main.command()
@click.option(
    "--assets", default=None, help="Comma-separated symbols (default: every shipped asset)."
)
@click.option(
    "--static",
    "statics",
    multiple=True,
    help="Baseline for an asset Aave does not list: SYMBOL=LTV,LT,LB (bps).",
)
@click.option("--candidates", type=int, default=12, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--train-years", type=int, default=1, show_default=True)
@click.option(
    "--folds",
    default=None,
    help="Comma-separated years whose fold to search (default: every year from the third).",
)
@click.option("--workers", type=int, default=2, show_default=True, help="Local Dask workers.")
@click.option(
    "--address", default=None, help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("settings/oracle-settings.json"),
    show_default=True,
)
def calibrate(
    assets: str | None,
    statics: tuple[str, ...],
    candidates: int,
    seed: int,
    train_years: int,
    folds: str | None,
    workers: int,
    address: str | None,
    out: Path,
) -> None:
    """Search model and policy settings walk-forward (training windows only) on a Dask cluster and
    write the versioned settings file the keeper, backtest and evaluate load."""
    import time

    from oracle.evaluation import calibrate as search
    from oracle.evaluation import settings as settings_file
    from oracle.evaluation.cluster import engine

    symbols = _symbols(assets)
    overrides = _statics(statics, symbols)
    if train_years < 1:
        raise ConfigError("--train-years", "need at least 1")
    try:
        years = [int(y) for y in folds.split(",")] if folds else None
    except ValueError:
        raise ConfigError("--folds", f"expected comma-separated years, got {folds!r}") from None
    plans, skipped = search.fold_plans(symbols, overrides, train_years, years)
    settings_file.check_writable(out, "--out")
    began = time.perf_counter()
    with engine(workers, address) as eng:
        found = search.calibrate(plans, candidates, seed, eng)
        where = eng.description
    written = settings_file.write(
        out, found, search.search_description(symbols, candidates, seed, train_years, overrides)
    )
    for fold in found:
        assert fold.score is not None
        chosen = fold.score["candidates"][fold.score["chosen"]]
        click.echo(
            f"{fold.label}: candidate {fold.score['chosen']} "
            f"{json.dumps({**fold.model, **fold.policy}, sort_keys=True)}; training mean LTV "
            f"{chosen['mean_ltv_bps']:.0f} vs {chosen['static_mean_ltv_bps']:.0f}, liquidated "
            f"{chosen['liquidated']:.1%} vs {chosen['static_liquidated']:.1%}, dominates "
            f"{chosen['dominated']} of {len(fold.training)} training window(s)"
            + ("" if chosen["admissible"] else " (not admissible)")
        )
    for line in skipped:
        click.echo(f"skipped: {line}")
    click.echo(
        f"settings written to {out} (sha256 {written.digest[:16]}…, modelVersion "
        f"{written.model_version}); {time.perf_counter() - began:.1f} s on {where}"
    )


def _symbols(assets: str | None) -> list[str]:
    """--assets as shipped symbols, each once, in the order given (default: all)."""
    from oracle.evaluation.windows import ASSETS, asset

    if not assets:
        return [a.symbol for a in ASSETS]
    return list(dict.fromkeys(asset(a.strip()).symbol for a in assets.split(",") if a.strip()))


def _statics(items: tuple[str, ...], symbols: list[str]) -> dict[str, Any]:
    """--static SYMBOL=LTV,LT,LB options as {SYMBOL: Params}, each for a selected asset."""
    out = {}
    for item in items:
        symbol, sep, values = item.partition("=")
        if not sep:
            raise ConfigError("--static", f"expected SYMBOL=LTV,LT,LB, got {item!r}")
        symbol = symbol.strip().upper()
        if symbol not in symbols:
            raise ConfigError("--static", f"{symbol} is not among the assets: {', '.join(symbols)}")
        out[symbol] = _static_values(values)
    return out


def _hindsight(row: dict[str, Any]) -> str:
    best = row["hindsight"]["liquidated"]
    if best is None:
        return "none at this LTV"
    return f"{best['liquidated']:.1%} @ {best['params']}"


def _parse_time(value: str, key: str) -> int:
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(key, f"{value!r} is not an ISO-8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per proposal.")
@click.pass_context
def review(ctx: click.Context, as_json: bool) -> None:
    """Proposals on the registry (queued, executed, cancelled, superseded; expired when queued past
    its expiry) with their review reports."""
    from oracle.keeper.config import KeeperConfig
    from oracle.keeper.runtime import connect, registry

    cfg = _config(ctx)
    client = registry(cfg, connect(cfg.chain))
    reviews = cfg.keeper.reviews if cfg.keeper else KeeperConfig.model_fields["reviews"].default
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    names = _market_names(cfg)
    rows = []
    for pid in range(client.proposal_count()):
        p = client.proposal(pid)
        reports = (
            sorted(str(r) for r in reviews.glob(f"proposal-{pid}-*.md")) if reviews.exists() else []
        )
        rows.append(
            {
                "id": pid,
                "market": names.get(p.market, "0x" + p.market.hex()),
                "values": str(p.params),
                "eta": iso(p.eta),
                "expires_at": iso(p.expires_at),
                "status": p.status_name if p.status != 1 or p.pending_at(now) else "expired",
                "report": reports[0] if reports else None,
            }
        )
    if as_json:
        for r in rows:
            click.echo(json.dumps(r))
    elif rows:
        _show_table(rows, ["id", "market", "values", "eta", "expires_at", "status", "report"])
    else:
        click.echo("no proposals")


def _market_names(cfg: OracleConfig) -> dict[bytes, str]:
    """Market ids to the symbols the config knows (feeds and keeper markets)."""
    symbols = set(cfg.feeds.markets) | set(cfg.keeper.markets if cfg.keeper else ())
    return {market_id(m): m for m in symbols}


@main.command()
@click.argument("market")
@click.argument("ltv", type=int)
@click.argument("lt", type=int)
@click.argument("lb", type=int)
@click.pass_context
def propose(ctx: click.Context, market: str, ltv: int, lt: int, lb: int) -> None:
    """Governance: queue MARKET's values (bps) behind the timelock."""
    from oracle.keeper.runtime import connect, governance_sender, registry
    from oracle.signing import MarketUpdate

    cfg = _config(ctx)
    client = registry(cfg, connect(cfg.chain))
    mid = market_id(market)
    if market not in _market_names(cfg).values():
        click.echo(f"warning: {market} has no feeds in this config: no keeper watches it", err=True)
    if client.market_profile(mid) == 0:
        click.echo(
            f"warning: {market} has no guardrail profile: the keeper cannot update it after this "
            "proposal (oracle guardrails assign)",
            err=True,
        )
    governance = governance_sender(cfg)
    tx = client.propose_governance([MarketUpdate(mid, ltv, lt, lb)], governance)
    # the id from the transaction's own ProposalQueued event: `proposalCount` read before sending
    # is wrong when a keeper's proposal lands in the same block first
    first = client.queued_ids(tx)[mid]
    p = client.proposal(first)
    report = _review_manual_proposal(cfg, first, market, p.params)
    click.echo(
        json.dumps(
            {
                "proposal": first,
                "market": market,
                "eta": p.eta,
                "tx_hash": tx.tx_hash,
                "review": None if report is None else str(report),
            }
        )
    )


def _review_manual_proposal(cfg: OracleConfig, pid: int, market: str, proposed: Any) -> Any:
    """Governance's own proposal gets the review a keeper proposal gets (current and proposed
    values, the engine's view, open positions, a backtest of both), when the config's keeper
    watches the market; otherwise a warning says why there is none."""
    from oracle.keeper.runtime import build_keeper
    from oracle.report.review import ReviewWriter

    if cfg.keeper is None or market not in cfg.keeper.markets:
        click.echo(f"warning: no review report: {market} is not a keeper market here", err=True)
        return None
    keeper = build_keeper(cfg, signing=False)
    setup = next(s for s in keeper.markets if s.market == market)
    ev = keeper.evaluate(setup, keeper.clock(), remember=False)
    queued = keeper.proposal_review(
        ev,
        pid,
        proposed,
        f"Governance proposes these values (the engine recommends {ev.recommendation}; "
        f"the keeper's policy would: {ev.decision.reason})",
    )
    if queued is None:
        why = ev.decision.reason
        click.echo(f"warning: no review report: the engine had no inputs ({why})", err=True)
        return None
    ReviewWriter(cfg.keeper.reviews)(queued)
    return cfg.keeper.reviews / f"proposal-{pid}-{market.replace('/', '-')}.md"


@main.command()
@click.argument("proposal_id", type=int)
@click.pass_context
def execute(ctx: click.Context, proposal_id: int) -> None:
    """Governance: apply a queued proposal whose timelock has passed."""
    from oracle.keeper.runtime import connect, governance_sender, registry

    cfg = _config(ctx)
    client = registry(cfg, connect(cfg.chain))
    tx = client.execute(proposal_id, governance_sender(cfg))
    click.echo(
        json.dumps({"executed": proposal_id, "tx_hash": tx.tx_hash, "gas_used": tx.gas_used})
    )


@main.command()
@click.argument("proposal_id", type=int)
@click.pass_context
def cancel(ctx: click.Context, proposal_id: int) -> None:
    """Governance: veto a queued proposal."""
    from oracle.keeper.runtime import connect, governance_sender, registry

    cfg = _config(ctx)
    client = registry(cfg, connect(cfg.chain))
    tx = client.cancel(proposal_id, governance_sender(cfg))
    click.echo(json.dumps({"cancelled": proposal_id, "tx_hash": tx.tx_hash}))


@main.command("market-id")
@click.argument("symbol")
def market_id_cmd(symbol: str) -> None:
    """Print the bytes32 id of a market symbol (keccak256 of the symbol)."""
    click.echo("0x" + market_id(symbol).hex())


def run() -> None:
    """Entry point that turns oracle errors into one readable line and exit code 1."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OracleError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


# Commands in their own modules register themselves on `main` when imported.
from oracle.cli import arrays as arrays  # noqa: E402
from oracle.cli import dev as dev  # noqa: E402
from oracle.cli import guardrails as guardrails  # noqa: E402
from oracle.cli import serve as serve  # noqa: E402
from oracle.cli import verify as verify  # noqa: E402
