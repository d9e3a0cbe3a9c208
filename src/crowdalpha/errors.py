"""The one exception hierarchy of crowdalpha.

Every error the library raises on purpose derives from :class:`CrowdAlphaError`, carries a
stable machine-readable ``code`` (a class attribute, safe to match on and to send over the
wire) and a message written for the person who has to fix the problem. The server maps the
categories below to HTTP and GraphQL errors in one place; the CLI prints ``code: message``.

::

    CrowdAlphaError                       crowdalpha_error
    ├── InvalidInputError                 invalid_input            (also a ValueError)
    │   ├── InvalidParameterError         invalid_parameter
    │   ├── MarketDataError               invalid_market_data
    │   │   ├── MissingColumnsError       missing_columns
    │   │   ├── DuplicateRowsError        duplicate_rows
    │   │   ├── NonPositivePriceError     non_positive_prices
    │   │   ├── UnsortedDatesError        unsorted_dates
    │   │   └── DateGapError              date_gaps
    │   ├── ScoringInputError             invalid_scoring_input
    │   │   ├── NotEnoughOverlapError     not_enough_overlapping_ids
    │   │   ├── MissingValuesError        missing_values
    │   │   ├── DuplicateIdsError         duplicate_ids
    │   │   ├── UnsortedIndexError        unsorted_index
    │   │   ├── IndexMismatchError        index_mismatch
    │   │   └── DegenerateDataError       degenerate_data
    │   ├── SubmissionError               invalid_submission
    │   │   ├── SubmissionFileError       invalid_submission_file
    │   │   ├── SubmissionHeadersError    invalid_submission_headers
    │   │   ├── SubmissionIdsError        invalid_submission_ids
    │   │   └── SubmissionValuesError     invalid_submission_values
    │   ├── InvalidAmountError            invalid_amount
    │   └── UnbalancedEntryError          unbalanced_entry
    ├── NotFoundError                     not_found
    ├── ConflictError                     conflict
    │   ├── InsufficientFundsError        insufficient_funds
    │   ├── IdempotencyKeyReusedError     idempotency_key_reused
    │   └── RoundStateError               round_state
    ├── AuthenticationError               authentication_failed
    ├── PermissionDeniedError             permission_denied
    ├── LimitExceededError                limit_exceeded
    │   └── StakeLimitError               stake_limit_exceeded
    └── LedgerInvariantError              ledger_invariant_violated

Validation never uses ``assert``: assertions vanish under ``python -O`` and carry no code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "CrowdAlphaError",
    "DateGapError",
    "DegenerateDataError",
    "DuplicateIdsError",
    "DuplicateRowsError",
    "IdempotencyKeyReusedError",
    "IndexMismatchError",
    "InsufficientFundsError",
    "InvalidAmountError",
    "InvalidInputError",
    "InvalidParameterError",
    "LedgerInvariantError",
    "LimitExceededError",
    "MarketDataError",
    "MissingColumnsError",
    "MissingValuesError",
    "NonPositivePriceError",
    "NotEnoughOverlapError",
    "NotFoundError",
    "PermissionDeniedError",
    "RoundStateError",
    "ScoringInputError",
    "StakeLimitError",
    "SubmissionError",
    "SubmissionFileError",
    "SubmissionHeadersError",
    "SubmissionIdsError",
    "SubmissionValuesError",
    "UnbalancedEntryError",
    "UnsortedDatesError",
    "UnsortedIndexError",
]


class CrowdAlphaError(Exception):
    """Base of every error crowdalpha raises on purpose.

    ``code`` is stable across releases; ``message`` is for people; ``details`` holds
    structured facts (counts, names) that a client may show or act on.
    """

    code: ClassVar[str] = "crowdalpha_error"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The error as the APIs send it: ``{"code", "message", "details"}``."""
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInputError(CrowdAlphaError, ValueError):
    """The caller's input cannot be used as given; nothing was changed."""

    code = "invalid_input"


class InvalidParameterError(InvalidInputError):
    """An argument is out of its allowed range (a ratio above 1, ``top_bottom`` too large…)."""

    code = "invalid_parameter"


class MarketDataError(InvalidInputError):
    """Prices that cannot be used as market data (file, columns or values)."""

    code = "invalid_market_data"


class MissingColumnsError(MarketDataError):
    """A required column (``date``, ``ticker``, ``close``…) is absent."""

    code = "missing_columns"


class DuplicateRowsError(MarketDataError):
    """The same (date, ticker) appears more than once."""

    code = "duplicate_rows"


class NonPositivePriceError(MarketDataError):
    """A price that is zero, negative or not a number."""

    code = "non_positive_prices"


class UnsortedDatesError(MarketDataError):
    """Rows are not in date order (or, when appending, start before the data they extend)."""

    code = "unsorted_dates"


class DateGapError(MarketDataError):
    """The trading calendar skips more days than allowed (a week or more of missing data)."""

    code = "date_gaps"


class ScoringInputError(InvalidInputError):
    """Predictions, targets, meta model or features that cannot be scored as given."""

    code = "invalid_scoring_input"


class NotEnoughOverlapError(ScoringInputError):
    """Aligning two inputs by id would drop more rows than the data-loss budget allows."""

    code = "not_enough_overlapping_ids"


class MissingValuesError(ScoringInputError):
    """NaN where a value is required (predictions, features or neutralizers)."""

    code = "missing_values"


class DuplicateIdsError(ScoringInputError):
    """The same id appears more than once in one input."""

    code = "duplicate_ids"


class UnsortedIndexError(ScoringInputError):
    """A function that requires ids sorted ascending received them in another order."""

    code = "unsorted_index"


class IndexMismatchError(ScoringInputError):
    """Two inputs that must share the same ids, in the same order, do not."""

    code = "index_mismatch"


class DegenerateDataError(ScoringInputError):
    """The data leave the metric undefined: one row, or a transform that destroys the signal."""

    code = "degenerate_data"


class SubmissionError(InvalidInputError):
    """A prediction file that breaks the submission rules; nothing was stored."""

    code = "invalid_submission"


class SubmissionFileError(SubmissionError):
    """The file cannot be read as CSV or Parquet (empty, corrupt, wrong format, too large)."""

    code = "invalid_submission_file"


class SubmissionHeadersError(SubmissionError):
    """The columns are not exactly an id column and a prediction column."""

    code = "invalid_submission_headers"


class SubmissionIdsError(SubmissionError):
    """Missing, duplicated or insufficient ids (every live id must be predicted)."""

    code = "invalid_submission_ids"


class SubmissionValuesError(SubmissionError):
    """Predictions that are NaN, outside [0, 1] or constant."""

    code = "invalid_submission_values"


class InvalidAmountError(InvalidInputError):
    """An NMR amount that is not a non-negative whole number of base units (or is malformed)."""

    code = "invalid_amount"


class UnbalancedEntryError(InvalidInputError):
    """A ledger entry whose postings do not sum to zero, or that has no postings."""

    code = "unbalanced_entry"


class NotFoundError(CrowdAlphaError):
    """The named object (round, model, dataset, account…) does not exist."""

    code = "not_found"


class ConflictError(CrowdAlphaError):
    """The request conflicts with the current state (a closed round, a name already taken…)."""

    code = "conflict"


class InsufficientFundsError(ConflictError):
    """The account holds less NMR than the operation would take out of it."""

    code = "insufficient_funds"


class IdempotencyKeyReusedError(ConflictError):
    """An idempotency key already used for a different operation or different arguments."""

    code = "idempotency_key_reused"


class RoundStateError(ConflictError):
    """The round is not in a state that allows the operation (not open, already resolved…)."""

    code = "round_state"


class AuthenticationError(CrowdAlphaError):
    """Missing, malformed, wrong or revoked credentials."""

    code = "authentication_failed"


class PermissionDeniedError(CrowdAlphaError):
    """Valid credentials that may not perform this action."""

    code = "permission_denied"


class LimitExceededError(CrowdAlphaError):
    """A configured limit (size, rate, quota) was exceeded."""

    code = "limit_exceeded"


class StakeLimitError(LimitExceededError):
    """A stake above the account's configured maximum (absolute or share of holdings)."""

    code = "stake_limit_exceeded"


class LedgerInvariantError(CrowdAlphaError):
    """The ledger check found an inconsistency (an unbalanced entry, a negative balance…)."""

    code = "ledger_invariant_violated"
