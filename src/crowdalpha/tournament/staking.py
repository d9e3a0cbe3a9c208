"""Stakes: putting NMR behind a model, taking it off, and the account's risk limits.

An increase moves NMR from the owner's wallet to the model's stake at once. A decrease
leaves the stake at once (it is not at risk in rounds that close later) but is paid back to
the wallet only when the last round it is still at risk in resolves; until then it is a
pending release that the round can still burn (:mod:`crowdalpha.tournament.settlement`
pays it out).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdalpha.errors import InsufficientFundsError, InvalidParameterError, StakeLimitError
from crowdalpha.ledger import format_nmr, pending, stake, wallet
from crowdalpha.tournament.accounts import get_account
from crowdalpha.tournament.models import Model, PendingRelease, Round, RoundStake, RoundState
from crowdalpha.tournament.roster import ensure_owner, get_model
from crowdalpha.tournament.unit_of_work import UnitOfWork, check_amount, fingerprint, scoped_key
from crowdalpha.tournament.views import PendingReleaseInfo, StakeInfo

__all__ = ["Staking", "release_info"]


def release_info(row: PendingRelease, release_round: int | None) -> PendingReleaseInfo:
    return PendingReleaseInfo(
        id=row.id,
        requested=row.requested,
        remaining=row.remaining,
        requested_at=row.requested_at,
        release_round=release_round,
        released_at=row.released_at,
    )


class Staking:
    """Stakes of models, their pending releases, and the limits that bound them."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def info(self, model_id: int, *, owner: int | None = None) -> StakeInfo:
        """The model's stake, pending releases and their rounds; with ``owner``, refused
        unless that account owns the model."""

        def op(session: Session) -> StakeInfo:
            model = get_model(session, model_id)
            ensure_owner("model", model_id, model.account_id, owner)
            got = self.uow.ledger(session).balances([stake(model_id), pending(model_id)])
            releases = session.execute(
                select(PendingRelease, Round.number)
                .outerjoin(Round, Round.id == PendingRelease.release_round_id)
                .where(PendingRelease.model_id == model_id)
                .order_by(PendingRelease.id)
            ).all()
            return StakeInfo(
                model_id=model_id,
                stake=got[stake(model_id)],
                pending=got[pending(model_id)],
                releases=[release_info(r, n) for r, n in releases],
            )

        return self.uow.read(op)

    def at_risk(self, model_id: int) -> dict[int, int]:
        """The model's stake at risk in each closed round (frozen at the close), by number."""

        def op(session: Session) -> dict[int, int]:
            get_model(session, model_id)
            rows = session.execute(
                select(Round.number, RoundStake.stake_at_risk)
                .join(RoundStake, RoundStake.round_id == Round.id)
                .where(RoundStake.model_id == model_id)
            ).all()
            return {int(number): int(risk) for number, risk in rows}

        return self.uow.read(op)

    def increase(
        self, model_id: int, amount: int, *, key: str | None = None, owner: int | None = None
    ) -> StakeInfo:
        """Move ``amount`` from the owner's wallet to the model's stake, at once. With
        ``owner`` (an account id), a model of another account is refused."""
        check_amount(amount)

        def op(session: Session) -> None:
            model = get_model(session, model_id)
            ensure_owner("model", model_id, model.account_id, owner)

            def body() -> dict[str, object]:
                self._check_limits(session, model, amount)
                entry = self.uow.ledger(session).transfer(
                    wallet(model.account_id), stake(model_id), amount, kind="stake_increase"
                )
                return {"entry": entry.id}

            scoped = scoped_key(key, model.account_id)
            self.uow.once(session, scoped, "stake_increase", fingerprint(model_id, amount), body)

        self.uow.run(op)
        return self.info(model_id)

    def decrease(
        self, model_id: int, amount: int, *, key: str | None = None, owner: int | None = None
    ) -> StakeInfo:
        """Take ``amount`` off the model's stake (see the module docstring). With no round
        at risk the release is immediate."""
        check_amount(amount)

        def op(session: Session) -> None:
            model = get_model(session, model_id)
            ensure_owner("model", model_id, model.account_id, owner)

            def body() -> dict[str, object]:
                ledger = self.uow.ledger(session)
                held = ledger.balance(stake(model_id))
                if held < amount:
                    raise InsufficientFundsError(
                        f"{model.name} has {format_nmr(held)} NMR staked; cannot take off "
                        f"{format_nmr(amount)} NMR",
                        details={"stake": str(held), "requested": str(amount)},
                    )
                last = _last_round_at_risk(session, model_id)
                if last is None:
                    entry = ledger.transfer(
                        stake(model_id), wallet(model.account_id), amount, kind="stake_release"
                    )
                    return {"entry": entry.id}
                entry = ledger.transfer(
                    stake(model_id), pending(model_id), amount, kind="stake_decrease"
                )
                session.add(
                    PendingRelease(
                        model_id=model_id,
                        requested=amount,
                        remaining=amount,
                        requested_at=self.uow.clock.now(),
                        release_round_id=last,
                    )
                )
                return {"entry": entry.id}

            scoped = scoped_key(key, model.account_id)
            self.uow.once(session, scoped, "stake_decrease", fingerprint(model_id, amount), body)

        self.uow.run(op)
        return self.info(model_id)

    def set(
        self, model_id: int, target: int, *, key: str | None = None, owner: int | None = None
    ) -> StakeInfo:
        """Increase or decrease the stake to exactly ``target``."""
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise InvalidParameterError("target must be a non-negative int of base units")
        # the owner is checked first, whatever the target: a refusal that depended on it
        # would tell another account whether it guessed the model's stake
        current = self.info(model_id, owner=owner).stake
        if target > current:
            return self.increase(model_id, target - current, key=key, owner=owner)
        if target < current:
            return self.decrease(model_id, current - target, key=key, owner=owner)
        return self.info(model_id, owner=owner)

    def _check_limits(self, session: Session, model: Model, amount: int) -> None:
        account = get_account(session, model.account_id)
        if account.max_stake is None and account.max_stake_share_ppm is None:
            return
        ledger = self.uow.ledger(session)
        new_stake = ledger.balance(stake(model.id)) + amount
        if account.max_stake is not None and new_stake > account.max_stake:
            raise StakeLimitError(
                f"this would stake {format_nmr(new_stake)} NMR on {model.name}; the account's "
                f"limit is {format_nmr(account.max_stake)} NMR per model",
                details={"limit": str(account.max_stake), "stake": str(new_stake)},
            )
        if account.max_stake_share_ppm is not None:
            model_ids = list(
                session.scalars(select(Model.id).where(Model.account_id == account.id))
            )
            names = [wallet(account.id)]
            names += [stake(m) for m in model_ids] + [pending(m) for m in model_ids]
            holdings = sum(ledger.balances(names).values())
            limit = holdings * account.max_stake_share_ppm // 1_000_000
            if new_stake > limit:
                raise StakeLimitError(
                    f"this would stake {format_nmr(new_stake)} NMR on {model.name}, more than "
                    f"{account.max_stake_share_ppm / 10_000:g}% of the account's "
                    f"{format_nmr(holdings)} NMR; spread stakes over models",
                    details={"limit": str(limit), "stake": str(new_stake)},
                )


def _last_round_at_risk(session: Session, model_id: int) -> int | None:
    """The id of the newest unresolved round that holds the model's stake at risk."""
    number = session.execute(
        select(Round.id, Round.number)
        .join(RoundStake, RoundStake.round_id == Round.id)
        .where(RoundStake.model_id == model_id, Round.state != RoundState.RESOLVED.value)
        .order_by(Round.number.desc())
        .limit(1)
    ).first()
    return None if number is None else int(number[0])
