"""Check a submission frame against a competition's rules: the one validation core.

The rules are numerai-tools' (``numerai_tools/submissions.py``, 0.7.2), applied in the same
order and with the same tolerances, so a file is accepted here exactly when Numerai's own
validation accepts it — except for the few refusals of our own listed last:

1. **Headers** — exactly two columns, the id column first (names per
   :class:`~crowdalpha.submissions.rules.RuleSet`); Signals sets one
   ``date``/``friday_date`` column and a deprecated ``data_type`` column aside first.
2. **Ids** — no row without an id; no live id twice; Classic covers every live id, Signals
   at least :data:`~crowdalpha.submissions.rules.SIGNALS_MIN_TICKERS` live tickers. Ids
   outside the live set are allowed, ignored and reported (every one of them, in
   :attr:`ValidatedSubmission.unknown_id_values`). Ids are compared as strings.
3. **Values** (live rows only) — no NaN; within [0, 1] (a minimum within 1e-8 of 0 and a
   maximum within 1e-8 + 1e-5 of 1 pass, as ``numpy.isclose`` has it); a sample standard
   deviation not ``isclose`` to 0 (so not below ≈ 1e-8).

Ours, for Signals: given a universe frame holding ``numerai_ticker``, submitted ids of any
type are mapped to it, and two ids naming one stock are refused — two ids of the submitted
type mapping to one ``numerai_ticker``, or a stock sent under its own type and again under
another (a column mixing id types). A live upload's date column holds one date; a
diagnostics upload (``diagnostics=True``) must have a date column and is checked date by
date (no ticker twice on a date, enough tickers and a non-constant signal on each).

Every refusal is a :class:`~crowdalpha.errors.SubmissionError` whose ``code``
(``invalid_submission_headers``, ``_ids``, ``_values``, ``_dates``, ``_file``) is
numerai-tools' message prefix where it has one, whose message says what to fix, and whose
``details`` carry a ``reason``, counts and a few example ids.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crowdalpha.errors import (
    InvalidParameterError,
    SubmissionDatesError,
    SubmissionHeadersError,
    SubmissionIdsError,
)
from crowdalpha.submissions import paths
from crowdalpha.submissions.checks import (
    LiveIds,
    check_enough_ids,
    check_headers,
    check_numeric,
    check_values,
)

# imported under a private name: the fast-path tests patch it where the core looks it up
from crowdalpha.submissions.checks import in_live_order as _in_live_order
from crowdalpha.submissions.columns import EXAMPLES, join
from crowdalpha.submissions.read import SubmissionSource, parse, read_raw
from crowdalpha.submissions.rules import (
    CLASSIC_RULES,
    SIGNALS_RULES,
    CompetitionName,
    RuleSet,
    rules_for,
)
from crowdalpha.submissions.universe import LiveUniverse

__all__ = [
    "ValidatedSubmission",
    "load_and_validate",
    "validate_classic",
    "validate_signals",
    "validate_submission",
]


@dataclass(frozen=True, eq=False)
class ValidatedSubmission:
    """A submission that passed every rule, reduced to what scoring needs.

    ``predictions`` holds one float64 per submitted live id (as submitted: a tolerated
    ``-1e-9`` is not clipped), named ``prediction``, in the order of the live ids given —
    every live id for Classic, the submitted ones for Signals. Its index holds the ids as
    strings: for Signals given a universe frame with ``numerai_ticker``, those (index
    named ``numerai_ticker``), else the submitted ids (index named after their column); a
    diagnostics upload is indexed by ``(date, id)``.

    ``rows`` counts the file's rows; ``unknown_ids`` the distinct ids outside the live set
    (ignored), ``unknown_id_values`` all of them (first seen first) and
    ``unknown_id_examples`` the first few; ``date`` the one date of a live Signals upload
    with a date column, ``dates`` the dates of a diagnostics upload; ``sha256`` the raw
    file's digest when it was read by :func:`load_and_validate`.
    """

    predictions: pd.Series
    tournament: str
    id_column: str
    prediction_column: str
    rows: int
    unknown_ids: int
    unknown_id_examples: tuple[str, ...] = ()
    date_column: str | None = None
    sha256: str | None = None
    unknown_id_values: tuple[str, ...] = ()
    date: str | None = None
    dates: tuple[str, ...] = ()

    @property
    def live_rows(self) -> int:
        """How many live ids (for diagnostics: dated rows) the submission predicts."""
        return len(self.predictions)


@dataclass(frozen=True)
class _Layout:
    """The columns of a frame after the header rule."""

    id_col: str
    pred_col: str
    date_col: str | None


def _layout(frame: pd.DataFrame, rules: RuleSet, diagnostics: bool) -> _Layout:
    columns = [c for c in frame.columns if c not in rules.dropped_columns]
    date_col: str | None = None
    for c in columns:
        if c in rules.date_columns:
            date_col = str(c)
            columns.remove(c)
            break
    if diagnostics and date_col is None:
        raise SubmissionHeadersError(
            "submission must contain a date column: a diagnostics upload predicts many dates, "
            f"each row's in a {' or '.join(reversed(rules.date_columns))} column",
            details={"reason": "missing_date_column", "columns": [str(c) for c in frame]},
        )
    id_col, pred_col = check_headers(columns, rules, frame.index.name)
    return _Layout(id_col, pred_col, date_col)


def _dates(frame: pd.DataFrame, date_col: str, diagnostics: bool) -> np.ndarray:
    """The date of every row, as strings; a live upload must hold one date."""
    raw = frame[date_col]
    missing = raw.isna().to_numpy()
    if missing.any():
        rows = (np.flatnonzero(missing)[:EXAMPLES] + 1).tolist()
        raise SubmissionDatesError(
            f"{int(missing.sum())} row(s) have no {date_col} (e.g. data rows {join(rows)}): "
            "give every row its date, or drop the column",
            details={"reason": "missing_dates", "count": int(missing.sum()), "rows": rows},
        )
    values = raw.astype(str).str.strip().to_numpy(dtype=object)
    if not diagnostics:
        distinct = pd.unique(values)
        if len(distinct) > 1:
            shown = sorted(str(d) for d in distinct)
            more = ", …" if len(shown) > EXAMPLES else ""
            raise SubmissionDatesError(
                f"a live submission predicts one date, but its {date_col!r} column holds "
                f"{len(distinct)} ({join(shown[:EXAMPLES])}{more}): "
                "submit this round's rows only (several dates are a diagnostics upload)",
                details={
                    "reason": "several_dates",
                    "count": len(distinct),
                    "examples": shown[:EXAMPLES],
                },
            )
    return np.asarray(values, dtype=object)


def validate_submission(
    frame: pd.DataFrame,
    live_ids: LiveIds,
    *,
    tournament: CompetitionName | RuleSet = "classic",
    min_tickers: int | None = None,
    diagnostics: bool = False,
) -> ValidatedSubmission:
    """Apply a competition's rules (see the module docstring) to a submission frame.

    ``live_ids`` are the round's live ids (unique; compared as strings); for Signals they
    may be a universe frame with a column per id type, the submission's id column picking
    one (and ``numerai_ticker``, when present, keying the result). ``tournament`` names
    the rules (``"classic"``, ``"signals"``) or is a :class:`RuleSet`. ``min_tickers``
    overrides the rules' minimum (a small universe); Classic always needs every live id.
    ``diagnostics``: a Signals upload over many dates. The frame is not modified.

    Raises :class:`~crowdalpha.errors.SubmissionHeadersError`,
    :class:`~crowdalpha.errors.SubmissionDatesError`,
    :class:`~crowdalpha.errors.SubmissionIdsError` or
    :class:`~crowdalpha.errors.SubmissionValuesError`, checked in that order;
    :class:`~crowdalpha.errors.InvalidParameterError` for the caller's own mistakes (an
    unknown competition, empty or repeated live ids).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError(
            f"a submission must be a pandas DataFrame, not {type(frame).__name__}"
        )
    rules = rules_for(tournament)
    if min_tickers is not None and rules.every_live_id:
        raise InvalidParameterError(
            f"min_tickers applies to Signals only ({rules.name} needs every live id)"
        )
    if min_tickers is not None and (isinstance(min_tickers, bool) or min_tickers < 1):
        raise InvalidParameterError(f"min_tickers must be at least 1, not {min_tickers!r}")
    if diagnostics and not rules.date_columns:
        raise InvalidParameterError(f"{rules.name} submissions have no dates: no diagnostics mode")
    needed = rules.min_ids if min_tickers is None else min_tickers
    layout = _layout(frame, rules, diagnostics)
    dates = None if layout.date_col is None else _dates(frame, layout.date_col, diagnostics)
    universe = LiveUniverse.of(live_ids, layout.id_col, rules.canonical_id)
    if not diagnostics and _in_live_order(frame[layout.id_col], universe.live):
        # The usual upload: live.parquet's ids, in its order. Then every id is present,
        # live and given once, and the predictions need no reindexing.
        paths.count("ids_in_order")
        return _in_order(frame, rules, layout, universe, needed, dates)
    paths.count("ids_matched")
    return _general(frame, rules, layout, universe, needed, dates, diagnostics)


def _in_order(
    frame: pd.DataFrame,
    rules: RuleSet,
    layout: _Layout,
    universe: LiveUniverse,
    needed: int | None,
    dates: np.ndarray | None,
) -> ValidatedSubmission:
    """:func:`validate_submission`'s outcome when the ids are the live ids in order."""
    live = universe.live
    if needed is not None:
        check_enough_ids(len(live), needed, layout.id_col, 0, (), "")
    if universe.canonical is not None:
        _refuse_shared_stocks(universe, np.arange(len(live)), layout.id_col, None)
    raw_values = frame[layout.pred_col]
    check_numeric(raw_values, layout.pred_col)
    values = np.array(raw_values.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
    check_values(values, live, layout.pred_col)
    if universe.canonical is None:
        index = live.rename(layout.id_col)
    else:
        index = universe.canonical.rename(universe.canonical_column)
    return ValidatedSubmission(
        predictions=pd.Series(values, index=index, name="prediction"),
        tournament=rules.name,
        id_column=layout.id_col,
        prediction_column=layout.pred_col,
        rows=len(frame),
        unknown_ids=0,
        date_column=layout.date_col,
        date=None if dates is None else str(dates[0]),
    )


def _general(
    frame: pd.DataFrame,
    rules: RuleSet,
    layout: _Layout,
    universe: LiveUniverse,
    needed: int | None,
    dates: np.ndarray | None,
    diagnostics: bool,
) -> ValidatedSubmission:
    id_col, live = layout.id_col, universe.live
    ids = frame[id_col]
    missing = ids.isna().to_numpy()
    if missing.any():
        rows = (np.flatnonzero(missing)[:EXAMPLES] + 1).tolist()
        raise SubmissionIdsError(
            f"{int(missing.sum())} row(s) have no id in column {id_col!r} (e.g. data rows "
            f"{join(rows)}): give every row the id of a live row",
            details={"reason": "missing_id_values", "count": int(missing.sum()), "rows": rows},
        )
    submitted = ids.astype(str).to_numpy(dtype=object)
    positions = live.get_indexer(pd.Index(submitted, dtype=object))
    in_live = positions >= 0
    live_positions = positions[in_live]
    row_dates = None if dates is None or not diagnostics else dates[in_live]
    _refuse_repeats(submitted[in_live], row_dates)
    unknown = tuple(str(u) for u in pd.unique(submitted[~in_live]))
    examples = unknown[:EXAMPLES]
    note = (
        f"; {len(unknown)} submitted id(s) are not live this round, e.g. "
        f"{join(examples)}: are you predicting this round's live data?"
        if unknown
        else ""
    )
    if needed is None:
        _refuse_missing_live_ids(live, live_positions, unknown, examples, note)
    elif row_dates is None:
        check_enough_ids(len(live_positions), needed, id_col, len(unknown), examples, note)
    else:
        for date in np.unique(row_dates):
            count = int((row_dates == date).sum())
            check_enough_ids(count, needed, id_col, len(unknown), examples, note, f" for {date}")
    if universe.canonical is not None:
        _refuse_shared_stocks(universe, live_positions, id_col, row_dates)
        all_dates = dates if diagnostics else None
        _refuse_sent_twice(universe, rules, id_col, submitted, in_live, live_positions, all_dates)

    raw_values = frame[layout.pred_col]
    check_numeric(raw_values, layout.pred_col)
    values = raw_values.to_numpy(dtype=np.float64, na_value=np.nan)[in_live]
    if row_dates is None:
        check_values(values, submitted[in_live], layout.pred_col)
    else:
        check_values(values, submitted[in_live], layout.pred_col, check_spread=False)
        for date in np.unique(row_dates):
            on = row_dates == date
            check_values(values[on], submitted[in_live][on], f"{layout.pred_col} on {date}")
    predictions = _predictions(universe, layout, live_positions, values, row_dates)
    return ValidatedSubmission(
        predictions=predictions,
        tournament=rules.name,
        id_column=id_col,
        prediction_column=layout.pred_col,
        rows=len(frame),
        unknown_ids=len(unknown),
        unknown_id_examples=examples,
        date_column=layout.date_col,
        unknown_id_values=unknown,
        date=None if dates is None or diagnostics else str(dates[0]),
        dates=() if row_dates is None else tuple(str(d) for d in np.unique(row_dates)),
    )


def _predictions(
    universe: LiveUniverse,
    layout: _Layout,
    live_positions: np.ndarray,
    values: np.ndarray,
    row_dates: np.ndarray | None,
) -> pd.Series:
    """The live predictions, in the live ids' order (by date first for diagnostics)."""
    if universe.canonical is None:
        name, ids = layout.id_col, universe.live
    else:
        name, ids = str(universe.canonical_column), universe.canonical
    if row_dates is None:
        order = np.argsort(live_positions, kind="stable")
        index: pd.Index = pd.Index(ids[live_positions[order]], name=name)
    else:
        order = np.lexsort((live_positions, row_dates))
        index = pd.MultiIndex.from_arrays(
            [pd.Index(row_dates[order].astype(str)), ids[live_positions[order]]],
            names=[layout.date_col, name],
        )
    # a fresh index: never rename or alias the caller's live ids (the server shares one
    # cached Index between threads)
    return pd.Series(values[order], index=index, name="prediction")


def _refuse_repeats(live_ids: np.ndarray, row_dates: np.ndarray | None) -> None:
    keys = (
        pd.Index(live_ids)
        if row_dates is None
        else pd.MultiIndex.from_arrays([row_dates, live_ids])
    )
    repeated = keys.duplicated()
    if repeated.any():
        twice = pd.unique(live_ids[repeated])
        where = "" if row_dates is None else " on one date"
        raise SubmissionIdsError(
            f"{len(twice)} live id(s) appear more than once{where}, e.g. "
            f"{join(twice[:EXAMPLES])}: submit exactly one prediction per id",
            details={
                "reason": "duplicate_ids",
                "count": len(twice),
                "examples": [str(t) for t in twice[:EXAMPLES]],
            },
        )


def _refuse_missing_live_ids(
    live: pd.Index,
    live_positions: np.ndarray,
    unknown: tuple[str, ...],
    examples: tuple[str, ...],
    note: str,
) -> None:
    """Classic: every live id must be predicted."""
    if len(live_positions) >= len(live):
        return
    covered = np.zeros(len(live), dtype=bool)
    covered[live_positions] = True
    absent = live[~covered]
    raise SubmissionIdsError(
        f"{len(absent)} live id(s) are missing from the submission, e.g. "
        f"{join(absent[:EXAMPLES])}: predict every row of live.parquet{note}",
        details={
            "reason": "missing_live_ids",
            "count": len(absent),
            "examples": [str(a) for a in absent[:EXAMPLES]],
            "live_ids": len(live),
            "unknown_ids": len(unknown),
            "unknown_examples": list(examples),
        },
    )


def _refuse_shared_stocks(
    universe: LiveUniverse, live_positions: np.ndarray, id_col: str, row_dates: np.ndarray | None
) -> None:
    """Two submitted ids that are one stock (one ``numerai_ticker``) in the universe."""
    canonical = universe.canonical_of(live_positions)
    keys = (
        pd.Index(canonical)
        if row_dates is None
        else pd.MultiIndex.from_arrays([row_dates, canonical])
    )
    repeated = keys.duplicated(keep=False)
    if not repeated.any():
        return
    stock = canonical[repeated][0]
    sent = [str(universe.live[p]) for p in live_positions[repeated & (canonical == stock)]]
    raise SubmissionIdsError(
        f"{len(pd.unique(canonical[repeated]))} stock(s) were sent more than once under "
        f"different {id_col} values after mapping to {universe.canonical_column}, e.g. "
        f"{join(repr(s) for s in sent[:EXAMPLES])} are all {stock!r}: submit each stock once",
        details={
            "reason": "duplicate_after_mapping",
            "stock": str(stock),
            "examples": sent[:EXAMPLES],
        },
    )


def _refuse_sent_twice(
    universe: LiveUniverse,
    rules: RuleSet,
    id_col: str,
    submitted: np.ndarray,
    in_live: np.ndarray,
    live_positions: np.ndarray,
    all_dates: np.ndarray | None,
) -> None:
    """A stock sent under the file's id type and again as another type's id (on one date,
    for diagnostics)."""
    unknown = pd.unique(submitted[~in_live])
    other_of = {
        u: (c, stock) for u, c, stock in universe.elsewhere(unknown, id_col, rules.id_columns)
    }
    if not other_of:
        return
    canonical = universe.canonical_of(live_positions)
    no_date = np.full(len(submitted), "", dtype=object)
    day = no_date if all_dates is None else all_dates
    sent = dict(zip(zip(day[in_live], canonical, strict=True), live_positions, strict=True))
    for row in np.flatnonzero(~in_live):
        u = str(submitted[row])
        if u not in other_of:
            continue
        column, stock = other_of[u]
        mine = sent.get((day[row], stock))
        if mine is not None:
            raise SubmissionIdsError(
                f"stock {stock!r} was sent twice: as {id_col} {str(universe.live[mine])!r} and "
                f"as {u!r}, its {column}; a file uses one id type: submit each stock once",
                details={
                    "reason": "ticker_sent_twice",
                    "stock": stock,
                    "examples": [str(universe.live[mine]), u],
                    "other_column": column,
                },
            )


def validate_classic(frame: pd.DataFrame, live_ids: LiveIds) -> ValidatedSubmission:
    """:func:`validate_submission` with :data:`~crowdalpha.submissions.rules.CLASSIC_RULES`
    (numerai-tools' ``validate_submission_numerai``)."""
    return validate_submission(frame, live_ids, tournament=CLASSIC_RULES)


def validate_signals(
    frame: pd.DataFrame,
    universe: LiveIds,
    *,
    min_tickers: int | None = None,
    diagnostics: bool = False,
) -> ValidatedSubmission:
    """:func:`validate_submission` with :data:`~crowdalpha.submissions.rules.SIGNALS_RULES`
    (numerai-tools' ``validate_submission_signals``; ``diagnostics`` is its
    ``assert_date_col``, checked date by date)."""
    return validate_submission(
        frame, universe, tournament=SIGNALS_RULES, min_tickers=min_tickers, diagnostics=diagnostics
    )


def load_and_validate(
    data: SubmissionSource,
    live_ids: LiveIds,
    *,
    tournament: CompetitionName | RuleSet = "classic",
    filename: str | None = None,
    max_bytes: int | None = None,
    min_tickers: int | None = None,
    diagnostics: bool = False,
) -> ValidatedSubmission:
    """:func:`~crowdalpha.submissions.read.read_submission` then :func:`validate_submission`,
    with the raw file's SHA-256.

    The source is read once; ``sha256`` is the digest of exactly the bytes received (before
    any decompression), so the same upload always has the same digest.
    """
    raw, name = read_raw(data, filename, max_bytes)
    frame = parse(raw, name, max_bytes)
    validated = validate_submission(
        frame, live_ids, tournament=tournament, min_tickers=min_tickers, diagnostics=diagnostics
    )
    return dataclasses.replace(validated, sha256=hashlib.sha256(raw).hexdigest())
