"""A pure mirror of `RiskArrayRegistry`: the on-chain units of a risk array, its packed word, a
scenario set's guardrails, and the step toward a target array that the contract will accept.

One Python copy of each on-chain rule (`contracts/libraries/RiskArrayWord.sol` and the contract's
`_publish`), used by the keeper to publish only what the chain accepts, by the portfolio backtest
to margin exactly as the chain does, and by the tests that compare the two. Integer arithmetic and
rounding follow the contract's.

Units: a move is a count of 10 bps (`MOVE_UNIT_BPS`) in 12 bits, so −204.8 % to +204.7 % at 0.1 %
resolution; sixteen fill 192 bits of one storage word. Quantising rounds each move away from zero
and the floor up (the asset's own margin never falls below the model's), and the depth down (the
size add-on errs high).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from oracle.errors import RiskInputError
from oracle.risk.scenarios import FACTOR_PAIRS, ROW_WEIGHT_PCT

#: Rows of every scenario set (`SCENARIOS`).
SCENARIOS = 16
#: One move unit in bps (`MOVE_UNIT_BPS`) and the units in one (`UNITS_PER_ONE`).
MOVE_UNIT_BPS = 10
UNITS_PER_ONE = 1000
#: A 12-bit two's-complement move.
MOVE_MIN, MOVE_MAX = -2048, 2047
#: Largest floor (8 bits of units) and largest depth code (12-bit mantissa, 4-bit power of ten).
FLOOR_MAX = 255
DEPTH_MANTISSA_MAX = 0xFFF
DEPTH_EXPONENT_MAX = 15
#: `_ceilDiv` divisor of a weighted loss: move units times percent.
LOSS_SCALE = UNITS_PER_ONE * 100
WAD = 10**18
HOUR, DAY = 3600, 86_400


def decode_depth(code: int) -> int:
    """`decodeDepth`: whole USD of a 16-bit depth code."""
    return (code & 0xFFF) * 10 ** (code >> 12)


def encode_depth(usd: float, *, round_up: bool = False) -> int:
    """The depth code nearest `usd` from below (or from above with `round_up`): the largest
    mantissa at the smallest power of ten that holds it."""
    if not math.isfinite(usd) or usd < 1:
        raise RiskInputError("(arrays)", f"depth must be at least 1 USD, got {usd!r}")
    exponent = 0
    while usd / 10**exponent > DEPTH_MANTISSA_MAX:
        exponent += 1
    if exponent > DEPTH_EXPONENT_MAX:
        raise RiskInputError("(arrays)", f"depth {usd:.3g} USD does not fit the 16-bit code")
    scaled = usd / 10**exponent
    mantissa = math.ceil(scaled - 1e-12) if round_up else math.floor(scaled + 1e-12)
    if mantissa > DEPTH_MANTISSA_MAX:  # rounding up spilled over: next power of ten
        exponent, mantissa = exponent + 1, math.ceil(mantissa / 10)
    return (exponent << 12) | max(mantissa, 1)


def _sign_extend(raw: int) -> int:
    return raw - 0x1000 if raw & 0x800 else raw


def unpack_moves(packed: int) -> tuple[int, ...]:
    """`moveAt` for every row."""
    return tuple(_sign_extend((packed >> (12 * s)) & 0xFFF) for s in range(SCENARIOS))


def pack_moves(moves: Sequence[int]) -> int:
    """Rows into 12-bit fields, row 0 lowest (what a `RiskArrayUpdate` signs)."""
    if len(moves) != SCENARIOS:
        raise RiskInputError("(arrays)", f"a risk array has {SCENARIOS} rows, got {len(moves)}")
    word = 0
    for s, m in enumerate(moves):
        if not MOVE_MIN <= m <= MOVE_MAX:
            raise RiskInputError("(arrays)", f"move {m} of row {s} does not fit 12 bits")
        word |= (m & 0xFFF) << (12 * s)
    return word


@dataclass(frozen=True)
class ArrayValues:
    """What is signed for one asset, in on-chain units."""

    moves: tuple[int, ...]
    floor_units: int
    depth_code: int

    def __post_init__(self) -> None:
        pack_moves(self.moves)  # validates
        if not 0 <= self.floor_units <= FLOOR_MAX:
            raise RiskInputError("(arrays)", f"floor {self.floor_units} does not fit 8 bits")
        if not 0 <= self.depth_code < 2**16 or decode_depth(self.depth_code) == 0:
            raise RiskInputError("(arrays)", f"depth code {self.depth_code} is not a depth")

    @property
    def packed_moves(self) -> int:
        return pack_moves(self.moves)

    @property
    def depth_usd(self) -> int:
        return decode_depth(self.depth_code)


@dataclass(frozen=True)
class PublishedArray:
    """An asset's stored word as the chain holds it."""

    values: ArrayValues
    updated_at: int
    scenario_set: int

    @classmethod
    def unpack(cls, word: int) -> PublishedArray | None:
        """The word's fields; None for an asset never published (`updatedAt` 0)."""
        updated = (word >> 192) & 0xFFFFFFFF
        if updated == 0:
            return None
        values = ArrayValues(
            unpack_moves(word & ((1 << 192) - 1)), (word >> 232) & 0xFF, word >> 240
        )
        return cls(values, updated, (word >> 224) & 0xFF)

    def word(self) -> int:
        """`packArray`."""
        v = self.values
        return (
            v.packed_moves
            | self.updated_at << 192
            | self.scenario_set << 224
            | v.floor_units << 232
            | v.depth_code << 240
        )


@dataclass(frozen=True)
class ScenarioSetLimits:
    """`IRiskArrays.ScenarioSet`: weights, bounds and rates of one scenario set (moves and floor in
    units)."""

    weight_pct: tuple[int, ...]
    min_moves: tuple[int, ...]
    max_moves: tuple[int, ...]
    min_floor_units: int
    max_floor_units: int
    max_step_units: int
    widen_units_per_hour: int
    narrow_units_per_day: int
    max_depth_growth_pct: int
    max_age: int
    active: bool
    factor_pairs: int = 0  # rows 0/1, 2/3, … are ± factors: the margin also takes their norm

    def as_tuple(self) -> tuple[object, ...]:
        """ABI tuple for `setScenarioSet`."""
        return (
            list(self.weight_pct),
            list(self.min_moves),
            list(self.max_moves),
            self.min_floor_units,
            self.max_floor_units,
            self.max_step_units,
            self.widen_units_per_hour,
            self.narrow_units_per_day,
            self.max_depth_growth_pct,
            self.max_age,
            self.active,
            self.factor_pairs,
        )

    @classmethod
    def from_tuple(cls, raw: Sequence[object]) -> ScenarioSetLimits:
        w, lo, hi, *rest = raw
        return cls(tuple(w), tuple(lo), tuple(hi), *rest)  # type: ignore[arg-type]


def quantize(moves: Sequence[float], floor: float, depth_usd: float) -> ArrayValues:
    """Fractional moves (−0.3 is −30 %) and floor, and a depth in USD, to on-chain units: moves
    away from zero, floor up, depth down; moves beyond 12 bits are clipped (and a move of −100 %
    or less is −100 %)."""
    units = []
    for m in moves:
        if not math.isfinite(m):
            raise RiskInputError("(arrays)", f"a scenario move is not finite: {m!r}")
        scaled = max(m, -1.0) * UNITS_PER_ONE
        rounded = math.floor(scaled + 1e-9) if scaled < 0 else math.ceil(scaled - 1e-9)
        units.append(min(max(rounded, MOVE_MIN), MOVE_MAX))
    if not math.isfinite(floor) or floor < 0:
        raise RiskInputError("(arrays)", f"floor must be finite and non-negative, got {floor!r}")
    floor_units = min(math.ceil(floor * UNITS_PER_ONE - 1e-9), FLOOR_MAX)
    return ArrayValues(tuple(units), floor_units, encode_depth(depth_usd))


def allowance(rate: int, elapsed: int, period: int, cap: int) -> int:
    """`_allowance`: `rate` per `period` over `elapsed` seconds, rounded down, at most `cap`."""
    return min(rate * elapsed // period, cap)


def shrinks(frm: int, to: int) -> bool:
    """`_checkMoveStep`: a magnitude shrinking toward zero without crossing it (the loosening
    direction for the asset's own margin)."""
    return abs(to) < abs(frm) and (to == 0 or (frm < 0) == (to < 0))


def _step_move(frm: int, target: int, widen: int, narrow: int) -> int:
    """The move nearest `target` that a step from `frm` may reach."""
    if target == frm:
        return frm
    direction = 1 if target > frm else -1
    if shrinks(frm, target):
        return frm + direction * min(abs(target - frm), narrow)
    candidate = frm + direction * min(abs(target - frm), widen)
    if shrinks(frm, candidate) and abs(candidate - frm) > narrow:
        # crossing zero: the stretch short of zero still counts as shrinking
        candidate = frm + direction * narrow
    return candidate


@dataclass(frozen=True)
class ArrayStep:
    """What may be published toward a target array, and why it differs from the target."""

    values: ArrayValues
    notes: tuple[str, ...]

    @property
    def reaches_target(self) -> bool:
        return not self.notes


def step_toward(
    target: ArrayValues,
    current: PublishedArray | None,
    limits: ScenarioSetLimits,
    scenario_set: int,
    now: int,
) -> ArrayStep:
    """The array nearest `target` that `submitRiskArrays` accepts at `now`: bounds always; when
    the asset already has an array under `scenario_set`, the rates since its last publication (a
    move or the floor grows at most `widen_units_per_hour` per hour and shrinks at most
    `narrow_units_per_day` per day, both capped by `max_step_units`; the depth may halve at once
    and grows at most `max_depth_growth_pct` percent per day)."""
    notes: list[str] = []
    moves = []
    for s, m in enumerate(target.moves):
        lo, hi = limits.min_moves[s], limits.max_moves[s]
        if not lo <= m <= hi:
            notes.append(f"row {s} move {m} clamped to its bounds [{lo}, {hi}]")
        moves.append(min(max(m, lo), hi))
    floor = min(max(target.floor_units, limits.min_floor_units), limits.max_floor_units)
    if floor != target.floor_units:
        notes.append(f"floor {target.floor_units} clamped to its bounds")
    depth_code = target.depth_code
    steps = current is not None and current.scenario_set == scenario_set
    if current is not None and steps:
        elapsed = now - current.updated_at
        widen = allowance(limits.widen_units_per_hour, elapsed, HOUR, limits.max_step_units)
        narrow = allowance(limits.narrow_units_per_day, elapsed, DAY, limits.max_step_units)
        for s, m in enumerate(moves):
            stepped = _step_move(current.values.moves[s], m, widen, narrow)
            if stepped != m:
                notes.append(f"row {s} move steps {current.values.moves[s]} → {stepped} toward {m}")
            moves[s] = stepped
        old_floor = current.values.floor_units
        allowed = widen if floor > old_floor else narrow
        stepped_floor = old_floor + max(-allowed, min(allowed, floor - old_floor))
        if stepped_floor != floor:
            notes.append(f"floor steps {old_floor} → {stepped_floor} toward {floor}")
        floor = stepped_floor
        old_depth, new_depth = current.values.depth_usd, decode_depth(depth_code)
        if new_depth * 2 < old_depth:
            depth_code = encode_depth(math.ceil(old_depth / 2), round_up=True)
            notes.append(f"depth falls by half, to {decode_depth(depth_code)} USD")
        elif new_depth > old_depth:
            most = old_depth + old_depth * limits.max_depth_growth_pct * elapsed // (100 * DAY)
            if new_depth > most:
                depth_code = encode_depth(most)
                if decode_depth(depth_code) < old_depth:  # a coarser power of ten rounded below it
                    depth_code = current.values.depth_code
                notes.append(f"depth grows to {decode_depth(depth_code)} USD toward {new_depth}")
    return ArrayStep(ArrayValues(tuple(moves), floor, depth_code), tuple(notes))


@dataclass(frozen=True)
class Margin:
    """`MarginBreakdown`, in 18-decimal USD."""

    margin: int
    scenario_margin: int
    floor_margin: int
    add_on: int
    worst_scenario: int


def _ceil_div(a: int, b: int) -> int:
    return 0 if a == 0 else (a - 1) // b + 1


def _add_on(size: int, depth_usd: int) -> int:
    return _ceil_div(size * size, 100 * depth_usd * WAD)


def _ceil_sqrt(x: int) -> int:
    """OpenZeppelin's `Math.sqrt(x, Rounding.Ceil)`."""
    root = math.isqrt(x)
    return root if root * root == x else root + 1


def _norm(losses: Sequence[int], factor_pairs: int, floor_sum: int) -> int:
    """The norm of the losses over the factor rows 0, 2, … and the floor sum, weighted 100 as the
    set requires: the factors and what they leave out (the floors) add in quadrature."""
    squares = sum(losses[2 * j] ** 2 for j in range(factor_pairs)) + floor_sum**2
    return _ceil_sqrt(squares) * 100 if squares else 0


#: `worstScenario` when the norm of the factor losses and the floor sum binds rather than one row.
FACTOR_NORM_ROW = SCENARIOS


def portfolio_margin(
    arrays: Sequence[ArrayValues],
    positions: Sequence[int],
    weight_pct: Sequence[int],
    factor_pairs: int = 0,
) -> Margin:
    """`_portfolio` on arrays already read and checked: positions in 18-decimal USD. With
    `factor_pairs` k, rows 0/1 … 2k−2/2k−1 are ± orthogonal factors; the margin takes the largest
    weighted row loss or, if larger, the norm of the book's losses over rows 0, 2, … together with
    the floor sum Σ|pos|·floor. The largest row alone understates a book spread over several
    factors by up to √k (the cross-polytope inside the ellipsoid), and the larger of the factor
    norm and the floors a book half in the factors and half in the residual by up to √2."""
    pnl = [0] * SCENARIOS
    floor_sum = add_on = 0
    for a, pos in zip(arrays, positions, strict=True):
        if pos == 0:
            continue
        size = abs(pos)
        floor_sum += size * a.floor_units
        add_on += _add_on(size, a.depth_usd)
        for s in range(SCENARIOS):
            pnl[s] += pos * a.moves[s]
    worst, worst_row = 0, 0
    for s in range(SCENARIOS):
        loss = -pnl[s] * weight_pct[s]
        if loss > worst:
            worst, worst_row = loss, s
    norm = _norm(pnl, factor_pairs, floor_sum)
    if norm > worst:
        worst, worst_row = norm, FACTOR_NORM_ROW
    scenario = _ceil_div(worst, LOSS_SCALE)
    floor = _ceil_div(floor_sum, UNITS_PER_ONE)
    return Margin(max(scenario, floor) + add_on, scenario, floor, add_on, worst_row)


def isolated_margin(
    arrays: Sequence[ArrayValues],
    positions: Sequence[int],
    weight_pct: Sequence[int],
    factor_pairs: int = 0,
) -> int:
    """`isolatedMargin`: each position margined alone on the same arrays."""
    total = 0
    for a, pos in zip(arrays, positions, strict=True):
        if pos == 0:
            continue
        worst = max([0] + [-pos * a.moves[s] * weight_pct[s] for s in range(SCENARIOS)])
        floor_sum = abs(pos) * a.floor_units
        worst = max(worst, _norm([pos * m for m in a.moves], factor_pairs, floor_sum))
        scan = _ceil_div(worst, LOSS_SCALE)
        total += max(scan, _ceil_div(floor_sum, UNITS_PER_ONE)) + _add_on(abs(pos), a.depth_usd)
    return total


#: Governance's starting point for scenario set `span16-v1` (`oracle.risk.scenarios`): its three
#: principal-component pairs as factor rows (the margin takes their norm); moves from
#: −95 % to +204.7 %, floors from 0.5 % to 25.5 %; a move or floor may grow by 10 % of notional an
#: hour and shrink by 10 % a day, at most 30 % in one update; depth may grow by half a day; arrays
#: older than two days are not read.
SPAN16_LIMITS = ScenarioSetLimits(
    factor_pairs=FACTOR_PAIRS,
    weight_pct=ROW_WEIGHT_PCT,
    min_moves=(-950,) * SCENARIOS,
    max_moves=(MOVE_MAX,) * SCENARIOS,
    min_floor_units=5,
    max_floor_units=FLOOR_MAX,
    max_step_units=300,
    widen_units_per_hour=100,
    narrow_units_per_day=100,
    max_depth_growth_pct=50,
    max_age=2 * DAY,
    active=True,
)
