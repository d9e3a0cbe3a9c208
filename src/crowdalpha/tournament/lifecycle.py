"""Rounds moving on the clock: opening, closing, scoring and resolving, for every
enabled competition.

``tick`` asks each competition's schedule what is due and each competition's data source
what is known, and moves every round as far as both allow. Each step is its own unit of
work and checks the state it starts from, so running ``tick`` twice, or again after a
crash at any point, ends in the same state.

Two schedulers on one database (two server processes, a server and a cron ``tick``) never
tick at once: a tick holds the database's clock lock (:class:`~crowdalpha.db.locks.
DatabaseLock` — an advisory lock on PostgreSQL, a file lock beside a SQLite database) from
its start to its end, and a tick that cannot get it within ``wait`` seconds does nothing
and raises :class:`~crowdalpha.errors.SchedulerBusyError`. The state checks above keep
the money right even without it; the lock keeps each round's opening, closing and
resolution to one scheduler, so that no work is done twice and every report is true.

Round numbers count from the competition's own start (see :mod:`.schedule`): when a
competition opens its first round, the calendar slot it falls in is stored as the
competition's numbering offset, and that round is round 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crowdalpha.db.locks import DatabaseLock
from crowdalpha.errors import (
    InvalidParameterError,
    NotFoundError,
    RoundStateError,
    SchedulerBusyError,
)
from crowdalpha.ledger import stake
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.data import RoundData
from crowdalpha.tournament.fairplay import check_round
from crowdalpha.tournament.files import RoundFiles
from crowdalpha.tournament.models import (
    Model,
    Round,
    RoundStake,
    RoundState,
    Score,
    Submission,
    SubmissionState,
)
from crowdalpha.tournament.plugs import RoundConfigProvider
from crowdalpha.tournament.resolution import Resolution
from crowdalpha.tournament.round_config import RoundConfig
from crowdalpha.tournament.rounds import get_round, state_of
from crowdalpha.tournament.schedule import Schedule
from crowdalpha.tournament.unit_of_work import UnitOfWork
from crowdalpha.tournament.views import ResolutionReport, TickReport

__all__ = ["GATE_HISTORY", "Lifecycle"]

#: How many earlier rounds of a model the stake gate compares a submission with.
GATE_HISTORY = 5

#: The name of the database lock a tick holds.
CLOCK_LOCK = "clock"


class Lifecycle:
    """The clock's work: open, close, score and resolve rounds."""

    def __init__(self, uow: UnitOfWork, files: RoundFiles, resolution: Resolution) -> None:
        self.uow = uow
        self.files = files
        self.resolution = resolution
        self._offsets: dict[int, int] = {}
        #: Decides each round's configuration when it opens (None: the competition's own).
        self.round_config: RoundConfigProvider | None = None
        self.clock_lock = DatabaseLock(uow.engine, CLOCK_LOCK)

    # -- numbering --------------------------------------------------------------------------

    def offset(self, c: Competition) -> int | None:
        """The competition's numbering offset (None: no round opened yet)."""
        known = self._offsets.get(c.id)
        if known is not None:
            return known
        row = self.uow.read(lambda s: state_of(s, c).numbering_offset)
        if row is not None:
            self._offsets[c.id] = row  # set once, never changed
        return row

    def schedule(self, c: Competition, now: datetime | None = None) -> Schedule:
        """The schedule of the competition's round numbers: from its start, or — before its
        first round — from the start it would have at ``now`` (the next slot, if none is
        open for submissions now)."""
        offset = self.offset(c)
        if offset is None:
            when = now or self.uow.clock.now()
            first = c.schedule.first_slot(when)
            if first is None:
                first = max(c.schedule.latest_due(when), 0) + 1
            offset = first - 1
        return c.schedule.numbered_from(offset)

    def _start(self, c: Competition, now: datetime) -> int | None:
        """Store the competition's start if due now; its offset (None: not yet)."""
        offset = self.offset(c)
        if offset is not None:
            return offset
        slot = c.schedule.first_slot(now)
        if slot is None:
            return None

        def op(session: Session) -> int:
            row = state_of(session, c, lock=True)
            if row.numbering_offset is None:
                row.numbering_offset = slot - 1
            return row.numbering_offset

        offset = self.uow.run(op)
        self._offsets[c.id] = offset
        return offset

    # -- the clock ---------------------------------------------------------------------------

    def tick(
        self, competitions: Sequence[Competition], now: datetime, *, wait: float = 60.0
    ) -> dict[str, TickReport]:
        """Move every round of every competition as far as the clock and the data allow,
        holding the clock lock (waiting up to ``wait`` seconds for another scheduler)."""
        with self._exclusive(wait):
            return {c.slug: self.tick_one(c, now) for c in competitions}

    @contextmanager
    def _exclusive(self, wait: float) -> Iterator[None]:
        with self.clock_lock.held(wait) as got:
            if not got:
                raise SchedulerBusyError(
                    "another scheduler (a server process or a cron tick) is moving the rounds "
                    f"of this database; nothing was done — retry in a moment (waited {wait:g} s)",
                    details={"waited_s": wait},
                )
            yield

    def tick_one(self, c: Competition, now: datetime) -> TickReport:
        report = TickReport(now=now, competition=c.slug)
        source = _source(c)
        self._open_due(c, now, report)
        for number, closes_at in self._rounds(c, [RoundState.OPEN]):
            if closes_at <= now:
                self.close(c, number, now)
                report.closed.append(number)
        for number, closes_at, state in self._rounds_with_state(
            c, [RoundState.CLOSED, RoundState.SCORING]
        ):
            outcome = source.outcome(
                number, self._live_ids(c, number), closes_at=closes_at, now=now
            )
            if outcome is None:
                continue
            if outcome.final:
                report.resolved.append(self.resolution.resolve(c, number, outcome, now))
            elif state == RoundState.CLOSED.value:
                self.resolution.score_provisional(c, number, outcome, now)
                report.scored.append(number)
        return report

    def resolve(self, c: Competition, number: int, now: datetime) -> ResolutionReport:
        """Resolve a closed round now, if its final outcome is known (holding the clock
        lock, as a tick does)."""
        with self._exclusive(60.0):
            return self._resolve(c, number, now)

    def _resolve(self, c: Competition, number: int, now: datetime) -> ResolutionReport:
        row = self.uow.read(lambda s: get_round(s, c, number))
        if row.state not in (RoundState.CLOSED.value, RoundState.SCORING.value):
            raise RoundStateError(f"round {number} is {row.state}; only closed rounds resolve")
        outcome = _source(c).outcome(
            number, self.files.live_ids(row.live_ids_key), closes_at=row.closes_at, now=now
        )
        if outcome is None or not outcome.final:
            raise RoundStateError(f"round {number}'s targets are not final yet")
        return self.resolution.resolve(c, number, outcome, now)

    def _live_ids(self, c: Competition, number: int) -> list[str]:
        key = self.uow.read(lambda s: get_round(s, c, number).live_ids_key)
        return self.files.live_ids(key)

    def _rounds(self, c: Competition, states: list[RoundState]) -> list[tuple[int, datetime]]:
        return [(n, closes) for n, closes, _ in self._rounds_with_state(c, states)]

    def _rounds_with_state(
        self, c: Competition, states: list[RoundState]
    ) -> list[tuple[int, datetime, str]]:
        def op(session: Session) -> list[tuple[int, datetime, str]]:
            rows = session.execute(
                select(Round.number, Round.closes_at, Round.state)
                .where(Round.competition_id == c.id, Round.state.in_([s.value for s in states]))
                .order_by(Round.number)
            ).all()
            return [(int(n), closes, str(state)) for n, closes, state in rows]

        return self.uow.read(op)

    # -- opening ------------------------------------------------------------------------------

    def _open_due(self, c: Competition, now: datetime, report: TickReport) -> None:
        offset = self._start(c, now)
        if offset is None:
            return
        schedule = c.schedule.numbered_from(offset)
        number = schedule.latest_due(now)
        if number <= 0:
            return
        exists = self.uow.read(
            lambda s: (
                s.scalar(
                    select(Round.id).where(Round.competition_id == c.id, Round.number == number)
                )
                is not None
            )
        )
        if exists:
            return
        if schedule.closes(number) <= now:
            report.skipped.append(number)  # missed entirely (the tournament was down)
            return
        published = _source(c).publish(number, schedule.opens(number))
        if published is None:
            return
        # Files first (deterministic keys; a crash before the commit leaves files that a
        # retry rewrites identically), then the round row.
        live_key = self.files.publish(
            c,
            number,
            published.version,
            dict(published.files),
            [str(i) for i in published.live_ids],
            published.universe,
        )
        config = self.config_for(c, number, schedule.opens(number)).to_json()

        def op(session: Session) -> bool:
            exists = session.scalar(
                select(Round.id).where(Round.competition_id == c.id, Round.number == number)
            )
            if exists is not None:
                return False
            session.add(
                Round(
                    competition_id=c.id,
                    number=number,
                    state=RoundState.OPEN.value,
                    opens_at=schedule.opens(number),
                    closes_at=schedule.closes(number),
                    resolves_at=schedule.resolves(number),
                    dataset_version=published.version,
                    live_ids_key=live_key,
                    live_rows=len(published.live_ids),
                    config=config,
                )
            )
            session.flush()
            return True

        if self.uow.run(op):
            report.opened.append(number)

    def config_for(self, c: Competition, number: int, opens_at: datetime) -> RoundConfig:
        """The configuration round ``number`` opens with (stored with it for good)."""
        if self.round_config is None:
            return c.round_config
        return self.round_config(c, number, opens_at)

    def next_config(self, c: Competition, opens_at: datetime) -> RoundConfig:
        """The configuration a round of ``c`` opening at ``opens_at`` would open with."""
        number = max(self.schedule(c).latest_due(opens_at), 0) + 1
        return self.config_for(c, number, opens_at)

    # -- closing ------------------------------------------------------------------------------

    def close(self, c: Competition, number: int, now: datetime) -> None:
        """Freeze the stakes at risk: each model's stake if it has a selected, on-time,
        valid submission (and passes the round's stake gate), else nothing; then find the
        round's near-identical submissions and apply its duplicate policy
        (:mod:`~crowdalpha.tournament.fairplay`)."""

        def op(session: Session) -> None:
            row = get_round(session, c, number, lock=True)
            if row.state != RoundState.OPEN.value:
                return
            config = RoundConfig.from_json(row.config)
            on_time = _on_time(session, row.id)
            model_ids = list(
                session.scalars(
                    select(Model.id).where(Model.competition_id == c.id).order_by(Model.id)
                )
            )
            stakes = self.uow.ledger(session).balances([stake(m) for m in model_ids])
            previous = self._previous_submitters(session, c, number, config)
            frozen: dict[int, int] = {}
            for model_id in model_ids:
                held = stakes[stake(model_id)]
                submission = on_time.get(model_id)
                if held == 0 and submission is None:
                    continue
                at_risk = held if submission is not None else 0
                if at_risk and previous is not None and model_id not in previous:
                    at_risk = 0  # no submission last round: no stake this round
                if (
                    at_risk
                    and config.gate_thresholds
                    and submission is not None
                    and not self._passes_gate(session, c, row, config, model_id, submission, now)
                ):
                    at_risk = 0
                frozen[model_id] = at_risk
            ledger = self.uow.ledger(session)
            frozen = check_round(session, ledger, self.files, row, config, frozen, on_time, now)
            rows = [
                {
                    "round_id": row.id,
                    "model_id": model_id,
                    "submission_id": on_time.get(model_id),
                    "stake_at_risk": at_risk,
                }
                for model_id, at_risk in frozen.items()
            ]
            total = sum(frozen.values())
            if rows:
                session.execute(insert(RoundStake), rows)
            row.total_at_risk = total
            row.state = RoundState.CLOSED.value
            row.closed_at = now

        self.uow.run(op)

    @staticmethod
    def _previous_submitters(
        session: Session, c: Competition, number: int, config: RoundConfig
    ) -> set[int] | None:
        """Models with an on-time submission in the previous round, when the round's rules
        require one (None: they do not, or there is no previous round)."""
        if not config.require_previous:
            return None
        previous = session.scalar(
            select(Round.id).where(Round.competition_id == c.id, Round.number == number - 1)
        )
        return None if previous is None else set(_on_time(session, previous))

    def _passes_gate(
        self,
        session: Session,
        c: Competition,
        row: Round,
        config: RoundConfig,
        model_id: int,
        submission_id: int,
        now: datetime,
    ) -> bool:
        if c.gate is None:
            raise InvalidParameterError(f"{c.name}'s rounds have gate thresholds but no gate")
        current = self._stored(session, submission_id, row.live_ids_key)
        if current is None:
            return False
        history = []
        earlier = session.execute(
            select(Round.number, Round.live_ids_key, Submission.id)
            .join(Submission, Submission.round_id == Round.id)
            .where(
                Round.competition_id == c.id,
                Round.number < row.number,
                Submission.model_id == model_id,
                Submission.selected,
            )
            .order_by(Round.number.desc())
            .limit(GATE_HISTORY)
        ).all()
        for number, live_key, sub_id in earlier:
            values = self._stored(session, sub_id, live_key)
            if values is not None:
                history.append((int(number), values))
        measures = c.gate(row.number, model_id, current, history)
        session.execute(
            insert(Score),
            [
                {
                    "round_id": row.id,
                    "model_id": model_id,
                    "metric": name,
                    "submission_id": submission_id,
                    "value": float(value),
                    "final": True,
                    "scored_at": now,
                }
                for name, value in sorted(measures.items())
            ],
        )
        return not _reaches(measures, dict(config.gate_thresholds))

    def _stored(self, session: Session, submission_id: int, live_key: str) -> pd.Series | None:
        sub = session.get(Submission, submission_id)
        if sub is None or sub.storage_key is None:
            return None
        try:
            values = self.files.predictions(sub.storage_key, sub.predictions_sha256)
        except (NotFoundError, OSError, ValueError):  # CorruptFileError too: never used
            return None
        return pd.Series(values, index=self.files.live_index(live_key))


def _reaches(measures: Mapping[str, float], thresholds: Mapping[str, str]) -> bool:
    """Whether any measure is at or above its threshold (as numerai-tools compares them,
    in floats); a measure that is not a number reaches it (nothing safe was measured)."""
    for name, limit in thresholds.items():
        if name in measures:
            value = float(measures[name])
            if math.isnan(value) or value >= float(limit):
                return True
    return False


def _on_time(session: Session, round_id: int) -> dict[int, int]:
    """Model id → its selected, on-time, valid submission in the round."""
    return {
        int(model_id): int(sub_id)
        for model_id, sub_id in session.execute(
            select(Submission.model_id, Submission.id).where(
                Submission.round_id == round_id,
                Submission.selected,
                ~Submission.late,
                Submission.state == SubmissionState.VALIDATED.value,
            )
        ).all()
    }


def _source(c: Competition) -> RoundData:
    if c.source is None:
        raise InvalidParameterError(f"{c.name} has no data source plugged in")
    return c.source
