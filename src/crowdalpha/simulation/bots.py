"""Bot participants: models of chosen skill and habits, acting through the tournament's API.

A bot is one account with one or more models. Each round it sees what a participant sees —
the round's published live features (``live.parquet``, read from the tournament's file
store) — makes predictions, submits them with :meth:`Tournament.submit` and changes its
stakes with :meth:`Tournament.increase_stake` / :meth:`Tournament.decrease_stake`, the same
operations the server and the participant CLI call.

**Where skill comes from.** On :class:`~crowdalpha.tournament.SyntheticRoundData` a bot is
*given* its skill through the data source's hidden signal (``skill_signal(number)``, what a
perfect model would predict): a skilled model predicts ``signal + noise × N(0, 1)`` on the
standardized signal, so the noise level is the skill knob (noise 5 ≈ CORR 0.06 on 500 rows,
12 ≈ 0.016). Training a real model (e.g. LightGBM on ``train``) in every simulated round
would make the simulator minutes slower for the same economics, so no bot trains.

The kinds (``BOT_KINDS``):

- ``good`` — low noise (CORR ≈ 0.06); ``mediocre`` — high noise (CORR ≈ 0.015);
- ``overfit`` — memorized its training targets: excellent on validation eras, pure noise
  on live rounds; ``random`` — uniform random predictions;
- ``copy`` — submits another bot's predictions unchanged (the first ``good`` bot's);
- ``anti`` — the signal upside down (CORR ≈ −0.06);
- ``trained`` — no given skill: a ridge or LightGBM model fitted on each round's published
  train data (:mod:`crowdalpha.simulation.trained`; pipeline sources only);
- ``diversified`` — one account, three independent models of good-to-mediocre skill,
  splitting its NMR across them and respecting the account's stake limit, as the article
  recommends ("diversify your models", "set stake limits as a percentage of holdings").

Single-model bots alternate between small (10 NMR) and large (1,000 NMR) stakers and
between the ``fixed`` staking policy (keep half the grant staked: top up losses from the
wallet, take gains off) and ``reinvest`` (stake everything, let payouts compound). Every
policy keeps under the account's ``max_stake_share`` when one is set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from crowdalpha.errors import InvalidParameterError, StakeLimitError
from crowdalpha.ledger import nmr
from crowdalpha.tournament import Tournament

__all__ = [
    "BOT_KINDS",
    "DEFAULT_ROSTER",
    "MARKET_NOISE_SCALE",
    "STAKING_POLICIES",
    "AntiModel",
    "Bot",
    "CopyModel",
    "OverfitModel",
    "Predictor",
    "RandomModel",
    "RoundView",
    "SignalModel",
    "make_bots",
    "parse_roster",
    "predictions_csv",
]

BOT_KINDS = ("good", "mediocre", "overfit", "random", "copy", "anti", "diversified", "trained")
STAKING_POLICIES = ("fixed", "reinvest", "diversified")
#: 40 bots (52 models): the roster ``crowdalpha simulate`` runs unless ``--bots`` says.
DEFAULT_ROSTER: tuple[tuple[str, int], ...] = (
    ("good", 6),
    ("mediocre", 8),
    ("overfit", 6),
    ("random", 6),
    ("copy", 4),
    ("anti", 4),
    ("diversified", 6),
)
GOOD_NOISE = 5.0
MEDIOCRE_NOISE = 12.0
DIVERSIFIED_NOISES = (5.0, 8.0, 12.0)
#: The noise scale (``make_bots(noise_scale=…)``) for a simulated market's alpha
#: (:class:`~crowdalpha.tournament.simulated.SimulatedRoundData`), a weaker signal of its
#: targets than the synthetic source's: good ≈ CORR 0.08, mediocre ≈ 0.04 on its defaults.
MARKET_NOISE_SCALE = 0.2
SMALL_GRANT = nmr(10)
LARGE_GRANT = nmr(1000)


@dataclass(frozen=True)
class RoundView:
    """What a bot sees of one era: the published live features (indexed by id, in the
    file's order) and, on the synthetic source, the hidden signal (its skill knob).

    ``targets`` is set only for validation eras, where models are fitted and checked;
    ``public`` is the folder of the round's published files (train, validation, live) on
    the pipeline's sources, where trained models (:mod:`crowdalpha.simulation.trained`)
    learn.
    """

    number: int
    features: pd.DataFrame
    signal: pd.Series | None = None
    targets: pd.Series | None = None
    public: Path | None = None

    @property
    def ids(self) -> pd.Index:
        return self.features.index


def rng_for(seed: int, *parts: object) -> np.random.Generator:
    """A generator that depends only on the seed and the parts (not on call order)."""
    text = ":".join(str(p) for p in (seed, *parts))
    digest = hashlib.sha256(text.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _standard(values: pd.Series) -> np.ndarray:
    x: np.ndarray = values.to_numpy(dtype=np.float64)
    std = float(x.std())
    out: np.ndarray = (x - x.mean()) / (std if std > 0 else 1.0)
    return out


def _ranks(values: np.ndarray, index: pd.Index) -> pd.Series:
    """Predictions as ranks in (0, 1), as participants submit them."""
    ranks = (pd.Series(values).rank(method="first").to_numpy() - 0.5) / len(values)
    return pd.Series(ranks, index=index, name="prediction")


def _signal(view: RoundView) -> np.ndarray:
    if view.signal is None:
        raise InvalidParameterError(
            "skilled bots need the synthetic data source's signal (their skill knob)"
        )
    return _standard(view.signal.reindex(view.ids))


class Predictor(Protocol):
    """A model: predictions for a view's ids (``made``: other models' predictions so far)."""

    @property
    def kind(self) -> str: ...

    def predict(
        self, view: RoundView, rng: np.random.Generator, made: Mapping[str, pd.Series]
    ) -> pd.Series: ...


@dataclass(frozen=True)
class SignalModel:
    """The hidden signal plus noise of standard deviation ``noise`` (the skill knob)."""

    noise: float
    kind: str = "good"

    def predict(
        self, view: RoundView, rng: np.random.Generator, made: Mapping[str, pd.Series]
    ) -> pd.Series:
        raw = _signal(view) + self.noise * rng.normal(size=len(view.ids))
        return _ranks(raw, view.ids)


@dataclass(frozen=True)
class AntiModel:
    """Anti-skilled: the signal upside down, plus noise."""

    noise: float = GOOD_NOISE
    kind: str = "anti"

    def predict(
        self, view: RoundView, rng: np.random.Generator, made: Mapping[str, pd.Series]
    ) -> pd.Series:
        raw = -_signal(view) + self.noise * rng.normal(size=len(view.ids))
        return _ranks(raw, view.ids)


@dataclass(frozen=True)
class OverfitModel:
    """Heavily overfit: it memorized the targets it was fitted on, so on validation eras
    (where it sees them) it looks excellent; on live rounds it has nothing but noise."""

    memory_noise: float = 2.0
    kind: str = "overfit"

    def predict(
        self, view: RoundView, rng: np.random.Generator, made: Mapping[str, pd.Series]
    ) -> pd.Series:
        noise = rng.normal(size=len(view.ids))
        if view.targets is None:
            return _ranks(noise, view.ids)
        fitted = _standard(view.targets.reindex(view.ids)) + self.memory_noise * noise
        return _ranks(fitted, view.ids)


@dataclass(frozen=True)
class RandomModel:
    """Uniform random predictions."""

    kind: str = "random"

    def predict(
        self, view: RoundView, rng: np.random.Generator, made: Mapping[str, pd.Series]
    ) -> pd.Series:
        return _ranks(rng.random(size=len(view.ids)), view.ids)


@dataclass(frozen=True)
class CopyModel:
    """Submits another model's predictions unchanged (that model predicts first)."""

    source: str
    kind: str = "copy"

    def predict(
        self, view: RoundView, rng: np.random.Generator, made: Mapping[str, pd.Series]
    ) -> pd.Series:
        if self.source not in made:
            raise InvalidParameterError(f"the copy bot's source {self.source!r} has not predicted")
        return made[self.source].copy()


def predictions_csv(predictions: pd.Series) -> bytes:
    """A submission file (``id,prediction``) for the predictions."""
    rows = map("{},{!r}".format, predictions.index, predictions.to_numpy(dtype=float).tolist())
    return ("id,prediction\n" + "\n".join(rows) + "\n").encode()


@dataclass
class Bot:
    """One participant: an account, its models and its staking habits.

    ``staking``: ``fixed`` (keep ``fixed_stake`` staked), ``reinvest`` (stake everything)
    or ``diversified`` (everything, split evenly over the models). With a stake-share
    limit, each model's stake stays under ``limit × holdings`` (wallet + stakes + pending).
    """

    name: str
    kind: str
    size: str
    staking: str
    grant: int
    models: list[tuple[str, Predictor]]
    seed: int = 0
    account_id: int = 0
    model_ids: dict[str, int] = field(default_factory=dict)
    refused: int = 0

    @property
    def fixed_stake(self) -> int:
        return self.grant // 2

    def join(self, tournament: Tournament, *, share_limit: str | None = None) -> None:
        """Sign up, receive the grant from the treasury, create the models, set limits."""
        account = tournament.create_account(self.name, f"{self.name}@bots.invalid")
        self.account_id = account.id
        tournament.grant(account.id, self.grant, key=f"grant:{self.name}")
        for model_name, _ in self.models:
            self.model_ids[model_name] = tournament.create_model(account.id, model_name).id
        if share_limit is not None:
            tournament.set_limits(account.id, max_stake_share=share_limit)

    def predict(
        self, view: RoundView, made: dict[str, pd.Series], *, live: bool = True
    ) -> dict[str, pd.Series]:
        """Every model's predictions for the view (added to ``made`` as they are made)."""
        out: dict[str, pd.Series] = {}
        phase = "live" if live else "validation"
        for model_name, predictor in self.models:
            rng = rng_for(self.seed, model_name, phase, view.number)
            out[model_name] = predictor.predict(view, rng, made)
            made[model_name] = out[model_name]
        return out

    def submit(
        self, tournament: Tournament, number: int, predictions: dict[str, pd.Series]
    ) -> None:
        for model_name, values in predictions.items():
            tournament.submit(
                self.model_ids[model_name],
                predictions_csv(values),
                filename=f"{model_name}.csv",
                round_number=number,
            )

    def holdings(self, tournament: Tournament) -> tuple[int, dict[int, int], int]:
        """(wallet, stake per model id, all holdings: wallet + stakes + pending)."""
        wallet = tournament.wallet_balance(self.account_id)
        stakes: dict[int, int] = {}
        total = wallet
        for model_id in self.model_ids.values():
            info = tournament.stake_info(model_id)
            stakes[model_id] = info.stake
            total += info.stake + info.pending
        return wallet, stakes, total

    def rebalance(self, tournament: Tournament, share_ppm: int | None) -> None:
        """Move stakes toward the policy's targets, within the wallet and the limit."""
        wallet, stakes, holdings = self.holdings(tournament)
        cap = holdings if share_ppm is None else holdings * share_ppm // 1_000_000
        ids = list(self.model_ids.values())
        if self.staking == "fixed":
            targets = {ids[0]: self.fixed_stake}
        elif self.staking == "reinvest":
            targets = {ids[0]: stakes[ids[0]] + wallet}
        else:
            available = sum(stakes.values()) + wallet
            targets = {m: available // len(ids) for m in ids}
        targets = {m: min(v, cap) for m, v in targets.items()}
        for model_id, target in targets.items():  # decreases first: they never need cash
            if target < stakes[model_id]:
                tournament.decrease_stake(model_id, stakes[model_id] - target)
        for model_id, target in targets.items():
            amount = min(target - stakes[model_id], wallet)
            if amount > 0:
                try:
                    tournament.increase_stake(model_id, amount)
                except StakeLimitError:
                    self.refused += 1
                    continue
                wallet -= amount


def parse_roster(text: str, *, kinds: Sequence[str] = BOT_KINDS) -> tuple[tuple[str, int], ...]:
    """``"good=6,random=4"`` → ``(("good", 6), ("random", 4))``; ``kinds``: those allowed
    (Signals bots' for a Signals roster)."""
    roster: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, count = part.partition("=")
        kind = kind.strip().lower()
        if kind not in kinds:
            raise InvalidParameterError(
                f"unknown bot kind {kind!r}; choose among {', '.join(kinds)}"
            )
        try:
            number = int(count) if sep else 1
        except ValueError:
            raise InvalidParameterError(f"{part!r}: the count must be an integer") from None
        if number < 0:
            raise InvalidParameterError(f"{part!r}: the count must not be negative")
        roster[kind] = roster.get(kind, 0) + number
    if not any(roster.values()):
        raise InvalidParameterError("the roster has no bots")
    return tuple((k, n) for k, n in roster.items() if n)


def _predictor(kind: str, copy_source: str | None, noise_scale: float, i: int) -> Predictor:
    if kind == "trained":
        from crowdalpha.simulation.trained import TRAINED_MODELS

        return TRAINED_MODELS[i % len(TRAINED_MODELS)]
    if kind == "good":
        return SignalModel(GOOD_NOISE * noise_scale, kind="good")
    if kind == "mediocre":
        return SignalModel(MEDIOCRE_NOISE * noise_scale, kind="mediocre")
    if kind == "overfit":
        return OverfitModel()
    if kind == "random":
        return RandomModel()
    if kind == "anti":
        return AntiModel(GOOD_NOISE * noise_scale)
    if kind == "copy":
        if copy_source is None:
            raise InvalidParameterError("copy bots need another bot to copy")
        return CopyModel(copy_source)
    raise InvalidParameterError(f"unknown bot kind {kind!r}")


def make_bots(
    roster: Sequence[tuple[str, int]], *, seed: int = 0, noise_scale: float = 1.0
) -> list[Bot]:
    """The bots of a roster, in an order where every copied model predicts first.

    ``noise_scale`` multiplies the skilled kinds' noise: a signal weaker than the synthetic
    source's (such as a simulated market's alpha) needs less noise for the same skill."""
    if not noise_scale > 0:
        raise InvalidParameterError(f"noise_scale must be positive, not {noise_scale!r}")
    order = sorted(roster, key=lambda kv: kv[0] == "copy")
    bots: list[Bot] = []
    copy_source: str | None = None
    for kind, count in order:
        for i in range(count):
            name = f"{kind}_{i + 1:02d}"
            if kind == "diversified":
                models: list[tuple[str, Predictor]] = [
                    (f"{name}_m{j + 1}", SignalModel(noise * noise_scale, kind="diversified"))
                    for j, noise in enumerate(DIVERSIFIED_NOISES)
                ]
                bots.append(Bot(name, kind, "large", "diversified", LARGE_GRANT, models, seed))
                continue
            if kind == "copy" and copy_source is None:
                copy_source = next((b.models[0][0] for b in bots if b.kind == "good"), None)
                copy_source = copy_source or next((b.models[0][0] for b in bots), None)
            size = "small" if i % 2 == 0 else "large"
            staking = "fixed" if (i // 2) % 2 == 0 else "reinvest"
            grant = SMALL_GRANT if size == "small" else LARGE_GRANT
            predictor = _predictor(kind, copy_source, noise_scale, i)
            bots.append(Bot(name, kind, size, staking, grant, [(name, predictor)], seed))
    return bots
