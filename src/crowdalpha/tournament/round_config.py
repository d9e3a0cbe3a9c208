"""How a round is scored and paid: :class:`RoundConfig`, stored with the round when it opens.

Each round stores the configuration in force when it opened (Numerai's
``roundScoreConfigs``) as JSON, and resolution uses the round's own, so a change of rules
applies from the next round on. :class:`DuplicateRules` is its fair-play part. The
settings a vote may change are declared in
:data:`~crowdalpha.tournament.round_parameters.ROUND_PARAMETERS`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import NMR
from crowdalpha.payouts import PayoutRules
from crowdalpha.tournament.governable import Governable
from crowdalpha.tournament.round_parameters import POLICIES, ROUND_PARAMETERS, PayoutPolicy

__all__ = ["DuplicatePolicy", "DuplicateRules", "RoundConfig"]

DuplicatePolicy = Literal["report", "one_stake"]
_DUPLICATE_POLICIES: tuple[str, ...] = ("report", "one_stake")


@dataclass(frozen=True)
class DuplicateRules:
    """What a round does about near-identical submissions (fair play).

    When the round closes, the selected on-time submissions whose rank correlation is at
    least ``threshold`` are joined into clusters
    (:func:`crowdalpha.scoring.find_duplicates`) and stored for the operator. ``policy``:
    ``report`` (default) changes nothing else; ``one_stake`` treats each cluster spread
    over several accounts as one stake — its members' stakes at risk are held, together,
    to the limits one model of one account would have (the tightest ``max_stake`` and
    ``max_stake_share`` of the cluster's accounts, the share taken of their combined
    holdings), cut pro rata when over; what is cut is not at risk, and the round's total
    at risk (the payout factor's denominator) counts only what is left.
    """

    policy: DuplicatePolicy = "report"
    threshold: str = "0.99"

    def __post_init__(self) -> None:
        if self.policy not in _DUPLICATE_POLICIES:
            raise InvalidParameterError(
                f"unknown duplicate policy {self.policy!r}; choose one of "
                + ", ".join(_DUPLICATE_POLICIES)
            )
        value = _decimal(self.threshold, "the duplicate threshold")
        if not Decimal(0) < value <= Decimal(1):
            raise InvalidParameterError(
                f"the duplicate threshold is a rank correlation in (0, 1], got {self.threshold}"
            )


@dataclass(frozen=True)
class RoundConfig:
    """How a round is scored and paid, stored with the round when it opens.

    ``metrics``: the scores computed and stored. ``policy``: ``numerai`` pays
    ``stake × clip(payout_factor × Σ multiplier × score, ±clip)`` over ``multipliers``;
    ``tiered`` pays the article's table on ``corr``. ``threshold``: the payout factor's
    stake threshold (``payout_factor = min(1, threshold / total at risk)``; Numerai's
    ``stakeThreshold``). ``gate_thresholds``: a stake-gate measure at or above its threshold
    zeroes that round's stake at risk (Signals: churn 0.15, turnover 0.25).
    ``require_previous``: a model that had no on-time submission in the previous round
    stakes zero in this one (Signals). ``duplicates``: how near-identical submissions are
    found and treated (:class:`DuplicateRules`). Decimals are exact strings.
    """

    metrics: tuple[str, ...]
    policy: PayoutPolicy = "numerai"
    multipliers: tuple[tuple[str, str], ...] = (("corr", "0.5"), ("mmc", "2.0"))
    clip: str = "0.05"
    threshold: int = 72_000 * NMR
    gate_thresholds: tuple[tuple[str, str], ...] = ()
    require_previous: bool = False
    duplicates: DuplicateRules = field(default_factory=DuplicateRules)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InvalidParameterError(
                f"unknown payout policy {self.policy!r}; choose one of {', '.join(POLICIES)}"
            )
        if not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise InvalidParameterError("a round computes a non-empty set of distinct metrics")
        paid = self.paid_metrics
        missing = [m for m in paid if m not in self.metrics]
        if missing:
            raise InvalidParameterError(f"the payout uses {missing}, which are not computed")
        for name, value in (*self.multipliers, *self.gate_thresholds, ("clip", self.clip)):
            _decimal(value, name)
        if Decimal(self.clip) < 0:
            raise InvalidParameterError(f"clip must be ≥ 0, got {self.clip}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise InvalidParameterError("threshold is an int amount of base units")
        if self.threshold <= 0:
            raise InvalidParameterError("threshold must be positive")

    @property
    def paid_metrics(self) -> tuple[str, ...]:
        """The scores the payout reads."""
        return ("corr",) if self.policy == "tiered" else tuple(m for m, _ in self.multipliers)

    @classmethod
    def from_rules(cls, rules: PayoutRules, metrics: tuple[str, ...]) -> RoundConfig:
        """Classic's configuration from the operator's payout rules."""
        return cls(
            metrics=metrics,
            policy=rules.policy,
            multipliers=(
                ("corr", rules.corr_multiplier),
                ("mmc", rules.mmc_multiplier),
                # MPC pays only when the operator selects it (a nonzero multiplier)
                *((("mpc", rules.mpc_multiplier),) if Decimal(rules.mpc_multiplier) else ()),
            ),
            clip=rules.clip,
            threshold=rules.threshold,
        )

    # -- governable settings (declared in ROUND_PARAMETERS) ----------------------------------

    def governable(self) -> dict[str, Governable]:
        """This configuration's governable settings by name: ``policy``, ``clip``,
        ``threshold``, ``require_previous``, ``multiplier.<metric>`` for each paid metric,
        ``gate.<measure>`` for each stake-gate threshold."""
        out = {name: spec for name, spec in ROUND_PARAMETERS.items() if "." not in name}
        for metric, _ in self.multipliers:
            out[f"multiplier.{metric}"] = dataclasses.replace(
                ROUND_PARAMETERS["multiplier.*"], name=f"multiplier.{metric}"
            )
        for measure, _ in self.gate_thresholds:
            out[f"gate.{measure}"] = dataclasses.replace(
                ROUND_PARAMETERS["gate.*"], name=f"gate.{measure}"
            )
        return out

    def value(self, name: str) -> str:
        """The current value of governable setting ``name``, as its canonical string."""
        self._spec(name)
        if name == "policy":
            return self.policy
        if name == "clip":
            return self.clip
        if name == "threshold":
            return str(self.threshold)
        if name == "require_previous":
            return "true" if self.require_previous else "false"
        group, _, key = name.partition(".")
        pairs = self.multipliers if group == "multiplier" else self.gate_thresholds
        return dict(pairs)[key]

    def with_values(self, changes: Mapping[str, str]) -> RoundConfig:
        """A copy with governable settings changed (each parsed against its declaration;
        the result must still be a valid configuration)."""
        updates: dict[str, Any] = {}
        multipliers = dict(self.multipliers)
        gates = dict(self.gate_thresholds)
        for name, raw in changes.items():
            value = self._spec(name).parse(raw)
            if name == "threshold":
                updates["threshold"] = int(value)
            elif name == "require_previous":
                updates["require_previous"] = value == "true"
            elif name in ("policy", "clip"):
                updates[name] = value
            elif name.startswith("multiplier."):
                multipliers[name.partition(".")[2]] = value
            else:
                gates[name.partition(".")[2]] = value
        updates["multipliers"] = tuple(multipliers.items())
        updates["gate_thresholds"] = tuple(gates.items())
        return dataclasses.replace(self, **updates)

    def _spec(self, name: str) -> Governable:
        specs = self.governable()
        if name not in specs:
            raise InvalidParameterError(
                f"{name!r} is not a governable setting of this competition's rounds; "
                f"governable: {', '.join(sorted(specs))}",
                details={"parameter": name, "governable": sorted(specs)},
            )
        return specs[name]

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "metrics": list(self.metrics),
                "policy": self.policy,
                "multipliers": dict(self.multipliers),
                "clip": self.clip,
                "threshold": str(self.threshold),
                "gate_thresholds": dict(self.gate_thresholds),
                "require_previous": self.require_previous,
                "duplicates": {
                    "policy": self.duplicates.policy,
                    "threshold": self.duplicates.threshold,
                },
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> RoundConfig:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            metrics=tuple(raw["metrics"]),
            policy=raw["policy"],
            multipliers=tuple((str(k), str(v)) for k, v in raw["multipliers"].items()),
            clip=str(raw["clip"]),
            threshold=int(raw["threshold"]),
            gate_thresholds=tuple((str(k), str(v)) for k, v in raw["gate_thresholds"].items()),
            require_previous=bool(raw["require_previous"]),
            # rounds opened before fair play was configurable: report only, 0.99
            duplicates=DuplicateRules(**raw.get("duplicates", {})),
        )


def _decimal(value: str, name: str) -> Decimal:
    try:
        parsed = Decimal(value)
    except Exception:
        raise InvalidParameterError(f"{name} must be a decimal number, got {value!r}") from None
    if not parsed.is_finite():
        raise InvalidParameterError(f"{name} must be finite, got {value!r}")
    return parsed
