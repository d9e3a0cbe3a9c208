"""Reconciliation: the platform's books against the chain, every difference listed.

The platform states what it believes (:class:`OffChainView`: each round's stakes by
model, its settlement, the token's supply and total burn, any balances it tracks);
:func:`reconcile` compares that with the chain as the indexed events tell it
(:class:`~crowdalpha.chain.view.ChainView`) and, when given the contracts, with their
live state (which also checks the indexer). An empty list means the books agree; each
:class:`Difference` names what differs, where, and both values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eth_typing import ChecksumAddress

from crowdalpha.chain.contracts import NMRToken, Staking
from crowdalpha.chain.encoding import hex32
from crowdalpha.chain.settlement import Settlement
from crowdalpha.chain.view import ChainView
from crowdalpha.errors import NotFoundError

__all__ = ["Difference", "ExpectedRound", "OffChainView", "reconcile"]


@dataclass(frozen=True)
class ExpectedRound:
    """One round as the platform's books have it."""

    round_id: int
    stakes: Mapping[int, tuple[ChecksumAddress, int]]  # model id → (staker, base units)
    settlement: Settlement | None = None  # None: not resolved yet


@dataclass(frozen=True)
class OffChainView:
    """What the platform believes the chain holds."""

    rounds: Mapping[int, ExpectedRound] = field(default_factory=dict)
    total_supply: int | None = None
    total_burned: int | None = None
    balances: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Difference:
    """One disagreement: ``kind`` (stable, e.g. ``stake_amount``), ``subject`` (where)."""

    kind: str
    subject: str
    off_chain: object
    on_chain: object

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}: off chain {self.off_chain}, on chain {self.on_chain}"


def _stake_differences(expected: OffChainView, view: ChainView) -> list[Difference]:
    out: list[Difference] = []
    round_ids = set(expected.rounds) | {r for r, _ in view.stakes}
    for round_id in sorted(round_ids):
        wanted = expected.rounds.get(round_id)
        wanted_stakes = dict(wanted.stakes) if wanted else {}
        actual = {m: s for m, s in view.round_stakes(round_id).items() if s.amount or s.stakes}
        if wanted is not None and round_id not in view.rounds:
            out.append(Difference("round_missing", f"round {round_id}", "opened", None))
        for model_id in sorted(set(wanted_stakes) | set(actual)):
            subject = f"round {round_id} model {model_id}"
            staker, amount = wanted_stakes.get(model_id, (None, 0))
            record = actual.get(model_id)
            chain_staker = record.staker if record else None
            chain_amount = record.amount if record else 0
            if amount != chain_amount:
                out.append(Difference("stake_amount", subject, amount, chain_amount))
            if staker is not None and chain_staker is not None and staker != chain_staker:
                out.append(Difference("staker", subject, staker, chain_staker))
    return out


def _settlement_differences(expected: OffChainView, view: ChainView) -> list[Difference]:
    out: list[Difference] = []
    for round_id, record in sorted(view.rounds.items()):
        wanted = expected.rounds.get(round_id)
        settlement = wanted.settlement if wanted else None
        resolution = record.resolution
        subject = f"round {round_id}"
        if settlement is None:
            if resolution is not None:
                out.append(
                    Difference(
                        "unexpected_resolution", subject, None, hex32(resolution.merkle_root)
                    )
                )
            continue
        if resolution is None:
            out.append(Difference("resolution_missing", subject, hex32(settlement.root), None))
            continue
        if resolution.merkle_root != settlement.root:
            out.append(
                Difference(
                    "merkle_root", subject, hex32(settlement.root), hex32(resolution.merkle_root)
                )
            )
        for kind, mine, theirs in (
            ("total_staked", settlement.total_stake, resolution.total_staked),
            ("total_payout", settlement.total_payout, resolution.total_payout),
            ("total_burn", settlement.total_burn, resolution.total_burn),
        ):
            if mine != theirs:
                out.append(Difference(kind, subject, mine, theirs))
        for (claim_round, model_id), claim in sorted(view.claims.items()):
            if claim_round != round_id:
                continue
            leaf_subject = f"round {round_id} model {model_id}"
            try:
                result = settlement.result(model_id)
            except NotFoundError:
                out.append(Difference("unexpected_claim", leaf_subject, None, claim.payout))
                continue
            if result.staker != claim.staker:
                out.append(Difference("claim_staker", leaf_subject, result.staker, claim.staker))
            for kind, mine, theirs in (
                ("claim_payout", result.payout, claim.payout),
                ("claim_burn", result.burn, claim.burn),
                ("claim_submission", result.submission_id, claim.submission_id),
            ):
                if mine != theirs:
                    out.append(Difference(kind, leaf_subject, mine, theirs))
    for round_id, wanted in sorted(expected.rounds.items()):
        if round_id not in view.rounds and wanted.settlement is not None:
            out.append(
                Difference(
                    "resolution_missing", f"round {round_id}", hex32(wanted.settlement.root), None
                )
            )
    return out


def _live_differences(view: ChainView, token: NMRToken, staking: Staking) -> list[Difference]:
    """The indexed books against the contracts' state now."""
    out: list[Difference] = []
    supply = token.total_supply()
    if supply != view.supply:
        out.append(Difference("indexed_supply", "token", view.supply, supply))
    held = token.balance_of(staking.address)
    if held != view.held_by_staking():
        # Stakes of open rounds + unclaimed payouts; anything else is NMR sent to the
        # contract by mistake (or a bug).
        out.append(Difference("staking_balance", "staking contract", view.held_by_staking(), held))
    for round_id, record in sorted(view.rounds.items()):
        live = staking.round(round_id)
        subject = f"round {round_id}"
        if live.total_staked != view.total_staked(round_id):
            out.append(
                Difference(
                    "indexed_total_staked", subject, view.total_staked(round_id), live.total_staked
                )
            )
        if record.resolution is not None:
            left = record.resolution.total_payout - view.claimed_payout(round_id) - record.swept
            if live.remaining_payout != left:
                out.append(Difference("remaining_payout", subject, left, live.remaining_payout))
    return out


def reconcile(
    expected: OffChainView,
    view: ChainView,
    *,
    token: NMRToken | None = None,
    staking: Staking | None = None,
) -> list[Difference]:
    """Every difference between the platform's books and the chain (empty: they agree)."""
    out = _stake_differences(expected, view) + _settlement_differences(expected, view)
    if expected.total_supply is not None and expected.total_supply != view.supply:
        out.append(Difference("supply", "token", expected.total_supply, view.supply))
    if expected.total_burned is not None and expected.total_burned != view.burned:
        out.append(Difference("burned", "token", expected.total_burned, view.burned))
    for address, balance in sorted(expected.balances.items()):
        actual = view.balances.get(address, 0)
        if balance != actual:
            out.append(Difference("balance", address, balance, actual))
    if token is not None and staking is not None:
        out += _live_differences(view, token, staking)
    return out
