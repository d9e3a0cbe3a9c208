"""The NMR ledger: exact, double-entry, with explicit supply.

Amounts are ``int`` base units (1 NMR = 10^18). Every movement is one balanced entry of
postings between accounts (see :mod:`crowdalpha.ledger.accounts`); idempotency keys make
retries harmless; :func:`check_ledger` recomputes everything from the postings.
"""

from crowdalpha.ledger.accounts import (
    BURNED,
    EXTERNAL,
    MINTED,
    REWARD_POOL,
    TREASURY,
    AccountKind,
    escrow,
    kind_of,
    pending,
    stake,
    wallet,
)
from crowdalpha.ledger.check import LedgerCheckReport, check_ledger
from crowdalpha.ledger.interface import Entry, Ledger, LedgerOperations, Posting, Supply
from crowdalpha.ledger.sql import SqlLedger, entry_fingerprint
from crowdalpha.units import DECIMALS, NMR, display_nmr, format_nmr, nmr, to_base_units

__all__ = [
    "BURNED",
    "DECIMALS",
    "EXTERNAL",
    "MINTED",
    "NMR",
    "REWARD_POOL",
    "TREASURY",
    "AccountKind",
    "Entry",
    "Ledger",
    "LedgerCheckReport",
    "LedgerOperations",
    "Posting",
    "SqlLedger",
    "Supply",
    "check_ledger",
    "display_nmr",
    "entry_fingerprint",
    "escrow",
    "format_nmr",
    "kind_of",
    "nmr",
    "pending",
    "stake",
    "to_base_units",
    "wallet",
]
