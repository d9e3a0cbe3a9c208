"""Rounds built by the real data pipeline: obfuscated datasets from prices, real targets.

:class:`PipelineRoundData` is the :class:`~crowdalpha.tournament.data.RoundData` source of
an operator's tournament. It turns a price frame — simulated
(:func:`crowdalpha.market.simulate_market`) or the operator's own — into each round's v5
dataset with :func:`crowdalpha.dataset.build.build_round`, and into each round's outcome
once the market has moved far enough.

**Rounds and market dates.** Round ``n``'s live era is the ``n``-th era date (the last
trading day of a week, :func:`crowdalpha.dataset.features.era_dates`) on or after
``first_live``: round 1 takes the first, each later round the next week's. A week counts
once it is over in the data — a later trading day exists, or its last day is a Friday or
later — so a frame that ends mid-week never makes a Wednesday a live date.

**What is known when.** Tournament time and market time advance together, one round per
week: at tournament time ``now`` the market is known up to the live date of the newest
round due (:meth:`Schedule.latest_due`), or to the end of the prices if they stop earlier.
A simulated market is known to its last day in advance; the source still never reads a
later day than that. A round's dataset is built from the prices up to its live date and
nothing after it (published files are byte-identical whether the frame ends there or runs
years further — a test checks it); its outcome from the prices up to the day its target
ends — the live date plus the target's lag and horizon (2 + 20 trading days by default) —
and no further, so the final outcome does not depend on when it is asked for.

**Outcomes.** The main target of the live era is computed exactly as a build whose prices
end on the target's last day computes that era (residualized on sector and styles, binned
5/20/50/20/5 over the era's stocks; :mod:`crowdalpha.dataset.targets`) — the same engines
over the same window of prices and tickers — so the outcome equals what later rounds
publish for that era in their validation data. It is mapped to the round's live ids through
the live id map the build leaves in the operator's folder; a stock delisted before the
horizon has a NaN target (scoring leaves it out). Before the full horizon is known, a
*provisional* outcome (``final=False``) uses the same target over the shorter horizon
already known, once that is at least ``provisional_min_days`` trading days. The outcome
carries the round's published live features (int8, for FNC) and a benchmark model's
predictions (for BMC): a ridge regression on the round's own train data (the ``small``
feature set), fitted when the round is published — from public files only.

**Folders.** ``workdir/public/round_NNNN/`` holds each round's public files
(``train.parquet``, ``validation.parquet``, ``live.parquet``, ``features.json``, the
example predictions and ``era_regimes.parquet`` — the market regime of every era with a
known target, by published era label: :mod:`crowdalpha.dataset.regimes`). A final
outcome carries the live era's regime, recorded when the round resolves. The
operator's folder (``workdir/operator`` unless given) holds the vault key (``vault.json``,
created on first use unless a :class:`~crowdalpha.dataset.obfuscate.Vault` is passed), the
era cache (``cache/``, so a weekly round computes only the eras whose inputs changed) and
each round's maps (``rounds/NNNN/``: ``live_ids.parquet``, ``eras.parquet``,
``feature_names.json``, ``benchmark.parquet``). A round is built into temporary folders and
renamed into place, the public folder last, so a crash never leaves a half-built round that
looks complete; publishing a round that is already built reads it back (the same bytes),
which makes :meth:`PipelineRoundData.publish` safe to retry and to call again after a
restart. The source expects one writer per working folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from crowdalpha.dataset.build import (
    BuildConfig,
    BuildReport,
    build_round,
    cell_prices,
    era_reach,
)
from crowdalpha.dataset.example import EXAMPLE_FILES, ridge_benchmark
from crowdalpha.dataset.features import FeatureEngine, era_dates
from crowdalpha.dataset.layout import SPLITS
from crowdalpha.dataset.obfuscate import Vault, published_eras
from crowdalpha.dataset.regimes import REGIMES_FILE, price_regimes
from crowdalpha.dataset.targets import TargetEngine
from crowdalpha.errors import InvalidInputError, InvalidParameterError, MissingColumnsError
from crowdalpha.tournament.config import Schedule
from crowdalpha.tournament.data import Outcome, PublishedDataset

__all__ = ["BENCHMARK_COLUMN", "PUBLIC_FILES", "PipelineRoundData"]

#: The files of a round that participants download, in the order they are published.
PUBLIC_FILES: tuple[str, ...] = (
    *(f"{split}.parquet" for split in SPLITS),
    "features.json",
    *EXAMPLE_FILES.values(),
    REGIMES_FILE,
)
#: The benchmark model's column in :attr:`Outcome.benchmarks`.
BENCHMARK_COLUMN = "ridge_small"
#: Rounds whose live rows (ids, tickers, features, benchmarks) are kept in memory.
_LIVE_CACHE_ROUNDS = 8
#: The weekday (0 = Monday) from which a week's last day in the data ends that week.
_WEEK_END = 4


@dataclass(frozen=True)
class _LiveRows:
    tickers: pd.Series
    features: pd.DataFrame
    benchmarks: pd.DataFrame | None


class PipelineRoundData:
    """A :class:`~crowdalpha.tournament.data.RoundData` source backed by the dataset pipeline.

    ``prices`` is a validated price frame (:func:`crowdalpha.market.validate_prices`; the
    simulator's ``prices`` already is), sorted by date. ``first_live`` dates round 1's live
    era (the first era date on or after it). ``schedule`` must be the tournament's: it says
    which round is due at a given time, and so how far the market is known. ``config``
    shapes every round (features, targets, validation eras, obfuscation mode); ``vault``
    keys ids and names (default: the one saved in the operator's folder, created there on
    first use). ``cache=False`` builds every round from scratch. ``provisional_min_days``
    (None: never) is the shortest known horizon, in trading days, that gives a provisional
    outcome; ``benchmark=False`` leaves BMC out.

    Append prices as the market moves with :meth:`update_prices`. Deterministic: the same
    prices, settings and vault give the same files, ids and outcomes.
    """

    def __init__(
        self,
        prices: pd.DataFrame,
        *,
        workdir: str | Path,
        first_live: str | date | pd.Timestamp,
        schedule: Schedule | None = None,
        config: BuildConfig | None = None,
        vault: Vault | None = None,
        operator_dir: str | Path | None = None,
        cache: bool = True,
        provisional_min_days: int | None = 5,
        benchmark: bool = True,
    ) -> None:
        self.config = config if config is not None else BuildConfig()
        if not isinstance(self.config, BuildConfig):
            raise InvalidParameterError("config must be a BuildConfig")
        self.schedule = schedule if schedule is not None else Schedule()
        if provisional_min_days is not None and (
            isinstance(provisional_min_days, bool)
            or not isinstance(provisional_min_days, int)
            or provisional_min_days < 1
        ):
            raise InvalidParameterError(
                f"provisional_min_days must be a positive int or None, not {provisional_min_days!r}"
            )
        self.provisional_min_days = provisional_min_days
        self.benchmark = benchmark
        first = pd.Timestamp(first_live)
        if first.tzinfo is not None:
            first = first.tz_convert(None)  # market dates are naive calendar days
        self.first_live = first.normalize()
        self.workdir = Path(workdir)
        self.public_root = self.workdir / "public"
        self.operator_dir = (
            Path(operator_dir) if operator_dir is not None else (self.workdir / "operator")
        )
        self.cache_dir: Path | None = self.operator_dir / "cache" if cache else None
        self.vault = vault if vault is not None else self._operator_vault()
        #: The build report of every round this instance built (not those read back).
        self.build_reports: dict[int, BuildReport] = {}
        self._targets: dict[tuple[int, int], pd.Series] = {}
        self._live_rows: dict[int, _LiveRows] = {}
        self.update_prices(prices)

    # -- prices and dates ------------------------------------------------------------------

    def update_prices(self, prices: pd.DataFrame) -> None:
        """Use a new price frame (e.g. with the latest days appended) from now on.

        Rounds already built keep their files; outcomes not yet computed use the new frame.
        """
        missing = [c for c in ("date", "ticker", "close") if c not in prices.columns]
        if missing:
            raise MissingColumnsError(
                f"prices lack the column(s) {missing}", details={"missing": missing}
            )
        dates = prices["date"].to_numpy(dtype="datetime64[ns]")
        if len(dates) > 1 and (dates[1:] < dates[:-1]).any():
            raise InvalidInputError(
                "prices must be sorted by date (crowdalpha.market.validate_prices does it)"
            )
        self.prices = prices
        self._dates = dates
        self.days = pd.DatetimeIndex(np.unique(dates), name="date")
        eras = era_dates(pd.DataFrame({"date": self.days}))
        if len(eras) and eras[-1] == self.days[-1] and self.days[-1].weekday() < _WEEK_END:
            eras = eras[:-1]  # the data end mid-week: that week is not over yet
        #: Live dates of rounds 1, 2, … that the prices reach.
        self.live_dates = eras[eras >= self.first_live]
        self._targets.clear()

    def live_date(self, number: int) -> pd.Timestamp | None:
        """Round ``number``'s live era date; None while the prices do not reach it."""
        _check_number(number)
        if number > len(self.live_dates):
            return None
        return pd.Timestamp(self.live_dates[number - 1])

    def known_through(self, now: datetime) -> pd.Timestamp | None:
        """The last market day known at tournament time ``now`` (None: none yet).

        That is the live date of the newest round due at ``now``, or the last day of the
        prices when they stop before it.
        """
        due = self.schedule.latest_due(now)
        if due == 0 or len(self.days) == 0:
            return None
        live = self.live_date(due)
        return live if live is not None else pd.Timestamp(self.days[-1])

    def known_prices(self, now: datetime) -> pd.DataFrame:
        """The price rows known at tournament time ``now`` (see :meth:`known_through`)."""
        return self._prices_through(self.known_through(now))

    def horizon_end(self, number: int) -> pd.Timestamp | None:
        """The market day round ``number``'s main target ends on (None: beyond the prices)."""
        live = self.live_date(number)
        if live is None:
            return None
        end = self._position(live) + self.config.targets.lag + self.config.targets.horizon
        return pd.Timestamp(self.days[end]) if end < len(self.days) else None

    def _position(self, day: pd.Timestamp) -> int:
        """The index in :attr:`days` of a trading day of the prices."""
        return int(self.days.searchsorted(day))

    def _prices_through(self, last: pd.Timestamp | None) -> pd.DataFrame:
        if last is None:
            return self.prices.iloc[:0]
        stop = int(np.searchsorted(self._dates, np.datetime64(last, "ns"), side="right"))
        return self.prices.iloc[:stop]

    # -- folders ---------------------------------------------------------------------------

    def public_dir(self, number: int) -> Path:
        """Where round ``number``'s public files are (once published)."""
        return self.public_root / f"round_{number:04d}"

    def maps_dir(self, number: int) -> Path:
        """Where round ``number``'s operator maps are (once published): keep them private."""
        return self.operator_dir / "rounds" / f"{number:04d}"

    def _operator_vault(self) -> Vault:
        path = self.operator_dir / "vault.json"
        if path.exists():
            return Vault.load(path)
        vault = Vault.create()
        vault.save(path)
        return vault

    # -- publishing ------------------------------------------------------------------------

    def align(self, number: int, opens_at: datetime) -> None:
        """Follow the tournament's round numbering: round ``number`` opens at ``opens_at``.

        Rounds are numbered from the competition's start, which the tournament fixes when
        it opens its first round; the tournament's calls (:meth:`publish`,
        :meth:`outcome`) tell this source where its round 1 falls, so the market known at a
        given time (:meth:`known_through`) follows the tournament's rounds. Only the
        schedule's period, window and calendar matter before then.
        """
        anchor = opens_at - (number - 1) * self.schedule.period
        if anchor != self.schedule.anchor:
            self.schedule = dataclasses.replace(self.schedule, anchor=anchor)

    def publish(self, number: int, opens_at: datetime) -> PublishedDataset | None:
        """Round ``number``'s dataset, built from the prices up to its live date.

        None while the prices do not reach that date. Rounds map to market dates by
        number (round 1: the first era on or after ``first_live``); ``opens_at`` aligns
        the schedule (:meth:`align`). A round already built is read back, not rebuilt.
        """
        _check_number(number)
        self.align(number, opens_at)
        live = self.live_date(number)
        if live is None:
            return None
        if not self._built(number):
            self._build(number, live)
        return self._read_published(number)

    def _built(self, number: int) -> bool:
        return (self.public_dir(number) / "features.json").exists() and (
            self.maps_dir(number) / "live_ids.parquet"
        ).exists()

    def _build(self, number: int, live: pd.Timestamp) -> None:
        public, maps = self.public_dir(number), self.maps_dir(number)
        public.parent.mkdir(parents=True, exist_ok=True)
        maps.parent.mkdir(parents=True, exist_ok=True)
        tmp_public = Path(tempfile.mkdtemp(dir=public.parent, prefix=f".{public.name}-"))
        tmp_maps = Path(tempfile.mkdtemp(dir=maps.parent, prefix=f".{maps.name}-"))
        try:
            prices = self._prices_through(live)
            report = build_round(
                prices,
                out_dir=tmp_public,
                operator_dir=tmp_maps,
                vault=self.vault,
                round_number=number,
                config=self.config,
                cache_dir=self.cache_dir,
            )
            self._regimes_frame(prices, report).to_parquet(tmp_public / REGIMES_FILE, index=False)
            if self.benchmark:
                bench = ridge_benchmark(tmp_public)
                bench.to_frame(BENCHMARK_COLUMN).to_parquet(tmp_maps / "benchmark.parquet")
            # Maps first, public files last: the public folder marks a complete round.
            for tmp, final in ((tmp_maps, maps), (tmp_public, public)):
                if final.exists():
                    shutil.rmtree(final)  # left by a build that crashed before completing
                tmp.rename(final)
        finally:
            for tmp in (tmp_public, tmp_maps):
                if tmp.exists():
                    shutil.rmtree(tmp)
        self.build_reports[number] = report

    def _regimes_frame(self, prices: pd.DataFrame, report: BuildReport) -> pd.DataFrame:
        """The published era → regime labels of the round's eras with known targets
        (:mod:`crowdalpha.dataset.regimes`): era labels as published, no dates."""
        tc = self.config.targets
        labels = published_eras([d for dates in report.eras.values() for d in dates])
        regimes = price_regimes(prices, lag=tc.lag, horizon=tc.horizon)
        known = sorted(d for split in ("train", "validation") for d in report.eras[split])
        known = [d for d in known if d in regimes.index]
        return pd.DataFrame(
            {
                "era": [labels[d] for d in known],
                "regime": [str(regimes[d]) for d in known],
            }
        )

    def live_regime(self, number: int) -> str | None:
        """The regime of round ``number``'s live era over its target's window (None while
        the prices do not reach the window's end), as later rounds publish it."""
        end = self.horizon_end(number)
        live = self.live_date(number)
        if end is None or live is None:
            return None
        tc = self.config.targets
        regimes = price_regimes(self._prices_through(end), lag=tc.lag, horizon=tc.horizon)
        return str(regimes[live]) if live in regimes.index else None

    def _read_published(self, number: int) -> PublishedDataset:
        folder = self.public_dir(number)
        # a round built before regimes were published has no era_regimes.parquet
        files = {
            name: (folder / name).read_bytes()
            for name in PUBLIC_FILES
            if name != REGIMES_FILE or (folder / name).exists()
        }
        digest = hashlib.sha256()
        for name, content in files.items():
            digest.update(name.encode() + b"\x1f" + hashlib.sha256(content).digest())
        ids = pq.read_table(folder / "live.parquet", columns=["id"]).column("id").to_pylist()
        return PublishedDataset(
            version=f"crowdalpha-{number:04d}-{digest.hexdigest()[:12]}",
            live_ids=[str(i) for i in ids],
            files=files,
        )

    def _ensure_built(self, number: int) -> None:
        if self._built(number):
            return
        live = self.live_date(number)
        if live is None:
            raise InvalidInputError(f"round {number} was never published: no prices reach it")
        self._build(number, live)

    def live_tickers(self, number: int) -> pd.Series:
        """Round ``number``'s live ids (index ``id``, file order) and their tickers: secret."""
        return self._live(number).tickers

    def live_features(self, number: int) -> pd.DataFrame:
        """Round ``number``'s published live features (int8), indexed by id."""
        return self._live(number).features

    def benchmark_predictions(self, number: int) -> pd.DataFrame | None:
        """The benchmark model's live predictions (None when benchmarks are off)."""
        return self._live(number).benchmarks

    def _live(self, number: int) -> _LiveRows:
        """A built round's live rows as the outcome needs them, read once per round."""
        cached = self._live_rows.get(number)
        if cached is not None:
            return cached
        self._ensure_built(number)
        maps, public = self.maps_dir(number), self.public_dir(number)
        frame = pd.read_parquet(maps / "live_ids.parquet", columns=["id", "ticker"])
        tickers = pd.Series(
            frame["ticker"].astype(str).to_numpy(),
            index=pd.Index(frame["id"].astype(str), name="id"),
            name="ticker",
        )
        path = public / "live.parquet"
        names = [n for n in pq.read_schema(path).names if n.startswith("feature_")]
        table = pq.read_table(path, columns=["id", *names])
        features = pd.DataFrame(
            {n: table.column(n).to_numpy() for n in names},
            index=pd.Index([str(i) for i in table.column("id").to_pylist()], name="id"),
        )
        benchmarks = None
        if self.benchmark:
            bench_path = maps / "benchmark.parquet"
            if not bench_path.exists():  # built with benchmarks off: fit now, on public files
                bench = ridge_benchmark(public)
                bench.to_frame(BENCHMARK_COLUMN).to_parquet(bench_path)
            benchmarks = pd.read_parquet(bench_path)
            benchmarks.index = pd.Index(benchmarks.index.astype(str), name="id")
        rows = _LiveRows(tickers=tickers, features=features, benchmarks=benchmarks)
        while len(self._live_rows) >= _LIVE_CACHE_ROUNDS:
            del self._live_rows[next(iter(self._live_rows))]
        self._live_rows[number] = rows
        return rows

    # -- outcomes --------------------------------------------------------------------------

    def outcome(
        self, number: int, live_ids: Sequence[str], *, closes_at: datetime, now: datetime
    ) -> Outcome | None:
        """Round ``number``'s targets as known at ``now``; None while too little is known.

        Final once the market known at ``now`` covers the live era's target horizon;
        provisional (over the shorter horizon known) from ``provisional_min_days`` on.
        ``closes_at`` aligns the schedule (:meth:`align`); what is known follows from ``now``.
        """
        _check_number(number)
        self.align(number, closes_at - self.schedule.window)
        live = self.live_date(number)
        known = self.known_through(now)
        if live is None or known is None:
            return None
        tc = self.config.targets
        position = self._position(live)
        last = int(self.days.searchsorted(known, side="right")) - 1
        available = last - position - tc.lag
        if available >= tc.horizon:
            horizon, final = tc.horizon, True
        elif self.provisional_min_days is not None and available >= self.provisional_min_days:
            horizon, final = available, False
        else:
            return None
        by_ticker = self.live_targets(number, horizon)
        tickers = self.live_tickers(number)
        ids = pd.Index([str(i) for i in live_ids], name="id")
        targets = pd.Series(
            by_ticker.reindex(tickers.reindex(ids).to_numpy()).to_numpy(dtype=np.float64),
            index=ids,
            name="target",
        )
        benchmarks = self.benchmark_predictions(number)
        return Outcome(
            targets=targets,
            final=final,
            features=self.live_features(number).reindex(ids),
            benchmarks=benchmarks.reindex(ids) if benchmarks is not None else None,
            regime=self.live_regime(number) if final else None,
        )

    def live_targets(self, number: int, horizon: int | None = None) -> pd.Series:
        """The binned main target of round ``number``'s live stocks, indexed by ticker.

        ``horizon`` (trading days; default the configured one) must lie within the prices.
        Computed from the prices up to the target's last day only, exactly as a build
        whose prices end that day computes the era (see the module docstring).
        """
        tc = self.config.targets
        h = tc.horizon if horizon is None else horizon
        key = (number, h)
        cached = self._targets.get(key)
        if cached is not None:
            return cached
        live = self.live_date(number)
        if live is None:
            raise InvalidInputError(f"the prices do not reach round {number}'s live date")
        position = self._position(live)
        end = position + tc.lag + h
        if h < 1 or end >= len(self.days):
            raise InvalidInputError(
                f"round {number}'s {h}-day target ends beyond the prices ({len(self.days)} days)"
            )
        window = self._era_window(position, end)
        features = FeatureEngine(window, self.config.features)
        config = dataclasses.replace(tc, horizon=h, aux_horizons=(), aux_kinds=())
        values = TargetEngine(window, config, features=features).era(live)["target"]
        out = pd.Series(
            values.to_numpy(dtype=np.float64),
            index=pd.Index(values.index.astype(str), name="ticker"),
            name="target",
        )
        self._targets[key] = out
        return out

    def _era_window(self, position: int, end: int) -> pd.DataFrame:
        """The prices a build whose data end on day ``end`` computes era ``position`` from.

        Mirrors :func:`~crowdalpha.dataset.build.build_round`'s time cells: cells of
        ``block_days`` anchored at the first day, a window from the history the features
        look back on to the future the targets look ahead to (here cut at ``end``), and the
        tickers that trade in the cell — so the engines reproduce the build's values.
        """
        cfg = self.config
        history, future = era_reach(cfg)
        n = end + 1
        if cfg.block_days is None:
            cell_start, cell_end = 0, n - 1
        else:
            cell_start = position // cfg.block_days * cfg.block_days
            cell_end = cell_start + cfg.block_days - 1
        lo = max(0, cell_start - history)
        hi = min(n - 1, cell_end + future)
        start = int(np.searchsorted(self._dates, self.days[lo].to_datetime64(), side="left"))
        stop = int(np.searchsorted(self._dates, self.days[hi].to_datetime64(), side="right"))
        # the rows of days lo … hi, found by bisection; cell_prices keeps the cell's tickers
        return cell_prices(self.prices.iloc[start:stop], self.days, lo, min(cell_end, n - 1), hi)


def _check_number(number: int) -> None:
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidParameterError(f"round numbers start at 1, not {number!r}")
