"""Settling a resolved round: payouts, burns, then pending releases — in the ledger.

Runs inside the resolution's unit of work. Payouts come from the reward pool (minted up to
the mint cap when the pool is short; pro rata, rounding down, once the cap is reached);
burns take from the stake first, then from the model's pending releases; releases whose
last round at risk has now resolved go back to the owners' wallets. Each of these is one
ledger entry under the round's key (``round:N:payouts``…, prefixed per competition), so a
retried resolution never pays twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crowdalpha.ledger import BURNED, REWARD_POOL, Posting, SqlLedger, pending, stake, wallet
from crowdalpha.payouts import payout_factor, tiered_payout, weighted_payout
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.models import Model, Payout, PendingRelease, Round
from crowdalpha.tournament.round_config import RoundConfig
from crowdalpha.tournament.views import ResolutionReport

__all__ = ["Scores", "model_payout", "release", "settle"]

#: Scores per model id, then per metric (None: not computable).
Scores = Mapping[int, Mapping[str, float | None]]


def model_payout(
    config: RoundConfig, at_risk: int, scores: Mapping[str, float | None], factor: Decimal
) -> int | None:
    """One model's signed payout under the round's configuration; None when a score the
    payout reads is missing (the stake is then neither paid nor burned)."""
    if any(scores.get(metric) is None for metric in config.paid_metrics):
        return None
    if at_risk == 0:
        return 0
    if config.policy == "tiered":
        corr = scores["corr"]
        assert corr is not None
        return tiered_payout(at_risk, corr)
    known = {m: v for m, v in scores.items() if v is not None}
    return weighted_payout(
        at_risk, known, dict(config.multipliers), factor=factor, clip=config.clip
    )


def settle(
    session: Session,
    ledger: SqlLedger,
    c: Competition,
    row: Round,
    config: RoundConfig,
    scores: Scores,
    at_risk: Mapping[int, int],
    *,
    mint_cap: int | None,
    now: datetime,
) -> ResolutionReport:
    """Pay and burn round ``row`` from its scores and frozen stakes, then release."""
    number = row.number
    factor = payout_factor(config.threshold, row.total_at_risk or 0)
    row.payout_factor = str(factor.normalize())
    amounts: dict[int, int] = {}
    for model_id, risk in sorted(at_risk.items()):
        if risk <= 0 or model_id not in scores:
            continue
        amount = model_payout(config, risk, scores[model_id], factor)
        if amount is not None:
            amounts[model_id] = amount

    payouts_key, burns_key = c.ledger_key(number, "payouts"), c.ledger_key(number, "burns")
    gains = {m: a for m, a in amounts.items() if a > 0}
    wanted = sum(gains.values())
    minted = 0
    if wanted:
        pool = ledger.balance(REWARD_POOL)
        if pool < wanted:
            room = wanted - pool
            if mint_cap is not None:
                room = min(room, mint_cap - ledger.supply().minted)
            if room > 0:
                ledger.mint(REWARD_POOL, room, key=c.ledger_key(number, "mint"))
                minted = room
        available = pool + minted
        if available < wanted:  # the cap is reached: pay pro rata, rounding down
            gains = {m: a * available // wanted for m, a in gains.items()}
            gains = {m: a for m, a in gains.items() if a > 0}
            amounts.update({m: gains.get(m, 0) for m in amounts if amounts[m] > 0})
        if gains:
            legs = [Posting(REWARD_POOL, -sum(gains.values()))]
            legs += [Posting(stake(m), a) for m, a in sorted(gains.items())]
            ledger.post(legs, kind="payout", key=payouts_key)

    losses = {m: -a for m, a in amounts.items() if a < 0}
    burned = 0
    if losses:
        held = ledger.balances([a for m in losses for a in (stake(m), pending(m))])
        legs = []
        for model_id, loss in sorted(losses.items()):
            from_stake = min(loss, held[stake(model_id)])
            from_pending = min(loss - from_stake, held[pending(model_id)])
            if from_stake:
                legs.append(Posting(stake(model_id), -from_stake))
            if from_pending:
                legs.append(Posting(pending(model_id), -from_pending))
                _burn_pending(session, model_id, from_pending)
            amounts[model_id] = -(from_stake + from_pending)
            burned += from_stake + from_pending
        if burned:
            legs.append(Posting(BURNED, burned))
            ledger.post(legs, kind="burn", key=burns_key)

    paid_entry, burn_entry = _entry_id(ledger, payouts_key), _entry_id(ledger, burns_key)
    payout_rows = [
        {
            "round_id": row.id,
            "model_id": m,
            "stake_at_risk": at_risk[m],
            "amount": amounts[m],
            "entry_id": paid_entry if amounts[m] > 0 else burn_entry if amounts[m] < 0 else None,
        }
        for m in sorted(amounts)  # staked and scored
    ]
    if payout_rows:
        session.execute(insert(Payout), payout_rows)

    released = release(session, ledger, c, row, now)
    return ResolutionReport(
        round_number=number,
        scored=len(scores),
        staked=len(payout_rows),
        paid=sum(a for a in amounts.values() if a > 0),
        burned=burned,
        minted=minted,
        released=released,
        payout_factor=row.payout_factor,
        competition=c.slug,
    )


def release(session: Session, ledger: SqlLedger, c: Competition, row: Round, now: datetime) -> int:
    """Pay back every pending release whose last round at risk (of this competition) has
    resolved with round ``row``; the total released."""
    due = list(
        session.scalars(
            select(PendingRelease)
            .join(Round, Round.id == PendingRelease.release_round_id)
            .where(
                PendingRelease.released_at.is_(None),
                Round.competition_id == c.id,
                Round.number <= row.number,
            )
            .order_by(PendingRelease.id)
        )
    )
    if not due:
        return 0
    owners = {
        m.id: m.account_id
        for m in session.scalars(select(Model).where(Model.id.in_({r.model_id for r in due})))
    }
    legs: list[Posting] = []
    total = 0
    for item in due:
        if item.remaining > 0:
            legs.append(Posting(pending(item.model_id), -item.remaining))
            legs.append(Posting(wallet(owners[item.model_id]), item.remaining))
            total += item.remaining
        item.released_at = now
    if legs:
        ledger.post(legs, kind="release", key=c.ledger_key(row.number, "releases"))
    return total


def _entry_id(ledger: SqlLedger, key: str) -> int | None:
    entry = ledger.entry_for_key(key)
    return None if entry is None else entry.id


def _burn_pending(session: Session, model_id: int, amount: int) -> None:
    """Take a burn out of the model's pending releases, oldest first."""
    left = amount
    for item in session.scalars(
        select(PendingRelease)
        .where(PendingRelease.model_id == model_id, PendingRelease.released_at.is_(None))
        .order_by(PendingRelease.id)
    ):
        take = min(left, item.remaining)
        item.remaining -= take
        left -= take
        if left == 0:
            break
