"""Submissions in: read a prediction file and check it against the tournament's rules.

Pure functions, no storage: the tournament core calls :func:`load_and_validate` on an
upload for a round's live ids and stores the :class:`ValidatedSubmission` it returns; every
refusal is a :class:`~crowdalpha.errors.SubmissionError` with a stable code.
"""

from crowdalpha.submissions.validate import (
    CLASSIC_ID_COLUMNS,
    CLASSIC_PREDICTION_COLUMNS,
    MAX_EXPANSION,
    SIGNALS_DATE_COLUMNS,
    SIGNALS_ID_COLUMNS,
    SIGNALS_MIN_TICKERS,
    SIGNALS_PREDICTION_COLUMNS,
    TOURNAMENTS,
    LiveIds,
    SubmissionSource,
    Tournament,
    ValidatedSubmission,
    file_sha256,
    load_and_validate,
    read_submission,
    validate_submission,
)

__all__ = [
    "CLASSIC_ID_COLUMNS",
    "CLASSIC_PREDICTION_COLUMNS",
    "MAX_EXPANSION",
    "SIGNALS_DATE_COLUMNS",
    "SIGNALS_ID_COLUMNS",
    "SIGNALS_MIN_TICKERS",
    "SIGNALS_PREDICTION_COLUMNS",
    "TOURNAMENTS",
    "LiveIds",
    "SubmissionSource",
    "Tournament",
    "ValidatedSubmission",
    "file_sha256",
    "load_and_validate",
    "read_submission",
    "validate_submission",
]
