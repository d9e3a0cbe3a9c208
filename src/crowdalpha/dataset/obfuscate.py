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
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.errors import InvalidInputError, InvalidParameterError
from crowdalpha.scoring.kernels import Segments, tie_kept_rank

__all__ = [
    "DEFAULT_NOISE",
    "MISSING_BIN",
    "MODES",
    "N_BINS",
    "ObfuscationMode",
    "Vault",
    "check_mode",
    "noisy_bins",
    "published_eras",
    "quantile_bins",
]

N_BINS = 5
#: The bin a value missing for its era gets (the middle one).
MISSING_BIN = 2
_KEY_BYTES = 32

#: How published feature values are obfuscated (ids, names and order are always keyed).
ObfuscationMode = Literal["standard", "noisy"]
MODES: tuple[ObfuscationMode, ...] = ("standard", "noisy")
#: The default noise of the ``"noisy"`` mode: standard deviation added to ranks in (0, 1).
DEFAULT_NOISE = 1.0


def check_mode(mode: object, noise: object = None) -> tuple[ObfuscationMode, float]:
    """Validate an obfuscation mode and its noise; returns ``(mode, noise)`` with defaults."""
    if mode not in MODES:
        raise InvalidParameterError(
            f"mode must be one of {MODES}, not {mode!r}", details={"field": "mode"}
        )
    checked: ObfuscationMode = "noisy" if mode == "noisy" else "standard"
    if noise is None:
        return checked, DEFAULT_NOISE if checked == "noisy" else 0.0
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0:
        raise InvalidParameterError(
            f"noise must be a number ≥ 0, not {noise!r}", details={"field": "noise"}
        )
    if checked == "standard" and noise != 0:
        raise InvalidParameterError(
            "noise needs mode='noisy' (the standard mode adds none)", details={"field": "noise"}
        )
    return checked, float(noise)


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
    seg = eras if eras is not None else Segments.single(x.shape[1])
    ranks = tie_kept_rank(x, seg)  # (rank - 0.5) / count, in (0, 1); NaN stays NaN
    with np.errstate(invalid="ignore"):
        bins = np.floor(ranks * N_BINS)
    bins[np.isnan(bins)] = MISSING_BIN
    return np.clip(bins, 0, N_BINS - 1).astype(np.int8)


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
