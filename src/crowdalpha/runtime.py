"""Assembling a running tournament from settings: database, files, data source, clock.

Used by ``crowdalpha serve``, ``crowdalpha tick`` and the operator commands, so that every
entry point opens the same tournament the same way.
"""

from __future__ import annotations

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import to_base_units
from crowdalpha.payouts import PayoutRules
from crowdalpha.settings import Settings
from crowdalpha.tournament import (
    Clock,
    RoundData,
    Schedule,
    SyntheticRoundData,
    Tournament,
    TournamentConfig,
)

__all__ = ["open_tournament", "tournament_config"]


def tournament_config(settings: Settings) -> TournamentConfig:
    schedule = Schedule.daily() if settings.round_period == "daily" else Schedule()
    return TournamentConfig(
        schedule=schedule,
        payout=PayoutRules(policy=settings.payout_policy),
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
    if settings.prices_path is None:
        raise InvalidParameterError(
            "the prices data source needs CROWDALPHA_PRICES_PATH (a Parquet or CSV price file)"
        )
    from crowdalpha.market import load_prices
    from crowdalpha.tournament.pipeline import PipelineRoundData

    prices = load_prices(settings.prices_path)
    first_live = settings.first_live or prices["date"].max()
    return PipelineRoundData(
        prices,
        workdir=settings.home / "pipeline",
        first_live=first_live,
        schedule=config.schedule,
    )


def open_tournament(
    settings: Settings, *, clock: Clock | None = None, migrate: bool = True
) -> Tournament:
    """The tournament the settings describe, on a database migrated to the newest schema."""
    config = tournament_config(settings)
    return Tournament(
        settings.engine(migrate=migrate),
        settings.store(),
        _data_source(settings, config),
        config=config,
        clock=clock,
    )
