"""Governable parameters: a setting's type, hard range and largest change per proposal.

The core declares, next to each configuration it owns (see
:data:`crowdalpha.tournament.round_parameters.ROUND_PARAMETERS`), which of its settings may be
changed by a vote and how far; whoever changes them (``crowdalpha.governance``) asks the
declaration. Values travel as strings (exact decimals, integer base units, choices), so a
proposal stores and compares exactly what the configuration will hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from crowdalpha.errors import InvalidParameterError

__all__ = ["Governable", "ParameterKind"]

#: ``decimal``: an exact decimal string; ``amount``: an int of base units; ``seconds``: an
#: int number of seconds; ``choice``: one of ``choices``; ``bool``: ``true`` / ``false``.
ParameterKind = Literal["decimal", "amount", "seconds", "choice", "bool"]

_NUMERIC = ("decimal", "amount", "seconds")


@dataclass(frozen=True)
class Governable:
    """One governable setting: ``low ≤ value ≤ high`` always (hard bounds, in code), and
    one proposal moves it by at most ``max_change`` (numeric kinds; None: no limit)."""

    name: str
    kind: ParameterKind
    description: str
    low: str | None = None
    high: str | None = None
    max_change: str | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind in _NUMERIC and (self.low is None or self.high is None):
            raise InvalidParameterError(f"governable {self.name} needs hard bounds")
        if self.kind == "choice" and not self.choices:
            raise InvalidParameterError(f"governable {self.name} needs its choices")

    def parse(self, raw: object) -> str:
        """The canonical string of a proposed value, or InvalidParameterError (wrong type or
        outside the hard bounds)."""
        text = str(raw).strip()
        if self.kind == "bool":
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise self._refuse(f"{self.name} is true or false, got {text!r}")
            return lowered
        if self.kind == "choice":
            if text not in self.choices:
                raise self._refuse(f"{self.name} is one of {', '.join(self.choices)}, got {text!r}")
            return text
        value = self._number(text)
        if self.kind in ("amount", "seconds") and value != value.to_integral_value():
            raise self._refuse(f"{self.name} is a whole number, got {text!r}")
        low, high = Decimal(str(self.low)), Decimal(str(self.high))
        if not low <= value <= high:
            raise self._refuse(
                f"{self.name} must lie within [{self.low}, {self.high}] (hard bounds), got {text}"
            )
        return str(int(value)) if self.kind in ("amount", "seconds") else _plain(value)

    def check_change(self, current: str, proposed: str) -> None:
        """Refuse a move from ``current`` to ``proposed`` larger than ``max_change``."""
        if self.max_change is None or self.kind not in _NUMERIC:
            return
        moved = abs(Decimal(proposed) - Decimal(current))
        if moved > Decimal(self.max_change):
            raise self._refuse(
                f"{self.name} may move by at most {self.max_change} per proposal; "
                f"{current} → {proposed} moves it by {_plain(moved)}"
            )

    def _number(self, text: str) -> Decimal:
        try:
            value = Decimal(text)
        except (InvalidOperation, ValueError):
            raise self._refuse(f"{self.name} must be a number, got {text!r}") from None
        if not value.is_finite():
            raise self._refuse(f"{self.name} must be finite, got {text!r}")
        return value

    def _refuse(self, message: str) -> InvalidParameterError:
        return InvalidParameterError(
            message,
            details={
                "parameter": self.name,
                "low": self.low,
                "high": self.high,
                "max_change": self.max_change,
                "choices": list(self.choices),
            },
        )


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros (``0.050`` → ``0.05``, ``1E+1`` → ``10``)."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0",) else "0"
