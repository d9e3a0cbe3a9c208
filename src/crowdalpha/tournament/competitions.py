"""Competitions as data: what makes Classic Classic and Signals Signals.

A :class:`Competition` is a frozen record — its id (Numerai's tournament number: 8
Classic, 11 Signals), name, schedule, dataset layout, where its data come from, how a
submission is read and validated, which scores are computed, how they pay, and its stake
gate — and the core runs every competition through the same modules. Nothing in the core
branches on *which* competition it runs; it asks the record.

Its code parts are the plugging points of :mod:`crowdalpha.tournament.plugs` (source,
rules, scorer, optional block scorer and stake gate); how its rounds score and pay is a
:class:`~crowdalpha.tournament.round_config.RoundConfig`, stored with each round when it
opens.

:data:`CLASSIC` has every plugging point but its source (given by the composition root).
:data:`SIGNALS` is a full configuration whose source, rules, scorer and gate are plugged
later with :meth:`Competition.plug`; until then it is not runnable (``runnable`` False)
and the core refuses to enable it.

Accounts, wallets and the ledger are shared; models, rounds, stakes, submissions, scores,
meta models and leaderboards belong to one competition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import NMR
from crowdalpha.payouts import PayoutRules
from crowdalpha.tournament.data import RoundData
from crowdalpha.tournament.plugs import BlockScorer, RoundScorer, StakeGate, SubmissionRules
from crowdalpha.tournament.round_config import RoundConfig
from crowdalpha.tournament.schedule import Schedule

__all__ = [
    "CLASSIC",
    "CLASSIC_METRICS",
    "COMPETITIONS",
    "SIGNALS",
    "Competition",
    "DatasetLayout",
    "competition",
]


@dataclass(frozen=True)
class DatasetLayout:
    """Where a competition's files appear to clients: ``folder/live.parquet`` (numerapi's
    ``list_datasets``), also under each of ``aliases`` (older folders clients still read,
    e.g. ``signals/v1.0/live.parquet`` for numerapi's ``ticker_universe``)."""

    folder: str
    aliases: tuple[str, ...] = ()
    live_file: str = "live.parquet"


@dataclass(frozen=True)
class Competition:
    """One competition: everything the core needs to run it (see the module docstring).

    ``store_prefix`` and ``ledger_prefix`` keep its files and its resolution's ledger keys
    apart from the other competitions' (empty for Classic: the layout of databases made
    before there were several).
    """

    id: int
    slug: str
    name: str
    schedule: Schedule
    layout: DatasetLayout
    round_config: RoundConfig
    store_prefix: str = ""
    ledger_prefix: str = ""
    source: RoundData | None = field(default=None, compare=False)
    rules: SubmissionRules | None = field(default=None, compare=False)
    scorer: RoundScorer | None = field(default=None, compare=False)
    gate: StakeGate | None = field(default=None, compare=False)
    block_scorer: BlockScorer | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.id <= 0:
            raise InvalidParameterError("a competition's id is a positive int")
        if not self.slug.isidentifier() or self.slug != self.slug.lower():
            raise InvalidParameterError(f"{self.slug!r} is not a lowercase slug")

    @property
    def runnable(self) -> bool:
        """Whether every plugging point its rounds need is filled in."""
        return not self.missing()

    def missing(self) -> list[str]:
        """The plugging points still empty (the gate only if its rounds have thresholds)."""
        empty = [name for name in ("source", "rules", "scorer") if getattr(self, name) is None]
        if self.round_config.gate_thresholds and self.gate is None:
            empty.append("gate")
        return empty

    def plug(
        self,
        *,
        source: RoundData | None = None,
        rules: SubmissionRules | None = None,
        scorer: RoundScorer | None = None,
        gate: StakeGate | None = None,
        block_scorer: BlockScorer | None = None,
    ) -> Competition:
        """A copy with the given plugging points filled in (the others kept)."""
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("source", source),
                ("rules", rules),
                ("scorer", scorer),
                ("gate", gate),
                ("block_scorer", block_scorer),
            )
            if value is not None
        }
        return dataclasses.replace(self, **changes)

    def configured(
        self,
        *,
        schedule: Schedule | None = None,
        round_config: RoundConfig | None = None,
        layout: DatasetLayout | None = None,
    ) -> Competition:
        """A copy with another schedule, round configuration or layout (an operator's)."""
        return dataclasses.replace(
            self,
            schedule=schedule or self.schedule,
            round_config=round_config or self.round_config,
            layout=layout or self.layout,
        )

    def ledger_key(self, number: int, what: str) -> str:
        """The idempotency key of round ``number``'s ``what`` (payouts, burns…) entry."""
        return f"{self.ledger_prefix}round:{number}:{what}"


#: The scores Classic computes (the first is the one reputation and tiers read);
#: ``corr_meta`` and ``feature_exposure`` are informational diagnostics, never paid.
CLASSIC_METRICS: tuple[str, ...] = (
    "corr",
    "mmc",
    "fnc",
    "bmc",
    "mpc",
    "corr_meta",
    "feature_exposure",
)


def _classic() -> Competition:
    from crowdalpha.tournament.classic import (
        classic_block_scorer,
        classic_rules,
        classic_scorer,
    )

    return Competition(
        id=8,
        slug="classic",
        name="Classic",
        schedule=Schedule(),
        layout=DatasetLayout(folder="v5.0"),
        round_config=RoundConfig.from_rules(PayoutRules(), CLASSIC_METRICS),
        rules=classic_rules,
        scorer=classic_scorer,
        block_scorer=classic_block_scorer,
    )


#: Numerai Classic (tournament 8): obfuscated features, ``id``/``prediction`` files, CORR
#: and MMC pay (0.5 × CORR + 2 × MMC, clip 0.05, payout factor threshold 72,000 NMR).
#: Its data source is the operator's (synthetic or the price pipeline): the composition
#: root plugs it in.
CLASSIC: Competition = _classic()

#: Numerai Signals (tournament 11): participants' own data, one signal per ticker; pays
#: 0.3 × ALPHA + 0.8 × MPC, clip 0.017, payout factor threshold 36,000 NMR; a churn of 15 %
#: or a turnover of 25 % against the last five submissions, or no submission last round,
#: zeroes the round's stake. Source, rules, scorer and gate are plugged with
#: :meth:`Competition.plug`.
SIGNALS: Competition = Competition(
    id=11,
    slug="signals",
    name="Signals",
    schedule=Schedule(),
    layout=DatasetLayout(folder="signals/v2.0", aliases=("signals/v1.0",)),
    round_config=RoundConfig(
        metrics=("corr", "fnc", "mmc", "alpha", "mpc"),
        policy="numerai",
        multipliers=(("alpha", "0.3"), ("mpc", "0.8")),
        clip="0.017",
        threshold=36_000 * NMR,
        gate_thresholds=(("churn", "0.15"), ("turnover", "0.25")),
        require_previous=True,
    ),
    store_prefix="signals/",
    ledger_prefix="signals:",
)

#: Every competition this version knows, by id.
COMPETITIONS: Mapping[int, Competition] = {c.id: c for c in (CLASSIC, SIGNALS)}


def competition(ref: int | str | Competition) -> Competition:
    """A known competition by id (8, 11), slug (``classic``) or itself."""
    if isinstance(ref, Competition):
        return ref
    for known in COMPETITIONS.values():
        if ref in (known.id, known.slug, str(known.id)):
            return known
    raise InvalidParameterError(
        f"there is no competition {ref!r}; known: "
        + ", ".join(f"{c.slug} ({c.id})" for c in COMPETITIONS.values())
    )
