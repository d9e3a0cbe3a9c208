"""Submissions in: read a prediction file and check it against a competition's rules.

Pure functions, no storage: the tournament core calls :func:`load_and_validate` on an
upload for a round's live ids (or, for Signals, its universe frame) and stores the
:class:`ValidatedSubmission` it returns; every refusal is a
:class:`~crowdalpha.errors.SubmissionError` with a stable code.

- :mod:`~crowdalpha.submissions.read` reads CSV, gzipped CSV and Parquet;
- :mod:`~crowdalpha.submissions.columns` names the columns a file may use;
- :mod:`~crowdalpha.submissions.rules` holds each competition's rules as data
  (:data:`CLASSIC_RULES`, :data:`SIGNALS_RULES`);
- :mod:`~crowdalpha.submissions.validate` is the one validation core, with
  :func:`validate_classic` and :func:`validate_signals` as its two configurations;
- :mod:`~crowdalpha.submissions.universe` maps ids between ticker types;
- :mod:`~crowdalpha.submissions.paths` counts which reading and validation paths uploads
  took in this process (the fast ones or not).
"""

from crowdalpha.submissions.checks import LiveIds
from crowdalpha.submissions.columns import (
    CLASSIC_ID_COLUMNS,
    CLASSIC_PREDICTION_COLUMNS,
    SIGNALS_DATE_COLUMNS,
    SIGNALS_ID_COLUMNS,
    SIGNALS_PREDICTION_COLUMNS,
)
from crowdalpha.submissions.read import (
    MAX_EXPANSION,
    SubmissionSource,
    file_sha256,
    read_submission,
)
from crowdalpha.submissions.rules import (
    CLASSIC_RULES,
    COMPETITIONS,
    RULES,
    SIGNALS_MIN_TICKERS,
    SIGNALS_RULES,
    CompetitionName,
    RuleSet,
    rules_for,
)
from crowdalpha.submissions.universe import remap_ids
from crowdalpha.submissions.validate import (
    ValidatedSubmission,
    load_and_validate,
    validate_classic,
    validate_signals,
    validate_submission,
)

__all__ = [
    "CLASSIC_ID_COLUMNS",
    "CLASSIC_PREDICTION_COLUMNS",
    "CLASSIC_RULES",
    "COMPETITIONS",
    "MAX_EXPANSION",
    "RULES",
    "SIGNALS_DATE_COLUMNS",
    "SIGNALS_ID_COLUMNS",
    "SIGNALS_MIN_TICKERS",
    "SIGNALS_PREDICTION_COLUMNS",
    "SIGNALS_RULES",
    "CompetitionName",
    "LiveIds",
    "RuleSet",
    "SubmissionSource",
    "ValidatedSubmission",
    "file_sha256",
    "load_and_validate",
    "read_submission",
    "remap_ids",
    "rules_for",
    "validate_classic",
    "validate_signals",
    "validate_submission",
]
