"""The chain's books, recomputed from the indexed events alone.

:meth:`ChainView.from_events` folds the token's ``Transfer`` events and the staking
contract's events, in chain order, into balances and supply (minted − burned), each
model's stake per round, each round's resolution, claims, refunds and sweeps. It is a
pure function of the events, so the same events always give the same books, and the
reconciliation compares them with the platform's and with the contracts' live state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress

from crowdalpha.chain.indexer import ChainEvent

__all__ = ["ChainView", "ClaimRecord", "Resolution", "RoundRecord", "StakeRecord"]

_ZERO = "0x0000000000000000000000000000000000000000"


@dataclass
class StakeRecord:
    """A model's stake in a round: its staker, what is at stake now, what was refunded."""

    staker: ChecksumAddress
    submission_id: int
    submission_hash: bytes
    amount: int = 0
    refunded: int = 0
    stakes: int = 0  # Staked events (a model's stake may be raised several times)


@dataclass(frozen=True)
class Resolution:
    merkle_root: bytes
    total_staked: int
    total_payout: int
    total_burn: int
    reward: int
    claim_deadline: int


@dataclass(frozen=True)
class ClaimRecord:
    staker: ChecksumAddress
    submission_id: int
    payout: int
    burn: int


@dataclass
class RoundRecord:
    round_id: int
    tournament_id: int
    open_time: int
    close_time: int
    resolve_time: int
    stake_cap: int
    stake_threshold: int
    cancelled: bool = False
    resolution: Resolution | None = None
    swept: int = 0

    @property
    def resolved(self) -> bool:
        return self.resolution is not None


@dataclass
class ChainView:
    """Balances, supply, stakes, resolutions and claims as the events tell them."""

    minted: int = 0
    burned: int = 0
    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rounds: dict[int, RoundRecord] = field(default_factory=dict)
    stakes: dict[tuple[int, int], StakeRecord] = field(default_factory=dict)
    claims: dict[tuple[int, int], ClaimRecord] = field(default_factory=dict)
    authorization_signer: ChecksumAddress | None = None
    service_wallet: ChecksumAddress | None = None
    guardian: ChecksumAddress | None = None
    paused: bool = False

    @property
    def supply(self) -> int:
        return self.minted - self.burned

    def round_stakes(self, round_id: int) -> dict[int, StakeRecord]:
        """The stakes of one round, by model id."""
        return {m: s for (r, m), s in self.stakes.items() if r == round_id}

    def total_staked(self, round_id: int) -> int:
        return sum(s.amount for s in self.round_stakes(round_id).values())

    def claimed_payout(self, round_id: int) -> int:
        return sum(c.payout for (r, _), c in self.claims.items() if r == round_id)

    def held_by_staking(self) -> int:
        """What the staking contract must hold: stakes of unresolved rounds plus the
        payouts of resolved rounds not yet claimed or swept."""
        held = 0
        for round_id, record in self.rounds.items():
            if record.resolution is None:
                held += self.total_staked(round_id)
            else:
                held += (
                    record.resolution.total_payout - self.claimed_payout(round_id) - record.swept
                )
        return held

    def apply(self, event: ChainEvent) -> None:
        """Fold one event into the books (events must come in chain order)."""
        a = event.args
        if event.contract == "nmr":
            if event.name == "Transfer":
                sender, receiver, value = a["sender"], a["receiver"], a["value"]
                if sender == _ZERO:
                    self.minted += value
                else:
                    self.balances[sender] -= value
                if receiver == _ZERO:
                    self.burned += value
                else:
                    self.balances[receiver] += value
            return
        handler = getattr(self, f"_on_{event.name}", None)
        if handler is not None:
            handler(a)

    # -- the staking contract's events ----------------------------------------------------

    def _on_RoundOpened(self, a: Mapping[str, Any]) -> None:
        self.rounds[a["round_id"]] = RoundRecord(
            round_id=a["round_id"],
            tournament_id=a["tournament_id"],
            open_time=a["open_time"],
            close_time=a["close_time"],
            resolve_time=a["resolve_time"],
            stake_cap=a["stake_cap"],
            stake_threshold=a["stake_threshold"],
        )

    def _on_RoundCancelled(self, a: Mapping[str, Any]) -> None:
        self.rounds[a["round_id"]].cancelled = True

    def _on_Staked(self, a: Mapping[str, Any]) -> None:
        key = (a["round_id"], a["model_id"])
        record = self.stakes.get(key)
        if record is None:
            record = self.stakes[key] = StakeRecord(
                staker=a["staker"],
                submission_id=a["submission_id"],
                submission_hash=a["submission_hash"],
            )
        record.amount += a["amount"]
        record.stakes += 1
        record.submission_id = a["submission_id"]
        record.submission_hash = a["submission_hash"]

    def _on_RoundResolved(self, a: Mapping[str, Any]) -> None:
        self.rounds[a["round_id"]].resolution = Resolution(
            merkle_root=a["merkle_root"],
            total_staked=a["total_staked"],
            total_payout=a["total_payout"],
            total_burn=a["total_burn"],
            reward=a["reward"],
            claim_deadline=a["claim_deadline"],
        )

    def _on_Claimed(self, a: Mapping[str, Any]) -> None:
        key = (a["round_id"], a["model_id"])
        self.claims[key] = ClaimRecord(
            staker=a["staker"],
            submission_id=a["submission_id"],
            payout=a["payout"],
            burn=a["burn"],
        )

    def _on_Refunded(self, a: Mapping[str, Any]) -> None:
        record = self.stakes[(a["round_id"], a["model_id"])]
        record.amount -= a["amount"]
        record.refunded += a["amount"]

    def _on_Swept(self, a: Mapping[str, Any]) -> None:
        self.rounds[a["round_id"]].swept += a["amount"]

    def _on_AuthorizationSignerChanged(self, a: Mapping[str, Any]) -> None:
        self.authorization_signer = a["new_signer"]

    def _on_ServiceWalletChanged(self, a: Mapping[str, Any]) -> None:
        self.service_wallet = a["new_wallet"]

    def _on_GuardianChanged(self, a: Mapping[str, Any]) -> None:
        self.guardian = a["new_guardian"]

    def _on_Paused(self, a: Mapping[str, Any]) -> None:
        self.paused = True

    def _on_Unpaused(self, a: Mapping[str, Any]) -> None:
        self.paused = False

    @classmethod
    def from_events(cls, events: Iterable[ChainEvent]) -> ChainView:
        view = cls()
        for event in events:
            view.apply(event)
        return view
