"""Signals beside Classic in a simulated tournament: the competition on the run's market,
its bots' weekly play, and the record :func:`crowdalpha.simulation.runner.collect` adds.

Signals needs a market to build its universe, targets and neutralizers from, so it runs on
the simulated source only (``RunSpec(source="simulated", signals=...)``). Its rounds follow
Classic's schedule and read the same market through Classic's pipeline; Signals bots
(:mod:`crowdalpha.simulation.signals_bots`) see each round's universe, the public prices up
to its live date and — skilled ones — the market's hidden alpha, and act through the
tournament's own operations (stake, submit); the stake gate, payouts and burns are the
core's, with Signals' own parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crowdalpha.dataset.signals import SignalsConfig, cut_prices
from crowdalpha.simulation.signals_bots import SignalsBot, SignalsView
from crowdalpha.tournament import SIGNALS, Schedule, Tournament
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.signals import plug_signals
from crowdalpha.tournament.signals_source import SignalsRoundData
from crowdalpha.tournament.simulated import SimulatedRoundData

__all__ = ["SIMULATION_SIGNALS", "collect_signals", "play_signals", "signals_competition"]

#: Signals' data over the simulated market: as the demo's, short enough for its history.
SIMULATION_SIGNALS = SignalsConfig(validation_eras=8, max_train_eras=20)


def signals_competition(
    data: SimulatedRoundData, workdir: Path, schedule: Schedule
) -> tuple[Competition, SignalsRoundData]:
    """Signals plugged in over ``data``'s market, its rounds built under ``workdir``."""
    source = SignalsRoundData(data, workdir=workdir, config=SIMULATION_SIGNALS)
    return plug_signals(SIGNALS.configured(schedule=schedule), source), source


def play_signals(
    t: Tournament, data: SimulatedRoundData, source: SignalsRoundData, bots: Sequence[SignalsBot]
) -> int | None:
    """The Signals bots stake and submit to Signals' open round; its number, or None when
    none is open (or its live date is not known yet)."""
    current = t.using("signals").current_round()
    if current is None or not bots:
        return None
    day = source.live_date(current.number)
    if day is None:
        return None
    market = data.market
    alpha = market.alpha[market.alpha["date"] <= day]
    private = alpha.sort_values("date").groupby("ticker")["alpha"].last()
    view = SignalsView(
        current.number, source.universe(current.number), cut_prices(market.prices, day), private
    )
    for bot in bots:
        bot.play(t, view)
    return current.number


def collect_signals(
    t: Tournament, bots: Sequence[SignalsBot], rounds: range, resolutions: list[dict[str, Any]]
) -> dict[str, Any]:
    """Signals' part of a run's record, from the tournament's own records."""
    s = t.using("signals")
    return {
        "bots": [
            {
                "name": b.name,
                "kind": b.kind,
                "noise": b.noise if b.kind == "skilled" else None,
                "account_id": b.account_id,
                "model_id": b.model_id,
                "stake": str(b.stake),
                "grant": str(2 * b.stake),
            }
            for b in bots
        ],
        "payouts": [
            {
                "round": p.round_number,
                "model_id": p.model_id,
                "stake_at_risk": str(p.stake_at_risk),
                "amount": str(p.amount),
            }
            for p in s.payouts()
            if p.round_number in rounds
        ],
        "scores": [
            {"round": x.round_number, "model_id": x.model_id, **dict(x.values)}
            for x in s.scores()
            if x.final and x.round_number in rounds
        ],
        "final_stakes": {b.name: str(s.stake_info(b.model_id).stake) for b in bots},
        "resolutions": resolutions,
    }
