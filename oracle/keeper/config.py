"""The keeper's configuration file (YAML), validated into typed settings.

Every problem becomes a `ConfigError` naming the dotted key and what is wrong with it, so an
operator fixes the file without reading a traceback.

Defaults are not written here: each is read from the class that uses the setting (`_default`), so
a default lives in one place and the file, the Python API and `oracle init` cannot disagree.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import yaml
from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oracle.errors import ConfigError
from oracle.feeds.chainlink import ChainlinkSource
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.uniswap import UniswapV3TwapSource
from oracle.keeper.arrays import ArraysSetup
from oracle.keeper.chains import PRIMARY_CHAIN
from oracle.keeper.cycle import Keeper
from oracle.keeper.scheduler import KeeperService
from oracle.keeper.store import MAX_STREAK
from oracle.multicall import MULTICALL3_ADDRESS
from oracle.policy import PolicySettings
from oracle.snapshot import HealthPolicy


def _default(owner: Any, name: str) -> Any:
    """The default value `owner` (a class or dataclass) gives its parameter `name`."""
    return inspect.signature(owner).parameters[name].default


def _address(value: Any) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"{value!r} is not an Ethereum address")
    return str(to_checksum_address(value))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SenderConfig(_Strict):
    """Who pays for transactions: a key read from an environment variable, or an account the node
    unlocks."""

    key_env: str | None = None
    unlocked: str | None = None

    @field_validator("unlocked")
    @classmethod
    def _check_unlocked(cls, v: str | None) -> str | None:
        return None if v is None else _address(v)

    @model_validator(mode="after")
    def _exactly_one(self) -> SenderConfig:
        if (self.key_env is None) == (self.unlocked is None):
            raise ValueError(
                "set exactly one of key_env (environment variable with a key) or unlocked"
            )
        return self


class ChainConfig(_Strict):
    rpc_url: str = "http://127.0.0.1:8545"
    sender: SenderConfig
    request_timeout: float = Field(default=10.0, gt=0)
    # Multicall3 for reading every market's registry state and on-chain feeds in a few requests
    # (the canonical address holds it on most EVM chains; null: several reads per market)
    multicall: str | None = MULTICALL3_ADDRESS

    @field_validator("multicall")
    @classmethod
    def _check_multicall(cls, v: str | None) -> str | None:
        if v is not None and not is_address(v):
            raise ValueError(f"{v!r} is not an address")
        return v

    @field_validator("rpc_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v


class RegistryConfig(_Strict):
    address: str | None = None
    governance: str
    governance_key_env: str | None = None  # for `oracle propose/execute/cancel`
    guardian: str
    signers: list[str] = Field(min_length=1)
    threshold: int = Field(default=1, ge=1)
    timelock_delay: int = Field(default=86_400, ge=0)

    @field_validator("address")
    @classmethod
    def _check_address(cls, v: str | None) -> str | None:
        return None if v is None else _address(v)

    @field_validator("governance", "guardian")
    @classmethod
    def _check_role(cls, v: str) -> str:
        return _address(v)

    @field_validator("signers")
    @classmethod
    def _check_signers(cls, v: list[str]) -> list[str]:
        out = [_address(s) for s in v]
        if len(set(out)) != len(out):
            raise ValueError("signers must be distinct")
        return out

    @model_validator(mode="after")
    def _threshold_fits(self) -> RegistryConfig:
        if self.threshold > len(self.signers):
            raise ValueError(f"threshold {self.threshold} exceeds the {len(self.signers)} signers")
        return self


class HealthConfig(_Strict):
    """Feed-health thresholds (see oracle/snapshot.py for how each is used)."""

    min_healthy: int = Field(default=_default(HealthPolicy, "min_healthy"), ge=1)
    warn_divergence: float = Field(default=_default(HealthPolicy, "warn_divergence"), gt=0)
    fail_divergence: float = Field(default=_default(HealthPolicy, "fail_divergence"), gt=0)
    mad_k: float = Field(default=_default(HealthPolicy, "mad_k"), gt=0)
    mad_floor: float = Field(default=_default(HealthPolicy, "mad_floor"), ge=0)
    max_jump: float = Field(default=_default(HealthPolicy, "max_jump"), gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> HealthConfig:
        if self.warn_divergence > self.fail_divergence:
            raise ValueError("warn_divergence must not exceed fail_divergence")
        return self


class ChainlinkFeedConfig(_Strict):
    name: str = "chainlink"
    address: str
    heartbeat: int = Field(gt=0)
    invert: bool = False
    max_future: int = Field(default=_default(ChainlinkSource, "max_future"), ge=0)

    @field_validator("address")
    @classmethod
    def _check_address(cls, v: str) -> str:
        return _address(v)


class UniswapFeedConfig(_Strict):
    name: str = "uniswap"
    pool: str
    window: int = Field(default=_default(UniswapV3TwapSource, "window"), gt=0)
    collateral_is_token0: bool
    max_age: int = Field(default=_default(UniswapV3TwapSource, "max_age"), gt=0)

    @field_validator("pool")
    @classmethod
    def _check_pool(cls, v: str) -> str:
        return _address(v)


class ExchangeFeedConfig(_Strict):
    name: str
    exchange: str
    symbol: str
    api_url: str | None = None  # e.g. the local exchange emulator
    max_age: int = Field(default=_default(ExchangeSource, "max_age"), gt=0)
    # seconds an order book is reused while the price stays within book_move of it (0: every read)
    book_max_age: int = Field(default=_default(ExchangeSource, "book_max_age"), ge=0)
    book_move: float = Field(default=_default(ExchangeSource, "book_move"), ge=0, lt=1)

    @field_validator("exchange")
    @classmethod
    def _check_exchange(cls, v: str) -> str:
        import ccxt

        if v not in ccxt.exchanges:
            raise ValueError(f"ccxt has no exchange {v!r}")
        return v

    @field_validator("api_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v


class MarketFeedsConfig(_Strict):
    chainlink: list[ChainlinkFeedConfig] = []
    uniswap: list[UniswapFeedConfig] = []
    exchanges: list[ExchangeFeedConfig] = []

    @model_validator(mode="after")
    def _distinct_names(self) -> MarketFeedsConfig:
        names = [
            *(f.name for f in self.chainlink),
            *(f.name for f in self.uniswap),
            *(f.name for f in self.exchanges),
        ]
        if not names:
            raise ValueError("a market needs at least one source")
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be distinct, got {names}")
        return self


class FeedsConfig(_Strict):
    # seconds for one read, and for each round of `workers` reads in a cycle
    timeout: float = Field(default=_default(Keeper, "feeds_timeout"), gt=0)
    # threads reading every market's feeds at once (0: market by market)
    workers: int = Field(default=_default(Keeper, "feed_workers"), ge=0)
    health: HealthConfig = HealthConfig()
    markets: dict[str, MarketFeedsConfig] = {}

    @model_validator(mode="after")
    def _enough_sources(self) -> FeedsConfig:
        for market, feeds in self.markets.items():
            n = len(feeds.chainlink) + len(feeds.uniswap) + len(feeds.exchanges)
            if n < self.health.min_healthy:
                raise ValueError(
                    f"market {market} has {n} source(s) but health.min_healthy is "
                    f"{self.health.min_healthy}: it could never be healthy"
                )
        return self


class SignerKeyConfig(_Strict):
    """One signing key: a hex key in an environment variable, or a keystore file and the
    environment variable holding its password. Keys never appear in this file."""

    key_env: str | None = None
    keystore: Path | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SignerKeyConfig:
        if (self.key_env is None) == (self.keystore is None):
            raise ValueError("set exactly one of key_env or keystore")
        if self.keystore is not None and self.password_env is None:
            raise ValueError("a keystore needs password_env")
        return self


class HistoryConfig(_Strict):
    source: str  # the name of one of the market's exchange feeds
    timeframe: str = "1h"
    bars: int = Field(default=2_000, ge=48)
    #: Also fetch the daily closes of the threshold's tail memory (model `memory_days`) from it.
    memory: bool = True


class AaveReserveConfig(_Strict):
    """The market's reserve in an Aave v3 market, driven through an `AaveV3RiskAdapter`."""

    adapter: str  # the AaveV3RiskAdapter the keeper syncs after its pushes
    asset: str  # the reserve's underlying asset, as linked in the adapter
    from_block: int = Field(default=0, ge=0)  # where the scan for borrowers starts

    @field_validator("adapter", "asset")
    @classmethod
    def _check_address(cls, v: str) -> str:
        return _address(v)


class KeeperMarketConfig(_Strict):
    size: float = Field(gt=0)  # collateral units that may need liquidating at once
    history: HistoryConfig
    # an ExampleLendingPool-like consumer whose positions size threshold cuts and reviews assess
    lending_pool: str | None = None
    aave: AaveReserveConfig | None = None  # or an Aave v3 reserve: synced, positions read

    @field_validator("lending_pool")
    @classmethod
    def _check_pool(cls, v: str | None) -> str | None:
        return None if v is None else _address(v)

    @model_validator(mode="after")
    def _one_consumer(self) -> KeeperMarketConfig:
        if self.lending_pool is not None and self.aave is not None:
            raise ValueError(
                "set lending_pool or aave, not both: one consumer's positions per market"
            )
        return self

    model: dict[str, Any] = {}  # ModelSettings overrides, e.g. {confidence: 0.995}


class PolicyConfig(_Strict):
    deadband_bps: int = Field(default=_default(PolicySettings, "deadband_bps"), ge=0)
    heartbeat_after: int = Field(default=_default(PolicySettings, "heartbeat_after"), gt=0)
    # at most the streak the store counts: beyond it, a market would never loosen
    loosen_after_cycles: int = Field(
        default=_default(PolicySettings, "loosen_after_cycles"), ge=1, le=MAX_STREAK
    )
    proposal_band_bps: int = Field(default=_default(PolicySettings, "proposal_band_bps"), ge=0)
    threshold_step_bps: int = Field(default=_default(PolicySettings, "threshold_step_bps"), ge=0)
    max_induced_share: float = Field(
        default=_default(PolicySettings, "max_induced_share"), ge=0, le=1
    )
    governance_cut_bps: int = Field(default=_default(PolicySettings, "governance_cut_bps"), ge=0)
    threshold_band_bps: int = Field(default=_default(PolicySettings, "threshold_band_bps"), ge=0)


class TriggerConfig(_Strict):
    price_move: float = Field(default=0.03, gt=0)  # run a cycle at once past this move
    check_every: float = Field(default=15.0, gt=0)  # seconds between trigger checks
    # realized / expected volatility between checks that triggers a cycle
    vol_jump: float = Field(default=_default(KeeperService, "vol_jump"), gt=1)


class RiskArraysConfig(_Strict):
    """The arrays contract the keeper also publishes portfolio-margin arrays to."""

    address: str  # the RiskArrayRegistry (its signer set and governance are the registry's)
    scenario_set: int = Field(default=1, ge=1, le=255)
    # the markets whose arrays are published together (their rows are joint moves); default: all
    markets: list[str] | None = None
    refresh: int = Field(default=_default(ArraysSetup, "refresh"), gt=0)  # heartbeat, seconds
    # publish sooner when a row of the target moves this far (10 bps units) from the chain's
    min_change_units: int = Field(default=_default(ArraysSetup, "min_change_units"), ge=1)

    @field_validator("address")
    @classmethod
    def _check_address(cls, v: str) -> str:
        return _address(v)


class KeeperConfig(_Strict):
    store: Path = Path("oracle.db")
    signers: list[SignerKeyConfig] = Field(min_length=1)
    interval: float = Field(default=300.0, gt=0)  # seconds between scheduled cycles
    batch_ttl: int = Field(default=_default(Keeper, "batch_ttl"), gt=0)
    trigger: TriggerConfig = TriggerConfig()
    policy: PolicyConfig = PolicyConfig()
    metrics_port: int = Field(default=0, ge=0, le=65_535)  # 0: no metrics endpoint
    reviews: Path = Path("reviews")  # where governance review reports are written
    # each signed batch's inputs, <inputsHash>.json.gz, written before signing (`oracle verify`)
    bundles: Path = Path("bundles")
    # a settings file from `oracle calibrate`: the keeper runs its latest fold and commits the
    # file's hash in every batch's modelVersion (the config may repeat its values, not change them)
    settings: Path | None = None
    markets: dict[str, KeeperMarketConfig] = Field(min_length=1)
    risk_arrays: RiskArraysConfig | None = None  # portfolio-margin arrays (off when absent)

    @model_validator(mode="after")
    def _array_markets_are_keeper_markets(self) -> KeeperConfig:
        if self.risk_arrays is not None and self.risk_arrays.markets is not None:
            unknown = set(self.risk_arrays.markets) - set(self.markets)
            if unknown:
                raise ValueError(f"risk_arrays.markets not among keeper.markets: {sorted(unknown)}")
        return self


class OtherChainConfig(_Strict):
    """A chain the keeper serves besides `chain`: its node and sender, its registry (signed by
    the keeper's signers) and a store of its own (its nonce and pushes are its own)."""

    chain: ChainConfig
    registry: RegistryConfig
    store: Path
    # the keeper markets listed in this chain's registry (default: all of them)
    markets: list[str] | None = None


class OracleConfig(_Strict):
    chain: ChainConfig
    registry: RegistryConfig
    feeds: FeedsConfig = FeedsConfig()
    keeper: KeeperConfig | None = None
    # more chains, by name (`chain` is the primary, named `primary`): the markets are read once
    # per cycle and each chain's registry is judged and pushed to on a thread of its own
    chains: dict[str, OtherChainConfig] = {}

    @model_validator(mode="after")
    def _chains_fit(self) -> OracleConfig:
        if not self.chains:
            return self
        if self.keeper is None:
            raise ValueError("chains need a keeper section (its markets and signers)")
        if PRIMARY_CHAIN in self.chains:
            raise ValueError(f"chains: {PRIMARY_CHAIN!r} is the name of the chain section")
        stores = [self.keeper.store, *(c.store for c in self.chains.values())]
        if len({p.resolve() for p in stores}) != len(stores):
            raise ValueError("chains: each chain needs a store of its own (keeper.store too)")
        for name, other in self.chains.items():
            unknown = set(other.markets or ()) - set(self.keeper.markets)
            if unknown:
                raise ValueError(
                    f"chains.{name}.markets not among keeper.markets: {sorted(unknown)}"
                )
        return self

    @model_validator(mode="after")
    def _keeper_markets_have_feeds(self) -> OracleConfig:
        if self.keeper is None:
            return self
        for market, km in self.keeper.markets.items():
            feeds = self.feeds.markets.get(market)
            if feeds is None:
                raise ValueError(f"keeper market {market} has no feeds.markets entry")
            if km.history.source not in [e.name for e in feeds.exchanges]:
                raise ValueError(
                    f"keeper market {market}: history.source {km.history.source!r} is not one of "
                    "its exchange feeds"
                )
        return self


_TEMPLATE = """\
# Margin oracle keeper configuration for a local Anvil mining a block every 2 s, as a chain does
# (`oracle node` runs one on port 8545): the registry judges its intervals by block time.
# Addresses are Anvil's well-known test accounts; use your own on any real chain.
# Every other value shown is the default the keeper applies when the key is left out.
chain:
  rpc_url: {rpc_url}
  # or {{key_env: ORACLE_SENDER_KEY}}:
  sender: {{unlocked: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}}
  request_timeout: {request_timeout}
registry:
  # printed by `oracle deploy`
  address: null
  governance: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
  guardian: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
  signers: ["0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"]
  threshold: {threshold}
  timelock_delay: {timelock_delay}
feeds:
  # seconds for one read, and for each round of `workers` reads in a cycle
  timeout: {timeout}
  # threads reading every market's feeds at once (0: market by market)
  workers: {workers}
  health: {health}
  markets:
    ETH/USDT:
      exchanges:
{live_exchanges}keeper:
  # the SQLite audit trail
  store: {store}
  signers:
    # or {{keystore: path/to/key.json, password_env: ORACLE_KEY_PASSWORD}}
    - {{key_env: ORACLE_SIGNER_KEY}}
  # seconds between scheduled cycles
  interval: {interval}
  # a signed batch's deadline, seconds after signing (never beyond the registry's maxBatchLifetime)
  batch_ttl: {batch_ttl}
  trigger: {trigger}
  policy: {policy}
  # Prometheus on 127.0.0.1 (the default, 0, turns it off)
  metrics_port: 9108
  # governance review reports
  reviews: {reviews}
  # every signed batch's inputs (publish this directory: anyone can then run `oracle verify`)
  bundles: {bundles}
  # calibrated settings from `oracle calibrate` (its latest fold runs; its hash goes on-chain in
  # modelVersion); with a file, remove the policy line above or repeat the file's values
  # settings: settings/oracle-settings.json
  markets:
    ETH/USDT:
      # ETH that may need liquidating at once
      size: 1000
      # memory: also the daily closes of the threshold's tail memory (model memory_days)
      history: {{source: binance, timeframe: {timeframe}, bars: {bars}, memory: true}}
      # risk-model overrides, e.g. {{confidence: 0.995}}
      model: {{}}
"""


def _yaml(value: Any) -> str:
    """A default as YAML: whole floats as integers (300, not 300.0), paths as strings, models as
    one flow mapping in field order."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: The venues of `init_template(dev=True)`: `oracle emulator`'s, from its first port.
_DEV_EXCHANGES = """\
        # the local venues of `oracle emulator` (replaying the shipped history as now)
        - {{name: venue0, exchange: binance, symbol: ETH/USDT, api_url: "http://127.0.0.1:{p0}"}}
        - {{name: venue1, exchange: binance, symbol: ETH/USDT, api_url: "http://127.0.0.1:{p1}"}}
"""
_LIVE_EXCHANGES = """\
        # add api_url: to point a venue at another host (e.g. the exchange emulator). Markets on
        # one exchange and api_url share its client: one ticker request per cycle for up to 100
        # symbols. A venue's order book is re-read when older than book_max_age seconds (default
        # {book_max_age}; 0: every cycle) or when the price moved more than book_move from it
        # (default {book_move})
        - {{name: binance, exchange: binance, symbol: ETH/USDT}}
        - {{name: binanceus, exchange: binanceus, symbol: ETH/USDT}}
"""


def init_template(dev_emulator_port: int | None = None) -> str:
    """The commented configuration `oracle init` writes: every default shown is the default the
    keeper applies (read from the models, not retyped). With `dev_emulator_port`, the venues are
    `oracle emulator`'s on that port and the next."""

    def default(model: type[BaseModel], key: str) -> str:
        return _yaml(model.model_fields[key].default)

    live = _LIVE_EXCHANGES.format(
        book_max_age=default(ExchangeFeedConfig, "book_max_age"),
        book_move=default(ExchangeFeedConfig, "book_move"),
    )
    text = _TEMPLATE.format(
        live_exchanges=live,
        rpc_url=default(ChainConfig, "rpc_url"),
        request_timeout=default(ChainConfig, "request_timeout"),
        threshold=default(RegistryConfig, "threshold"),
        timelock_delay=default(RegistryConfig, "timelock_delay"),
        timeout=default(FeedsConfig, "timeout"),
        workers=default(FeedsConfig, "workers"),
        health=_yaml(HealthConfig()),
        store=default(KeeperConfig, "store"),
        interval=default(KeeperConfig, "interval"),
        batch_ttl=default(KeeperConfig, "batch_ttl"),
        trigger=_yaml(TriggerConfig()),
        policy=_yaml(PolicyConfig()),
        reviews=default(KeeperConfig, "reviews"),
        bundles=default(KeeperConfig, "bundles"),
        timeframe=default(HistoryConfig, "timeframe"),
        bars=default(HistoryConfig, "bars"),
    )
    if dev_emulator_port is None:
        return text
    dev = _DEV_EXCHANGES.format(p0=dev_emulator_port, p1=dev_emulator_port + 1)
    return text.replace(live, dev).replace("{source: binance,", "{source: venue0,")


def parse_config(data: Any) -> OracleConfig:
    if not isinstance(data, dict):
        raise ConfigError("<root>", "the config must be a mapping of sections")
    try:
        return OracleConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        raise ConfigError(key, message) from None


def load_config(path: Path) -> OracleConfig:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError("<file>", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("<file>", f"{path} is not valid YAML: {exc}") from None
    return parse_config(data)
