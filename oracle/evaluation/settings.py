"""The versioned settings file `oracle calibrate` writes and the keeper, `backtest` and `evaluate`
load.

One file holds walk-forward folds: each fold's model and policy settings were searched on data that
ended at `trained_until`, and apply to windows starting at or after `valid_from` (never earlier, so
no window is scored with settings that saw it). The keeper runs the latest fold. The file's SHA-256
goes on-chain inside `modelVersion` (`model_version`), so anyone can tell which settings produced a
pushed value and fetch the file that hashes to it.

Format (JSON, written canonically: sorted keys, two-space indent, UTF-8):

    {"format": 1, "search": {…how it was searched…},
     "folds": [{"valid_from": "2021-01-01T00:00:00Z", "trained_until": "…", "training": [...],
                "model": {ModelSettings overrides}, "policy": {PolicySettings overrides},
                "score": {...}}, …]}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oracle.errors import ConfigError
from oracle.policy import PolicySettings
from oracle.risk import MODEL_VERSION, ModelSettings
from oracle.series import iso

if TYPE_CHECKING:  # the backtester (numpy-heavy, matplotlib) loads only where folds are applied:
    # the keeper and the verifier read settings files without it
    from oracle.backtest.runner import BacktestSettings

FORMAT = 1


@dataclass(frozen=True)
class Fold:
    valid_from: int
    trained_until: int
    model: dict[str, Any]
    policy: dict[str, Any]
    training: tuple[str, ...] = ()
    score: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid_from": iso(self.valid_from),
            "trained_until": iso(self.trained_until),
            "training": list(self.training),
            "model": self.model,
            "policy": self.policy,
            "score": self.score,
        }

    @property
    def label(self) -> str:
        return (
            f"fold from {iso(self.valid_from)[:10]} (trained before {iso(self.trained_until)[:10]})"
        )


def _time(value: Any) -> int:
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 time") from None


def check_overrides(cls: type, values: Any, where: str) -> dict[str, Any]:
    """Overrides must name fields of `cls` and build a valid instance (its own checks run)."""
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping of setting names to values")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    try:
        cls(**from_json(values))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    return dict(values)


def from_json(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no tuples: lists become tuples (ModelSettings.realized_windows)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


@dataclass(frozen=True)
class SettingsFile:
    folds: tuple[Fold, ...]
    search: dict[str, Any]
    digest: str  # SHA-256 of the file's bytes, hex
    text: str = ""  # the file as read (what an inputs bundle carries; it hashes to `digest`)

    @property
    def latest(self) -> Fold:
        return self.folds[-1]

    def fold_for(self, start: int) -> Fold | None:
        """The fold a window starting at `start` may use: the last one valid by then."""
        valid = [f for f in self.folds if f.valid_from <= start]
        return valid[-1] if valid else None

    @property
    def model_version(self) -> str:
        """What the keeper commits on-chain: the engine's version and the file's hash (≤ 32 ASCII
        characters, the contract's bytes32)."""
        return f"{MODEL_VERSION}+{self.digest[:16]}"

    def to_json(self) -> str:
        return render(self.folds, self.search)


def render(folds: tuple[Fold, ...] | list[Fold], search: dict[str, Any]) -> str:
    body = {"format": FORMAT, "search": search, "folds": [f.to_dict() for f in folds]}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def write(
    path: Path, folds: list[Fold], search: dict[str, Any], key: str = "--out"
) -> SettingsFile:
    """Writes the file atomically (a temporary file renamed over it): a failed run never leaves a
    half-written or invalid file where a keeper reads one."""
    text = render(folds, search)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        load(tmp, key)  # what is written must load
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(key, f"cannot write {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return load(path, key)


def check_writable(path: Path, key: str) -> None:
    """Fails now, not after minutes of computing, when `path` cannot be written."""
    try:
        probe = path.with_name(path.name + ".tmp")  # the name `write` uses, so nothing is left
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigError(key, f"cannot write {path}: {exc.strerror}") from None


def load(path: Path, key: str = "--settings") -> SettingsFile:
    """Reads and checks a settings file; any defect is one ConfigError naming `key` (the option or
    config key that gave the path), the file and the defect."""

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(key, f"{path}: cannot read the settings file: {exc.strerror}") from None
    return parse(raw, str(path), key)


def parse(raw: bytes, path: str, key: str = "--settings") -> SettingsFile:
    """A settings file's bytes (read from `path`, or carried in an inputs bundle), checked as
    `load` does."""

    def fail(where: str, message: str) -> ConfigError:
        return ConfigError(key, f"{where}: {message}")

    try:
        text = raw.decode("utf-8")
        body = json.loads(text)
    except UnicodeDecodeError:
        raise fail(str(path), "not UTF-8 text") from None
    except ValueError as exc:
        raise fail(str(path), f"not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise fail(str(path), f"not a settings file of format {FORMAT}")
    folds: list[Fold] = []
    for i, f in enumerate(body.get("folds") or []):
        at = f"{path} folds[{i}]"
        if not isinstance(f, dict):
            raise fail(at, "expected a mapping")
        try:
            fold = Fold(
                valid_from=_time(f.get("valid_from")),
                trained_until=_time(f.get("trained_until")),
                model=check_overrides(ModelSettings, f.get("model", {}), "model"),
                policy=check_overrides(PolicySettings, f.get("policy", {}), "policy"),
                training=tuple(f.get("training") or ()),
                score=f.get("score"),
            )
        except ValueError as exc:
            raise fail(at, str(exc)) from None
        if fold.trained_until > fold.valid_from:
            raise fail(at, "trained_until is after valid_from: the fold saw its own data")
        if folds and fold.valid_from <= folds[-1].valid_from:
            raise fail(at, "folds must be in increasing valid_from order")
        folds.append(fold)
    if not folds:
        raise fail(str(path), "the settings file holds no folds")
    return SettingsFile(
        tuple(folds), body.get("search") or {}, hashlib.sha256(raw).hexdigest(), text
    )


def backtest_settings(fold: Fold | None, base: BacktestSettings | None = None) -> BacktestSettings:
    """`base` (the defaults) with a fold's model and policy settings applied; None keeps `base`."""
    from oracle.backtest.runner import BacktestSettings

    base = base or BacktestSettings()
    return base if fold is None else apply({"model": fold.model, "policy": fold.policy}, base)


def apply(overrides: dict[str, dict[str, Any]], base: BacktestSettings) -> BacktestSettings:
    """`base` with {"model": {…}, "policy": {…}} overrides applied."""
    return replace(
        base,
        model=replace(base.model, **from_json(overrides.get("model", {}))),
        policy=replace(base.policy, **from_json(overrides.get("policy", {}))),
    )
