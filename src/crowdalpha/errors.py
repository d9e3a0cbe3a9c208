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
    │   │   ├── DateGapError              date_gaps
    │   │   └── PriceHistoryError         price_history_changed
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
    │   │   ├── SubmissionValuesError     invalid_submission_values
    │   │   └── SubmissionDatesError      invalid_submission_dates
    │   ├── FundInputError                invalid_fund_input
    │   │   └── LookAheadError            look_ahead
    │   ├── InvalidAmountError            invalid_amount
    │   ├── UnbalancedEntryError          unbalanced_entry
    │   ├── BackupError                   invalid_backup
    │   └── SettlementError               invalid_settlement
    ├── NotFoundError                     not_found
    ├── ConflictError                     conflict
    │   ├── InsufficientFundsError        insufficient_funds
    │   ├── IdempotencyKeyReusedError     idempotency_key_reused
    │   ├── RoundStateError               round_state
    │   ├── SchedulerBusyError            scheduler_busy
    │   └── GovernanceStateError          governance_state
    │       ├── VotingClosedError         voting_closed
    │       ├── TimelockError             timelock
    │       └── NoVotingPowerError        no_voting_power
    ├── AuthenticationError               authentication_failed
    ├── PermissionDeniedError             permission_denied
    ├── FundConstraintError               fund_constraint_violated
    ├── LimitExceededError                limit_exceeded
    │   └── StakeLimitError               stake_limit_exceeded
    ├── ServiceUnavailableError           service_unavailable
    │   └── StorageWriteError             storage_write_failed
    ├── NotSupportedError                 not_supported
    ├── LedgerInvariantError              ledger_invariant_violated
    ├── CorruptFileError                  corrupt_file             (also a ValueError)
    └── ChainError                        chain_error
        ├── ChainConfigurationError       chain_misconfigured
        ├── ChainUnavailableError         chain_unavailable
        └── ChainTransactionError         chain_transaction_failed

Validation never uses ``assert``: assertions vanish under ``python -O`` and carry no code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "BackupError",
    "ChainConfigurationError",
    "ChainError",
    "ChainTransactionError",
    "ChainUnavailableError",
    "ConflictError",
    "CorruptFileError",
    "CrowdAlphaError",
    "DateGapError",
    "DegenerateDataError",
    "DuplicateIdsError",
    "DuplicateRowsError",
    "FundConstraintError",
    "FundInputError",
    "GovernanceStateError",
    "IdempotencyKeyReusedError",
    "IndexMismatchError",
    "InsufficientFundsError",
    "InvalidAmountError",
    "InvalidInputError",
    "InvalidParameterError",
    "LedgerInvariantError",
    "LimitExceededError",
    "LookAheadError",
    "MarketDataError",
    "MissingColumnsError",
    "MissingValuesError",
    "NoVotingPowerError",
    "NonPositivePriceError",
    "NotEnoughOverlapError",
    "NotFoundError",
    "NotSupportedError",
    "PermissionDeniedError",
    "PriceHistoryError",
    "RoundStateError",
    "SchedulerBusyError",
    "ScoringInputError",
    "ServiceUnavailableError",
    "SettlementError",
    "StakeLimitError",
    "StorageWriteError",
    "SubmissionDatesError",
    "SubmissionError",
    "SubmissionFileError",
    "SubmissionHeadersError",
    "SubmissionIdsError",
    "SubmissionValuesError",
    "TimelockError",
    "UnbalancedEntryError",
    "UnsortedDatesError",
    "UnsortedIndexError",
    "VotingClosedError",
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


class PriceHistoryError(MarketDataError):
    """A price file rewrites days the tournament has already read (a damaged file, a bad
    day pasted in): ``details`` lists the ``changed`` and ``missing`` days."""

    code = "price_history_changed"


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


class SubmissionDatesError(SubmissionError):
    """A Signals date column whose values do not fit the upload: several dates in a live
    submission (which predicts one date), or rows without a date. (No date column at all in
    a diagnostics upload is a header error, as numerai-tools has it.)"""

    code = "invalid_submission_dates"


class FundInputError(InvalidInputError):
    """Signals, prices or settings the fund's backtest cannot use as given."""

    code = "invalid_fund_input"


class LookAheadError(FundInputError):
    """The timing guard: an input would be used before it was available (look-ahead)."""

    code = "look_ahead"


class InvalidAmountError(InvalidInputError):
    """An NMR amount that is not a non-negative whole number of base units (or is malformed)."""

    code = "invalid_amount"


class BackupError(InvalidInputError):
    """A backup folder that is incomplete or damaged (a part whose SHA-256 does not match)."""

    code = "invalid_backup"


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


class SchedulerBusyError(ConflictError):
    """Another scheduler (a second server process, a cron ``tick``) is ticking the same
    database; this tick did nothing. Retry later — the other one is doing the work."""

    code = "scheduler_busy"


class GovernanceStateError(ConflictError):
    """The proposal is not in a state that allows the operation (already tallied, not
    passed, already executed…)."""

    code = "governance_state"


class VotingClosedError(GovernanceStateError):
    """A vote on a proposal whose voting period has ended (or not yet begun)."""

    code = "voting_closed"


class TimelockError(GovernanceStateError):
    """Executing a passed proposal before its timelock has run out."""

    code = "timelock"


class NoVotingPowerError(GovernanceStateError):
    """A vote from an account that held and staked no NMR at the proposal's snapshot."""

    code = "no_voting_power"


class AuthenticationError(CrowdAlphaError):
    """Missing, malformed, wrong or revoked credentials."""

    code = "authentication_failed"


class PermissionDeniedError(CrowdAlphaError):
    """Valid credentials that may not perform this action."""

    code = "permission_denied"


class FundConstraintError(CrowdAlphaError):
    """A rebalance's target book broke a constraint (neutrality, gross, a cap): the run stops."""

    code = "fund_constraint_violated"


class LimitExceededError(CrowdAlphaError):
    """A configured limit (size, rate, quota) was exceeded."""

    code = "limit_exceeded"


class StakeLimitError(LimitExceededError):
    """A stake above the account's configured maximum (absolute or share of holdings)."""

    code = "stake_limit_exceeded"


class ServiceUnavailableError(CrowdAlphaError):
    """A service the operator configured (the S3 bucket, the Dask scheduler) could not be
    reached or refused the request; ``details["service"]`` names it. Retrying later may help."""

    code = "service_unavailable"


class StorageWriteError(ServiceUnavailableError):
    """The file store refused a write: its disk is full, read-only or over a quota.
    ``details``: ``service`` (``file_store``), ``reason`` (``no_space``, ``read_only``,
    ``permission_denied``, ``file_too_large`` or ``os_error``), ``errno`` and ``retryable``
    (true: the same request succeeds once the operator has freed or fixed the store).
    Nothing of the failed operation was kept."""

    code = "storage_write_failed"


class NotSupportedError(CrowdAlphaError):
    """A request this server deliberately does not serve (e.g. Numerai Compute's model
    uploads through numerapi): the message says why and what to do instead."""

    code = "not_supported"


class LedgerInvariantError(CrowdAlphaError):
    """The ledger check found an inconsistency (an unbalanced entry, a negative balance…)."""

    code = "ledger_invariant_violated"


class CorruptFileError(CrowdAlphaError, ValueError):
    """A file at rest does not match the SHA-256 recorded when it was written (truncated,
    damaged or replaced): it is never used. ``details``: ``key``, ``expected`` and
    ``found`` (the hashes). The operator restores it from a backup."""

    code = "corrupt_file"


class SettlementError(InvalidInputError):
    """Stake results that cannot be settled on chain (a burn above the stake, a model twice…)."""

    code = "invalid_settlement"


class ChainError(CrowdAlphaError):
    """Something went wrong between crowdalpha and the EVM chain (crowdalpha.chain)."""

    code = "chain_error"


class ChainConfigurationError(ChainError):
    """The chain settings are missing or inconsistent (no URL, no key, wrong chain id…)."""

    code = "chain_misconfigured"


class ChainUnavailableError(ChainError):
    """The JSON-RPC node cannot be reached or does not answer."""

    code = "chain_unavailable"


class ChainTransactionError(ChainError):
    """A transaction was refused by the contract (the revert reason says why) or failed."""

    code = "chain_transaction_failed"
