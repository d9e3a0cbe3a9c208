"""Running a whole tournament headless: a temp SQLite database, a manual clock, weekly
rounds of :class:`~crowdalpha.tournament.SyntheticRoundData` (``source="synthetic"``, fast)
or of a simulated market through the real data pipeline
(:class:`~crowdalpha.tournament.simulated.SimulatedRoundData`, ``source="simulated"``:
train / validation / live files every round, so ``trained`` bots can learn), and bots.

:func:`run_tournament` runs one configuration (:class:`RunSpec`) and keeps the tournament
open for inspection; :func:`collect` turns it into a plain, JSON-ready record built from
the tournament's own records (payouts, scores, meta models, supply); :func:`run_specs`
runs several configurations, in worker processes when asked, reporting progress through a
callback (library code never prints).
"""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import queue
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from crowdalpha.db import create_database_engine, upgrade
from crowdalpha.errors import InvalidParameterError, NotFoundError
from crowdalpha.governance import Governance
from crowdalpha.ledger import TREASURY
from crowdalpha.metamodel import build_meta_model
from crowdalpha.payouts import POLICIES, PayoutRules
from crowdalpha.scoring import numerai_corr
from crowdalpha.simulation.bots import (
    DEFAULT_ROSTER,
    MARKET_NOISE_SCALE,
    Bot,
    RoundView,
    make_bots,
)
from crowdalpha.simulation.governance_bots import Electorate
from crowdalpha.simulation.signals_bots import SignalsBot, make_signals_bots
from crowdalpha.simulation.signals_run import collect_signals, play_signals, signals_competition
from crowdalpha.storage import FileStore
from crowdalpha.tournament import (
    ManualClock,
    Schedule,
    SyntheticRoundData,
    TickReport,
    Tournament,
    TournamentConfig,
)
from crowdalpha.tournament.signals_source import SignalsRoundData
from crowdalpha.tournament.simulated import SimulatedRoundData

__all__ = [
    "SOURCES",
    "VALIDATION_ERA_BASE",
    "MemoryFileStore",
    "Progress",
    "RunSpec",
    "TournamentRun",
    "collect",
    "final_targets",
    "run_specs",
    "run_tournament",
]

#: (run label, steps done, steps in all) — one step is one simulated week.
Progress = Callable[[str, int, int], None]
#: Validation eras are synthetic eras numbered from here (never a live round's number).
VALIDATION_ERA_BASE = 900_000
#: Where a simulated tournament's rounds come from.
SOURCES = ("synthetic", "simulated")


@dataclass(frozen=True)
class RunSpec:
    """One simulated tournament: payout policy, length, bots, data size, risk limits."""

    label: str
    policy: str = "numerai"
    rounds: int = 30
    roster: tuple[tuple[str, int], ...] = DEFAULT_ROSTER
    seed: int = 0
    rows: int = 500
    n_features: int = 12
    share_limit: str | None = None
    validation_eras: int = 4
    #: ``synthetic`` (``rows`` live rows) or ``simulated`` (a market of ``stocks`` stocks).
    source: str = "synthetic"
    stocks: int = 300
    #: Bots propose and vote on payout rules (:mod:`crowdalpha.simulation.governance_bots`).
    governance: bool = False
    #: Signals bots per kind (:data:`~crowdalpha.simulation.signals_bots.SIGNALS_BOT_KINDS`)
    #: playing Signals beside Classic; empty: Classic only. Needs the simulated source.
    signals: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InvalidParameterError(f"unknown payout policy {self.policy!r}")
        if self.source not in SOURCES:
            raise InvalidParameterError(
                f"unknown source {self.source!r}; choose among {', '.join(SOURCES)}"
            )
        if self.rounds < 1:
            raise InvalidParameterError("a simulation needs at least one round")
        if self.rows < 50:
            raise InvalidParameterError("rounds need at least 50 rows")
        if self.signals and self.source != "simulated":
            raise InvalidParameterError(
                "Signals needs a market to build its data from: use the simulated source "
                "(--source simulated)",
                details={"source": self.source},
            )


class MemoryFileStore(FileStore):
    """Files in memory: the simulator's tournaments need no files on disk."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._written: dict[str, datetime] = {}

    def put(self, key: str, data: bytes) -> None:
        self._files[key] = bytes(data)
        self._written[key] = datetime.now(UTC)

    def modified(self, key: str) -> datetime:
        self.get(key)
        return self._written[key]

    def get(self, key: str) -> bytes:
        try:
            return self._files[key]
        except KeyError:
            raise NotFoundError(f"no stored file {key!r}", details={"key": key}) from None

    def exists(self, key: str) -> bool:
        return key in self._files

    def delete(self, key: str) -> None:
        self._files.pop(key, None)
        self._written.pop(key, None)

    def size(self, key: str) -> int:
        return len(self.get(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        yield from sorted(k for k in self._files if k.startswith(prefix))

    def local_path(self, key: str) -> Path | None:
        return None


@dataclass
class TournamentRun:
    """A finished simulated tournament, still open, and what the simulator saw of it."""

    spec: RunSpec
    tournament: Tournament
    data: SyntheticRoundData | SimulatedRoundData
    bots: list[Bot]
    predictions: dict[int, pd.DataFrame] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)
    supply: list[dict[str, Any]] = field(default_factory=list)
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    electorate: Electorate | None = None
    signals_bots: list[SignalsBot] = field(default_factory=list)
    signals_source: SignalsRoundData | None = None
    signals_resolutions: list[dict[str, Any]] = field(default_factory=list)


def _live_view(
    t: Tournament, data: SyntheticRoundData | SimulatedRoundData, number: int
) -> RoundView:
    """What participants download: the round's published live features (and, on the
    simulated market, the folder of its train / validation files)."""
    live = pd.read_parquet(io.BytesIO(t.store.get(t.dataset_key(number, "live.parquet"))))
    features = live[[c for c in live.columns if c.startswith("feature_")]]
    public = data.pipeline.public_dir(number) if isinstance(data, SimulatedRoundData) else None
    return RoundView(number, features, signal=data.skill_signal(number), public=public)


def final_targets(
    data: SyntheticRoundData | SimulatedRoundData,
    number: int,
    ids: Sequence[str],
    schedule: Schedule | None = None,
) -> pd.Series:
    """The era's final targets, as the tournament resolves with them."""
    if isinstance(data, SimulatedRoundData):
        when = schedule or data.schedule
        closes, now = when.closes(number), when.resolves(number) + timedelta(days=7)
    else:
        closes = datetime(2000, 1, 1, tzinfo=UTC)
        now = closes + data.resolution_delay
    outcome = data.outcome(number, ids, closes_at=closes, now=now)
    if outcome is None or not outcome.final:  # pragma: no cover - resolved rounds have them
        raise InvalidParameterError(f"era {number} has no final targets")
    return outcome.targets


def _snapshot(t: Tournament, week: int) -> dict[str, Any]:
    supply = t.supply()
    return {
        "week": week,
        "at": t.clock.now().isoformat(),
        "minted": str(supply.minted),
        "burned": str(supply.burned),
        "net_deposits": str(supply.net_deposits),
        "circulating": str(supply.circulating),
    }


def _validate(run: TournamentRun) -> None:
    """Every model's CORR on validation eras (with targets in view, as when fitting); the
    synthetic source's only (the simulated market's validation is in each round's files)."""
    if not isinstance(run.data, SyntheticRoundData):
        return
    corrs: dict[str, list[float]] = {}
    for i in range(run.spec.validation_eras):
        number = VALIDATION_ERA_BASE + i
        features = run.data.features(number)
        targets = final_targets(run.data, number, list(features.index))
        view = RoundView(number, features, run.data.skill_signal(number), targets)
        made: dict[str, pd.Series] = {}
        for bot in run.bots:
            bot.predict(view, made, live=False)
        scores = numerai_corr(pd.DataFrame(made), targets)
        for name, value in scores.items():
            corrs.setdefault(str(name), []).append(float(value))
    run.validation = {name: sum(v) / len(v) for name, v in corrs.items()}


def run_tournament(
    spec: RunSpec, workdir: Path, *, progress: Progress | None = None
) -> TournamentRun:
    """Run ``spec`` on a fresh SQLite database under ``workdir``; the tournament stays open.

    Week ``n`` (1 … rounds): the clock moves to round ``n``'s opening and ``tick`` opens
    it (closing, scoring and resolving earlier rounds); every bot rebalances its stakes and
    submits. A last tick at round ``rounds``' resolution time resolves the rest.
    """
    started = time.perf_counter()
    config = TournamentConfig(payout=PayoutRules(policy=spec.policy))  # type: ignore[arg-type]
    schedule = config.schedule
    signals_source: SignalsRoundData | None = None
    engine = create_database_engine(f"sqlite:///{workdir / 'tournament.db'}")
    upgrade(engine)
    data: SyntheticRoundData | SimulatedRoundData
    noise_scale = 1.0
    if spec.source == "simulated":
        data = SimulatedRoundData(
            workdir / "pipeline", stocks=spec.stocks, seed=spec.seed, schedule=schedule
        )
        noise_scale = MARKET_NOISE_SCALE
        if spec.signals:
            signals, signals_source = signals_competition(data, workdir / "signals", schedule)
            config = dataclasses.replace(config, competitions=(signals,))
    else:
        data = SyntheticRoundData(
            seed=spec.seed,
            rows=spec.rows,
            n_features=spec.n_features,
            resolution_delay=schedule.resolution_delay,
        )
    clock = ManualClock(schedule.anchor - timedelta(hours=1))
    t = Tournament(engine, MemoryFileStore(), data, config=config, clock=clock)
    bots = make_bots(spec.roster, seed=spec.seed, noise_scale=noise_scale)
    signals_bots = make_signals_bots(spec.signals, seed=spec.seed) if spec.signals else []
    run = TournamentRun(
        spec, t, data, bots, signals_bots=signals_bots, signals_source=signals_source
    )
    granted = sum(b.grant for b in bots) + sum(2 * b.stake for b in signals_bots)
    t.mint(granted, to=TREASURY, key="simulation-treasury")
    for bot in bots:
        bot.join(t, share_limit=spec.share_limit)
    for signals_bot in signals_bots:
        signals_bot.join(t)
    share_ppm = None
    if spec.share_limit is not None:
        share_ppm = t.account(bots[0].account_id).max_stake_share_ppm
    if spec.governance:
        run.electorate = Electorate(t, Governance(t).install(), bots)
    _validate(run)
    run.supply.append(_snapshot(t, 0))
    total = spec.rounds + 1
    for number in range(1, spec.rounds + 1):
        clock.set(schedule.opens(number))
        report = t.tick()
        _record_tick(run, report)
        view = _live_view(t, data, number)
        made: dict[str, pd.Series] = {}
        # Holdings change only when rounds resolve (payouts, burns, releases), so bots
        # revisit their stakes in the first week and after each resolution.
        rebalance = number == 1 or bool(report.resolved)
        if run.electorate is not None:
            run.electorate.act(number)
        for bot in bots:
            if rebalance:
                bot.rebalance(t, share_ppm)
            bot.submit(t, number, bot.predict(view, made))
        run.predictions[number] = pd.DataFrame(made)
        if signals_source is not None and isinstance(data, SimulatedRoundData):
            play_signals(t, data, signals_source, signals_bots)
        run.supply.append(_snapshot(t, number))
        if progress is not None:
            progress(spec.label, number, total)
    clock.set(schedule.resolves(spec.rounds))
    _record_tick(run, t.tick())
    run.supply.append(_snapshot(t, spec.rounds + 1))
    if progress is not None:
        progress(spec.label, total, total)
    run.elapsed_s = time.perf_counter() - started
    return run


def _record_tick(run: TournamentRun, report: TickReport) -> None:
    _record_resolutions(run, run.resolutions, report)
    signals = report.by_competition.get("signals")
    if signals is not None:
        _record_resolutions(run, run.signals_resolutions, signals)


def _record_resolutions(run: TournamentRun, into: list[dict[str, Any]], report: TickReport) -> None:
    for r in report.resolved:
        into.append(
            {
                "round": r.round_number,
                "resolved_week": len(run.supply),
                "scored": r.scored,
                "staked": r.staked,
                "paid": str(r.paid),
                "burned": str(r.burned),
                "minted": str(r.minted),
                "released": str(r.released),
                "payout_factor": r.payout_factor,
            }
        )


def collect(run: TournamentRun) -> dict[str, Any]:
    """The run as a JSON-ready record, from the tournament's own records."""
    t, spec = run.tournament, run.spec
    names = {m.id: m.name for m in t.models()}
    rounds = range(1, spec.rounds + 1)
    payouts = [
        {
            "round": p.round_number,
            "model_id": p.model_id,
            "stake_at_risk": str(p.stake_at_risk),
            "amount": str(p.amount),
        }
        for p in t.payouts()
        if p.round_number in rounds
    ]
    scores = [
        {"round": s.round_number, "model_id": s.model_id, "corr": s.corr, "mmc": s.mmc}
        for s in t.scores()
        if s.final and s.round_number in rounds
    ]
    meta = []
    for number in rounds:
        preds = run.predictions[number]
        targets = final_targets(run.data, number, list(preds.index), t.config.schedule)
        frame = pd.DataFrame(
            {"equal_weight": build_meta_model(preds, pd.Series(1, index=preds.columns))}
        )
        try:
            frame["meta_model"] = t.meta_model(number).reindex(preds.index)
        except NotFoundError:
            frame["meta_model"] = float("nan")
        corr = numerai_corr(frame.dropna(axis=1), targets)
        meta.append(
            {
                "round": number,
                "meta_model": float(corr["meta_model"]) if "meta_model" in corr else None,
                "equal_weight": float(corr["equal_weight"]),
            }
        )
    holdings = {}
    for bot in run.bots:
        wallet, stakes, _ = bot.holdings(t)
        pending = sum(t.stake_info(m).pending for m in bot.model_ids.values())
        holdings[bot.name] = {
            "wallet": str(wallet),
            "stake": str(sum(stakes.values())),
            "pending": str(pending),
        }
    return {
        "label": spec.label,
        "policy": spec.policy,
        "share_limit": spec.share_limit,
        "rounds": spec.rounds,
        "rows": spec.rows,
        "source": spec.source,
        "stocks": spec.stocks if spec.source == "simulated" else None,
        "seed": spec.seed,
        "elapsed_s": round(run.elapsed_s, 3),
        "bots": [
            {
                "name": b.name,
                "kind": b.kind,
                "size": b.size,
                "staking": b.staking,
                "account_id": b.account_id,
                "grant": str(b.grant),
                "models": dict(b.model_ids),
                "refused_stake_changes": b.refused,
            }
            for b in run.bots
        ],
        "model_names": {str(k): v for k, v in names.items()},
        "final_holdings": holdings,
        "payouts": payouts,
        "scores": scores,
        "meta": meta,
        "validation": run.validation,
        "supply": run.supply,
        "resolutions": run.resolutions,
        "governance": None if run.electorate is None else run.electorate.record(spec.rounds),
        "signals": (
            collect_signals(t, run.signals_bots, rounds, run.signals_resolutions)
            if run.signals_source is not None
            else None
        ),
    }


def _run_and_collect(spec: RunSpec, progress: Progress | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="crowdalpha-sim-") as workdir:
        run = run_tournament(spec, Path(workdir), progress=progress)
        try:
            return collect(run)
        finally:
            run.tournament.close()


_QUEUE: Any = None


def _init_worker(messages: Any) -> None:
    global _QUEUE
    _QUEUE = messages


def _report_to_queue(label: str, done: int, total: int) -> None:
    _QUEUE.put((label, done, total))


def _worker(spec: RunSpec) -> dict[str, Any]:
    return _run_and_collect(spec, _report_to_queue)


def run_specs(
    specs: Sequence[RunSpec], *, progress: Progress | None = None, workers: int = 1
) -> list[dict[str, Any]]:
    """Run every spec (in ``workers`` processes when > 1) and collect their records."""
    if workers <= 1 or len(specs) <= 1:
        return [_run_and_collect(spec, progress) for spec in specs]
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    with ProcessPoolExecutor(
        max_workers=min(workers, len(specs)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(messages,),
    ) as pool:
        futures: list[Future[dict[str, Any]]] = [pool.submit(_worker, s) for s in specs]
        while not all(f.done() for f in futures):
            try:
                label, done, total = messages.get(timeout=0.1)
            except queue.Empty:
                continue
            if progress is not None:
                progress(label, done, total)
        results = [f.result() for f in futures]
    while progress is not None:
        try:
            label, done, total = messages.get_nowait()
        except queue.Empty:
            break
        progress(label, done, total)
    messages.close()
    messages.join_thread()
    return results
