"""The `realistic` lending market: borrowers sized in dollars, with a spread of leverage, who repay
and top up, liquidated under Aave v3's close factor by liquidators who pay price impact and gas —
what the `reference` market leaves out, so that bad debt, liquidations and the penalty borrowers
pay read in dollars of a market of a given size.

`reference` fixes every rule so that independent implementations agree to rounding; this model
chooses each rule for realism and says why. Its defaults are choices, not fits to on-chain data:
each is a field of `RealisticSettings`, so a report can show how much a conclusion rests on one.
The debt asset is the dollar (the bars are quoted in USDT); interest is ignored (a few per cent a
year is small next to the price moves that decide liquidations over a position's weeks).

Borrowers. Every position's draws are made once, up front, from `numpy.random.default_rng(seed)`,
and never depend on the prices or parameters: two runs with the same seed — the dynamic and the
static side of a comparison — see the same borrowers (common random numbers), so the difference
between them is the parameters' alone. Each position has

- collateral worth V = D · s in dollars when it opens, with D = `market_debt_usd` /
  (`arrivals_per_bar` · `mean_term_bars` · E[u] · `reference_ltv_bps`), so that by Little's law
  the open debt in steady state is `market_debt_usd` when the LTV in force is `reference_ltv_bps`
  (7,500) ($100M default: a mid-sized Aave collateral market), and s lognormal with mean 1 and σ =
  `size_sigma` (1.0: median 0.61, 1 in 1,000 above 13: small accounts, where gas bites, and
  whales, where price impact does);
- a use u ~ Beta(`leverage_a`, `leverage_b`) = Beta(5, 2) of its borrowing capacity at opening:
  debt d = u · LTV_t · V. Mean 0.71, mode 0.8, 86 % of borrowers between 0.5 and 0.95, 3 % above
  0.95: most borrowers keep a cushion, a few run at the limit. The demand is fixed in collateral:
  a borrower brings what it has, so a lower LTV lends less — the open debt and the borrowing power
  fall with it — and a higher one lends more. That is the trade-off the parameters set: a market
  where the demand was fixed in dollars would make any LTV cut free;
- a term, geometric with mean `mean_term_bars` (336 h = 14 days, the reference market's term): a
  constant repayment hazard, as for open-ended loans;
- a type: a share `topup_share` (0.5) are active borrowers who top up (step c), the rest never do.

`warm_start` (default on) opens a steady-state book at bar 0 — round(arrivals_per_bar ·
mean_term_bars) positions drawn like any other — so a window does not spend its first weeks filling
up: a month-long window reads as a month of a $100M market. Those positions count as originated.

The bar. Over bars t = 0 … n−1 (hourly), with LT_t, LTV_t and LB_t the threshold, LTV and bonus in
force at bar t, and the health factor HF = collateral · price · LT_t / debt, in this order:

(a) Liquidations, of the positions flagged at bar t − `delay_bars` or earlier:
    - When. `delay_bars` = 1: a bot reacts within the hour, and the low that flagged a position is
      not a price anyone can still trade at once it is known.
    - Price. low_t, the bar's worst: the crash that makes positions liquidatable is what every
      liquidator sells into. Aave's oracle price and the venue's mid are both taken to be low_t.
      If HF ≥ 1 there, the call would revert (Aave liquidates only below HF 1): the flag is dropped.
    - Close factor, Aave v3's (`LiquidationLogic`): cf = 50 % of the debt
      (DEFAULT_LIQUIDATION_CLOSE_FACTOR) while HF > CLOSE_FACTOR_HF_THRESHOLD = 0.95, 100 % at or
      below it (v3.3 also closes positions under $2,000 in full: not modelled). The liquidator may
      repay up to cf · debt and seizes repaid · (1 + LB_t) / low_t of collateral, at most all of it
      (then it repays collateral · low_t / (1 + LB_t)).
    - Venue. The seized collateral is sold into a constant-product pool with fee `pool_fee` (0.3 %,
      Uniswap v2's) and mid low_t, whose collateral side is worth max(`depth_floor_usd`,
      `depth_multiple` · volume_t · (high_t + low_t + close_t) / 3): one bar's traded dollar
      volume (volume × typical price approximates it; the market absorbs about that much in an
      hour) and never less than $1M (a bar without recorded volume, an exchange outage, still has
      a thin market). Selling q returns y·q(1−f)/(x + q(1−f)), the formula `oracle.risk.liquidity`
      prices a `ConstantProductPool` with (`pool_proceeds` here, vectorised). All of a bar's
      liquidations share the pool, largest seizure first (the most lucrative is taken first);
      arbitrage restores it by the next bar.
    - Liquidator. It sells only while a unit seized is worth more in the pool than the debt it
      repays — the pool's collateral reserve may grow to x·√((1−f)(1+LB)) in all, past that every
      sale loses money — so it may take less than the close factor allows. It acts only when its
      profit, proceeds − repaid − `gas_usd` (the bonus, less the impact, less gas), is positive;
      otherwise it declines (`skipped_unprofitable`, one per position and bar) and the position
      stays flagged, offered again at the next bar, and may fall further: that is how small
      positions (gas) and large ones in a thin market (impact) turn into bad debt. `gas_usd` =
      $100: a liquidation with a flash swap (~500k gas) at ~60 gwei with ETH near $3,000, mainnet
      in 2021.
    - Outcome. The collateral seized beyond the debt repaid, repaid · LB_t, is the penalty the
      borrower pays. When a liquidation takes all the collateral, the debt left is bad debt and
      the position closes; a full close with collateral to spare returns the rest. A liquidated
      position's flag is cleared; step (d) flags it again if it is still below HF 1.
(b) Repayments. Every unflagged position whose term has run repays at no loss (a flagged one
    repays once it is no longer flagged).
(c) Top-ups. An active borrower whose HF at the previous bar's close (a borrower reacts to what
    was seen, an hour behind the bots) is below `topup_trigger_hf` (1.1) — or below its HF at
    opening, if that was lower: one who chose to borrow closer to the line watches that line —
    adds collateral to bring it to `topup_target_hf` (1.5), at most once every
    `topup_cooldown_bars` (24): a wallet is not bottomless, so in a long slide an active borrower
    is liquidated too.
(d) Flags. Every unflagged position with HF < 1 at low_t under LT_t is flagged at t. It is
    recorded whether, at that low, it would have been safe (HF ≥ 1) under the threshold in force
    when it opened: its liquidations then count in `param_liquidated`, caused by a cut of the
    threshold rather than by the price alone (as in `reference`).
(e) Arrivals. `arrivals_per_bar` (4) positions open at close_t (none while LTV_t = 0): enough for
    a smooth spread (~1,300 open), few enough to run a year in a fraction of a second. The count
    sets the granularity, not the market's size.

After (e) the bar's book is measured: open debt, collateral value at close_t, and borrowing power
Σ collateral · close_t · LTV_t (what the open collateral could borrow at the LTV in force).

End of the window: an open position worth less than its debt at the last close is insolvent — no
liquidation can recover it, and a gas-bound small position may never be liquidated at all — so
its shortfall is bad debt at the last bar (reported apart as `open_shortfall_usd`). Liquidations
due after the last bar never execute.

Metrics, in dollars and as fractions of all debt originated (`originated`, dollars): `bad_debt`,
`liquidated` (debt closed by liquidations: repaid, plus the debt written off when the collateral
ran out — as `reference` counts a liquidated position's whole debt), `param_liquidated`,
`penalty`; `daily_bad_debt_p95` and `_p99`, percentiles of the bad debt per UTC day as in
`reference`; `mean_ltv_bps` (the LTV over bars); `max_lt_drop_7d_bps` (`reference.max_drop` over
168 bars); and, as means over bars, `borrowing_power`, `mean_open_debt_usd` and
`mean_collateral_usd`.

Speed: a Python loop over bars, numpy across positions within a bar. Every position's draws are
made up front, the health tests compare one array (collateral per dollar of debt) with one scalar
per bar, and closed positions are compacted away in batches: a year of hourly bars runs in about
0.3 s.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from oracle.backtest.reference import max_drop, rounded
from oracle.series import iso

#: Bars in the window over which `max_lt_drop_7d_bps` is measured (7 days of hourly bars).
WEEK_BARS = 168
#: A repayment bar that never comes (closed positions, and terms past any window).
NEVER = np.iinfo(np.int64).max // 2


@dataclass(frozen=True)
class RealisticSettings:
    """The realistic market's knobs; the module docstring gives the reason for each default."""

    market_debt_usd: float = 100e6  # steady-state open debt at `reference_ltv_bps` (dollars)
    reference_ltv_bps: int = 7_500  # the LTV at which the market's open debt is market_debt_usd
    arrivals_per_bar: int = 4  # positions opening at each bar's close
    mean_term_bars: float = 336.0  # mean of the geometric term: repayment hazard 1/336 a bar
    warm_start: bool = True  # a steady-state book opens at bar 0
    leverage_a: float = 5.0  # use u = debt / (collateral value · LTV) at opening ~ Beta(a, b)
    leverage_b: float = 2.0
    size_sigma: float = 1.0  # σ of the lognormal (mean 1) spread of position sizes
    topup_share: float = 0.5  # share of borrowers who top up
    topup_trigger_hf: float = 1.1  # HF at the previous close below which they do
    topup_target_hf: float = 1.5  # HF they restore
    topup_cooldown_bars: int = 24  # at most one top-up per position in this many bars
    close_factor: float = 0.5  # Aave v3 DEFAULT_LIQUIDATION_CLOSE_FACTOR
    full_close_hf: float = 0.95  # Aave v3 CLOSE_FACTOR_HF_THRESHOLD: 100 % at or below
    delay_bars: int = 1  # bars from a flag to the first liquidation attempt
    gas_usd: float = 100.0  # a liquidator's gas per liquidation call
    depth_multiple: float = 1.0  # pool's collateral side, in bars of traded dollar volume
    depth_floor_usd: float = 1e6  # ... never less than this
    pool_fee: float = 0.003
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.market_debt_usd) and self.market_debt_usd > 0):
            problems.append("market_debt_usd must be positive")
        if not 0 < self.reference_ltv_bps <= 10_000:
            problems.append("reference_ltv_bps must be in (0, 10000]")
        if self.arrivals_per_bar < 1:
            problems.append("arrivals_per_bar must be at least 1")
        if not (math.isfinite(self.mean_term_bars) and self.mean_term_bars >= 1):
            problems.append("mean_term_bars must be at least 1")
        if not (self.leverage_a > 0 and self.leverage_b > 0):
            problems.append("leverage_a and leverage_b must be positive")
        if not self.size_sigma >= 0:
            problems.append("size_sigma must be non-negative")
        if not 0 <= self.topup_share <= 1:
            problems.append("topup_share must be in [0, 1]")
        if not 1 <= self.topup_trigger_hf <= self.topup_target_hf:
            problems.append("need 1 <= topup_trigger_hf <= topup_target_hf")
        if self.topup_cooldown_bars < 1:
            problems.append("topup_cooldown_bars must be at least 1")
        if not 0 < self.close_factor <= 1:
            problems.append("close_factor must be in (0, 1]")
        if not 0 < self.full_close_hf <= 1:
            problems.append("full_close_hf must be in (0, 1]")
        if self.delay_bars < 1:
            problems.append("delay_bars must be at least 1 (a flag is raised after liquidations)")
        if not self.gas_usd >= 0:
            problems.append("gas_usd must be non-negative")
        if not (self.depth_multiple >= 0 and self.depth_floor_usd > 0):
            problems.append("need depth_multiple >= 0 and depth_floor_usd > 0")
        if not 0 <= self.pool_fee < 1:
            problems.append("pool_fee must be in [0, 1)")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class RealisticOutcome:
    bad_debt: float  # fractions of `originated`
    liquidated: float
    param_liquidated: float
    mean_ltv_bps: float
    originated: float  # all debt originated, in dollars (the fractions' denominator)
    positions: int
    liquidations: int  # liquidation calls executed (a position may take several)
    daily_bad_debt_p95: float
    daily_bad_debt_p99: float
    max_lt_drop_7d_bps: int
    bad_debt_usd: float
    liquidated_usd: float
    param_liquidated_usd: float
    penalty_usd: float  # collateral value borrowers lost beyond the debt repaid (the bonus)
    penalty: float
    borrowing_power: float  # dollars, mean over bars of Σ collateral · close · LTV
    mean_open_debt_usd: float
    mean_collateral_usd: float
    open_shortfall_usd: float  # insolvent positions still open at the end (in bad_debt_usd)
    skipped_unprofitable: int  # liquidations declined: bonus short of impact and gas
    topups: int
    #: [UTC day, liquidated, bad debt] for every day with a liquidation or bad debt (fractions of
    #: all debt originated), as `ReferenceOutcome.liquidation_days`: the events a report plots.
    liquidation_days: list[list[Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        dollars = (
            "originated",
            "bad_debt_usd",
            "liquidated_usd",
            "param_liquidated_usd",
            "penalty_usd",
            "borrowing_power",
            "mean_open_debt_usd",
            "mean_collateral_usd",
            "open_shortfall_usd",
        )
        return rounded(asdict(self), dollars)


def pool_proceeds(depth_usd: float, price: float, fee: float, sold: np.ndarray) -> np.ndarray:
    """Dollars received for selling `sold` units of collateral (cumulatively) into a
    constant-product pool holding `depth_usd` of collateral at mid `price` and as many dollars:
    y·q(1−f)/(x + q(1−f)), as `oracle.risk.liquidity.slippage` prices a `ConstantProductPool`."""
    x = depth_usd / price
    net = np.asarray(sold, dtype=np.float64) * (1.0 - fee)
    return depth_usd * net / (x + net)


def _allot(
    wanted: np.ndarray,
    capacity: float,
    depth_usd: float,
    price: float,
    fee: float,
    unit_repay: float,
    gas_usd: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Liquidators in turn selling up to `wanted` units each into one pool, all sales together
    capped at `capacity`: the units each sells and its profit (proceeds − debt repaid − gas)."""
    sold = np.minimum(np.cumsum(wanted), capacity)
    q = np.diff(sold, prepend=0.0)
    proceeds = np.diff(pool_proceeds(depth_usd, price, fee, sold), prepend=0.0)
    return q, proceeds - q * unit_repay - gas_usd


def simulate_realistic(
    low: np.ndarray,
    high: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    lt_bps: np.ndarray,
    ltv_bps: np.ndarray,
    lb_bps: np.ndarray,
    timestamps: np.ndarray | None = None,
    settings: RealisticSettings = RealisticSettings(),  # frozen: a shared default is safe
) -> RealisticOutcome:
    """The realistic market over hourly bars (`low`, `high`, `close`; `volume` in base-asset units,
    zeros allowed), with the threshold in force `lt_bps`, the LTV `ltv_bps` and the liquidation
    bonus `lb_bps` at each bar (basis points, one value per bar). `timestamps` (bar open times)
    place bad debt in UTC days; without them bar i is taken as i hours in."""
    s = settings
    n = len(close)
    arrays = [low, high, volume, lt_bps, ltv_bps, lb_bps]
    if timestamps is not None:
        arrays.append(timestamps)
    if n < 2 or any(len(a) != n for a in arrays):
        raise ValueError(
            "low, high, close, volume, lt_bps, ltv_bps, lb_bps and timestamps need one value per "
            "bar, at least 2 bars"
        )
    lo_a = np.asarray(low, dtype=np.float64)
    hi_a = np.asarray(high, dtype=np.float64)
    cl_a = np.asarray(close, dtype=np.float64)
    vol_a = np.asarray(volume, dtype=np.float64)
    if not (np.isfinite(lo_a).all() and np.isfinite(hi_a).all() and np.isfinite(cl_a).all()):
        raise ValueError("prices must be finite")
    if (lo_a <= 0).any() or (cl_a <= 0).any():
        raise ValueError("prices must be positive")
    if not (np.isfinite(vol_a).all() and (vol_a >= 0).all()):
        raise ValueError("volume must be finite and non-negative")
    lt_f = (np.asarray(lt_bps, dtype=np.float64) / 10_000).tolist()
    ltv_f = (np.asarray(ltv_bps, dtype=np.float64) / 10_000).tolist()
    lb_f = (np.asarray(lb_bps, dtype=np.float64) / 10_000).tolist()
    depth = np.maximum(s.depth_floor_usd, s.depth_multiple * vol_a * (hi_a + lo_a + cl_a) / 3)
    lows, closes, depths = lo_a.tolist(), cl_a.tolist(), depth.tolist()

    # Every position's draws, up front (common random numbers): the stock first, then k a bar.
    k = s.arrivals_per_bar
    stock = round(k * s.mean_term_bars) if s.warm_start else 0
    total = stock + n * k
    rng = np.random.default_rng(s.seed)
    use = np.clip(rng.beta(s.leverage_a, s.leverage_b, total), 1e-6, 1.0)
    size = np.exp(s.size_sigma * rng.standard_normal(total) - s.size_sigma**2 / 2)
    mean_use = s.leverage_a / (s.leverage_a + s.leverage_b)
    value_draw = (
        s.market_debt_usd / (k * s.mean_term_bars * mean_use * s.reference_ltv_bps / 10_000) * size
    )
    active_draw = rng.random(total) < s.topup_share
    term = rng.geometric(1.0 / s.mean_term_bars, total).astype(np.int64)

    # The open book, compact in slots [0, m): collateral (units), debt ($), r = collateral per
    # dollar of debt (inf when closed: never flagged), LT at opening, repayment bar, flag bar (−1
    # none), flag caused by a cut, active type, first bar a top-up is allowed, HF that triggers it.
    coll = np.zeros(total)
    debt = np.zeros(total)
    r = np.full(total, np.inf)
    lt_open = np.zeros(total)
    repay_at = np.full(total, NEVER, dtype=np.int64)
    flag_at = np.full(total, -1, dtype=np.int64)
    by_cut = np.zeros(total, dtype=bool)
    active = np.zeros(total, dtype=bool)
    topup_from = np.zeros(total, dtype=np.int64)
    trigger = np.zeros(total)
    book = (coll, debt, r, lt_open, repay_at, flag_at, by_cut, active, topup_from, trigger)
    m = dead = 0
    drawn = 0  # draws used so far

    def close_out(idx: np.ndarray) -> None:
        coll[idx] = 0.0
        debt[idx] = 0.0
        r[idx] = np.inf
        repay_at[idx] = NEVER
        flag_at[idx] = -1

    bad_by_bar = np.zeros(n)
    liq_by_bar = np.zeros(n)
    open_debt = np.zeros(n)
    coll_units = np.zeros(n)
    originated = liquidated = param_liq = penalty = 0.0
    opened = liquidations = skipped = topups = 0
    g = 1.0 - s.pool_fee

    for t in range(n):
        p_low, lt_t, lb_t = lows[t], lt_f[t], lb_f[t]
        # (a) liquidations due at t
        due = np.flatnonzero(flag_at[:m] >= 0)
        if due.size:
            due = due[flag_at[due] <= t - s.delay_bars]
        if due.size:
            hf = r[due] * p_low * lt_t
            healthy = hf >= 1.0
            flag_at[due[healthy]] = -1  # the call would revert: no longer liquidatable
            due, hf = due[~healthy], hf[~healthy]
        if due.size:
            cf = np.where(hf <= s.full_close_hf, 1.0, s.close_factor)
            need = cf * debt[due] * (1.0 + lb_t) / p_low  # collateral for the whole close factor
            q_max = np.minimum(need, coll[due])
            order = np.argsort(-q_max, kind="stable")  # largest seizure first
            due, cf, need, q_max = due[order], cf[order], need[order], q_max[order]
            x = depths[t] / p_low
            capacity = max(0.0, x * (math.sqrt(g * (1.0 + lb_t)) - 1.0) / g)
            unit_repay = p_low / (1.0 + lb_t)  # debt repaid per unit of collateral seized

            q, profit = _allot(q_max, capacity, depths[t], p_low, s.pool_fee, unit_repay, s.gas_usd)
            # Along the order each sells no more than the one before, into a pool the one before
            # has moved: profit never rises, so those who decline are the last ones, and the pool
            # they leave unsold would have served nobody else.
            acts = profit > 0
            skipped += int((~acts).sum())
            due, cf, need, q_max, q = due[acts], cf[acts], need[acts], q_max[acts], q[acts]
            if due.size:
                takes_all = q >= q_max * (1.0 - 1e-12)
                q = np.where(takes_all, q_max, q)
                d = debt[due]
                enough = need < coll[due]  # the close factor's seizure leaves collateral
                repaid = np.where(takes_all & enough, cf * d, q * unit_repay)
                exhausted = takes_all & ~enough
                left = d - repaid
                bad = np.where(exhausted, left, 0.0)
                closed = exhausted | (takes_all & enough & (cf >= 1.0))
                written = repaid + bad
                liquidated += float(written.sum())
                param_liq += float(written[by_cut[due]].sum())
                penalty += float(repaid.sum()) * lb_t
                bad_by_bar[t] += float(bad.sum())
                liq_by_bar[t] += float(written.sum())
                liquidations += int(due.size)
                coll[due] -= q
                debt[due] = np.where(closed, 0.0, left)
                r[due] = coll[due] / np.where(closed, 1.0, left)
                flag_at[due] = -1
                gone = due[closed]
                close_out(gone)
                dead += int(gone.size)
        # (b) repayments of unflagged positions whose term has run
        ends = np.flatnonzero(repay_at[:m] <= t)
        if ends.size:
            ends = ends[flag_at[ends] < 0]
            close_out(ends)
            dead += int(ends.size)
        # (c) top-ups by active borrowers, judged at the previous close
        if t > 0 and lt_t > 0:
            seen = closes[t - 1] * lt_t
            low_hf = np.flatnonzero(r[:m] * seen < trigger[:m])
            if low_hf.size:
                low_hf = low_hf[active[low_hf] & (topup_from[low_hf] <= t)]
                r[low_hf] = s.topup_target_hf / seen
                coll[low_hf] = r[low_hf] * debt[low_hf]
                topup_from[low_hf] = t + s.topup_cooldown_bars
                topups += int(low_hf.size)
        # (d) flags: HF < 1 at the bar's low
        at_risk = np.flatnonzero(r[:m] < (1.0 / (p_low * lt_t) if lt_t > 0 else np.inf))
        if at_risk.size:
            at_risk = at_risk[flag_at[at_risk] < 0]
            flag_at[at_risk] = t
            by_cut[at_risk] = r[at_risk] * p_low * lt_open[at_risk] >= 1.0
        # compaction: drop closed positions once they are a third of the book
        if dead > 64 and 3 * dead > m:
            keep = np.flatnonzero(r[:m] < np.inf)
            for a in book:
                a[: keep.size] = a[keep]
            m, dead = int(keep.size), 0  # slots from m on are rewritten in full by (e)
        # (e) arrivals at the close
        count = (stock if t == 0 else 0) + k
        ltv_t = ltv_f[t]
        if ltv_t > 0:
            new = slice(m, m + count)
            drawn_slice = slice(drawn, drawn + count)
            v_new = value_draw[drawn_slice]
            d_new = use[drawn_slice] * ltv_t * v_new
            debt[new] = d_new
            coll[new] = v_new / closes[t]
            r[new] = coll[new] / d_new
            lt_open[new] = lt_t
            repay_at[new] = t + term[drawn_slice]
            flag_at[new] = -1
            by_cut[new] = False
            active[new] = active_draw[drawn_slice]
            topup_from[new] = 0
            trigger[new] = np.minimum(s.topup_trigger_hf, r[new] * (closes[t] * lt_t))
            originated += float(d_new.sum())
            opened += count
            m += count
        drawn += count
        open_debt[t] = debt[:m].sum()
        coll_units[t] = coll[:m].sum()

    # end of the window: the shortfall of insolvent open positions is bad debt
    shortfall = float(np.maximum(0.0, debt[:m] - coll[:m] * closes[-1]).sum())
    bad_by_bar[-1] += shortfall
    bad_usd = float(bad_by_bar.sum())
    if originated <= 0:
        raise ValueError("no debt was originated: the LTV is 0 throughout")

    times = np.arange(n) * 3_600 if timestamps is None else np.asarray(timestamps)
    days, day_index = np.unique(times // 86_400, return_inverse=True)
    daily = np.bincount(day_index, weights=bad_by_bar) / originated
    liq_daily = np.bincount(day_index, weights=liq_by_bar) / originated
    ltv_arr = np.asarray(ltv_f)
    return RealisticOutcome(
        bad_debt=bad_usd / originated,
        liquidated=liquidated / originated,
        param_liquidated=param_liq / originated,
        mean_ltv_bps=float(np.mean(ltv_bps)),
        originated=originated,
        positions=opened,
        liquidations=liquidations,
        daily_bad_debt_p95=float(np.percentile(daily, 95)),
        daily_bad_debt_p99=float(np.percentile(daily, 99)),
        max_lt_drop_7d_bps=max_drop(np.rint(np.asarray(lt_bps)).astype(np.int64), WEEK_BARS),
        bad_debt_usd=bad_usd,
        liquidated_usd=liquidated,
        param_liquidated_usd=param_liq,
        penalty_usd=penalty,
        penalty=penalty / originated,
        borrowing_power=float(np.mean(coll_units * cl_a * ltv_arr)),
        mean_open_debt_usd=float(open_debt.mean()),
        mean_collateral_usd=float(np.mean(coll_units * cl_a)),
        open_shortfall_usd=shortfall,
        skipped_unprofitable=skipped,
        topups=topups,
        liquidation_days=[
            [iso(int(day) * 86_400)[:10], round(float(liq), 6), round(float(b), 6)]
            for day, liq, b in zip(days, liq_daily, daily, strict=True)
            if liq > 0 or b > 0
        ],
    )
