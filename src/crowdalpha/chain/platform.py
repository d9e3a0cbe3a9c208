"""The tournament on chain: what ties a running tournament to its staking contract.

:class:`ChainPlatform` is built by the composition root (``crowdalpha.runtime``) when
``CROWDALPHA_CHAIN_URL`` is set, and called after each tick of the round clock
(:meth:`ChainPlatform.after_tick`); the core never sees it. After a tick it:

1. indexes the contracts' confirmed events into the database (``chain_events``;
   idempotent, reorganizations rolled back), and credits deposits from linked wallets
   to the platform's wallet in the SQL ledger;
2. opens on chain every open round of the tournament (same open, close and resolve times;
   the round's stake threshold);
3. settles on chain every resolved round with stakes whose root is not posted yet: each
   staked model's payout or burn comes from the same policy code as the SQL path
   (:func:`crowdalpha.tournament.settlement.model_payout` on the round's own
   configuration, final scores and the on-chain stakes' payout factor); the tree is kept in
   ``chain_settlements`` (it serves proofs) before its root is posted.

Participants stake with a signed authorization (:meth:`authorize`, numerapi's
``v3StakeAuth``) and claim with a proof (:meth:`claim`, ``v3StakeClaim``); linked wallets,
deposits and withdrawals are :mod:`crowdalpha.chain.custody`'s.
:meth:`check` compares the platform's books (settlements, deposits, withdrawals and the
SQL ledger) with the chain and lists every difference.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3

from crowdalpha.chain.contracts import NMRToken, OnChainRound, RoundSchedule, RoundState, Staking
from crowdalpha.chain.custody import Custody, link_message
from crowdalpha.chain.encoding import (
    bytes32_from_hex,
    checksum_address,
    id_to_uint,
    onchain_round_id,
    split_round_id,
)
from crowdalpha.chain.indexer import ChainEvent, Indexer, IndexUpdate
from crowdalpha.chain.reconcile import Difference, ExpectedRound, OffChainView, reconcile
from crowdalpha.chain.settings import ChainSettings
from crowdalpha.chain.settlement import Claim, Settlement, StakeResult, build_settlement
from crowdalpha.chain.signing import AuthorizationSigner, SignedAuthorization
from crowdalpha.chain.store import SqlEventStore
from crowdalpha.chain.summary import RoundOnChain, round_summary
from crowdalpha.chain.transactions import Sender, connect
from crowdalpha.chain.view import ChainView
from crowdalpha.db.chain_tables import ChainSettlementRow
from crowdalpha.errors import (
    ChainConfigurationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RoundStateError,
)
from crowdalpha.payouts import payout_factor
from crowdalpha.tournament import RoundInfo, TickReport, Tournament
from crowdalpha.tournament import RoundState as CoreRoundState
from crowdalpha.tournament.settlement import model_payout

__all__ = ["CLASSIC_TOURNAMENT", "ChainPlatform", "ChainTickReport", "link_message"]

#: Numerai's id of the Classic tournament: the on-chain tournament id of crowdalpha's rounds.
CLASSIC_TOURNAMENT = 8


def _utc_seconds(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return int(aware.timestamp())


@dataclass(frozen=True)
class ChainTickReport:
    """What one :meth:`ChainPlatform.after_tick` did."""

    indexed: int = 0  # events added
    orphaned: int = 0  # events removed by a reorganization
    deposits: list[str] = field(default_factory=list)  # ledger keys credited
    opened: list[int] = field(default_factory=list)  # on-chain round ids
    settled: list[int] = field(default_factory=list)  # on-chain round ids whose root was posted
    resent: list[str] = field(default_factory=list)  # withdrawals handed to the node again


class ChainPlatform:
    """One tournament (Classic) and its token and staking contracts."""

    def __init__(
        self,
        tournament: Tournament,
        settings: ChainSettings,
        *,
        w3: Web3 | None = None,
        operator: LocalAccount | Sender | None = None,
        signer: LocalAccount | None = None,
    ) -> None:
        if not settings.enabled and w3 is None:
            raise ChainConfigurationError("the chain is off: set CROWDALPHA_CHAIN_URL")
        self.tournament = tournament
        self.settings = settings
        if w3 is None:
            assert settings.url is not None
            w3 = connect(settings.url, chain_id=settings.chain_id, timeout=settings.tx_timeout)
        self.w3 = w3
        token_address, staking_address = settings.addresses()
        self.token = NMRToken(w3, token_address)
        self.staking = Staking(w3, staking_address)
        self._operator_account = operator if isinstance(operator, LocalAccount) else None
        self._signer_account = signer
        self._operator: Sender | None = operator if isinstance(operator, Sender) else None
        self._signer: AuthorizationSigner | None = None
        self._lock = threading.RLock()  # a Sender keeps its nonce: one operator tx at a time
        self.store = SqlEventStore(tournament.engine)
        self.indexer = Indexer(
            w3,
            token=token_address,
            staking=staking_address,
            store=self.store,
            start_block=settings.start_block,
            confirmations=settings.confirmations,
        )
        self.custody = Custody(
            tournament,
            token=self.token,
            staking=self.staking,
            store=self.store,
            operator=lambda: self.operator,
            lock=self._lock,
        )

    # -- keys -----------------------------------------------------------------------------

    @property
    def operator(self) -> Sender:
        """The contracts' owner (opens and resolves rounds, pays withdrawals)."""
        if self._operator is None:
            account = self._operator_account or self.settings.operator_account()
            self._operator = Sender(
                self.w3,
                account,
                max_priority_fee=self.settings.max_priority_fee,
                timeout=self.settings.tx_timeout,
                poll_interval=0.01,
            )
        return self._operator

    @property
    def signer(self) -> AuthorizationSigner:
        if self._signer is None:
            account = self._signer_account or self.settings.signer_account()
            self._signer = AuthorizationSigner(
                account,
                chain_id=self.chain_id,
                staking_address=self.staking.address,
                nmr_address=self.token.address,
            )
        return self._signer

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    # -- rounds ---------------------------------------------------------------------------

    @staticmethod
    def round_id(number: int) -> int:
        """The on-chain id of the tournament's round ``number``."""
        return onchain_round_id(CLASSIC_TOURNAMENT, number)

    @staticmethod
    def round_number(round_id: int) -> int:
        tournament, number = split_round_id(round_id)
        if tournament != CLASSIC_TOURNAMENT:
            raise NotFoundError(
                f"round {round_id} is not a round of this tournament ({CLASSIC_TOURNAMENT})",
                details={"round_id": round_id},
            )
        return number

    def parse_round(self, ref: str | int) -> int:
        """An on-chain round id from what a caller gives: the id (``8000012``) or the
        tournament's round number (``12``)."""
        try:
            value = int(str(ref).strip())
        except ValueError:
            raise InvalidInputError(f"{ref!r} is not a round id") from None
        if 0 < value < 10**6:
            return self.round_id(value)
        self.round_number(value)
        return value

    def onchain_round(self, round_id: int) -> OnChainRound:
        return self.staking.round(round_id)

    def _schedule(self, info: RoundInfo) -> RoundSchedule:
        return RoundSchedule(
            round_id=self.round_id(info.number),
            tournament_id=CLASSIC_TOURNAMENT,
            open_time=_utc_seconds(info.opens_at),
            close_time=_utc_seconds(info.closes_at),
            resolve_time=_utc_seconds(info.resolves_at),
            stake_cap=0,
            stake_threshold=info.config.threshold,
        )

    def open_rounds(self) -> list[int]:
        """Open on chain every open round of the tournament not opened there yet."""
        opened = []
        for info in self.tournament.rounds(states=[CoreRoundState.OPEN.value]):
            round_id = self.round_id(info.number)
            if self.staking.round(round_id).state is not RoundState.UNKNOWN:
                continue
            with self._lock:
                self.staking.open_round(self.operator, self._schedule(info))
            opened.append(round_id)
        return opened

    # -- authorizations -------------------------------------------------------------------

    def authorize(
        self,
        submission_id: int | str,
        staker: str,
        max_amount: int,
        *,
        account_id: int | None = None,
    ) -> SignedAuthorization:
        """A signed authorization for ``staker`` to stake up to ``max_amount`` base units on
        a submission of the round open now. With ``account_id`` the submission must be
        that account's, and the staker its linked wallet when it has one."""
        if max_amount <= 0:
            raise InvalidInputError("maxAmount must be more than 0 NMR")
        staker = checksum_address(staker, name="staker")
        sub_id = id_to_uint(submission_id)
        submission = self.tournament.submission(sub_id, owner=account_id)
        if account_id is not None:
            linked = self.linked_wallet(account_id)
            if linked is not None and linked != staker:
                raise PermissionDeniedError(
                    f"this account's linked wallet is {linked}; stake from it, or link "
                    f"{staker} first (crowdalpha chain link)",
                    details={"staker": staker},
                )
        round_id = self.round_id(submission.round_number)
        onchain = self.staking.round(round_id)
        if onchain.state is not RoundState.OPEN:
            raise RoundStateError(
                f"round {submission.round_number} takes no stakes on chain now (it is "
                f"{onchain.state.label}); stake on a submission of the open round",
                details={"round": submission.round_number, "state": onchain.state.label},
            )
        deadline = min(
            self._chain_time() + self.settings.authorization_ttl, onchain.schedule.close_time
        )
        return self.signer.authorize(
            staker=staker,
            tournament_id=CLASSIC_TOURNAMENT,
            round_id=round_id,
            model_id=submission.model_id,
            submission_id=submission.id,
            submission_hash=bytes32_from_hex(submission.sha256, name="submission hash"),
            max_amount=max_amount,
            deadline=deadline,
        )

    def _chain_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    # -- the events -----------------------------------------------------------------------

    def sync(self) -> tuple[IndexUpdate, list[str]]:
        """Index the confirmed events, then credit new deposits (see :meth:`after_tick`)."""
        update = self.indexer.poll()
        return update, self.credit_deposits()

    def view(self) -> ChainView:
        """The chain's books from the indexed events."""
        return ChainView.from_events(self.store.events())

    def events(self, names: Iterable[str] | None = None) -> list[ChainEvent]:
        return self.indexer.events(names)

    # -- settlement -----------------------------------------------------------------------

    def settlement(self, round_id: int) -> Settlement | None:
        """The stored settlement of ``round_id`` (None before the round is settled)."""
        with Session(self.tournament.engine) as session:
            row = session.get(ChainSettlementRow, round_id)
            return None if row is None else Settlement.from_json(dict(row.document))

    def compute_settlement(self, number: int, view: ChainView | None = None) -> Settlement | None:
        """Round ``number``'s settlement from its on-chain stakes and its final scores (None
        when nothing was staked on chain)."""
        info = self.tournament.round(number)
        if info.state != CoreRoundState.RESOLVED.value:
            raise RoundStateError(f"round {number} is not resolved yet")
        round_id = self.round_id(number)
        stakes = {m: s for m, s in (view or self.view()).round_stakes(round_id).items() if s.amount}
        if not stakes:
            return None
        total = sum(s.amount for s in stakes.values())
        factor = payout_factor(info.config.threshold, total)
        scores = {
            s.model_id: s.values for s in self.tournament.scores(round_number=number) if s.final
        }
        results = []
        for model_id, record in sorted(stakes.items()):
            change = None
            if model_id in scores:
                change = model_payout(info.config, record.amount, scores[model_id], factor)
            results.append(
                StakeResult.from_change(
                    staker=record.staker,
                    model_id=model_id,
                    submission_id=record.submission_id,
                    stake=record.amount,
                    change=change or 0,  # unscored: the stake comes back whole
                )
            )
        return build_settlement(round_id, results)

    def settle(self, number: int) -> Settlement | None:
        """Post round ``number``'s root (once; a retry re-posts the stored settlement if
        the first attempt did not land). None when there is nothing to settle yet: no
        on-chain stakes, or the indexer has not confirmed the blocks up to the close."""
        round_id = self.round_id(number)
        onchain = self.staking.round(round_id)
        if onchain.state is RoundState.UNKNOWN or onchain.state is RoundState.CANCELLED:
            return None
        settlement = self.settlement(round_id)
        if settlement is None:
            if onchain.state is RoundState.OPEN or onchain.state is RoundState.PENDING:
                return None
            head = self.store.head()
            if head is None:
                return None
            indexed_to = int(self.w3.eth.get_block(head.number)["timestamp"])
            if indexed_to < onchain.schedule.close_time:
                return None  # a stake may still be unconfirmed: wait for the indexer
            settlement = self.compute_settlement(number)
            if settlement is None:
                return None
            with Session(self.tournament.engine) as session, session.begin():
                session.add(
                    ChainSettlementRow(
                        round_id=round_id,
                        round_number=number,
                        document=settlement.to_json(),
                        created_at=self.tournament.clock.now(),
                        tx_hash=None,
                    )
                )
        if onchain.merkle_root is None:
            with self._lock:
                receipt = self.staking.post_root(self.operator, settlement)
            with Session(self.tournament.engine) as session, session.begin():
                row = session.get(ChainSettlementRow, round_id)
                assert row is not None
                row.tx_hash = receipt["transactionHash"].to_0x_hex()
        return settlement

    def settle_due(self) -> list[int]:
        """Settle every resolved round whose root is not posted; the round ids posted."""
        posted = []
        for info in self.tournament.rounds(states=[CoreRoundState.RESOLVED.value]):
            round_id = self.round_id(info.number)
            row_posted = self._posted(round_id)
            if row_posted:
                continue
            if self.settle(info.number) is not None and self._posted(round_id):
                posted.append(round_id)
        return posted

    def _posted(self, round_id: int) -> bool:
        with Session(self.tournament.engine) as session:
            row = session.get(ChainSettlementRow, round_id)
            return row is not None and row.tx_hash is not None

    def round_summary(self, round_id: int) -> RoundOnChain:
        """State, root, totals and each model's claim state (see crowdalpha.chain.summary)."""
        return round_summary(self, round_id)

    def claim(self, round_id: int, model_id: int | str, staker: str | None = None) -> Claim:
        """The claim (leaf and proof) of a model's stake in a settled round."""
        settlement = self.settlement(round_id)
        if settlement is None:
            raise NotFoundError(
                f"round {round_id} is not settled on chain (yet); claims open once its root "
                "is posted",
                details={"round_id": round_id},
            )
        return settlement.claim(id_to_uint(model_id), staker)

    def after_tick(self, report: TickReport | None = None) -> ChainTickReport:
        """What the round clock does on chain after the tournament's tick (``report`` is
        accepted for the record; everything due is found from the state)."""
        update, deposits = self.sync()
        resent = self.custody.send_pending()
        opened = self.open_rounds()
        settled = self.settle_due()
        if settled:  # index the roots just posted (when confirmations allow)
            more, more_deposits = self.sync()
            update = IndexUpdate(
                added=update.added + more.added,
                removed=update.removed + more.removed,
                head=more.head,
            )
            deposits += more_deposits
        return ChainTickReport(
            indexed=len(update.added),
            orphaned=len(update.removed),
            deposits=deposits,
            opened=opened,
            settled=settled,
            resent=resent,
        )

    # -- wallets, deposits, withdrawals (crowdalpha.chain.custody) -----------------------

    @property
    def custody_address(self) -> ChecksumAddress:
        return self.custody.address

    def link_wallet(self, account_id: int, address: str, signature: str) -> ChecksumAddress:
        return self.custody.link_wallet(account_id, address, signature)

    def linked_wallet(self, account_id: int) -> ChecksumAddress | None:
        return self.custody.linked_wallet(account_id)

    def credit_deposits(self) -> list[str]:
        return self.custody.credit_deposits()

    def withdraw(self, account_id: int, amount: int, *, key: str) -> str:
        return self.custody.withdraw(account_id, amount, key=key)

    # -- reconciliation -------------------------------------------------------------------

    def _settlements(self) -> dict[int, Settlement]:
        with Session(self.tournament.engine) as session:
            rows = list(session.scalars(select(ChainSettlementRow)))
            return {r.round_id: Settlement.from_json(dict(r.document)) for r in rows}

    def check(self) -> list[Difference]:
        """Every difference between the platform's books and the chain (empty: they agree).

        Settled rounds: the stakes each settlement was computed from, its root and totals,
        and every claim against the chain's events; the indexed events against the
        contracts' live state (supply, the staking contract's balance, each round's total
        stake and unclaimed payout); each deposit and withdrawal against its ledger entry
        and its on-chain transfer."""
        view = self.view()
        settlements = self._settlements()
        rounds = {
            round_id: ExpectedRound(
                round_id=round_id,
                stakes={r.model_id: (r.staker, r.stake) for r in s.results},
                settlement=s,
            )
            for round_id, s in settlements.items()
        }
        for round_id in view.rounds:  # unsettled rounds: their stakes are the chain's own
            if round_id not in rounds:
                stakes = {m: (s.staker, s.amount) for m, s in view.round_stakes(round_id).items()}
                rounds[round_id] = ExpectedRound(round_id=round_id, stakes=stakes)
        # A round the tournament resolved with on-chain stakes must have been settled.
        out = reconcile(OffChainView(rounds=rounds), view, token=self.token, staking=self.staking)
        for info in self.tournament.rounds(states=[CoreRoundState.RESOLVED.value]):
            round_id = self.round_id(info.number)
            staked = view.total_staked(round_id)
            if staked and round_id not in settlements:
                out.append(Difference("settlement_missing", f"round {round_id}", None, staked))
        return out + self.custody.differences()
