"""What a Signals round's data hold: universe rules, target horizons, splits, extra files."""

from __future__ import annotations

from dataclasses import dataclass, field

from crowdalpha.dataset.signals.targets import target_names
from crowdalpha.dataset.signals.universe import UniverseConfig
from crowdalpha.errors import InvalidParameterError

__all__ = ["SignalsConfig"]


def _positive_int(name: str, value: object, lo: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise InvalidParameterError(
            f"{name} must be an int ≥ {lo}, not {value!r}", details={"field": name}
        )


@dataclass(frozen=True)
class SignalsConfig:
    """The settings of every Signals round built from one price history."""

    universe: UniverseConfig = field(default_factory=UniverseConfig)
    #: Target horizons in trading days; the first is the main target's.
    horizons: tuple[int, ...] = (20, 60)
    #: Trading days between a date and the start of its forward returns.
    lag: int = 2
    #: Weekly eras of validation data: the most recent ones whose main target is known.
    validation_eras: int = 52
    #: Eras left out between train and validation; None: enough that no train main target
    #: overlaps a validation one.
    embargo_eras: int | None = None
    #: Keep only the most recent train eras (None: all history).
    max_train_eras: int | None = None
    #: Write the v2.1-style train/validation neutralizer and sample-weight files.
    neutralizer_files: bool = True
    #: Publish the example model's validation and live predictions.
    example_predictions: bool = True
    #: The example model's ridge penalty, per row.
    example_ridge: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.universe, UniverseConfig):
            raise InvalidParameterError("universe must be a UniverseConfig")
        if not isinstance(self.horizons, tuple) or not self.horizons:
            raise InvalidParameterError("horizons must be a non-empty tuple of ints")
        for h in self.horizons:
            _positive_int("horizons", h)
        if len(set(self.horizons)) != len(self.horizons):
            raise InvalidParameterError(f"horizons repeats a horizon: {self.horizons}")
        _positive_int("lag", self.lag, 0)
        _positive_int("validation_eras", self.validation_eras)
        if self.embargo_eras is not None:
            _positive_int("embargo_eras", self.embargo_eras, 0)
        if self.max_train_eras is not None:
            _positive_int("max_train_eras", self.max_train_eras)
        for flag in ("neutralizer_files", "example_predictions"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidParameterError(f"{flag} must be True or False")
        ridge = self.example_ridge
        if isinstance(ridge, bool) or not isinstance(ridge, int | float) or not ridge > 0:
            raise InvalidParameterError(f"example_ridge must be a positive number, not {ridge!r}")

    @property
    def main_horizon(self) -> int:
        return self.horizons[0]

    @property
    def embargo(self) -> int:
        """Eras between train and validation (weeks covering the main target's lag and
        horizon, plus one)."""
        if self.embargo_eras is not None:
            return self.embargo_eras
        return -(-(self.main_horizon + self.lag) // 5) + 1

    @property
    def target_names(self) -> tuple[str, ...]:
        return target_names(self.horizons)
