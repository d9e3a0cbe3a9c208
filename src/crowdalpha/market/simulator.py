"""A synthetic equity market: the embedded default data source, deterministic for a seed.

The simulator produces what real daily equity data has — a market factor, sectors, style
factors, fat tails, volatility clustering, regimes, listings and delistings — and a weak,
decaying predictive structure, so that a model trained on past price/volume features reaches
a small positive per-era CORR and an overfit one does not.

Model (one loop over days, vectorized over stocks; ``t`` a day, ``i`` a stock)::

    regime      s_t ∈ {calm, volatile, crisis}, a Markov chain (persistence p_s per state)
    market      f_m,t = μ(s_t) + v(s_t)·√h_m,t·z_t          h_m,t+1 = ω + a·h_m,t·z_t² + b·h_m,t
    sectors     f_j,t = σ_sector·m(s_t)·z_j,t                 (one factor per sector, zero mean)
    styles      f_k,t = π_k + σ_k·m(s_t)·z_k,t                k ∈ size, value, momentum, low vol
    return      r_i,t = β_i,t·f_m,t + f_sector(i),t + Σ_k x_ik,t−1·f_k,t + μ_i,t + σ_i,t·ε_i,t
    idio vol    σ_i,t = σ̄_i·m(s_t)·√h_i,t                   h_i,t+1 = ω + a·h_i,t·ε_i,t² + b·h_i,t
    expected    μ_i,t = λ·σ̄_i·α_i,t−1 − ρ·Σ_{5 days} σ·ε     (alpha, minus short-term reversal)
    alpha       α_i,t = φ·α_i,t−1 + √(1−φ²)·η_i,t,  φ = 2^(−1/half-life)   (unit variance)

``r`` is a log return, ``z``, ``ε`` are Student-t innovations scaled to unit variance (fat
tails), ``ω = 1 − a − b`` so the GARCH variances ``h`` average one (volatility clustering),
``m(s)`` scales sector, style and idiosyncratic volatility by regime. Expected returns per
unit of alpha are ``λ·σ̄_i`` per day, an information ratio of ``λ`` a day: with the defaults the
rank correlation of the alpha with the next 20 days' return is about 0.04, shrinking with
the horizon as the alpha decays.

Style exposures are computed from the prices, as real styles are, at each close:
size = standardized log market cap; value = standardized slow AR(1) (half-life
``value_half_life``); momentum = standardized 12−1 month log return (0 for stocks listed less
than 63 days); low volatility = minus the standardized log trailing (EWMA, 63-day half-life)
volatility. Betas drift slowly (AR(1)) around a stock's long-run beta, itself higher for
more volatile stocks. The alpha leaks into observables: it drives a slow drift in the price,
and tilts volume (``log volume += leak·α``).

Prices: close = exp(cumulative log return) from a random start in [5, 500]; open, high and
low are drawn around it consistently (``high ≥ max(open, close)``, ``low ≤ min(open,
close)``); volume = shares × turnover, higher on volatile days and for high-alpha stocks;
market cap = shares × close (shares fixed per stock).

Universe: each listed stock is delisted with daily hazard
``delisting_rate/252 · exp(drawdown_sensitivity · drawdown)`` (drawdown: log of its peak
over its price); new stocks list at ``listing_rate/252 · n_stocks`` a day plus 5 % a day of
the shortfall from ``n_stocks``, so the live universe stays near ``n_stocks``. A ticker
never comes back after leaving. The simulation runs ``burn_in_days`` before the first
reported day so that volatilities, exposures and histories start in steady state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.errors import InvalidParameterError

__all__ = [
    "EXPOSURE_COLUMNS",
    "MAX_STOCKS",
    "REGIMES",
    "STYLE_FACTORS",
    "MarketConfig",
    "SimulatedMarket",
    "simulate_market",
]

#: The regime states, in order of increasing market volatility.
REGIMES = ("calm", "volatile", "crisis")
#: The style factors, in the order of every per-style parameter.
STYLE_FACTORS = ("size", "value", "momentum", "low_volatility")
#: Columns of :attr:`SimulatedMarket.exposures`.
EXPOSURE_COLUMNS = ("date", "ticker", "beta", *STYLE_FACTORS, "sector")
#: The largest universe the simulator accepts.
MAX_STOCKS = 10_000

_TRADING_DAYS = 252
_MOMENTUM_LOOKBACK = 252
_MOMENTUM_SKIP = 21
_MOMENTUM_MIN_AGE = 63
_REVERSAL_DAYS = 5
_VOL_HALF_LIFE = 63.0
_REPLENISH = 0.05
_MAX_GARCH = 25.0
# Where the chain goes on leaving a state (rows: from; columns: to; the diagonal is unused).
_EXIT_SPLIT = np.array([[0.0, 0.8, 0.2], [0.7, 0.0, 0.3], [0.4, 0.6, 0.0]])

Float = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MarketConfig:
    """Parameters of the simulated market; every one is checked on construction.

    Volatilities, drifts and premia are per trading day, in log-return units. Tuples of
    three are per regime (calm, volatile, crisis); tuples of four per style factor (size,
    value, momentum, low volatility). Rates are per year of 252 trading days.
    """

    #: Stocks listed on the first day, and the level the universe stays near (1..10,000).
    n_stocks: int = 3000
    #: Trading days reported (weekdays from ``start``); 2,520 is about ten years.
    n_days: int = 2520
    #: Seed of the only random generator; the same config gives identical frames.
    seed: int = 0
    #: First reported day (moved to the next weekday if it falls on a weekend).
    start: str = "2010-01-04"
    #: Number of sectors (1..99), named ``sector_00`` …
    n_sectors: int = 11
    #: Days simulated, and discarded, before ``start`` to reach steady state.
    burn_in_days: int = 252
    #: Probability of staying in each regime from one day to the next (each in [0, 1)).
    regime_persistence: tuple[float, float, float] = (0.99, 0.97, 0.95)
    #: Market drift by regime.
    market_drift: tuple[float, float, float] = (0.0005, 0.0, -0.002)
    #: Market volatility by regime (before GARCH clustering).
    market_vol: tuple[float, float, float] = (0.008, 0.014, 0.03)
    #: Multiplier of sector, style and idiosyncratic volatility by regime.
    regime_vol_multiplier: tuple[float, float, float] = (1.0, 1.3, 1.8)
    #: Cross-sectional mean and spread of long-run market betas.
    beta_mean: float = 1.0
    beta_dispersion: float = 0.3
    #: Volatility of each sector factor.
    sector_vol: float = 0.006
    #: Volatility of each style factor (size, value, momentum, low volatility).
    style_vol: tuple[float, float, float, float] = (0.004, 0.003, 0.005, 0.003)
    #: Daily premium of each style factor: small caps, value, momentum and low vol earn a bit.
    style_premium: tuple[float, float, float, float] = (-0.00005, 0.0001, 0.0002, 0.0001)
    #: Typical idiosyncratic volatility (about 32 % a year).
    idio_vol: float = 0.02
    #: GARCH(1,1) reaction ``a`` and persistence ``b`` (``a + b < 1``), market and stocks.
    garch_alpha: float = 0.1
    garch_beta: float = 0.88
    #: Degrees of freedom of the Student-t innovations (> 2; lower is fatter-tailed).
    tail_df: float = 5.0
    #: Half-life, in days, of the value characteristic.
    value_half_life: float = 504.0
    #: Expected daily return per unit alpha, in units of the stock's idiosyncratic volatility.
    alpha_strength: float = 0.012
    #: Half-life, in days, of the latent alpha.
    alpha_half_life: float = 63.0
    #: How much the alpha tilts log volume.
    alpha_volume_leak: float = 0.15
    #: Short-term reversal: expected return per unit of the last 5 days' idiosyncratic return.
    reversal_strength: float = 0.01
    #: New listings per year, as a fraction of ``n_stocks``.
    listing_rate: float = 0.05
    #: Base delisting hazard per year (at no drawdown).
    delisting_rate: float = 0.02
    #: How fast the delisting hazard grows with the drawdown (hazard × e^(k·log drawdown)).
    drawdown_sensitivity: float = 1.5
    #: Exposures and alpha are reported every this many trading days.
    exposure_every: int = 5

    def __post_init__(self) -> None:
        _int("n_stocks", self.n_stocks, 1, MAX_STOCKS)
        _int("n_days", self.n_days, 1, 100_000)
        _int("seed", self.seed, 0, 2**63 - 1)
        _int("n_sectors", self.n_sectors, 1, 99)
        _int("burn_in_days", self.burn_in_days, 0, 100_000)
        _int("exposure_every", self.exposure_every, 1, 10_000)
        try:
            pd.Timestamp(self.start)
        except (ValueError, TypeError):
            raise InvalidParameterError(
                f"start must be a date such as '2010-01-04', not {self.start!r}",
                details={"parameter": "start"},
            ) from None
        _tuple("regime_persistence", self.regime_persistence, 3, 0.0, 1.0, open_high=True)
        _tuple("market_drift", self.market_drift, 3, -0.05, 0.05)
        _tuple("market_vol", self.market_vol, 3, 0.0, 0.2)
        _tuple("regime_vol_multiplier", self.regime_vol_multiplier, 3, 0.0, 10.0)
        _tuple("style_vol", self.style_vol, 4, 0.0, 0.1)
        _tuple("style_premium", self.style_premium, 4, -0.01, 0.01)
        _float("beta_mean", self.beta_mean, -1.0, 3.0)
        _float("beta_dispersion", self.beta_dispersion, 0.0, 2.0)
        _float("sector_vol", self.sector_vol, 0.0, 0.1)
        _float("idio_vol", self.idio_vol, 0.0, 0.2)
        _float("garch_alpha", self.garch_alpha, 0.0, 1.0)
        _float("garch_beta", self.garch_beta, 0.0, 1.0)
        if self.garch_alpha + self.garch_beta >= 1.0:
            raise InvalidParameterError(
                f"garch_alpha + garch_beta must be below 1 for the volatility to be "
                f"stationary; got {self.garch_alpha} + {self.garch_beta}",
                details={"parameter": "garch_alpha"},
            )
        _float("tail_df", self.tail_df, 2.0, 1e6, open_low=True)
        _float("value_half_life", self.value_half_life, 0.0, 1e6, open_low=True)
        _float("alpha_strength", self.alpha_strength, 0.0, 1.0)
        _float("alpha_half_life", self.alpha_half_life, 0.0, 1e6, open_low=True)
        _float("alpha_volume_leak", self.alpha_volume_leak, 0.0, 5.0)
        _float("reversal_strength", self.reversal_strength, 0.0, 1.0)
        _float("listing_rate", self.listing_rate, 0.0, 1.0)
        _float("delisting_rate", self.delisting_rate, 0.0, 1.0)
        _float("drawdown_sensitivity", self.drawdown_sensitivity, 0.0, 20.0)


def _int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidParameterError(
            f"{name} must be a whole number, not {value!r}", details={"parameter": name}
        )
    if not lo <= int(value) <= hi:
        raise InvalidParameterError(
            f"{name} must be between {lo:,} and {hi:,}; got {int(value):,}",
            details={"parameter": name, "value": int(value)},
        )


def _float(
    name: str,
    value: object,
    lo: float,
    hi: float,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidParameterError(
            f"{name} must be a number, not {value!r}", details={"parameter": name}
        )
    v = float(value)
    low_ok = v > lo if open_low else v >= lo
    high_ok = v < hi if open_high else v <= hi
    if not (math.isfinite(v) and low_ok and high_ok):
        left = "(" if open_low else "["
        right = ")" if open_high else "]"
        raise InvalidParameterError(
            f"{name} must lie in {left}{lo:g}, {hi:g}{right}; got {value!r}",
            details={"parameter": name, "value": v},
        )


def _tuple(
    name: str, value: object, size: int, lo: float, hi: float, *, open_high: bool = False
) -> None:
    if not isinstance(value, tuple | list) or len(value) != size:
        raise InvalidParameterError(
            f"{name} must be a tuple of {size} numbers, not {value!r}",
            details={"parameter": name},
        )
    for k, v in enumerate(value):
        _float(f"{name}[{k}]", v, lo, hi, open_high=open_high)


@dataclass(frozen=True)
class SimulatedMarket:
    """What :func:`simulate_market` returns: the observable prices and the hidden truth.

    ``exposures`` and ``alpha`` are sampled every ``config.exposure_every`` trading days
    (weekly by default), on the first reported day and every 5th after it, to keep them
    small (daily they would be as large as ``prices``). Values dated ``d`` are those at the
    close of ``d``: they drive the returns of the days after ``d`` — so the alpha dated ``d``
    predicts returns from the close of ``d`` on, and a style return of day ``d + 1`` is
    recovered by regressing day ``d + 1``'s returns on the exposures dated ``d``.
    """

    #: The config the market was simulated from.
    config: MarketConfig
    #: Long-format price frame (date, ticker, open, high, low, close, volume, sector,
    #: market_cap), one row per listed stock per day, in the canonical form of
    #: :func:`crowdalpha.market.prices.validate_prices`.
    prices: pd.DataFrame
    #: Daily factor log returns, indexed by date: ``market``, ``sector_00`` …, and the styles.
    factor_returns: pd.DataFrame
    #: The regime each day (categorical: calm, volatile, crisis), indexed by date.
    regime: pd.Series
    #: Long frame (date, ticker, beta, size, value, momentum, low_volatility, sector) of the
    #: true exposures, sorted by date then ticker, sampled as described above.
    exposures: pd.DataFrame
    #: Long frame (date, ticker, alpha) of the latent predictive signal, same sampling.
    alpha: pd.DataFrame
    #: One row per ticker: ticker, sector, first_date, last_date and delisted (whether it
    #: left the universe before the last day).
    universe: pd.DataFrame


class _Stocks:
    """Per-slot state of the live universe (slots are reused after a delisting)."""

    def __init__(self, capacity: int, n_styles: int) -> None:
        self.live = np.zeros(capacity, dtype=bool)
        self.tid = np.full(capacity, -1, dtype=np.int64)
        self.sector = np.zeros(capacity, dtype=np.int64)
        self.age = np.zeros(capacity, dtype=np.int64)
        zeros = [np.zeros(capacity) for _ in range(12)]
        (
            self.log_shares,
            self.logp,
            self.logmax,
            self.sig_bar,
            self.h,
            self.beta,
            self.beta_bar,
            self.value_raw,
            self.alpha,
            self.log_turnover,
            self.ewma_var,
            self.rev_sum,
        ) = zeros
        self.x = np.zeros((n_styles, capacity))
        self.hist = np.zeros((_MOMENTUM_LOOKBACK + 1, capacity))
        self.rev = np.zeros((_REVERSAL_DAYS, capacity))


def _zscore(values: Float, live: npt.NDArray[np.bool_]) -> Float:
    out = np.zeros_like(values)
    v = values[live]
    if v.size < 2:
        return out
    sd = float(v.std())
    if sd > 0:
        out[live] = np.clip((v - v.mean()) / sd, -3.0, 3.0)
    return out


def simulate_market(
    config: MarketConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SimulatedMarket:
    """Simulate a market (see the module docstring for the model).

    ``progress(done, total)`` is called now and then as days are generated, ``done``
    increasing up to ``total`` (burn-in plus reported days), which it reaches last.
    """
    cfg = config if config is not None else MarketConfig()
    if not isinstance(cfg, MarketConfig):
        raise InvalidParameterError(f"config must be a MarketConfig, not {type(cfg)!r}")
    rng = np.random.default_rng(cfg.seed)
    n, n_days, burn = cfg.n_stocks, cfg.n_days, cfg.burn_in_days
    total = burn + n_days
    capacity = int(n * 1.25) + 8
    n_sec, n_sty = cfg.n_sectors, len(STYLE_FACTORS)
    df = cfg.tail_df
    t_scale = math.sqrt((df - 2.0) / df)
    ga, gb = cfg.garch_alpha, cfg.garch_beta
    omega = 1.0 - ga - gb
    phi_alpha = 0.5 ** (1.0 / cfg.alpha_half_life)
    phi_value = 0.5 ** (1.0 / cfg.value_half_life)
    phi_beta = 0.5 ** (1.0 / 252.0)
    lam_vol = 0.5 ** (1.0 / _VOL_HALF_LIFE)
    drift = np.asarray(cfg.market_drift)
    mvol = np.asarray(cfg.market_vol)
    mult = np.asarray(cfg.regime_vol_multiplier)
    style_vol = np.asarray(cfg.style_vol)
    premium = np.asarray(cfg.style_premium)
    stay = np.asarray(cfg.regime_persistence)
    transition = _EXIT_SPLIT * (1.0 - stay)[:, None] + np.diag(stay)
    cum_transition = np.cumsum(transition, axis=1)
    list_base = cfg.listing_rate / _TRADING_DAYS * n
    delist_base = cfg.delisting_rate / _TRADING_DAYS

    st = _Stocks(capacity, n_sty)
    sectors_of: list[npt.NDArray[np.int64]] = []
    next_id = 0

    def list_stocks(slots: npt.NDArray[np.int64], initial: bool) -> None:
        nonlocal next_id
        k = slots.size
        if k == 0:
            return
        draws = rng.standard_normal((6, k))
        st.live[slots] = True
        st.tid[slots] = np.arange(next_id, next_id + k)
        next_id += k
        sector = rng.integers(0, n_sec, size=k)
        st.sector[slots] = sector
        sectors_of.append(sector)
        st.age[slots] = 0
        z_cap = draws[0] if initial else draws[0] * 0.8 - 1.0
        log_cap = math.log(2e9) + 1.3 * z_cap
        logp0 = rng.uniform(math.log(5.0), math.log(500.0), size=k)
        st.logp[slots] = logp0
        st.logmax[slots] = logp0
        st.log_shares[slots] = log_cap - logp0
        st.sig_bar[slots] = cfg.idio_vol * np.exp(-0.25 * z_cap + 0.3 * draws[1])
        beta_bar = cfg.beta_mean + cfg.beta_dispersion * (0.6 * draws[1] + 0.8 * draws[2])
        st.beta_bar[slots] = np.clip(beta_bar, -0.5, 3.5)
        st.beta[slots] = st.beta_bar[slots]
        st.value_raw[slots] = draws[3]
        st.alpha[slots] = draws[4]
        st.log_turnover[slots] = math.log(0.005) + 0.5 * draws[5]
        st.ewma_var[slots] = st.sig_bar[slots] ** 2 + (st.beta[slots] * mvol[0]) ** 2
        st.h[slots] = 1.0
        st.rev[:, slots] = 0.0
        st.rev_sum[slots] = 0.0
        st.hist[:, slots] = logp0

    def update_exposures(t: int) -> None:
        live = st.live
        st.x[0] = _zscore(st.log_shares + st.logp, live)
        st.x[1] = _zscore(st.value_raw, live)
        old = st.hist[(t - _MOMENTUM_LOOKBACK) % (_MOMENTUM_LOOKBACK + 1)]
        recent = st.hist[(t - _MOMENTUM_SKIP) % (_MOMENTUM_LOOKBACK + 1)]
        mom_ok = live & (st.age >= _MOMENTUM_MIN_AGE)
        st.x[2] = _zscore(recent - old, mom_ok)
        st.x[3] = -_zscore(np.log(np.maximum(st.ewma_var, 1e-12)), live)

    list_stocks(np.arange(n, dtype=np.int64), initial=True)
    update_exposures(0)

    rec_shape = (n_days, capacity)
    recorded = ("open", "high", "low", "close", "volume", "market_cap")
    rec = {c: np.zeros(rec_shape, dtype=np.float32) for c in recorded}
    rec_tid = np.full(rec_shape, -1, dtype=np.int32)
    factors = np.zeros((n_days, 1 + n_sec + n_sty))
    regimes = np.zeros(n_days, dtype=np.int8)
    exp_rows: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float64]]] = []

    regime = 0
    h_market = 1.0
    report_every = max(1, total // 100)
    for t in range(total):
        if t > 0:
            regime = int(np.searchsorted(cum_transition[regime], rng.random(), side="right"))
            regime = min(regime, 2)
        m = mult[regime]
        z = rng.standard_t(df, size=1 + n_sec + n_sty) * t_scale
        f_market = drift[regime] + mvol[regime] * math.sqrt(h_market) * z[0]
        h_market = min(omega + ga * h_market * z[0] ** 2 + gb * h_market, _MAX_GARCH)
        f_sector = cfg.sector_vol * m * z[1 : 1 + n_sec]
        f_style = premium + style_vol * m * z[1 + n_sec :]

        eps = rng.standard_t(df, size=capacity) * t_scale
        noise = rng.standard_normal((7, capacity))
        sigma = st.sig_bar * m * np.sqrt(st.h)
        shock = sigma * eps
        mu = cfg.alpha_strength * st.sig_bar * st.alpha - cfg.reversal_strength * st.rev_sum
        r = st.beta * f_market + f_sector[st.sector] + f_style @ st.x + mu + shock
        r[~st.live] = 0.0

        prev_logp = st.logp.copy()
        st.logp += r
        np.maximum(st.logmax, st.logp, out=st.logmax)
        st.hist[t % (_MOMENTUM_LOOKBACK + 1)] = st.logp
        slot = t % _REVERSAL_DAYS
        st.rev_sum += shock - st.rev[slot]
        st.rev[slot] = shock
        st.h = np.minimum(omega + ga * st.h * eps**2 + gb * st.h, _MAX_GARCH)
        st.ewma_var = lam_vol * st.ewma_var + (1.0 - lam_vol) * r**2
        st.alpha = phi_alpha * st.alpha + math.sqrt(1.0 - phi_alpha**2) * noise[0]
        st.value_raw = phi_value * st.value_raw + math.sqrt(1.0 - phi_value**2) * noise[1]
        st.beta = (
            st.beta_bar
            + phi_beta * (st.beta - st.beta_bar)
            + 0.1 * math.sqrt(1.0 - phi_beta**2) * noise[2]
        )
        st.age += 1

        k = t - burn
        if k >= 0:
            gap = 0.4 * r + 0.2 * sigma * noise[3]
            log_open = prev_logp + gap
            top = np.maximum(log_open, st.logp) + 0.5 * sigma * np.abs(noise[4])
            bottom = np.minimum(log_open, st.logp) - 0.5 * sigma * np.abs(noise[5])
            rec["open"][k] = np.exp(log_open)
            rec["close"][k] = np.exp(st.logp)
            rec["high"][k] = np.exp(top)
            rec["low"][k] = np.exp(bottom)
            log_volume = (
                st.log_shares
                + st.log_turnover
                + 0.8 * np.log(m * np.sqrt(st.h))
                + 0.3 * (np.abs(eps) - 0.8)
                + cfg.alpha_volume_leak * st.alpha
                + 0.25 * noise[6]
            )
            rec["volume"][k] = np.exp(log_volume)
            rec["market_cap"][k] = np.exp(st.log_shares + st.logp)
            rec_tid[k] = np.where(st.live, st.tid, -1)
            factors[k, 0] = f_market
            factors[k, 1 : 1 + n_sec] = f_sector
            factors[k, 1 + n_sec :] = f_style
            regimes[k] = regime

        # Universe changes take effect after the close: the stock's last day is t.
        drawdown = st.logmax - st.logp
        hazard = delist_base * np.exp(np.minimum(cfg.drawdown_sensitivity * drawdown, 50.0))
        leaving = st.live & (rng.random(capacity) < hazard)
        st.live[leaving] = False
        n_live = int(st.live.sum())
        expected = max(0.0, list_base + _REPLENISH * (n - n_live))
        free = np.flatnonzero(~st.live)
        n_new = min(int(rng.poisson(expected)), free.size)
        list_stocks(free[:n_new], initial=False)
        update_exposures(t)

        if k >= 0 and k % cfg.exposure_every == 0:
            live_slots = np.flatnonzero(st.live & (rec_tid[k] == st.tid))
            values = np.vstack([st.beta[live_slots], st.x[:, live_slots], st.alpha[live_slots]])
            exp_rows.append((k, st.tid[live_slots], values))
        if progress is not None and ((t + 1) % report_every == 0 or t + 1 == total):
            progress(t + 1, total)

    return _assemble(
        cfg,
        rec,
        rec_tid,
        factors,
        regimes,
        exp_rows,
        np.concatenate(sectors_of),
    )


def _assemble(
    cfg: MarketConfig,
    rec: dict[str, npt.NDArray[np.float32]],
    rec_tid: npt.NDArray[np.int32],
    factors: Float,
    regimes: npt.NDArray[np.int8],
    exp_rows: list[tuple[int, npt.NDArray[np.int64], Float]],
    sector_of_tid: npt.NDArray[np.int64],
) -> SimulatedMarket:
    dates = pd.bdate_range(pd.Timestamp(cfg.start), periods=cfg.n_days)
    day_values = dates.to_numpy(dtype="datetime64[ns]")
    sector_names = np.array([f"sector_{j:02d}" for j in range(cfg.n_sectors)], dtype=object)

    capacity = rec_tid.shape[1]
    t_idx, s_idx = np.nonzero(rec_tid >= 0)
    flat = t_idx * capacity + s_idx
    del s_idx
    tids = rec_tid.ravel()[flat]
    order = np.lexsort((tids, t_idx))
    t_idx, flat, tids = t_idx[order], flat[order], tids[order]
    del order
    # Tickers are numbered in order of listing, among those seen in the reported days only.
    seen = np.unique(tids)
    width = max(4, len(str(seen.size)))
    names = np.array([f"SIM{j + 1:0{width}d}" for j in range(seen.size)], dtype=object)
    rank = np.searchsorted(seen, tids)

    # Built column by column, releasing each recorded array as it is used, to bound memory.
    prices = pd.DataFrame({"date": day_values[t_idx]})
    prices["ticker"] = names[rank]
    for col in ("open", "high", "low", "close", "volume"):
        prices[col] = rec.pop(col).ravel()[flat].astype(np.float64)
    prices["sector"] = sector_names[sector_of_tid[tids]]
    prices["market_cap"] = rec.pop("market_cap").ravel()[flat].astype(np.float64)
    del flat

    _, first = np.unique(rank, return_index=True)
    _, last_rev = np.unique(rank[::-1], return_index=True)
    last = rank.size - 1 - last_rev
    last_day = t_idx[last]
    universe = pd.DataFrame(
        {
            "ticker": names,
            "sector": sector_names[sector_of_tid[seen]],
            "first_date": day_values[t_idx[first]],
            "last_date": day_values[last_day],
            "delisted": last_day < cfg.n_days - 1,
        }
    )

    columns = ["market", *(str(s) for s in sector_names), *STYLE_FACTORS]
    factor_returns = pd.DataFrame(
        factors, index=pd.DatetimeIndex(day_values, name="date"), columns=columns
    )
    regime = pd.Series(
        pd.Categorical.from_codes(regimes.astype(np.int64), categories=pd.Index(list(REGIMES))),
        index=factor_returns.index,
        name="regime",
    )

    exp_day = np.concatenate([np.full(ids.size, k) for k, ids, _ in exp_rows])
    exp_tid = np.concatenate([ids for _, ids, _ in exp_rows])
    exp_val = np.concatenate([vals for _, _, vals in exp_rows], axis=1)
    exp_order = np.lexsort((exp_tid, exp_day))
    exp_day, exp_tid, exp_val = exp_day[exp_order], exp_tid[exp_order], exp_val[:, exp_order]
    exp_names = names[np.searchsorted(seen, exp_tid)]
    exp_dates = day_values[exp_day]
    exposures = pd.DataFrame({"date": exp_dates, "ticker": exp_names})
    for j, col in enumerate(("beta", *STYLE_FACTORS)):
        exposures[col] = exp_val[j].astype(np.float32)
    exposures["sector"] = sector_names[sector_of_tid[exp_tid]]
    alpha = pd.DataFrame(
        {"date": exp_dates, "ticker": exp_names, "alpha": exp_val[-1].astype(np.float32)}
    )
    return SimulatedMarket(
        config=cfg,
        prices=prices,
        factor_returns=factor_returns,
        regime=regime,
        exposures=exposures,
        alpha=alpha,
        universe=universe,
    )
