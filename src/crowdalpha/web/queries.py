"""The few read-only views the pages need beyond the core's records, built on its public
API: stake and supply histories (worked back from the ledger's history), a signed-in
session's principal, and the meta model's CORR per resolved round (a cleaner core would
record that at resolution: ``Tournament.meta_model_scores()``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from crowdalpha.errors import CrowdAlphaError
from crowdalpha.ledger import BURNED, EXTERNAL, MINTED, Entry, stake
from crowdalpha.tournament import Principal, RoundInfo, Tournament

__all__ = [
    "MetaModelRound",
    "MetaModelScores",
    "SupplyPoint",
    "ledger_history",
    "principal_for_key",
    "stake_history",
    "supply_history",
]

#: How many ledger entries a history chart reads back (the newest ones).
HISTORY_LIMIT = 2000


def ledger_history(tournament: Tournament, account: str, limit: int = HISTORY_LIMIT) -> list[Entry]:
    """The latest entries touching ledger ``account``, newest first (read-only)."""
    return tournament.ledger_history(account, limit=limit)


def stake_history(tournament: Tournament, model_id: int) -> list[tuple[datetime, int]]:
    """``(time, stake after)`` for each movement of the model's stake, oldest first,
    worked back from the current balance (so the newest point is exact)."""
    account = stake(model_id)
    balance = tournament.stake_info(model_id).stake
    points: list[tuple[datetime, int]] = []
    for entry in ledger_history(tournament, account):
        points.append((entry.created_at, balance))
        balance -= entry.amount_for(account)
    points.reverse()
    return points


@dataclass(frozen=True)
class SupplyPoint:
    at: datetime
    minted: int
    burned: int
    circulating: int


def supply_history(tournament: Tournament) -> list[SupplyPoint]:
    """The supply after every mint, burn, deposit and withdrawal, oldest first, worked back
    from the current supply."""
    now = tournament.supply()
    entries: dict[int, Entry] = {}
    for account in (MINTED, BURNED, EXTERNAL):
        entries.update((e.id, e) for e in ledger_history(tournament, account))
    minted, burned, net = now.minted, now.burned, now.net_deposits
    points: list[SupplyPoint] = []
    for entry_id in sorted(entries, reverse=True):
        entry = entries[entry_id]
        points.append(SupplyPoint(entry.created_at, minted, burned, minted - burned + net))
        minted += entry.amount_for(MINTED)  # a mint takes from ``minted`` (negative leg)
        burned -= entry.amount_for(BURNED)
        net += entry.amount_for(EXTERNAL)
    points.reverse()
    return points


def principal_for_key(tournament: Tournament, account_id: int, public_id: str) -> Principal | None:
    """The account and key of a signed-in session, if that key still exists unrevoked."""
    return tournament.principal(account_id, public_id)


@dataclass(frozen=True)
class MetaModelRound:
    round_number: int
    meta_corr: float | None
    mean_corr: float | None  # the plain mean of the round's model CORRs, for comparison
    best_corr: float | None
    models: int
    total_at_risk: int | None


class MetaModelScores:
    """The meta model's CORR on each resolved round, computed from the round's stored meta
    model and its final targets, and kept (a resolved round never changes)."""

    def __init__(self) -> None:
        self._cache: dict[int, float | None] = {}
        self._lock = threading.Lock()

    def corr(self, tournament: Tournament, info: RoundInfo) -> float | None:
        with self._lock:
            if info.number in self._cache:
                return self._cache[info.number]
        value = self._compute(tournament, info)
        with self._lock:
            self._cache[info.number] = value
        return value

    @staticmethod
    def _compute(tournament: Tournament, info: RoundInfo) -> float | None:
        from crowdalpha.scoring import numerai_corr

        if info.meta_model_key is None:
            return None
        try:
            meta = tournament.meta_model(info.number)
            outcome = tournament.data.outcome(
                info.number,
                tournament.live_ids(info.number),
                closes_at=info.closes_at,
                now=tournament.clock.now(),
            )
            if outcome is None or not outcome.final:
                return None
            value = float(numerai_corr(meta.to_frame("meta_model"), outcome.targets).iloc[0])
        except (CrowdAlphaError, ValueError, KeyError, OSError):
            return None
        return value

    def rounds(self, tournament: Tournament) -> list[MetaModelRound]:
        out = []
        for info in tournament.rounds(states=["resolved"]):
            finals = [
                s.corr
                for s in tournament.scores(round_number=info.number)
                if s.final and s.corr is not None
            ]
            out.append(
                MetaModelRound(
                    round_number=info.number,
                    meta_corr=self.corr(tournament, info),
                    mean_corr=sum(finals) / len(finals) if finals else None,
                    best_corr=max(finals) if finals else None,
                    models=len(finals),
                    total_at_risk=info.total_at_risk,
                )
            )
        return out
