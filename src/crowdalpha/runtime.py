"""Assembling a running tournament from settings: database, files, data sources, clock.

Used by ``crowdalpha serve``, ``crowdalpha tick`` and the operator commands, so that every
entry point opens the same tournament the same way. Classic always runs; Signals runs beside
it when ``Settings.signals_enabled`` (by default wherever there is a market: the prices
source), on the same market as Classic's pipeline
(:class:`~crowdalpha.tournament.signals_source.SignalsRoundData`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pydantic_settings import BaseSettings, SettingsConfigDict

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import to_base_units
from crowdalpha.payouts import PayoutRules
from crowdalpha.settings import Settings
from crowdalpha.tournament import (
    SIGNALS,
    Clock,
    Competition,
    DuplicateRules,
    RoundData,
    Schedule,
    SyntheticRoundData,
    Tournament,
    TournamentConfig,
)

if TYPE_CHECKING:
    from crowdalpha.chain.platform import ChainPlatform

__all__ = ["open_chain", "open_tournament", "signals_competition", "tournament_config"]


def tournament_config(settings: Settings) -> TournamentConfig:
    """The operator's configuration of Classic and the platform-wide limits (the further
    competitions need a data source: :func:`open_tournament` adds them)."""
    schedule = Schedule.daily() if settings.round_period == "daily" else Schedule()
    return TournamentConfig(
        schedule=schedule,
        payout=PayoutRules(
            policy=settings.payout_policy, mpc_multiplier=settings.payout_mpc_multiplier
        ),
        duplicates=DuplicateRules(settings.duplicate_policy, settings.duplicate_threshold),
        mint_cap=None if settings.mint_cap is None else to_base_units(settings.mint_cap),
        max_upload_bytes=settings.max_upload_bytes,
    )


def _data_source(settings: Settings, config: TournamentConfig) -> RoundData:
    if settings.data_source == "synthetic":
        return SyntheticRoundData(
            seed=settings.synthetic_seed,
            rows=settings.synthetic_rows,
            resolution_delay=config.schedule.resolution_delay,
        )
    if settings.data_source == "simulated":
        from crowdalpha.tournament.simulated import SimulatedRoundData

        return SimulatedRoundData(
            settings.home / "pipeline",
            stocks=settings.simulated_stocks,
            seed=settings.simulated_seed,
            schedule=config.schedule,
        )
    if settings.prices_path is None:
        raise InvalidParameterError(
            "the prices data source needs CROWDALPHA_PRICES_PATH (a Parquet or CSV price file)"
        )
    from crowdalpha.market import load_prices
    from crowdalpha.market.history import check_price_history
    from crowdalpha.tournament.pipeline import PipelineRoundData

    prices = load_prices(settings.prices_path)
    # a day already read (for a round's data or outcome) never changes unseen
    check_price_history(prices, settings.home / "pipeline" / "operator" / "price_days.json")
    first_live = settings.first_live or prices["date"].max()
    return PipelineRoundData(
        prices,
        workdir=settings.home / "pipeline",
        first_live=first_live,
        schedule=config.schedule,
    )


def signals_competition(
    settings: Settings, config: TournamentConfig, market: RoundData
) -> Competition:
    """Signals, plugged in over ``market`` (Classic's pipeline source, or the simulated
    source's pipeline), on Classic's schedule; its rounds are built under ``{home}/signals``."""
    from crowdalpha.tournament.signals import plug_signals
    from crowdalpha.tournament.signals_source import SignalsRoundData, has_market

    if not has_market(market):
        raise InvalidParameterError(
            "Signals needs a market to build its data from: set CROWDALPHA_DATA_SOURCE to "
            "prices (with CROWDALPHA_PRICES_PATH) or simulated, or CROWDALPHA_SIGNALS=false",
            details={"setting": "signals"},
        )
    source = SignalsRoundData(market, workdir=settings.home / "signals")  # type: ignore[arg-type]
    rules = dataclasses.replace(SIGNALS.round_config, duplicates=config.duplicates)
    return plug_signals(SIGNALS.configured(schedule=config.schedule, round_config=rules), source)


def open_tournament(
    settings: Settings, *, clock: Clock | None = None, migrate: bool = True
) -> Tournament:
    """The tournament the settings describe, on a database migrated to the newest schema,
    with governance installed."""
    from crowdalpha.governance import Governance

    config = tournament_config(settings)
    data = _data_source(settings, config)
    if settings.signals_enabled:
        signals = signals_competition(settings, config, data)
        config = dataclasses.replace(config, competitions=(signals,))
    if settings.dask_scheduler:
        # rounds scored in column blocks on the cluster (Settings.compute())
        config = dataclasses.replace(config, compute=settings.compute())
    tournament = Tournament(
        settings.engine(migrate=migrate),
        settings.store(),
        data,
        config=config,
        clock=clock,
    )
    _align_market(tournament, data)
    Governance(tournament).install()  # passed proposals reach the rounds it opens
    return tournament


def _align_market(tournament: Tournament, data: RoundData) -> None:
    """Tell a market source where Classic's round 1 falls before anything asks it what the
    market knows (Signals' source reads it; Classic's own calls keep it aligned after)."""
    from crowdalpha.tournament.signals_source import market_pipeline

    if len(tournament.competitions) < 2:
        return
    pipeline = market_pipeline(data)
    if pipeline is not None:
        pipeline.align(1, tournament.schedule.opens(1))


class _ChainSwitch(BaseSettings):
    """Only whether ``CROWDALPHA_CHAIN_URL`` is set (environment or ``.env``), read without
    importing :mod:`crowdalpha.chain` (web3, eth_account: seconds of imports)."""

    model_config = SettingsConfigDict(
        env_prefix="CROWDALPHA_CHAIN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )
    url: str | None = None


def open_chain(tournament: Tournament) -> ChainPlatform | None:
    """The chain integration when the operator turned it on (``CROWDALPHA_CHAIN_URL``, see
    :class:`crowdalpha.chain.ChainSettings`), else None: NMR stays in the SQL ledger only.
    Imported only then, so the chain's dependencies (web3) are needed only then."""
    if _ChainSwitch().url is None:
        return None
    from crowdalpha.chain.platform import ChainPlatform
    from crowdalpha.chain.settings import ChainSettings

    return ChainPlatform(tournament, ChainSettings())
