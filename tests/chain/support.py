"""Shared pieces of the chain tests: constants, deterministic keys, and the two worlds
the fixtures (conftest.py) build: the contracts on titanoboa, and on a real anvil node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from crowdalpha.chain import (
    Anvil,
    AuthorizationSigner,
    Deployment,
    NMRToken,
    RoundSchedule,
    Sender,
    Staking,
)

NMR = 10**18
DAY = 86_400
CLAIM_PERIOD = 30 * DAY
GRACE = 7 * DAY
CAP = 11_000_000 * NMR
ROUND = 8_000_001  # tournament 8, round 1


def key(name: str) -> LocalAccount:
    """A deterministic test key (the same account in every run)."""
    account: LocalAccount = Account.from_key(keccak(text=f"crowdalpha test key {name}"))
    return account


def file_hash(name: str) -> bytes:
    return keccak(text=f"submission file {name}")


# -- titanoboa -------------------------------------------------------------------------


@dataclass
class BoaWorld:
    """Both contracts on titanoboa, a funded service wallet, four funded stakers and an
    open round ``ROUND`` (now → +1 day, resolving at +2 days)."""

    boa: Any
    owner: str
    guardian: str
    service: str
    signer: LocalAccount
    stakers: list[LocalAccount]
    token: Any
    staking: Any
    token_deployer: Any
    staking_deployer: Any
    start: int
    auth: AuthorizationSigner = field(init=False)

    def __post_init__(self) -> None:
        self.auth = AuthorizationSigner(
            self.signer,
            chain_id=self.boa.env.evm.patch.chain_id,
            staking_address=str(self.staking.address),
            nmr_address=str(self.token.address),
        )

    def authorize(
        self,
        staker: LocalAccount,
        model_id: int,
        *,
        round_id: int = ROUND,
        max_amount: int = 100 * NMR,
        submission_id: int | None = None,
        nonce: int | None = None,
        deadline: int | None = None,
        tournament_id: int = 8,
    ) -> Any:
        return self.auth.authorize(
            staker=staker.address,
            tournament_id=tournament_id,
            round_id=round_id,
            model_id=model_id,
            submission_id=1000 + model_id if submission_id is None else submission_id,
            submission_hash=file_hash(str(model_id)),
            max_amount=max_amount,
            deadline=self.boa.env.timestamp + 3600 if deadline is None else deadline,
            nonce=nonce,
        )

    def stake(self, staker: LocalAccount, model_id: int, amount: int, **kw: Any) -> Any:
        signed = self.authorize(staker, model_id, **kw)
        with self.boa.env.prank(staker.address):
            self.staking.stake(*signed.stake_args(amount))
        return signed

    def close(self) -> None:
        """Move past the round's close time."""
        self.boa.env.timestamp = self.start + DAY


# -- anvil -----------------------------------------------------------------------------


@dataclass
class AnvilChain:
    """anvil with both contracts deployed by the library, a funded operator (owner,
    guardian and service wallet), the authorization signer, and helpers."""

    anvil: Anvil
    deployment: Deployment
    operator: Sender
    signer: AuthorizationSigner
    token: NMRToken
    staking: Staking

    @property
    def w3(self) -> Any:
        return self.operator.w3

    def sender(self, name: str, *, ether: int = 10**18) -> Sender:
        """A new funded key (deterministic per name)."""
        account = key(name)
        self.anvil.set_balance(account.address, ether)
        return Sender(self.w3, account, poll_interval=0.005)

    def open_round(self, round_id: int = ROUND, *, stake_cap: int = 0) -> RoundSchedule:
        now = self.anvil.timestamp()
        schedule = RoundSchedule(
            round_id=round_id,
            tournament_id=round_id // 10**6,
            open_time=now,
            close_time=now + DAY,
            resolve_time=now + 2 * DAY,
            stake_cap=stake_cap,
        )
        self.staking.open_round(self.operator, schedule)
        return schedule

    def advance(self, seconds: int) -> None:
        self.anvil.increase_time(seconds)
        self.anvil.mine()
