"""The checks of the validation core, each the numerai-tools rule it is named after.

Headers (``_validate_headers``), live ids (``_validate_ids``) and values
(``validate_values``), with the messages and ``details`` every refusal carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from crowdalpha.errors import (
    InvalidParameterError,
    SubmissionHeadersError,
    SubmissionIdsError,
    SubmissionValuesError,
)
from crowdalpha.submissions.columns import (
    EXAMPLES,
    ID_COLUMNS,
    alternatives,
    header_hint,
    join,
)
from crowdalpha.submissions.rules import RULES, RuleSet

__all__ = [
    "LiveIds",
    "check_enough_ids",
    "check_headers",
    "check_numeric",
    "check_values",
    "in_live_order",
    "live_index",
]

#: The round's live ids (a sequence, Index or Series), or for Signals a universe DataFrame
#: with one column per id type (``numerai_ticker``, ``composite_figi``…), as numerai-tools
#: takes it.
LiveIds: TypeAlias = "Sequence[str] | pd.Index | pd.Series | pd.DataFrame"


def in_live_order(ids: pd.Series, live: pd.Index) -> bool:
    """Whether the submitted ids are exactly the live ids, in the same order."""
    if len(ids) != len(live):
        return False
    submitted, expected = ids.array, live.array
    if not (
        isinstance(submitted, pd.arrays.ArrowStringArray)
        and isinstance(expected, pd.arrays.ArrowStringArray)
    ):
        return False
    # Arrow compares the string buffers directly (no Python objects); live ids hold no
    # nulls, so equal arrays also mean no missing id.
    return bool(submitted.__arrow_array__().equals(expected.__arrow_array__()))


def check_enough_ids(
    count: int,
    needed: int,
    id_col: str,
    unknown: int,
    unknown_examples: tuple[str, ...],
    unknown_note: str,
    where: str = "",
) -> None:
    """At least ``needed`` distinct live ids (Signals' minimum of tickers)."""
    if count < needed:
        raise SubmissionIdsError(
            f"only {count} submitted {id_col} value(s){where} are in this round's "
            f"live universe; at least {needed} are required: use the latest live "
            f"universe and check that the {id_col!r} column holds {id_col}s{unknown_note}",
            details={
                "reason": "not_enough_tickers",
                "count": count,
                "required": needed,
                "unknown_ids": unknown,
                "unknown_examples": list(unknown_examples),
            },
        )


def check_numeric(raw_values: pd.Series, pred_col: str) -> None:
    if not pd.api.types.is_numeric_dtype(raw_values.dtype) or pd.api.types.is_complex_dtype(
        raw_values.dtype
    ):
        raise SubmissionValuesError(
            f"column {pred_col!r} must be numeric, not {raw_values.dtype}: submit floats",
            details={"reason": "non_numeric", "column": str(pred_col)},
        )


def check_headers(columns: list[Any], rules: RuleSet, index_name: object) -> tuple[str, str]:
    """Exactly an allowed id column then an allowed prediction column (numerai-tools'
    ``_validate_headers``); the names of the two."""
    if (
        len(columns) == 2
        and columns[0] in rules.id_columns
        and columns[1] in rules.prediction_columns
    ):
        return str(columns[0]), str(columns[1])
    ids = alternatives(rules.id_columns)
    preds = alternatives(rules.prediction_columns)
    hint = header_hint(columns, index_name)
    if (
        not hint
        and len(columns) == 2
        and columns[1] in rules.id_columns
        and columns[0] in rules.prediction_columns
    ):
        hint = "; put the id column first"
    if not hint:
        for other in RULES.values():
            if other.name != rules.name and any(
                c in other.id_columns and c not in rules.id_columns for c in columns
            ):
                hint = f"; this looks like a {other.name.capitalize()} submission"
                break
    extra = (
        f" (plus an optional {' or '.join(reversed(rules.date_columns))} column)"
        if rules.date_columns
        else ""
    )
    raise SubmissionHeadersError(
        f"headers must be exactly {ids} followed by {preds}{extra}; got "
        f"{[str(c) for c in columns]}{hint}",
        details={
            "reason": "invalid_headers",
            "columns": [str(c) for c in columns],
            "expected_id_columns": list(rules.id_columns),
            "expected_prediction_columns": list(rules.prediction_columns),
        },
    )


def live_index(live_ids: LiveIds, id_col: str) -> pd.Index:
    if isinstance(live_ids, str):
        raise InvalidParameterError("live_ids must be a sequence of ids, not one string")
    if isinstance(live_ids, pd.DataFrame):
        if id_col not in live_ids.columns:
            raise SubmissionHeadersError(
                f"this round's live universe has no {id_col!r} ids: use one of "
                f"{join(str(c) for c in live_ids.columns if c in ID_COLUMNS)} as id column",
                details={"reason": "unsupported_id_column", "column": id_col},
            )
        live: pd.Index = pd.Index(live_ids[id_col].dropna())
    elif (
        isinstance(live_ids, pd.Index)
        and live_ids.dtype != object
        and pd.api.types.is_string_dtype(live_ids.dtype)
    ):
        # Already strings (e.g. the tournament's cached index of a round): reuse it as it is,
        # so its hash table — built once — serves every upload of the round.
        live = live_ids
        if len(live) == 0:
            raise InvalidParameterError("live_ids is empty: there is nothing to predict")
        if live.hasnans:
            raise InvalidParameterError("live_ids contain missing values")
        if not live.is_unique:
            raise InvalidParameterError(
                f"live_ids repeat ids, e.g. {join(pd.unique(live[live.duplicated()])[:EXAMPLES])}"
            )
        return live
    else:
        live = pd.Index(live_ids)
    if len(live) == 0:
        raise InvalidParameterError("live_ids is empty: there is nothing to predict")
    if live.hasnans:
        raise InvalidParameterError("live_ids contain missing values")
    live = pd.Index(live.astype(str))
    if not live.is_unique:
        raise InvalidParameterError(
            f"live_ids repeat ids, e.g. {join(pd.unique(live[live.duplicated()])[:EXAMPLES])}"
        )
    return live


def check_values(
    values: np.ndarray[Any, Any],
    ids: np.ndarray[Any, Any] | pd.Index,
    column: str,
    *,
    check_spread: bool = True,
) -> None:
    """No NaN, within [0, 1] up to ``isclose``, and (with ``check_spread``) not constant."""
    nan = np.isnan(values)
    if nan.any():
        raise SubmissionValuesError(
            f"{int(nan.sum())} prediction(s) in {column!r} are NaN, e.g. for ids "
            f"{join(ids[nan][:EXAMPLES])}: predict a number for every live id",
            details={
                "reason": "nan_predictions",
                "count": int(nan.sum()),
                "examples": [str(i) for i in ids[nan][:EXAMPLES]],
            },
        )
    # numerai-tools: all within [0, 1], or a minimum isclose to 0 / a maximum isclose to 1.
    low, high = float(values.min()), float(values.max())
    if not ((low >= 0 or np.isclose(low, 0)) and (high <= 1 or np.isclose(high, 1))):
        outside = ((values < 0) & ~np.isclose(values, 0)) | ((values > 1) & ~np.isclose(values, 1))
        raise SubmissionValuesError(
            f"{int(outside.sum())} prediction(s) in {column!r} are outside [0, 1] (min {low:g}, "
            f"max {high:g}), e.g. for ids {join(ids[outside][:EXAMPLES])}: map them into "
            "[0, 1], e.g. with preds.rank(pct=True)",
            details={
                "reason": "out_of_range",
                "count": int(outside.sum()),
                "min": low,
                "max": high,
                "examples": [str(i) for i in ids[outside][:EXAMPLES]],
            },
        )
    std = float(pd.Series(values).std())
    if check_spread and np.isclose(0, std):
        raise SubmissionValuesError(
            f"the predictions in {column!r} are constant (standard deviation {std:.3g}): a "
            "submission must rank the live rows — check that your model saw the live features",
            details={"reason": "zero_std", "std": std},
        )
