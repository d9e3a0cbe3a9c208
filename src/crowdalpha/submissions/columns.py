"""The column names a prediction file may use, and the hints that help fix a wrong header.

Names are numerai-tools 0.7.2's (``numerai_tools/submissions.py``): Classic takes ``id``
and ``prediction`` or ``probability``; Signals takes one ticker column (``ticker``,
``sedol``, ``bloomberg_ticker``, ``composite_figi`` or ``numerai_ticker``) and ``prediction``
or ``signal``, plus an optional ``date``/``friday_date`` and a deprecated ``data_type``.
Reading refuses any other column before a row is read; the exact rules of each competition
are in :mod:`crowdalpha.submissions.rules`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

__all__ = [
    "CLASSIC_ID_COLUMNS",
    "CLASSIC_PREDICTION_COLUMNS",
    "DEPRECATED_COLUMNS",
    "EXAMPLES",
    "ID_COLUMNS",
    "KNOWN_COLUMNS",
    "NA_SPELLINGS",
    "PREDICTION_COLUMNS",
    "SIGNALS_DATE_COLUMNS",
    "SIGNALS_ID_COLUMNS",
    "SIGNALS_PREDICTION_COLUMNS",
    "alternatives",
    "header_hint",
    "join",
    "role",
]

CLASSIC_ID_COLUMNS: Final = ("id",)
CLASSIC_PREDICTION_COLUMNS: Final = ("prediction", "probability")
SIGNALS_ID_COLUMNS: Final = (
    "ticker",
    "sedol",
    "bloomberg_ticker",
    "composite_figi",
    "numerai_ticker",
)
SIGNALS_PREDICTION_COLUMNS: Final = ("prediction", "signal")
SIGNALS_DATE_COLUMNS: Final = ("friday_date", "date")
#: Set aside without complaint (numerai-tools logs a deprecation warning for it).
DEPRECATED_COLUMNS: Final = ("data_type",)

ID_COLUMNS: Final = frozenset(CLASSIC_ID_COLUMNS + SIGNALS_ID_COLUMNS)
PREDICTION_COLUMNS: Final = frozenset(CLASSIC_PREDICTION_COLUMNS + SIGNALS_PREDICTION_COLUMNS)
KNOWN_COLUMNS: Final = (
    ID_COLUMNS | PREDICTION_COLUMNS | frozenset(SIGNALS_DATE_COLUMNS + DEPRECATED_COLUMNS)
)
# pandas' default missing-value spellings; they mean NaN in a prediction column only (an
# id such as "NA" is a ticker, and only an empty field is a missing id).
NA_SPELLINGS: Final = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
#: How many example ids or columns a message names.
EXAMPLES: Final = 5


def role(column: object) -> str:
    """``prediction`` for a prediction column (read as floats), ``text`` for the others."""
    return "prediction" if column in PREDICTION_COLUMNS else "text"


def header_hint(columns: Sequence[object], index_name: object = None) -> str:
    """A hint for the commonest ways a header goes wrong, or ``""``."""
    names = [c for c in columns if isinstance(c, str)]
    if any(re.fullmatch(r"Unnamed: \d+", c) for c in names):
        return (
            "; a column has no name — usually the index written without a label: write "
            "preds.to_csv(path, index_label='id') or name the index 'id'"
        )
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        return "; the file seems separated by semicolons or tabs: separate fields with commas"
    if index_name in ID_COLUMNS and len(columns) == 1:
        return f"; the ids are the index ({index_name!r}): call frame.reset_index() first"
    lowered = [c for c in names if c != c.lower() and c.lower() in KNOWN_COLUMNS]
    if lowered:
        return f"; names are case-sensitive: rename {lowered[0]!r} to {lowered[0].lower()!r}"
    return ""


def alternatives(names: Sequence[str]) -> str:
    """``'a'`` or ``one of 'a', 'b' or 'c'``."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"one of {', '.join(quoted[:-1])} or {quoted[-1]}"


def join(items: Iterable[object]) -> str:
    return ", ".join(str(i) for i in items)
