"""The tournament: every operation the server, the CLI and the web UI call, in one place.

:class:`Tournament` is a thin facade over the modules that each own one concern:

=================  ===============================================================
unit_of_work       transactions, retries, idempotency keys, the ledger per session
accounts           accounts, risk limits, API keys, authentication
roster             models, and the one ownership rule
wallets            minting, grants, deposits, withdrawals, balances, ledger history
staking            stakes, pending releases, stake limits
lifecycle          the clock: opening, closing, scoring, resolving; round numbering
submitting         uploads validated and recorded
resolution         scoring closed rounds (provisional and final)
settlement         payouts, burns and releases of a resolved round
queries            the read side: rounds, scores, payouts, leaderboard, reputation
files              the file store's layout (datasets, live ids, predictions, meta models)
competitions       what a competition is (Classic, Signals); plugs: its plugging points
round_config       how a round scores and pays; round_parameters: what a vote may change
profiles           models' bios and links (:attr:`Tournament.profiles`)
webhooks           submission webhooks and their queue (:attr:`Tournament.webhooks`)
=================  ===============================================================

Accounts, wallets and the ledger are shared by every competition. A ``Tournament`` is a
view of one competition (Classic by default): its round, model, submission, score and
leaderboard methods are that competition's; :meth:`Tournament.using` gives the view of
another competition over the same database, files and clock. Operations on a model (stakes,
submissions) follow the model's own competition. Each public method is one unit of work, so
an operation either happens completely or not at all; operations that move NMR accept an
idempotency key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine

from crowdalpha import observe
from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import TREASURY, Entry, LedgerCheckReport, Supply
from crowdalpha.storage import FileStore
from crowdalpha.tournament.accounts import SCOPES, Accounts
from crowdalpha.tournament.clock import Clock, SystemClock
from crowdalpha.tournament.competitions import Competition, competition
from crowdalpha.tournament.config import TournamentConfig
from crowdalpha.tournament.data import RoundData
from crowdalpha.tournament.fairplay import ClusterInfo, FairPlay
from crowdalpha.tournament.files import RoundFiles
from crowdalpha.tournament.integrity import FileCheckReport, check_files
from crowdalpha.tournament.lifecycle import Lifecycle
from crowdalpha.tournament.plugs import RoundConfigProvider
from crowdalpha.tournament.profiles import Profiles
from crowdalpha.tournament.queries import Queries
from crowdalpha.tournament.resolution import Resolution
from crowdalpha.tournament.roster import Roster
from crowdalpha.tournament.round_config import RoundConfig
from crowdalpha.tournament.schedule import Schedule
from crowdalpha.tournament.staking import Staking
from crowdalpha.tournament.submitting import Submitting
from crowdalpha.tournament.unit_of_work import UnitOfWork
from crowdalpha.tournament.views import (
    AccountInfo,
    ApiKeyInfo,
    DatasetFile,
    LeaderboardRow,
    ModelInfo,
    PayoutInfo,
    Principal,
    ResolutionReport,
    RoundInfo,
    ScoreInfo,
    StakeInfo,
    SubmissionInfo,
    TickReport,
)
from crowdalpha.tournament.wallets import Wallets
from crowdalpha.tournament.webhooks import Webhooks

__all__ = ["SCOPES", "Tournament"]


@dataclasses.dataclass
class _Core:
    """What every view of one tournament shares."""

    uow: UnitOfWork
    files: RoundFiles
    competitions: dict[int, Competition]
    accounts: Accounts
    roster: Roster
    wallets: Wallets
    staking: Staking
    lifecycle: Lifecycle
    submitting: Submitting
    queries: Queries


class Tournament:
    """A tournament over a database, a file store and Classic's source of round data.

    ``config.competitions`` adds further competitions (each with its own source, rules
    and scorer plugged in); ``tick`` runs them all.
    """

    def __init__(
        self,
        engine: Engine,
        store: FileStore,
        data: RoundData,
        *,
        config: TournamentConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or TournamentConfig()
        self.clock = clock or SystemClock()
        self.store = store
        self.data = data
        classic = self.config.classic.plug(source=data)
        competitions = {c.id: c for c in (classic, *self.config.competitions)}
        uow = UnitOfWork(engine, self.clock, mint_cap=self.config.mint_cap)
        files = RoundFiles(store)
        self._core = _Core(
            uow=uow,
            files=files,
            competitions=competitions,
            accounts=Accounts(uow),
            roster=Roster(uow),
            wallets=Wallets(uow),
            staking=Staking(uow),
            lifecycle=Lifecycle(uow, files, Resolution(uow, files, compute=self.config.compute)),
            submitting=Submitting(
                uow, files, competitions, max_upload_bytes=self.config.max_upload_bytes
            ),
            queries=Queries(uow, files),
        )
        #: The competition this view's round, model and leaderboard methods are about.
        self.competition: Competition = classic

    # -- views and plumbing ---------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self._core.uow.engine

    @property
    def uow(self) -> UnitOfWork:
        return self._core.uow

    @property
    def competitions(self) -> tuple[Competition, ...]:
        """Every competition this tournament runs (Classic first)."""
        return tuple(self._core.competitions.values())

    def using(self, ref: int | str | Competition) -> Tournament:
        """The view of competition ``ref`` (an id, a slug or the record) over the same
        database, files and clock; InvalidParameterError if this tournament does not run it."""
        wanted = competition(ref) if not isinstance(ref, Competition) else ref
        running = self._core.competitions.get(wanted.id)
        if running is None:
            raise InvalidParameterError(
                f"this tournament does not run {wanted.name}; "
                f"it runs {', '.join(c.name for c in self.competitions)}",
                details={"competition": wanted.slug},
            )
        if running is self.competition:
            return self
        view = object.__new__(Tournament)
        view.__dict__.update(self.__dict__)
        view.competition = running
        return view

    def close(self) -> None:
        """Close the database connections (the read engine's too); the object is done."""
        self._core.uow.close()

    def __enter__(self) -> Tournament:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- accounts and keys ----------------------------------------------------------------

    def create_account(
        self,
        username: str,
        email: str,
        *,
        wallet_address: str | None = None,
        is_operator: bool = False,
    ) -> AccountInfo:
        """A new participant (or operator) account with an empty wallet."""
        return self._core.accounts.create(
            username, email, wallet_address=wallet_address, is_operator=is_operator
        )

    def account(self, account_id: int) -> AccountInfo:
        return self._core.accounts.get(account_id)

    def account_by_username(self, username: str) -> AccountInfo:
        return self._core.accounts.by_username(username)

    def set_limits(
        self,
        account_id: int,
        *,
        max_stake: int | None = None,
        max_stake_share: Decimal | str | None = None,
    ) -> AccountInfo:
        """Risk limits: the largest stake per model, and the largest share of the account's
        holdings one model may stake. ``None`` lifts a limit."""
        return self._core.accounts.set_limits(
            account_id, max_stake=max_stake, max_stake_share=max_stake_share
        )

    def create_api_key(
        self,
        account_id: int,
        *,
        scopes: Sequence[str] = ("read", "upload", "stake"),
        name: str = "",
    ) -> tuple[ApiKeyInfo, str]:
        """A new key for ``account_id``: its record and its secret (shown this once only)."""
        return self._core.accounts.create_key(account_id, scopes=scopes, name=name)

    def api_keys(self, account_id: int) -> list[ApiKeyInfo]:
        return self._core.accounts.keys(account_id)

    def revoke_api_key(self, account_id: int, public_id: str) -> ApiKeyInfo:
        return self._core.accounts.revoke_key(account_id, public_id)

    def authenticate(self, public_id: str, secret: str) -> Principal:
        """The account and key behind a public id and secret; AuthenticationError if none."""
        return self._core.accounts.authenticate(public_id, secret)

    def principal(self, account_id: int, public_id: str) -> Principal | None:
        """A signed-in session's account and key, if the key is still valid (None if not)."""
        return self._core.accounts.principal(account_id, public_id)

    # -- models -----------------------------------------------------------------------------

    def create_model(self, account_id: int, name: str) -> ModelInfo:
        """A new model of ``account_id`` in this view's competition."""
        return self._core.roster.create(self.competition, account_id, name)

    def model(self, model_id: int, *, owner: int | None = None) -> ModelInfo:
        """Model ``model_id`` (of any competition); with ``owner``, refused
        (PermissionDeniedError) unless that account owns it."""
        return self._core.roster.get(model_id, owner=owner)

    def model_by_name(self, name: str) -> ModelInfo:
        return self._core.roster.by_name(name)

    def models(self, account_id: int | None = None) -> list[ModelInfo]:
        """This competition's models (of one account, with ``account_id``)."""
        return self._core.roster.list(self.competition, account_id)

    # -- NMR ------------------------------------------------------------------------------

    def mint(
        self, amount: int, *, to: str = TREASURY, key: str | None = None, by: int | None = None
    ) -> int:
        """Create NMR into the treasury or the reward pool (under the mint cap). ``by``: the
        acting operator account, whose namespace ``key`` is in (None: the console's)."""
        return self._core.wallets.mint(amount, to=to, key=key, by=by)

    def fund_reward_pool(
        self, amount: int, *, key: str | None = None, by: int | None = None
    ) -> int:
        return self._core.wallets.fund_reward_pool(amount, key=key, by=by)

    def grant(
        self, account_id: int, amount: int, *, key: str | None = None, by: int | None = None
    ) -> int:
        """The operator gives NMR from the treasury to an account's wallet."""
        return self._core.wallets.grant(account_id, amount, key=key, by=by)

    def deposit(
        self, account_id: int, amount: int, *, key: str | None = None, by: int | None = None
    ) -> int:
        return self._core.wallets.deposit(account_id, amount, key=key, by=by)

    def withdraw(
        self, account_id: int, amount: int, *, key: str | None = None, by: int | None = None
    ) -> int:
        return self._core.wallets.withdraw(account_id, amount, key=key, by=by)

    def wallet_balance(self, account_id: int) -> int:
        return self._core.wallets.wallet_balance(account_id)

    def balance(self, account: str) -> int:
        return self._core.wallets.balance(account)

    def supply(self) -> Supply:
        return self._core.wallets.supply()

    def check_ledger(self) -> LedgerCheckReport:
        with observe.timed("ledger_check") as labels:
            report = self._core.wallets.check()
            labels["outcome"] = "ok" if report.ok else "failed"
        return report

    def check_files(self) -> FileCheckReport:
        """Reread every stored file whose hash was recorded (datasets, live ids, uploads,
        predictions) and report each one missing or damaged (a full scan)."""
        return check_files(self._core.uow, self._core.files, self._core.competitions)

    def ledger_history(self, account: str, *, limit: int = 100) -> list[Entry]:
        """The newest ledger entries touching ``account`` (``stake:3``, ``minted``…)."""
        return self._core.wallets.history(account, limit=limit)

    def wallet_history(self, account_id: int, *, limit: int = 100) -> list[Entry]:
        """The newest entries of the account's wallet, newest first."""
        return self._core.wallets.wallet_history(account_id, limit=limit)

    # -- stakes ---------------------------------------------------------------------------

    def stake_info(self, model_id: int) -> StakeInfo:
        return self._core.staking.info(model_id)

    def stakes_at_risk(self, model_id: int) -> dict[int, int]:
        """The model's stake at risk in each closed round (frozen at the close), by number."""
        return self._core.staking.at_risk(model_id)

    def increase_stake(
        self, model_id: int, amount: int, *, key: str | None = None, owner: int | None = None
    ) -> StakeInfo:
        """Move ``amount`` from the owner's wallet to the model's stake, at once."""
        return self._core.staking.increase(model_id, amount, key=key, owner=owner)

    def decrease_stake(
        self, model_id: int, amount: int, *, key: str | None = None, owner: int | None = None
    ) -> StakeInfo:
        """Take ``amount`` off the stake; paid back when the last round it is at risk in
        resolves (at once when none is)."""
        return self._core.staking.decrease(model_id, amount, key=key, owner=owner)

    def set_stake(
        self, model_id: int, target: int, *, key: str | None = None, owner: int | None = None
    ) -> StakeInfo:
        """Increase or decrease the stake to exactly ``target``."""
        return self._core.staking.set(model_id, target, key=key, owner=owner)

    # -- rounds ---------------------------------------------------------------------------

    @property
    def schedule(self) -> Schedule:
        """The schedule of this competition's round numbers (round 1 = its first round)."""
        return self._core.lifecycle.schedule(self.competition)

    def rounds(self, *, states: Sequence[str] | None = None) -> list[RoundInfo]:
        return self._core.queries.rounds(self.competition, states=states)

    def round(self, number: int) -> RoundInfo:
        return self._core.queries.round(self.competition, number)

    def round_counts(self) -> dict[tuple[str, str], int]:
        """``{(competition slug, state): rounds}`` over every competition and state."""
        return self._core.queries.round_counts(self.competitions)

    def current_round(self) -> RoundInfo | None:
        """The open round (the newest one, if several were ever open at once)."""
        return self._core.queries.current_round(self.competition)

    def live_ids(self, number: int) -> list[str]:
        return self._core.queries.live_ids(self.competition, number)

    def dataset_files(self, number: int) -> list[DatasetFile]:
        """Round ``number``'s published files (names, storage keys, sizes)."""
        return self._core.queries.dataset_files(self.competition, number)

    def dataset_file(self, number: int, name: str) -> DatasetFile:
        """One published file of round ``number``; NotFoundError if it has none so named."""
        return self._core.queries.dataset_file(self.competition, number, name)

    def dataset_key(self, number: int, name: str) -> str:
        return self.dataset_file(number, name).key

    def tick(self, now: datetime | None = None, *, wait: float = 60.0) -> TickReport:
        """Move every round of every competition as far forward as the clock and the data
        allow (see :mod:`crowdalpha.tournament.lifecycle`); the report of this view's
        competition, with every competition's in ``by_competition``.

        Only one scheduler ticks a database at a time: this waits up to ``wait`` seconds
        for another one's tick to end, then raises SchedulerBusyError (nothing done)."""
        when = now or self.clock.now()
        with observe.timed("tick"):
            reports = self._core.lifecycle.tick(self.competitions, when, wait=wait)
        self.webhooks.enqueue_opened(self.competitions, reports)
        own = reports[self.competition.slug]
        return dataclasses.replace(own, by_competition=reports)

    def provide_round_config(self, provider: RoundConfigProvider | None) -> None:
        """Install what decides the configuration each round opens with, for every
        competition and view of this tournament (None: each competition's own
        ``round_config``). Consulted once per round, when it opens; a running round keeps
        the configuration it opened with."""
        self._core.lifecycle.round_config = provider

    def next_round_config(self, when: datetime | None = None) -> RoundConfig:
        """The configuration a round of this competition opening at ``when`` (default now)
        would open with."""
        return self._core.lifecycle.next_config(self.competition, when or self.clock.now())

    def resolve(self, number: int) -> ResolutionReport:
        """Resolve a closed round now, if its final outcome is known."""
        return self._core.lifecycle.resolve(self.competition, number, self.clock.now())

    def meta_model_file(self) -> DatasetFile | None:
        """``meta_model.parquet``: the meta model of every resolved round of this
        competition (see :mod:`crowdalpha.tournament.meta_model_file`); None before any."""
        return self._core.queries.meta_model_file(self.competition)

    def meta_model(self, number: int) -> pd.Series:
        """A resolved round's meta model (published to participants after resolution)."""
        return self._core.queries.meta_model(self.competition, number)

    # -- submissions ----------------------------------------------------------------------

    def round_predictions(self, number: int) -> tuple[pd.DataFrame, pd.Series]:
        """Round ``number``'s staked inputs, for the operator's fund: each model's on-time
        predictions (live ids × model ids) and its stake at risk (int base units)."""
        return self._core.queries.round_predictions(self.competition, number)

    def submit(
        self,
        model_id: int,
        data: bytes,
        *,
        filename: str = "predictions.csv",
        round_number: int | None = None,
        key: str | None = None,
        owner: int | None = None,
    ) -> SubmissionInfo:
        """Validate and record a prediction file for the open round of the model's
        competition (or ``round_number``); see :mod:`crowdalpha.tournament.submitting`."""
        return self._core.submitting.submit(
            model_id, data, filename=filename, round_number=round_number, key=key, owner=owner
        )

    def submission(self, submission_id: int, *, owner: int | None = None) -> SubmissionInfo:
        """One submission; with ``owner``, refused unless that account owns it."""
        return self._core.submitting.submission(submission_id, owner=owner)

    def submissions(
        self,
        *,
        model_id: int | None = None,
        round_number: int | None = None,
        latest: int | None = None,
    ) -> list[SubmissionInfo]:
        return self._core.queries.submissions(
            self.competition, model_id=model_id, round_number=round_number, latest=latest
        )

    def submission_key(self, submission_id: int, *, owner: int | None = None) -> str:
        """The storage key of the file as uploaded (for a signed download link)."""
        return self._core.submitting.storage_key(submission_id, owner=owner)

    def submission_file(self, submission_id: int, *, owner: int | None = None) -> bytes:
        """The file exactly as uploaded, checked against the hash recorded at upload."""
        return self._core.submitting.file(submission_id, owner=owner)

    # -- scores, payouts, leaderboard -----------------------------------------------------

    def scores(
        self, *, model_id: int | None = None, round_number: int | None = None
    ) -> list[ScoreInfo]:
        return self._core.queries.scores(
            self.competition, model_id=model_id, round_number=round_number
        )

    def payouts(
        self, *, model_id: int | None = None, round_number: int | None = None
    ) -> list[PayoutInfo]:
        return self._core.queries.payouts(
            self.competition, model_id=model_id, round_number=round_number
        )

    def leaderboard(
        self, *, by: str = "reputation", limit: int | None = None, offset: int = 0
    ) -> list[LeaderboardRow]:
        """Models ranked by reputation (mean final CORR over the reputation window) or stake:
        ``limit`` rows from rank ``offset + 1`` (all of them by default)."""
        return self._core.queries.leaderboard(
            self.competition, since=self._since(), by=by, limit=limit, offset=offset
        )

    def account_reputation(self, account_id: int) -> float | None:
        """The stake-weighted average of the account's models' reputations (a plain mean
        when nothing is staked); None before any of its models has a final score."""
        self.account(account_id)
        return self._core.queries.account_reputation(
            self.competition, account_id, since=self._since()
        )

    def _since(self) -> datetime:
        return self.clock.now() - self.config.reputation_window

    # -- what participants set on their models through numerapi ---------------------------

    @property
    def profiles(self) -> Profiles:
        """Models' public bios and links (see :mod:`crowdalpha.tournament.profiles`)."""
        return Profiles(self._core.uow)

    @property
    def webhooks(self) -> Webhooks:
        """Submission webhooks and their delivery queue (see
        :mod:`crowdalpha.tournament.webhooks`)."""
        return Webhooks(self._core.uow)

    def duplicates(
        self, number: int | None = None, *, across_only: bool = False
    ) -> list[ClusterInfo]:
        """This competition's clusters of near-identical submissions, found as each round
        closed (round ``number``, or all); see :mod:`crowdalpha.tournament.fairplay`."""
        return FairPlay(self._core.uow).clusters(self.competition, number, across_only=across_only)
