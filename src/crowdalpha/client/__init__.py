"""The participant client: ``Client(base_url=..., public_id=..., secret_key=...)``.

Typed methods over the REST API that return dataclasses (amounts as ``int`` base units),
raise the library's typed errors, retry transient failures, and move files safely
(resumable downloads, uploads with progress)."""

from crowdalpha.client.client import Amount, Client, Progress
from crowdalpha.client.errors import (
    ERROR_CLASSES,
    CorruptDownloadError,
    ServerError,
    ServerUnreachableError,
    error_from_response,
)
from crowdalpha.client.models import (
    Account,
    ApiKey,
    DatasetFile,
    Grant,
    LeaderboardRow,
    LedgerCheck,
    LedgerEntry,
    Model,
    NewApiKey,
    Payout,
    PendingRelease,
    Resolution,
    Round,
    Score,
    SignUp,
    Stake,
    Submission,
    TickResult,
    Wallet,
)

__all__ = [
    "ERROR_CLASSES",
    "Account",
    "Amount",
    "ApiKey",
    "Client",
    "CorruptDownloadError",
    "DatasetFile",
    "Grant",
    "LeaderboardRow",
    "LedgerCheck",
    "LedgerEntry",
    "Model",
    "NewApiKey",
    "Payout",
    "PendingRelease",
    "Progress",
    "Resolution",
    "Round",
    "Score",
    "ServerError",
    "ServerUnreachableError",
    "SignUp",
    "Stake",
    "Submission",
    "TickResult",
    "Wallet",
    "error_from_response",
]
