"""The fund's signals from a real tournament: its rounds' staked predictions, by ticker.

Operator only. A round's live rows carry obfuscated ids; the operator's vault maps (the
data pipeline's ``live_ids`` map, :meth:`PipelineRoundData.live_tickers`) turn them back
into tickers — data that is never published. For every resolved round this reads

* each model's on-time predictions and its stake at risk
  (:meth:`Tournament.round_predictions`): the inputs of the stake-weighted meta model, from
  which the fund builds the stake-weighted and the equal-weight meta models and trades each
  model on its own (the comparisons);
* the stake-weighted meta model the round stored at resolution (a check that the fund
  trades what the tournament built).

**Times.** A round's signal date is its live date (the market day its data end on). Market
time and tournament time are tied as the pipeline ties them: a round opens once its live
date's session is over, so the meta model — known when submissions close — is available
``1 day + (close − open)`` after the live date's midnight (a week's round: the Saturday
after the next Friday's close, traded at the following Monday's open with ``lag = 1``).
A round that closed late counts from its actual close.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from crowdalpha.errors import FundInputError
from crowdalpha.fund.config import FundConfig
from crowdalpha.fund.report import write_report
from crowdalpha.fund.runner import BacktestOptions, FundResult, run_backtest
from crowdalpha.fund.signals import meta_signal
from crowdalpha.tournament import Tournament
from crowdalpha.tournament.views import RoundInfo

__all__ = [
    "TickerVault",
    "TournamentSignals",
    "backtest_tournament",
    "meta_agreement",
    "read_tournament_signals",
    "run_tournament_fund",
]

#: The round opens once its live date's session is over: at the next midnight.
_OPENS_AFTER_LIVE = timedelta(days=1)


class TickerVault(Protocol):
    """What the reader needs of the operator's data source (PipelineRoundData has it)."""

    def live_date(self, number: int) -> pd.Timestamp | None: ...

    def live_tickers(self, number: int) -> pd.Series: ...


@dataclass(frozen=True)
class TournamentSignals:
    """A tournament's rounds as the fund's inputs (the frames of :mod:`crowdalpha.fund`).

    ``signals``: each model's predictions (``signal_date``, ``ticker``, ``score``,
    ``available_at``, ``model``: the model's name); ``stakes``: each model's stake at risk
    (``signal_date``, ``model``, ``stake`` in base units); ``meta``: the stored
    stake-weighted meta model (``signal_date``, ``ticker``, ``score``, ``available_at``);
    ``rounds``: the round numbers read, oldest first.
    """

    signals: pd.DataFrame
    stakes: pd.DataFrame
    meta: pd.DataFrame
    rounds: tuple[int, ...]


def available_at(info: RoundInfo, live: pd.Timestamp) -> pd.Timestamp:
    """When round ``info``'s meta model could first be acted on, in market time (naive)."""
    closed = info.closes_at if info.closed_at is None else max(info.closes_at, info.closed_at)
    return live.normalize() + _OPENS_AFTER_LIVE + (closed - info.opens_at)


def read_tournament_signals(
    tournament: Tournament,
    vault: TickerVault,
    *,
    rounds: Sequence[int] | None = None,
) -> TournamentSignals:
    """Every resolved round's staked predictions and meta model, mapped to tickers.

    ``rounds`` limits the read to those numbers (each must be resolved). Refuses a
    tournament with no resolved round that has a meta model.
    """
    resolved = [r for r in tournament.rounds(states=["resolved"]) if r.meta_model_key]
    if rounds is not None:
        wanted = set(rounds)
        unknown = wanted - {r.number for r in resolved}
        if unknown:
            raise FundInputError(
                f"round(s) {sorted(unknown)} are not resolved with a meta model",
                details={"rounds": sorted(unknown)},
            )
        resolved = [r for r in resolved if r.number in wanted]
    if not resolved:
        raise FundInputError(
            "the tournament has no resolved round with a meta model yet: nothing to trade"
        )
    names = _model_names(tournament)
    signals, stakes, metas = [], [], []
    for info in resolved:
        live = vault.live_date(info.number)
        if live is None:
            raise FundInputError(
                f"the data source does not know round {info.number}'s live date",
                details={"round": info.number},
            )
        tickers = vault.live_tickers(info.number)
        at = available_at(info, live)
        preds, at_risk = tournament.round_predictions(info.number)
        preds = preds.rename(columns=names)
        long = (
            _by_ticker(preds, tickers)
            .reset_index()
            .melt(id_vars="ticker", var_name="model", value_name="score")
            .dropna(subset=["score"])
        )
        signals.append(long.assign(signal_date=live, available_at=at))
        stakes.append(
            pd.DataFrame(
                {
                    "signal_date": live,
                    "model": [names(m) for m in at_risk.index],
                    "stake": [int(v) for v in at_risk],
                }
            )
        )
        meta = _by_ticker(tournament.meta_model(info.number).to_frame("score"), tickers)
        metas.append(meta.dropna().reset_index().assign(signal_date=live, available_at=at))
    columns = ["signal_date", "ticker", "score", "available_at"]
    return TournamentSignals(
        signals=pd.concat(signals, ignore_index=True)[[*columns, "model"]],
        stakes=pd.concat(stakes, ignore_index=True).astype({"stake": object}),
        meta=pd.concat(metas, ignore_index=True)[columns],
        rounds=tuple(r.number for r in resolved),
    )


def _model_names(tournament: Tournament) -> Callable[[object], str]:
    known = {m.id: m.name for m in tournament.models()}

    def name(model_id: object) -> str:
        return known.get(int(str(model_id)), str(model_id))

    return name


def _by_ticker(frame: pd.DataFrame, tickers: pd.Series) -> pd.DataFrame:
    """``frame`` (indexed by live id) re-indexed by ticker through the vault's map; ids the
    map does not know are refused (a map from another round or tournament)."""
    ids = frame.index.astype(str)
    mapped = tickers.reindex(ids)
    if mapped.isna().any():
        missing = ids[mapped.isna().to_numpy()]
        raise FundInputError(
            f"{len(missing)} live id(s) are not in the vault's map, e.g. {list(missing[:3])}: "
            "is this the tournament's own data source?",
            details={"missing": len(missing)},
        )
    out = frame.set_axis(pd.Index(mapped.to_numpy(dtype=str), name="ticker"), axis=0)
    return out.astype(np.float64)


def backtest_tournament(
    tournament: Tournament,
    source: TickerVault,
    prices: pd.DataFrame,
    *,
    config: FundConfig | None = None,
    options: BacktestOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[TournamentSignals, FundResult]:
    """Read the tournament's signals and backtest them on ``prices`` — the prices known
    now (:meth:`PipelineRoundData.known_prices`), never later ones."""
    read = read_tournament_signals(tournament, source)
    result = run_backtest(
        prices,
        read.signals,
        stakes=read.stakes,
        config=config,
        options=options,
        progress=progress,
    )
    return read, result


class PricedVault(TickerVault, Protocol):
    """A data source that also says which prices are known at a tournament time."""

    def known_prices(self, now: datetime) -> pd.DataFrame: ...


def meta_agreement(read: TournamentSignals) -> float:
    """The lowest Spearman correlation, over the rounds read, between the meta model the fund
    builds from the read predictions and stakes and the one the tournament stored (1: the
    fund trades exactly what the tournament built)."""
    ours = meta_signal(read.signals, read.stakes)
    worst = 1.0
    for date, stored in read.meta.groupby("signal_date"):
        mine = ours[ours["signal_date"] == date].set_index("ticker")["score"]
        theirs = stored.set_index("ticker")["score"].reindex(mine.index)
        worst = min(worst, float(mine.rank().corr(theirs.rank())))
    return worst


def run_tournament_fund(
    tournament: Tournament,
    out: str | Path,
    *,
    config: FundConfig | None = None,
    options: BacktestOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Backtest the tournament's resolved rounds on the prices its data source knows now,
    and write the report (with a ``tournament`` section in ``metrics.json``) into ``out``.

    The tournament's data source must map live ids to tickers (the operator's price
    pipeline, :class:`~crowdalpha.tournament.pipeline.PipelineRoundData`).
    """
    source = tournament.data
    if not all(hasattr(source, m) for m in ("live_tickers", "live_date", "known_prices")):
        raise FundInputError(
            "the fund needs the tournament's tickers: run it on the prices data source "
            "(CROWDALPHA_DATA_SOURCE=prices), whose vault maps live ids back to tickers"
        )
    priced: PricedVault = source  # type: ignore[assignment]  # checked just above
    prices = priced.known_prices(tournament.clock.now())
    read, result = backtest_tournament(
        tournament, priced, prices, config=config, options=options, progress=progress
    )
    result.metrics["tournament"] = {
        "rounds": list(read.rounds),
        "models": int(read.signals["model"].nunique()),
        "prices_through": str(pd.Timestamp(prices["date"].max()).date()),
        "meta_model_agreement": meta_agreement(read),
    }
    return write_report(result, out)
