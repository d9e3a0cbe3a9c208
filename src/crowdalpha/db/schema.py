"""Every table of crowdalpha, gathered on one metadata (for migrations and their test)."""

from __future__ import annotations

# Importing the model modules registers their tables on Base.metadata.
import crowdalpha.db.chain_tables
import crowdalpha.governance.models
import crowdalpha.jobs.models
import crowdalpha.ledger.models
import crowdalpha.tournament.fairplay_models
import crowdalpha.tournament.models
import crowdalpha.tournament.participant_models  # noqa: F401
from crowdalpha.db.base import Base

metadata = Base.metadata

__all__ = ["metadata"]
