"""Obfuscation: published rows reveal neither which stock they are nor what a feature means.

- **Bins.** Every feature is ranked within its era and cut into five equal-count bins,
  stored as int8 in {0, 1, 2, 3, 4}; a value missing (or a feature constant) for the era is
  2, the middle bin — as in Numerai's data.
- **Names.** Features get opaque names, ``feature_`` plus a keyed hash of the real name.
- **Ids.** A row's id is a keyed hash of (era, ticker) — of (round, era, ticker) for live
  rows — so the same stock has a different id in every era and in every round's live data,
  and nothing published links two rows without the key.
- **Order.** Rows are shuffled within each era by a keyed permutation; eras are numbered
  from 1, not dated.
- **Noise (mode ``"noisy"``).** The bins above can be recomputed by anyone who holds the
  public prices and this open-source pipeline, and then matched to the published rows
  (see :mod:`crowdalpha.dataset.audit`). In the ``"noisy"`` mode each feature's
  cross-sectional ranks get keyed Gaussian noise before binning — drawn from the key, the
  era's date and the feature's name, so the operator can reproduce it and nobody else can.
- **Composites (mode ``"composite"``).** Instead of every feature, a round publishes a few
  operator-chosen linear mixes of all of them (a :class:`Mix`, e.g. the ridge direction
  that :func:`fit_mix` learns from history): each feature is ranked within its era and
  centred (missing → 0), the mixes are taken and z-scored within the era, keyed Gaussian
  noise of standard deviation ``noise`` is added, and the result is binned as above. Rows
  then carry little more than the predictive signal; the keyed noise is what keeps even an
  attacker who knows the mix near chance (measured in ``docs/privacy.md``).

The :class:`Vault` holds the key; with it the operator maps ids back to stocks (to score
and trade) — without it the files do not allow the mapping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.errors import InvalidInputError, InvalidParameterError
from crowdalpha.scoring.kernels import Segments, sorted_tie_kept_rank, tie_kept_rank

if TYPE_CHECKING:
    from crowdalpha.dataset.features import FeatureConfig
    from crowdalpha.dataset.targets import TargetConfig

__all__ = [
    "DEFAULT_COMPOSITE_NOISE",
    "DEFAULT_NOISE",
    "MISSING_BIN",
    "MODES",
    "N_BINS",
    "Mix",
    "ObfuscationMode",
    "Vault",
    "centred_ranks",
    "check_mix",
    "check_mode",
    "fit_mix",
    "noisy_bins",
    "published_eras",
    "quantile_bins",
]

N_BINS = 5
#: The bin a value missing for its era gets (the middle one).
MISSING_BIN = 2
_KEY_BYTES = 32

#: How published feature values are obfuscated (ids, names and order are always keyed).
ObfuscationMode = Literal["standard", "noisy", "composite"]
MODES: tuple[ObfuscationMode, ...] = ("standard", "noisy", "composite")
#: The default noise of the ``"noisy"`` mode: standard deviation added to ranks in (0, 1).
DEFAULT_NOISE = 1.0
#: The default noise of the ``"composite"`` mode, in standard deviations of a composite.
DEFAULT_COMPOSITE_NOISE = 0.5


def check_mode(mode: object, noise: object = None) -> tuple[ObfuscationMode, float]:
    """Validate an obfuscation mode and its noise; returns ``(mode, noise)`` with defaults."""
    if mode not in MODES:
        raise InvalidParameterError(
            f"mode must be one of {MODES}, not {mode!r}", details={"field": "mode"}
        )
    checked: ObfuscationMode = (
        "noisy" if mode == "noisy" else "composite" if mode == "composite" else "standard"
    )
    if noise is None:
        defaults = {"noisy": DEFAULT_NOISE, "composite": DEFAULT_COMPOSITE_NOISE}
        return checked, defaults.get(checked, 0.0)
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0:
        raise InvalidParameterError(
            f"noise must be a number ≥ 0, not {noise!r}", details={"field": "noise"}
        )
    if checked == "standard" and noise != 0:
        raise InvalidParameterError(
            "noise needs mode='noisy' or 'composite' (the standard mode adds none)",
            details={"field": "noise"},
        )
    return checked, float(noise)


def check_mix(mode: object, mix: object) -> None:
    """The ``"composite"`` mode needs a :class:`Mix`; the other modes take none."""
    if mode == "composite" and not isinstance(mix, Mix):
        raise InvalidParameterError(
            "mode='composite' needs a Mix (see fit_mix)", details={"field": "mix"}
        )
    if mode != "composite" and mix is not None:
        raise InvalidParameterError("a mix needs mode='composite'", details={"field": "mix"})


def quantile_bins(values: npt.NDArray[np.floating], eras: Segments | None = None) -> np.ndarray:
    """Five equal-count bins per feature and era, as int8 in 0..4 (missing → 2).

    ``values`` is ``(features, rows)`` with rows grouped by era as ``eras`` says (one era if
    None). Ties share a bin (bins follow tie-kept ranks), so a constant feature is all 2.
    """
    x = np.ascontiguousarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInputError("values must be a (features, rows) matrix")
    if x.shape[1] == 0:
        return np.empty(x.shape, dtype=np.int8)
    if eras is not None and eras.n_eras > 1:
        return _bins(tie_kept_rank(x, eras))
    return _one_era_bins(x)


def _bins(ranks: np.ndarray) -> np.ndarray:
    """The bin of each tie-kept rank in (0, 1); NaN → the middle bin."""
    with np.errstate(invalid="ignore"):
        bins = np.floor(ranks * N_BINS)
    bins[np.isnan(bins)] = MISSING_BIN
    out: np.ndarray = np.clip(bins, 0, N_BINS - 1).astype(np.int8)
    return out


def _one_era_bins(x: np.ndarray) -> np.ndarray:
    """:func:`quantile_bins` of one era without ranking every value in place: a value's
    bin only grows with the value, so each feature's four bin edges — the smallest values
    whose tie-kept rank falls in bins 1 … 4, found on the sorted values — bin every value
    by four comparisons (the same bins as ranking them; no argsort, no scatter)."""
    s = np.sort(x, axis=1)  # NaN last
    sorted_bins = _bins(sorted_tie_kept_rank(s, Segments.single(x.shape[1])))
    sorted_bins[np.isnan(s)] = -1  # missing values set no edge
    out = np.zeros(x.shape, dtype=np.int8)
    rows = np.arange(x.shape[0])
    for k in range(1, N_BINS):
        reached = sorted_bins >= k
        first = reached.argmax(axis=1)
        some = reached[rows, first]  # a feature may have no value in the bin (or above)
        out += (x >= s[rows, first][:, None]) & some[:, None]
    out[np.isnan(x)] = MISSING_BIN
    return out


def noisy_bins(
    values: npt.NDArray[np.floating],
    names: Sequence[str],
    vault: Vault,
    era: object,
    noise: float,
) -> np.ndarray:
    """One era's bins after keyed noise: ranks in (0, 1) plus ``noise`` × N(0, 1), binned.

    ``values`` is ``(features, rows)``; ``names`` the real feature names (they seed the
    noise with the key and ``era``, so the operator can reproduce it). Missing stays 2.
    """
    x = np.ascontiguousarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(names):
        raise InvalidInputError("values must be (features, rows) with one name per feature")
    if x.shape[1] == 0 or noise == 0:
        return quantile_bins(x)
    ranks = tie_kept_rank(x, Segments.single(x.shape[1]))
    for i, name in enumerate(names):
        ranks[i] += noise * vault.noise(era, name, x.shape[1])
    return quantile_bins(ranks)


def centred_ranks(values: npt.NDArray[np.floating]) -> np.ndarray:
    """Ranks within one era, centred: ``(features, rows)`` → values in (−½, ½), missing → 0."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInputError("values must be a (features, rows) matrix")
    if x.shape[1] == 0:
        return np.zeros(x.shape)
    ranks = tie_kept_rank(x, Segments.single(x.shape[1])) - 0.5
    ranks[np.isnan(ranks)] = 0.0
    return ranks


@dataclass(frozen=True, eq=False)
class Mix:
    """The ``"composite"`` mode's published columns: linear mixes of all features.

    ``weights[j]`` weighs the centred ranks of the features named in ``features`` into
    composite ``j``. The operator keeps it (with the vault): it is no key, since an attacker
    can fit a similar mix from public data, and the audit assumes the worst — that he has it.
    """

    features: tuple[str, ...]
    #: ``(composites, features)``.
    weights: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        w = np.array(self.weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != len(self.features) or w.shape[0] < 1:
            raise InvalidParameterError(
                "mix weights must be (composites ≥ 1, features) with one name per feature"
            )
        if not np.isfinite(w).all() or not (np.abs(w).sum(axis=1) > 0).all():
            raise InvalidParameterError("mix weights must be finite, no composite all zero")
        if len(set(self.features)) != len(self.features):
            raise InvalidParameterError("mix features must be unique")
        w.setflags(write=False)
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "weights", w)

    @property
    def names(self) -> list[str]:
        """The composites' real names (published behind keyed opaque names)."""
        return [f"composite_{j}" for j in range(self.weights.shape[0])]

    @property
    def feature_sets(self) -> dict[str, list[str]]:
        """Every feature set of the round is all the composites."""
        return dict.fromkeys(("small", "medium", "all"), self.names)

    def aligned(self, names: Sequence[str]) -> np.ndarray:
        """The weights as ``(composites, len(names))``, columns in the order of ``names``."""
        where = {n: i for i, n in enumerate(names)}
        missing = [f for f in self.features if f not in where]
        if missing:
            raise InvalidInputError(
                f"the mix weighs {len(missing)} feature(s) not computed, e.g. {missing[0]!r}"
            )
        out = np.zeros((self.weights.shape[0], len(names)))
        out[:, [where[f] for f in self.features]] = self.weights
        return out

    def composites(self, values: npt.NDArray[np.floating], names: Sequence[str]) -> np.ndarray:
        """One era's composites before noise: ``(features, rows)`` → ``(composites, rows)``.

        Each composite is z-scored within the era (all 0 if it is constant).
        """
        x = np.ascontiguousarray(values, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != len(names):
            raise InvalidInputError("values must be (features, rows) with one name per feature")
        mixed: np.ndarray = self.aligned(names) @ centred_ranks(x)
        if mixed.shape[1] == 0:
            return mixed
        mixed -= mixed.mean(axis=1, keepdims=True)
        scale = mixed.std(axis=1, keepdims=True)
        out: np.ndarray = mixed / np.where(scale > 0, scale, 1.0)
        return out

    def publish(
        self,
        values: npt.NDArray[np.floating],
        names: Sequence[str],
        vault: Vault,
        era: object,
        noise: float | None = None,
    ) -> np.ndarray:
        """One era's composites plus keyed noise, ready to bin: ``(composites, rows)``."""
        sigma = DEFAULT_COMPOSITE_NOISE if noise is None else check_mode("composite", noise)[1]
        z = self.composites(values, names)
        if sigma > 0 and z.shape[1]:
            for j, name in enumerate(self.names):
                z[j] += sigma * vault.noise(era, name, z.shape[1])
        return z

    def save(self, path: str | Path) -> None:
        """Write the mix as JSON (the operator's, like the vault: keep it private)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": 1, "features": list(self.features), "weights": self.weights.tolist()}
        p.write_text(json.dumps(data))
        p.chmod(0o600)

    @classmethod
    def load(cls, path: str | Path) -> Mix:
        try:
            data = json.loads(Path(path).read_text())
            return cls(tuple(data["features"]), np.asarray(data["weights"], dtype=np.float64))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{path} is not a crowdalpha mix: {exc}") from None


def fit_mix(
    prices: pd.DataFrame,
    dates: Sequence[pd.Timestamp],
    *,
    features: FeatureConfig | None = None,
    targets: TargetConfig | None = None,
    target_names: Sequence[str] = ("target",),
    ridge: float = 10.0,
) -> Mix:
    """The ridge direction of each target over the eras on ``dates``: one composite each.

    Ridge of the target (centred) on every feature's centred ranks × 5 — the scale of
    centred bins — pooled over the eras, with penalty ``ridge`` × rows: the example model
    of the build tests, on ranks instead of bins. Fit it on train eras only, or validation
    scores of the round will flatter the mode.
    """
    from crowdalpha.dataset.features import FeatureEngine
    from crowdalpha.dataset.targets import TargetEngine

    if ridge <= 0:
        raise InvalidParameterError("ridge must be positive")
    if not dates or not target_names:
        raise InvalidParameterError("fit_mix needs at least one date and one target")
    engine = FeatureEngine(prices, features)
    target_engine = TargetEngine(prices, targets, features=engine)
    unknown = [t for t in target_names if t not in target_engine.names]
    if unknown:
        raise InvalidParameterError(f"unknown target(s) {unknown}", details={"unknown": unknown})
    names = list(engine.spec.names)
    gram = np.zeros((len(names), len(names)))
    cross = np.zeros((len(names), len(target_names)))
    rows = np.zeros(len(target_names))
    for date in dates:
        frame = engine.era(date)
        x = N_BINS * centred_ranks(np.ascontiguousarray(frame.to_numpy(np.float64).T))
        y = target_engine.era(date).reindex(frame.index)[list(target_names)].to_numpy(np.float64)
        known = ~np.isnan(y)
        y = np.where(known, y - 0.5, 0.0)
        gram += x @ x.T
        cross += x @ y
        rows += known.sum(axis=0)
    weights = np.empty((len(target_names), len(names)))
    for j in range(len(target_names)):
        if rows[j] == 0:
            raise InvalidInputError(f"no known {target_names[j]!r} on the dates given")
        weights[j] = np.linalg.solve(gram + ridge * rows[j] * np.eye(len(names)), cross[:, j])
    return Mix(tuple(names), weights)


def _digest(key: bytes, *parts: object) -> str:
    message = "\x1f".join(str(p) for p in parts).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Vault:
    """The operator's secret: the key that maps published ids and names back to the truth."""

    key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.key, bytes) or len(self.key) < 16:
            raise InvalidParameterError("a vault key must be at least 16 random bytes")

    @classmethod
    def create(cls) -> Vault:
        """A vault with a fresh random key (from the OS's secure random source)."""
        return cls(secrets.token_bytes(_KEY_BYTES))

    def row_id(self, era: object, ticker: str, *, live_round: int | None = None) -> str:
        """The published id of a stock in an era (``live_round`` for live rows): 16 chars."""
        scope = "history" if live_round is None else f"live:{live_round}"
        return "n" + _digest(self.key, "id", scope, era, ticker)[:15]

    def row_ids(
        self, era: object, tickers: Sequence[str], *, live_round: int | None = None
    ) -> list[str]:
        return [self.row_id(era, t, live_round=live_round) for t in tickers]

    def feature_names(self, names: Sequence[str]) -> dict[str, str]:
        """Opaque, unique published names for the real feature names."""
        out: dict[str, str] = {}
        seen: set[str] = set()
        for name in names:
            length = 12
            opaque = f"feature_{_digest(self.key, 'feature', name)[:length]}"
            while opaque in seen:  # a 48-bit collision: lengthen this one name
                length += 4
                opaque = f"feature_{_digest(self.key, 'feature', name)[:length]}"
            seen.add(opaque)
            out[name] = opaque
        return out

    def shuffle(self, era: object, n: int, *, live_round: int | None = None) -> np.ndarray:
        """A keyed permutation of ``n`` rows for an era: the published row order."""
        seed = int(_digest(self.key, "order", live_round, era)[:16], 16)
        return np.random.default_rng(seed).permutation(n)

    def noise(self, era: object, feature: str, n: int) -> np.ndarray:
        """Keyed standard normal noise for one feature of one era (the ``"noisy"`` mode).

        It depends on the era, not on the round, so a live era republished as history in a
        later round carries the same noise (two independent draws could be averaged).
        """
        seed = int(_digest(self.key, "noise", era, feature)[:16], 16)
        return np.random.default_rng(seed).standard_normal(n)

    def save(self, path: str | Path) -> None:
        """Write the key to a file only its owner may read (mode 0600)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"version": 1, "key": self.key.hex()}))
        p.chmod(0o600)

    @classmethod
    def load(cls, path: str | Path) -> Vault:
        try:
            data = json.loads(Path(path).read_text())
            return cls(bytes.fromhex(data["key"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{path} is not a crowdalpha vault: {exc}") from None


def published_eras(dates: Sequence[pd.Timestamp]) -> dict[pd.Timestamp, str]:
    """Era labels as participants see them: zero-padded numbers from 0001, in date order."""
    ordered = sorted(set(dates))
    width = max(4, len(str(len(ordered))))
    return {d: str(i + 1).zfill(width) for i, d in enumerate(ordered)}
