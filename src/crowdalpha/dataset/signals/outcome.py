"""The operator's side of a Signals round: what scoring needs, once the market has moved.

* :func:`signals_live` — at the live date: the universe (every id type), N and v. They
  read prices up to the live date only; the operator keeps them private (Numerai publishes
  no live neutralizers) and needs them as soon as submissions arrive, for churn and
  turnover.
* :func:`signals_outcome` — later: the live universe's realized targets by
  ``numerai_ticker`` (every target, binned; the raw forward returns), with N and v, from the
  prices up to ``live + lag + h`` and no further. Once a horizon is fully known its targets
  are final, and equal to what a later round publishes for that date in its validation
  data (when the live date is a weekly era date): the same windows of the same prices go
  into both. Before that, a *provisional* outcome computes each horizon over the days
  already known.

Everything is indexed by ``numerai_ticker`` (sorted), named ``numerai_ticker``, as
numerai-tools' Signals functions expect (``sample_weights.index.to_frame()`` is their
universe).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals.build import cut_prices
from crowdalpha.dataset.signals.config import SignalsConfig
from crowdalpha.dataset.signals.era import EraData, EraEngine, history_days
from crowdalpha.dataset.signals.panel import PricePanel
from crowdalpha.dataset.signals.risk import Exposures, as_exposures
from crowdalpha.errors import InvalidParameterError

__all__ = [
    "SignalsLive",
    "SignalsOutcome",
    "signals_known_days",
    "signals_live",
    "signals_outcome",
]


@dataclass(frozen=True)
class SignalsLive:
    """A live date's universe, neutralizers and sample weights (prices up to the date)."""

    date: pd.Timestamp
    #: The universe frame (every id type, country, sector, price ticker), by numerai_ticker.
    universe: pd.DataFrame
    #: N: index ``numerai_ticker``, columns ``neutralizer_*`` (float64).
    neutralizers: pd.DataFrame
    #: v: index ``numerai_ticker``, named ``sample_weights``, mean 1.
    sample_weights: pd.Series


@dataclass(frozen=True)
class SignalsOutcome(SignalsLive):
    """A live date's realized targets, final or provisional, with its N and v."""

    #: Trading days of returns known after ``date + lag`` (capped at the longest horizon).
    known_days: int
    #: Whether the main target's full horizon is known.
    final: bool
    #: Days each configured horizon was computed over (shorter while provisional).
    horizons: dict[int, int]
    #: Binned targets (``target``, ``target_{kind}_{h}``), index ``numerai_ticker``.
    targets: pd.DataFrame
    #: Forward log returns ``return_{h}`` over ``horizons[h]`` days, index ``numerai_ticker``.
    returns: pd.DataFrame


def _index(era: EraData) -> pd.Index:
    index: pd.Index = pd.Index(era.universe["numerai_ticker"].to_numpy(), name="numerai_ticker")
    return index


def _live(era: EraData, engine: EraEngine) -> SignalsLive:
    index = _index(era)
    return SignalsLive(
        date=era.date,
        universe=era.universe,
        neutralizers=pd.DataFrame(
            era.neutralizers, index=index, columns=list(engine.neutralizer_names)
        ),
        sample_weights=pd.Series(era.sample_weights, index=index, name="sample_weights"),
    )


def signals_live(
    prices: pd.DataFrame,
    live_date: pd.Timestamp | str,
    *,
    vault: Vault,
    config: SignalsConfig | None = None,
    exposures: pd.DataFrame | Exposures | None = None,
) -> SignalsLive:
    """The universe, N and v of ``live_date`` from the prices up to it (later rows ignored)."""
    cfg = config if config is not None else SignalsConfig()
    day = pd.Timestamp(live_date)
    panel = _panel(prices, day, day, vault, cfg)
    engine = EraEngine(panel, cfg, as_exposures(exposures))
    return _live(engine.era(panel.day_index(day), targets=False), engine)


def _calendar(prices: pd.DataFrame) -> pd.DatetimeIndex:
    dates = prices["date"].to_numpy(dtype="datetime64[ns]")
    return pd.DatetimeIndex(dates[np.r_[True, dates[1:] != dates[:-1]]] if len(dates) else dates)


def _panel(
    prices: pd.DataFrame, day: pd.Timestamp, last: pd.Timestamp, vault: Vault, cfg: SignalsConfig
) -> PricePanel:
    """A panel of the prices up to ``last``, from the first day ``day``'s values read."""
    cut = cut_prices(prices, last)
    calendar = _calendar(cut)
    t = int(calendar.searchsorted(day))
    return PricePanel(cut, vault, start=calendar[max(0, t - history_days(cfg))])


def signals_known_days(
    prices: pd.DataFrame, live_date: pd.Timestamp | str, config: SignalsConfig | None = None
) -> int:
    """Trading days of forward returns the prices hold after ``live_date + lag`` (0 while
    they do not reach that far), capped at the longest horizon."""
    cfg = config if config is not None else SignalsConfig()
    days = _calendar(prices)
    day = pd.Timestamp(live_date)
    t = int(days.searchsorted(day))
    if t >= len(days) or days[t] != day:
        return 0
    return max(0, min(len(days) - 1 - t - cfg.lag, max(cfg.horizons)))


def signals_outcome(
    prices: pd.DataFrame,
    live_date: pd.Timestamp | str,
    *,
    vault: Vault,
    config: SignalsConfig | None = None,
    exposures: pd.DataFrame | Exposures | None = None,
    min_days: int = 1,
) -> SignalsOutcome | None:
    """The realized targets of ``live_date``'s universe as far as ``prices`` know them.

    None while fewer than ``min_days`` trading days of returns are known. Each configured
    horizon ``h`` is computed over ``min(h, known days)`` days; ``final`` once the main
    horizon is fully known. Prices after ``live + lag + max(horizons)`` are never read.
    """
    cfg = config if config is not None else SignalsConfig()
    if isinstance(min_days, bool) or not isinstance(min_days, int) or min_days < 1:
        raise InvalidParameterError(f"min_days must be a positive int, not {min_days!r}")
    known = signals_known_days(prices, live_date, cfg)
    if known < min_days:
        return None
    day = pd.Timestamp(live_date)
    calendar = _calendar(prices)
    last = calendar[int(calendar.searchsorted(day)) + cfg.lag + known]
    panel = _panel(prices, day, last, vault, cfg)
    engine = EraEngine(panel, cfg, as_exposures(exposures))
    spans = {h: min(h, known) for h in cfg.horizons}
    era = engine.era(panel.day_index(day), days=[spans[h] for h in cfg.horizons])
    live = _live(era, engine)
    index = _index(era)
    returns = pd.DataFrame(
        {f"return_{h}": era.returns[h] for h in cfg.horizons}, index=index, dtype=np.float64
    )
    return SignalsOutcome(
        date=live.date,
        universe=live.universe,
        neutralizers=live.neutralizers,
        sample_weights=live.sample_weights,
        known_days=known,
        final=known >= cfg.main_horizon,
        horizons=spans,
        targets=pd.DataFrame(era.targets, index=index, dtype=np.float64),
        returns=returns,
    )
