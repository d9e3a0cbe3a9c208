"""Each competition's submission rules, as data over one parameterized validation core.

numerai-tools writes its competitions as sibling functions over one private core
(``validate_submission_numerai``/``_signals``/``_crypto`` over ``_validate_headers(expected_id_cols,
…)`` and ``_validate_ids(…, min_tickers)``). Here the parameters are a record,
:class:`RuleSet`, and the core (:func:`crowdalpha.submissions.validate_submission`) never
branches on a competition's name:

- **Classic** (:data:`CLASSIC_RULES`): ``id`` then ``prediction`` (or ``probability``);
  every live id exactly once.
- **Signals** (:data:`SIGNALS_RULES`): one ticker column (``ticker``, ``sedol``,
  ``bloomberg_ticker``, ``composite_figi`` or ``numerai_ticker``) then ``prediction`` (or
  ``signal``); an optional ``date``/``friday_date`` column (one date for a live upload,
  required and any number of dates for diagnostics) and a deprecated ``data_type`` column
  are set aside; at least :data:`SIGNALS_MIN_TICKERS` distinct universe tickers; tickers
  outside the universe are reported, not refused; ids are mapped to the universe's
  ``numerai_ticker``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from crowdalpha.errors import InvalidParameterError
from crowdalpha.submissions.columns import (
    CLASSIC_ID_COLUMNS,
    CLASSIC_PREDICTION_COLUMNS,
    DEPRECATED_COLUMNS,
    SIGNALS_DATE_COLUMNS,
    SIGNALS_ID_COLUMNS,
    SIGNALS_PREDICTION_COLUMNS,
)

__all__ = [
    "CLASSIC_RULES",
    "COMPETITIONS",
    "RULES",
    "SIGNALS_MIN_TICKERS",
    "SIGNALS_RULES",
    "CompetitionName",
    "RuleSet",
    "rules_for",
]

#: The competitions whose rules this package knows, by name.
CompetitionName: TypeAlias = Literal["classic", "signals"]
#: Signals needs at least this many distinct live tickers (numerai-tools' rule).
SIGNALS_MIN_TICKERS: Final = 100


@dataclass(frozen=True)
class RuleSet:
    """What a competition's prediction files must look like.

    ``id_columns`` and ``prediction_columns``: the allowed names of the two columns, in
    this order. ``date_columns``: names of one optional date column, set aside before the
    header check (the first found counts). ``dropped_columns``: deprecated columns set
    aside silently. ``min_ids``: how many distinct live ids a file must predict, or
    ``None`` for every one of them. ``canonical_id``: the universe column that submitted
    ids are mapped to (when the universe frame has it), or ``None`` to keep them as sent.
    """

    name: str
    id_columns: tuple[str, ...]
    prediction_columns: tuple[str, ...]
    date_columns: tuple[str, ...] = ()
    dropped_columns: tuple[str, ...] = ()
    min_ids: int | None = None
    canonical_id: str | None = None

    def __post_init__(self) -> None:
        if not self.id_columns or not self.prediction_columns:
            raise InvalidParameterError("a rule set needs id and prediction column names")
        if self.min_ids is not None and self.min_ids < 1:
            raise InvalidParameterError(f"min_ids must be at least 1, not {self.min_ids!r}")

    @property
    def every_live_id(self) -> bool:
        """Whether a file must predict every live id (Classic)."""
        return self.min_ids is None


CLASSIC_RULES: Final = RuleSet(
    name="classic",
    id_columns=CLASSIC_ID_COLUMNS,
    prediction_columns=CLASSIC_PREDICTION_COLUMNS,
)
SIGNALS_RULES: Final = RuleSet(
    name="signals",
    id_columns=SIGNALS_ID_COLUMNS,
    prediction_columns=SIGNALS_PREDICTION_COLUMNS,
    date_columns=SIGNALS_DATE_COLUMNS,
    dropped_columns=DEPRECATED_COLUMNS,
    min_ids=SIGNALS_MIN_TICKERS,
    canonical_id="numerai_ticker",
)
RULES: Final[Mapping[str, RuleSet]] = {r.name: r for r in (CLASSIC_RULES, SIGNALS_RULES)}
#: The names of :data:`RULES`, in order.
COMPETITIONS: Final = tuple(RULES)


def rules_for(competition: str | RuleSet) -> RuleSet:
    """The rule set of a competition by name (``classic``, ``signals``), or itself."""
    if isinstance(competition, RuleSet):
        return competition
    found = RULES.get(competition) if isinstance(competition, str) else None
    if found is None:
        raise InvalidParameterError(
            f"unknown tournament {competition!r}: use one of {', '.join(COMPETITIONS)}"
        )
    return found
