"""Signals rounds built from the market the Classic pipeline already reads.

:class:`SignalsRoundData` is Signals' :class:`~crowdalpha.tournament.data.RoundData`
source. It reads the prices, the vault and the market clock of a
:class:`~crowdalpha.tournament.pipeline.PipelineRoundData` (the operator's Classic source),
so both competitions see one market: a Signals round opening at a given time takes as live
date the live date of the Classic round due then (the last trading day of the week the
market has reached), and its outcome is known as far as the market is known at ``now``.

**Files.** Each round is built once with
:func:`~crowdalpha.dataset.signals.build_signals_round` into
``workdir/public/round_NNNN/`` (the public ``signals/…`` tree) and
``workdir/operator/rounds/NNNN/`` (the id maps, the live neutralizers and sample
weights), in temporary folders renamed into place — the public one last — so a crash leaves
nothing that looks complete; publishing again reads the same bytes back. Published file
names are the paths numerapi's ``SignalsAPI`` uses: ``signals/v2.0/live.parquet``,
``signals/v2.0/train.parquet``, ``signals/v2.0/validation.parquet``, the example
predictions, ``signals/v1.0/live.parquet`` (the ids ``ticker_universe()`` reads) and the
``signals/v2.1`` neutralizer and sample-weight files.

**Live ids and universe.** A round's live ids are its universe's ``numerai_ticker`` values
(sorted); its universe frame has a column per id type (``numerai_ticker`` first), which
the submission rules map submitted ids through.

**Outcomes.** :func:`~crowdalpha.dataset.signals.signals_outcome` over the prices known at
``now``: provisional from ``provisional_min_days`` trading days of returns, final once the
main target's horizon is known. The outcome's ``targets`` is the main target
(``target``, factor- and feature-neutral over 20 days); ``features`` the public numeric
features (FNC); ``extras`` carry every target (``targets``), the neutralizers N
(``neutralizers``) and the sample weights v (``sample_weights``) for Alpha and MPC.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow.parquet as pq

from crowdalpha.dataset.signals import (
    ID_COLUMNS,
    LIVE_IDS_FILE,
    NUMERIC_FEATURES,
    PUBLIC_FILES,
    SPLIT_FILES,
    SignalsConfig,
    build_signals_round,
    signals_known_days,
    signals_outcome,
)
from crowdalpha.errors import InvalidInputError, InvalidParameterError
from crowdalpha.tournament.data import Outcome, PublishedDataset
from crowdalpha.tournament.pipeline import PipelineRoundData

__all__ = ["MarketSource", "SignalsRoundData", "has_market", "market_pipeline"]


class MarketSource(Protocol):
    """A source whose market is a pipeline made later (the simulated source's, made when
    its first round fixes the market)."""

    @property
    def pipeline(self) -> PipelineRoundData: ...


def has_market(source: object) -> bool:
    """Whether a Classic source reads a market Signals can be built from: the pipeline, or
    a source with one (the simulated source); not the synthetic source."""
    return isinstance(source, PipelineRoundData) or hasattr(type(source), "pipeline")


def market_pipeline(source: object) -> PipelineRoundData | None:
    """The pipeline a Classic source reads its market through, if it has one yet (the
    simulated source's exists once its first round has fixed the market)."""
    if isinstance(source, PipelineRoundData):
        return source
    if not has_market(source):
        return None
    try:
        found = source.pipeline  # type: ignore[attr-defined]
    except InvalidParameterError:
        return None  # the market is not fixed yet
    return found if isinstance(found, PipelineRoundData) else None


_META = "round.json"
#: Rounds whose live neutralizers and sample weights stay in memory (the stake gate reads
#: a round and the model's last five at every close).
_CACHED_ROUNDS = 8


class SignalsRoundData:
    """A :class:`~crowdalpha.tournament.data.RoundData` source of Signals rounds over
    ``market``'s prices (see the module docstring).

    ``config`` shapes every round (universe rules, horizons, validation eras);
    ``provisional_min_days`` (None: never) is the shortest known horizon, in trading days,
    that gives a provisional outcome.
    """

    def __init__(
        self,
        market: PipelineRoundData | MarketSource,
        *,
        workdir: str | Path,
        config: SignalsConfig | None = None,
        provisional_min_days: int | None = 5,
    ) -> None:
        self._market = market
        self.config = config if config is not None else SignalsConfig()
        if not isinstance(self.config, SignalsConfig):
            raise InvalidParameterError("config must be a SignalsConfig")
        if provisional_min_days is not None and (
            isinstance(provisional_min_days, bool)
            or not isinstance(provisional_min_days, int)
            or provisional_min_days < 1
        ):
            raise InvalidParameterError(
                f"provisional_min_days must be a positive int or None, not {provisional_min_days!r}"
            )
        self.provisional_min_days = provisional_min_days
        self.workdir = Path(workdir)
        self.public_root = self.workdir / "public"
        self.operator_root = self.workdir / "operator" / "rounds"
        self._outcomes: dict[int, tuple[int, Outcome]] = {}  # number → (known days, outcome)
        self._features: dict[int, pd.DataFrame] = {}
        self._neutral: dict[int, tuple[pd.DataFrame, pd.Series]] = {}

    @property
    def market(self) -> PipelineRoundData:
        """The Classic pipeline whose prices, vault and clock this source reads."""
        if isinstance(self._market, PipelineRoundData):
            return self._market
        return self._market.pipeline

    # -- folders ------------------------------------------------------------------------------

    def public_dir(self, number: int) -> Path:
        return self.public_root / f"round_{number:04d}"

    def operator_dir(self, number: int) -> Path:
        """Round ``number``'s operator files (id maps, live N and v): keep them private."""
        return self.operator_root / f"{number:04d}"

    # -- dates ---------------------------------------------------------------------------------

    def live_date(self, number: int) -> pd.Timestamp | None:
        """The live date round ``number`` was built for (None: not built yet)."""
        path = self.operator_dir(number) / _META
        if not path.exists():
            return None
        return pd.Timestamp(json.loads(path.read_text())["live_date"])

    def _market_date(self, at: datetime) -> pd.Timestamp | None:
        """The live date of the Classic round due at ``at`` (None: the prices stop before)."""
        due = self.market.schedule.latest_due(at)
        return None if due < 1 else self.market.live_date(due)

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, number: int, opens_at: datetime) -> PublishedDataset | None:
        """Round ``number``'s files, built from the prices up to the live date of the
        market at ``opens_at``; None while the prices do not reach it."""
        _check_number(number)
        if not (self.public_dir(number) / "signals").exists():
            live = self._market_date(opens_at)
            if live is None:
                return None
            self._build(number, live)
        return self._read(number)

    def _build(self, number: int, live: pd.Timestamp) -> None:
        public, operator = self.public_dir(number), self.operator_dir(number)
        public.parent.mkdir(parents=True, exist_ok=True)
        operator.parent.mkdir(parents=True, exist_ok=True)
        tmp_public = Path(tempfile.mkdtemp(dir=public.parent, prefix=f".{public.name}-"))
        tmp_operator = Path(tempfile.mkdtemp(dir=operator.parent, prefix=f".{operator.name}-"))
        try:
            build_signals_round(
                self.market.prices,
                live_date=live,
                out_dir=tmp_public,
                operator_dir=tmp_operator,
                vault=self.market.vault,
                config=self.config,
            )
            (tmp_operator / _META).write_text(json.dumps({"live_date": f"{live:%Y-%m-%d}"}))
            # Operator files first, public files last: the public folder marks a complete round.
            for tmp, final in ((tmp_operator, operator), (tmp_public, public)):
                if final.exists():
                    shutil.rmtree(final)  # left by a build that crashed before completing
                tmp.rename(final)
        finally:
            for tmp in (tmp_public, tmp_operator):
                if tmp.exists():
                    shutil.rmtree(tmp)

    def _read(self, number: int) -> PublishedDataset:
        folder = self.public_dir(number)
        files = {
            name: (folder / name).read_bytes() for name in PUBLIC_FILES if (folder / name).exists()
        }
        digest = hashlib.sha256()
        for name, content in files.items():
            digest.update(name.encode() + b"\x1f" + hashlib.sha256(content).digest())
        universe = self.universe(number)
        return PublishedDataset(
            version=f"signals-{number:04d}-{digest.hexdigest()[:12]}",
            live_ids=list(universe["numerai_ticker"]),
            files=files,
            universe=universe,
        )

    def universe(self, number: int) -> pd.DataFrame:
        """Round ``number``'s live universe: a row per stock (sorted by ``numerai_ticker``),
        a column per id type, ``numerai_ticker`` first."""
        path = self.public_dir(number) / LIVE_IDS_FILE
        if not path.exists():
            raise InvalidInputError(f"Signals round {number} was never published")
        frame: pd.DataFrame = pq.read_table(path, columns=list(ID_COLUMNS)).to_pandas()
        columns = ["numerai_ticker", *(c for c in ID_COLUMNS if c != "numerai_ticker")]
        out: pd.DataFrame = frame[columns].astype(str)
        return out.sort_values("numerai_ticker", kind="stable").reset_index(drop=True)

    def validation_universe(self, number: int) -> pd.DataFrame:
        """Every stock of round ``number``'s validation dates, a column per id type
        (``numerai_ticker`` first): what a diagnostics upload's ids are mapped through."""
        frame = pd.read_parquet(self.operator_dir(number) / "universe.parquet")
        live = self.live_date(number)
        if live is not None:
            frame = frame[pd.to_datetime(frame["date"]) != live]
        columns = ["numerai_ticker", *(c for c in ID_COLUMNS if c != "numerai_ticker")]
        out: pd.DataFrame = frame[columns].astype(str)
        out = out.drop_duplicates("numerai_ticker", keep="last")
        return out.sort_values("numerai_ticker", kind="stable").reset_index(drop=True)

    def live_features(self, number: int) -> pd.DataFrame:
        """The published numeric live features of round ``number``, by ``numerai_ticker``."""
        cached = self._features.get(number)
        if cached is None:
            path = self.public_dir(number) / SPLIT_FILES["live"]
            table = pq.read_table(path, columns=["numerai_ticker", *NUMERIC_FEATURES])
            cached = pd.DataFrame(table.to_pandas().set_index("numerai_ticker"), dtype="float64")
            cached.index = cached.index.astype(str)
            self._features[number] = cached
        return cached

    # -- outcomes ------------------------------------------------------------------------------

    def outcome(
        self, number: int, live_ids: Sequence[str], *, closes_at: datetime, now: datetime
    ) -> Outcome | None:
        """Round ``number``'s targets as the market known at ``now`` has them; None while
        too little is known (see the module docstring)."""
        _check_number(number)
        live = self.live_date(number)
        known = self.market.known_through(now)
        if live is None or known is None or known <= live:
            return None
        prices = self.market.known_prices(now)
        known_days = signals_known_days(prices, live, self.config)
        cached = self._outcomes.get(number)
        if cached is not None and cached[0] == known_days:
            return cached[1]
        min_days = self.provisional_min_days or self.config.main_horizon
        result = signals_outcome(
            prices, live, vault=self.market.vault, config=self.config, min_days=min_days
        )
        if result is None:
            return None
        ids = pd.Index([str(i) for i in live_ids], name="numerai_ticker")
        targets = result.targets.reindex(ids)
        outcome = Outcome(
            targets=targets["target"].rename("target"),
            final=result.final,
            features=self.live_features(number).reindex(ids),
            extras={
                "targets": targets,
                "neutralizers": result.neutralizers.reindex(ids).dropna(),
                "sample_weights": result.sample_weights.reindex(ids).dropna(),
            },
        )
        self._outcomes[number] = (known_days, outcome)
        while len(self._outcomes) > _CACHED_ROUNDS:
            del self._outcomes[next(iter(self._outcomes))]
        return outcome

    def live_neutral_inputs(self, number: int) -> tuple[pd.DataFrame, pd.Series]:
        """Round ``number``'s live neutralizers N and sample weights v (the operator's files,
        by ``numerai_ticker``): what the stake gate's turnover needs at the close."""
        cached = self._neutral.get(number)
        if cached is None:
            folder = self.operator_dir(number)
            neutralizers = pd.read_parquet(folder / "live_neutralizer.parquet")
            weights = pd.read_parquet(folder / "live_sample_weights.parquet")["sample_weights"]
            cached = (neutralizers, weights)
            while len(self._neutral) >= _CACHED_ROUNDS:
                del self._neutral[next(iter(self._neutral))]
            self._neutral[number] = cached
        return cached


def _check_number(number: int) -> None:
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidParameterError(f"round numbers start at 1, not {number!r}")
