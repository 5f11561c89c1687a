"""Assembles the running parts from the configuration: RPC connection, sender, signing keys,
feeds, market setups, store and keeper. The CLI and the scheduler go through here."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace

from eth_account.signers.local import LocalAccount
from web3 import Web3

from oracle.audit.bundle import BundleStore
from oracle.chain import RegistryClient, http_web3
from oracle.chain.risk_arrays import RiskArrayClient
from oracle.errors import ConfigError, OracleError
from oracle.evaluation import settings as settings_file
from oracle.evaluation.settings import from_json
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.history import IncrementalHistory
from oracle.feeds.onchain import Node
from oracle.feeds.venue import Venue
from oracle.integrations.aave_v3 import AavePositions, RiskAdapterClient
from oracle.integrations.example_pool import ExamplePoolPositions
from oracle.keeper.arrays import ArrayPublisher, ArraysSetup
from oracle.keeper.chains import PRIMARY_CHAIN, ChainSet
from oracle.keeper.config import ChainConfig, KeeperConfig, OracleConfig
from oracle.keeper.cycle import AdapterLink, Keeper, MarketSetup
from oracle.keeper.sources import health_policy, sources_for
from oracle.keeper.store import Store
from oracle.policy import PolicySettings
from oracle.policy.impact import OpenPositions
from oracle.report.review import ReviewWriter
from oracle.risk import MODEL_VERSION, ModelSettings
from oracle.signing import Signer


def connect(chain: ChainConfig) -> Web3:
    w3 = http_web3(chain.rpc_url, chain.request_timeout)
    if not w3.is_connected():
        raise OracleError(
            f"cannot reach the RPC node at {chain.rpc_url} (config key chain.rpc_url)"
        )
    return w3


def sender(chain: ChainConfig) -> LocalAccount | str:
    if chain.sender.unlocked is not None:
        return chain.sender.unlocked
    assert chain.sender.key_env is not None
    if not os.environ.get(chain.sender.key_env):
        raise ConfigError(
            "chain.sender.key_env", f"environment variable {chain.sender.key_env} is not set"
        )
    return Signer.from_env(chain.sender.key_env).account


def registry(cfg: OracleConfig, w3: Web3) -> RegistryClient:
    if cfg.registry.address is None:
        raise ConfigError("registry.address", "not set: deploy first (oracle deploy)")
    return RegistryClient(w3, cfg.registry.address)


def signers(cfg: OracleConfig) -> list[Signer]:
    assert cfg.keeper is not None
    out = []
    for i, key in enumerate(cfg.keeper.signers):
        try:
            if key.key_env is not None:
                out.append(Signer.from_env(key.key_env))
            else:
                assert key.keystore is not None and key.password_env is not None
                out.append(Signer.from_keystore(key.keystore, key.password_env))
        except OracleError as exc:
            raise ConfigError(f"keeper.signers.{i}", str(exc)) from None
    return out


def build_keeper(
    cfg: OracleConfig, clock: Callable[[], int] | None = None, signing: bool = True
) -> Keeper:
    """The configured keeper. `signing=False` builds one that reads and decides but holds no key
    (no signer or sender key is needed): `oracle compute` and governance reviews use it."""
    if cfg.keeper is None:
        raise ConfigError("keeper", "missing: the keeper section configures markets and signers")
    w3 = connect(cfg.chain)
    base_model, policy, version, settings_text = calibrated_settings(cfg.keeper)
    markets = []
    adapters: dict[str, RiskAdapterClient] = {}
    aave_markets: dict[str, list[str]] = {}
    venues: dict[tuple[str, str | None], Venue] = {}  # one ccxt client per venue, all markets
    node = Node(w3, cfg.chain.multicall)  # one block and Multicall3 read for every on-chain feed
    for market, km in cfg.keeper.markets.items():
        feeds = cfg.feeds.markets[market]
        sources = sources_for(market, feeds, node, cfg.feeds.timeout, venues)
        history = next(
            s for s in sources if isinstance(s, ExchangeSource) and s.name == km.history.source
        )
        try:
            overrides = settings_file.check_overrides(ModelSettings, km.model, "model")
            settings = replace(base_model, **from_json(overrides))
        except (TypeError, ValueError) as exc:
            problem = str(exc).removeprefix("model: ")
            raise ConfigError(f"keeper.markets.{market}.model", problem) from None
        positions: Callable[[], OpenPositions] | None = None
        if km.lending_pool is not None:
            positions = ExamplePoolPositions(w3, km.lending_pool)
        elif km.aave is not None:
            adapter = adapters.get(km.aave.adapter) or RiskAdapterClient(w3, km.aave.adapter)
            adapters[adapter.address] = adapter
            linked = adapter.linked_asset(market)
            if linked != km.aave.asset:
                raise ConfigError(
                    f"keeper.markets.{market}.aave.asset",
                    f"the adapter links {market} to {linked or 'no asset'}, not {km.aave.asset}",
                )
            aave_markets.setdefault(adapter.address, []).append(market)
            positions = AavePositions(
                w3,
                adapter.contract.functions.addressesProvider().call(),
                km.aave.asset,
                km.aave.from_block,
            )
        markets.append((market, sources, history, km, settings, positions))
    keys = signers(cfg) if signing else []
    who = sender(cfg.chain) if signing else cfg.registry.governance
    # Opened once the configuration has passed every check; a keeper that signs holds it alone.
    store = Store(cfg.keeper.store, holder="a keeper" if signing else None)
    with ExitStack() as undo:  # a build that fails after this does not keep the store's lock
        undo.callback(store.close)
        tick = clock or (lambda: int(time.time()))

        def incremental(source: ExchangeSource, timeframe: str, bars: int) -> IncrementalHistory:
            # A keeper that only decides (`oracle compute`, reviews) writes nothing to the store.
            return IncrementalHistory(source, timeframe, bars, store if signing else None, tick)

        setups = [
            MarketSetup(
                market,
                sources,
                incremental(history, km.history.timeframe, km.history.bars),
                km.size,
                settings,
                memory=(
                    incremental(history, "1d", settings.memory_days) if km.history.memory else None
                ),
                positions=positions,
            )
            for market, sources, history, km, settings, positions in markets
        ]
        arrays = None
        if cfg.keeper.risk_arrays is not None:
            ra = cfg.keeper.risk_arrays
            setup = ArraysSetup(
                RiskArrayClient(w3, ra.address),
                ra.scenario_set,
                tuple(ra.markets or cfg.keeper.markets),
                refresh=ra.refresh,
                min_change_units=ra.min_change_units,
            )
            arrays = ArrayPublisher(
                setup, keys, who, store, tick, version, cfg.keeper.batch_ttl, cfg.keeper.reviews
            )
        keeper = Keeper(
            registry(cfg, w3),
            keys,
            who,
            store,
            setups,
            health=health_policy(cfg.feeds),
            policy=policy,
            model_version=version,
            feeds_timeout=cfg.feeds.timeout,
            feed_workers=cfg.feeds.workers,
            batch_ttl=cfg.keeper.batch_ttl,
            clock=clock,
            on_proposal=ReviewWriter(cfg.keeper.reviews),
            adapters=[AdapterLink(adapters[a], tuple(m)) for a, m in aave_markets.items()],
            bundles=BundleStore(cfg.keeper.bundles),
            settings_file=settings_text,
            arrays=arrays,
            multicall=cfg.chain.multicall,
        )
        undo.pop_all()
    return keeper


def build_chains(
    cfg: OracleConfig, clock: Callable[[], int] | None = None, signing: bool = True
) -> ChainSet:
    """The keepers of the primary chain (`chain`, `registry`, `keeper.store`) and of every chain
    in `chains`, as one `ChainSet`. The other chains' keepers share the primary's market setups
    (each market's feeds and history are read once a cycle), its settings and signers; each has
    its own node, sender, registry, store (nonce and pushes) and review folder. Consumers
    (Aave, the example pool) and risk arrays are the primary chain's."""
    primary = build_keeper(cfg, clock, signing)
    keepers = {PRIMARY_CHAIN: primary}
    with ExitStack() as undo:  # a chain that fails to build leaves no store of this process locked
        undo.callback(primary.store.close)
        assert cfg.keeper is not None
        for name, other in cfg.chains.items():
            key = f"chains.{name}"
            w3 = connect(other.chain)
            if other.registry.address is None:
                raise ConfigError(
                    f"{key}.registry.address", "not set: deploy first (oracle deploy)"
                )
            keys = primary.signers
            stranger = [k.address for k in keys if k.address not in other.registry.signers]
            if stranger:
                raise ConfigError(
                    f"{key}.registry.signers",
                    f"the keeper's signer {stranger[0]} is not among them",
                )
            served = set(other.markets or cfg.keeper.markets)
            store = Store(other.store, holder=f"a keeper of chain {name}" if signing else None)
            undo.callback(store.close)
            keepers[name] = Keeper(
                RegistryClient(w3, other.registry.address),
                keys,
                sender(other.chain) if signing else other.registry.governance,
                store,
                [replace(s, positions=None) for s in primary.markets if s.market in served],
                health=primary.health,
                policy=primary.policy,
                model_version=primary.model_version,
                feeds_timeout=primary.feeds_timeout,
                feed_workers=primary.feed_workers,
                batch_ttl=primary.batch_ttl,
                clock=clock,
                on_proposal=ReviewWriter(cfg.keeper.reviews / name),
                bundles=primary.bundles,
                settings_file=primary.settings_file,
                multicall=other.chain.multicall,
            )
        undo.pop_all()
    return ChainSet(keepers, wait=cfg.keeper.interval / 2)


def calibrated_settings(
    keeper: KeeperConfig,
) -> tuple[ModelSettings, PolicySettings, str, str | None]:
    """The model and policy settings the keeper runs, the modelVersion it commits and the settings
    file's text (read once: what the bundles carry is what was hashed): the file's latest fold when
    one is configured, else the code's defaults (with the config's policy values), the engine's
    version and no text. With a file, the config may repeat its values but not
    change them: the hash committed on-chain must describe the settings that run."""
    set_here = keeper.policy.model_dump(include=keeper.policy.model_fields_set)
    if keeper.settings is None:
        return ModelSettings(), replace(PolicySettings(), **set_here), MODEL_VERSION, None
    loaded = settings_file.load(keeper.settings, "keeper.settings")
    fold = loaded.latest
    try:
        model = ModelSettings(**from_json(fold.model))
        policy = PolicySettings(**from_json(fold.policy))
    except (TypeError, ValueError) as exc:
        raise ConfigError("keeper.settings", str(exc)) from None
    for name, value in set_here.items():
        if getattr(policy, name) != value:
            raise ConfigError(
                f"keeper.policy.{name}",
                f"{value} here, {getattr(policy, name)} in {keeper.settings}: remove one, so that "
                "the modelVersion committed on-chain names the settings that run",
            )
    for market, km in keeper.markets.items():
        for name, value in km.model.items():
            if getattr(model, name, value) != value:
                raise ConfigError(
                    f"keeper.markets.{market}.model.{name}",
                    f"{value} here, {getattr(model, name)} in {keeper.settings}: remove one, so "
                    "that the modelVersion committed on-chain names the settings that run",
                )
    return model, policy, loaded.model_version, loaded.text


def governance_sender(cfg: OracleConfig) -> LocalAccount | str:
    """The governance account: its key from `registry.governance_key_env`, or, on a dev chain, the
    unlocked sender when it is the governance address."""
    reg = cfg.registry
    if reg.governance_key_env is not None:
        if not os.environ.get(reg.governance_key_env):
            raise ConfigError(
                "registry.governance_key_env",
                f"environment variable {reg.governance_key_env} is not set",
            )
        account = Signer.from_env(reg.governance_key_env).account
        if account.address != reg.governance:
            raise ConfigError(
                "registry.governance_key_env", "the key does not belong to registry.governance"
            )
        return account
    if cfg.chain.sender.unlocked == reg.governance:
        return reg.governance
    raise ConfigError(
        "registry.governance_key_env",
        "not set: governance commands need the governance key (or an unlocked governance sender)",
    )
