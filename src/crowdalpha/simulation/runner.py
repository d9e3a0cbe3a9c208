"""Running a whole tournament headless: a temp SQLite database, a manual clock, weekly
rounds of :class:`~crowdalpha.tournament.SyntheticRoundData`, and bots.

:func:`run_tournament` runs one configuration (:class:`RunSpec`) and keeps the tournament
open for inspection; :func:`collect` turns it into a plain, JSON-ready record built from
the tournament's own records (payouts, scores, meta models, supply); :func:`run_specs`
runs several configurations, in worker processes when asked, reporting progress through a
callback (library code never prints).
"""

from __future__ import annotations

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
from crowdalpha.ledger import TREASURY
from crowdalpha.metamodel import build_meta_model
from crowdalpha.payouts import POLICIES, PayoutRules
from crowdalpha.scoring import numerai_corr
from crowdalpha.simulation.bots import DEFAULT_ROSTER, Bot, RoundView, make_bots
from crowdalpha.storage import FileStore
from crowdalpha.tournament import (
    ManualClock,
    SyntheticRoundData,
    TickReport,
    Tournament,
    TournamentConfig,
)

__all__ = [
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

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InvalidParameterError(f"unknown payout policy {self.policy!r}")
        if self.rounds < 1:
            raise InvalidParameterError("a simulation needs at least one round")
        if self.rows < 50:
            raise InvalidParameterError("rounds need at least 50 rows")


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
    data: SyntheticRoundData
    bots: list[Bot]
    predictions: dict[int, pd.DataFrame] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)
    supply: list[dict[str, Any]] = field(default_factory=list)
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0


def _live_view(t: Tournament, data: SyntheticRoundData, number: int) -> RoundView:
    """What participants download: the round's published live features."""
    live = pd.read_parquet(io.BytesIO(t.store.get(t.dataset_key(number, "live.parquet"))))
    features = live[[c for c in live.columns if c.startswith("feature_")]]
    return RoundView(number, features, signal=data.skill_signal(number))


def final_targets(data: SyntheticRoundData, number: int, ids: Sequence[str]) -> pd.Series:
    """The era's final targets, as the tournament resolves with them."""
    closes = datetime(2000, 1, 1, tzinfo=UTC)
    outcome = data.outcome(number, ids, closes_at=closes, now=closes + data.resolution_delay)
    if outcome is None or not outcome.final:  # pragma: no cover - the source is synthetic
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
    """Every model's CORR on validation eras (with targets in view, as when fitting)."""
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
    engine = create_database_engine(f"sqlite:///{workdir / 'tournament.db'}")
    upgrade(engine)
    data = SyntheticRoundData(
        seed=spec.seed,
        rows=spec.rows,
        n_features=spec.n_features,
        resolution_delay=schedule.resolution_delay,
    )
    clock = ManualClock(schedule.anchor - timedelta(hours=1))
    t = Tournament(engine, MemoryFileStore(), data, config=config, clock=clock)
    bots = make_bots(spec.roster, seed=spec.seed)
    run = TournamentRun(spec, t, data, bots)
    t.mint(sum(b.grant for b in bots), to=TREASURY, key="simulation-treasury")
    for bot in bots:
        bot.join(t, share_limit=spec.share_limit)
    share_ppm = None
    if spec.share_limit is not None:
        share_ppm = t.account(bots[0].account_id).max_stake_share_ppm
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
        for bot in bots:
            if rebalance:
                bot.rebalance(t, share_ppm)
            bot.submit(t, number, bot.predict(view, made))
        run.predictions[number] = pd.DataFrame(made)
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
    for r in report.resolved:
        run.resolutions.append(
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
        targets = final_targets(run.data, number, list(preds.index))
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
