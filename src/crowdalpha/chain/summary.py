"""What people see of a round on chain (the CLI's ``chain round`` and the web UI): its
state, root and totals, and each staked model's stake, result and claim state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crowdalpha.chain.encoding import hex32

if TYPE_CHECKING:
    from crowdalpha.chain.platform import ChainPlatform

__all__ = ["ModelOnChain", "RoundOnChain", "round_summary"]


@dataclass(frozen=True)
class ModelOnChain:
    model_id: int
    staker: str
    stake: int
    payout: int | None  # None before the round is settled
    burn: int | None
    claimed: bool


@dataclass(frozen=True)
class RoundOnChain:
    round_id: int
    state: str  # the contract's: pending, open, closed, resolved, expired…
    total_staked: int
    merkle_root: str | None
    total_payout: int
    total_burn: int
    claim_deadline: int  # unix seconds; 0 before resolution
    models: list[ModelOnChain]

    @property
    def claimed(self) -> int:
        return sum(1 for m in self.models if m.claimed)


def round_summary(platform: ChainPlatform, round_id: int) -> RoundOnChain:
    """Round ``round_id`` from the contract (state, totals), the indexed events (stakes,
    claims) and the platform's settlement (each model's payout and burn)."""
    live = platform.onchain_round(round_id)
    view = platform.view()
    settlement = platform.settlement(round_id)
    results = {r.model_id: r for r in settlement.results} if settlement else {}
    models = []
    for model_id, record in sorted(view.round_stakes(round_id).items()):
        result = results.get(model_id)
        models.append(
            ModelOnChain(
                model_id=model_id,
                staker=record.staker,
                stake=result.stake if result else record.amount,
                payout=result.payout if result else None,
                burn=result.burn if result else None,
                claimed=(round_id, model_id) in view.claims,
            )
        )
    return RoundOnChain(
        round_id=round_id,
        state=live.state.label,
        total_staked=settlement.total_stake if settlement else live.total_staked,
        merkle_root=None if live.merkle_root is None else hex32(live.merkle_root),
        total_payout=settlement.total_payout if settlement else 0,
        total_burn=settlement.total_burn if settlement else 0,
        claim_deadline=live.claim_deadline,
        models=models,
    )
