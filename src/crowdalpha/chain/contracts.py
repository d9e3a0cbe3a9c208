"""The two contracts as Python objects: reads return typed records, writes take a Sender.

``NMRToken`` and ``Staking`` wrap web3 contract objects built from the compiled ABI
(crowdalpha.chain.artifacts). Reads need only a connection; every write names the
:class:`~crowdalpha.chain.transactions.Sender` whose key signs it, so who pays and who
is authorized is visible at each call site.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from crowdalpha.chain.artifacts import load_artifact
from crowdalpha.chain.encoding import checksum_address
from crowdalpha.chain.settlement import Claim, Settlement
from crowdalpha.chain.signing import Permit, SignedAuthorization, sign_permit
from crowdalpha.chain.transactions import Sender, node_errors
from crowdalpha.errors import ChainConfigurationError, SettlementError

__all__ = [
    "NMRToken",
    "OnChainRound",
    "RoundSchedule",
    "RoundState",
    "Staking",
    "StakingConfig",
]


class RoundState(IntEnum):
    """A round's state as the staking contract's ``round_state`` reports it."""

    UNKNOWN = 0
    PENDING = 1
    OPEN = 2
    CLOSED = 3
    RESOLVED = 4
    EXPIRED = 5
    CANCELLED = 6
    ABANDONED = 7

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class RoundSchedule:
    """What ``open_round`` declares (times in unix seconds, amounts in base units)."""

    round_id: int
    tournament_id: int
    open_time: int
    close_time: int
    resolve_time: int
    stake_cap: int = 0  # 0: no cap
    stake_threshold: int = 0  # 0: payouts never scale down

    def args(self) -> tuple[int, ...]:
        return (
            self.round_id,
            self.tournament_id,
            self.open_time,
            self.close_time,
            self.resolve_time,
            self.stake_cap,
            self.stake_threshold,
        )


@dataclass(frozen=True)
class OnChainRound:
    """Everything the contract knows about a round (numerapi's ``v3StakeRound``)."""

    round_id: int
    schedule: RoundSchedule
    state: RoundState
    total_staked: int
    cancelled: bool
    merkle_root: bytes | None  # None before resolution
    remaining_payout: int
    remaining_burn: int  # burns not yet shown in a Claimed event
    claim_deadline: int  # 0 before resolution
    payout_factor: int  # × 10^18

    @property
    def resolved(self) -> bool:
        return self.merkle_root is not None


@dataclass(frozen=True)
class StakingConfig:
    """The staking contract's configuration (numerapi's ``v3StakeConfig``)."""

    address: ChecksumAddress
    nmr_address: ChecksumAddress
    authorization_signer: ChecksumAddress
    owner: ChecksumAddress
    pending_owner: ChecksumAddress | None
    service_wallet: ChecksumAddress
    guardian: ChecksumAddress
    paused: bool
    claim_period: int
    resolution_grace: int


_ZERO = "0x" + "00" * 20


def _contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(
        address=checksum_address(address, name=f"{name} address"), abi=load_artifact(name).abi
    )


class NMRToken:
    """The NMR token contract at ``address``."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.contract = _contract(w3, "nmr", address)
        self.address: ChecksumAddress = self.contract.address

    def _call(self, fn: str, *args: Any) -> Any:
        with node_errors(f"reading {fn}"):
            return getattr(self.contract.functions, fn)(*args).call()

    def name(self) -> str:
        return str(self._call("name"))

    def balance_of(self, owner: str) -> int:
        return int(self._call("balanceOf", checksum_address(owner)))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self._call("allowance", checksum_address(owner), checksum_address(spender)))

    def total_supply(self) -> int:
        return int(self._call("totalSupply"))

    def total_minted(self) -> int:
        return int(self._call("total_minted"))

    def supply_cap(self) -> int:
        return int(self._call("SUPPLY_CAP"))

    def owner(self) -> ChecksumAddress:
        return checksum_address(self._call("owner"))

    def nonce_of(self, owner: str) -> int:
        return int(self._call("nonces", checksum_address(owner)))

    def mint(self, sender: Sender, to: str, amount: int) -> TxReceipt:
        """Create ``amount`` for ``to`` (the sender must be the token's owner)."""
        return sender.send(self.contract.functions.mint(checksum_address(to), amount))

    def transfer(self, sender: Sender, to: str, amount: int) -> TxReceipt:
        return sender.send(self.transfer_call(to, amount))

    def transfer_call(self, to: str, amount: int) -> ContractFunction:
        """The bound ``transfer(to, amount)``, to sign now and send later."""
        return self.contract.functions.transfer(checksum_address(to), amount)

    def approve(self, sender: Sender, spender: str, amount: int) -> TxReceipt:
        return sender.send(self.contract.functions.approve(checksum_address(spender), amount))

    def burn(self, sender: Sender, amount: int) -> TxReceipt:
        return sender.send(self.contract.functions.burn(amount))

    def transfer_ownership(self, sender: Sender, new_owner: str) -> TxReceipt:
        return sender.send(self.contract.functions.transfer_ownership(checksum_address(new_owner)))

    def sign_permit(self, sender: Sender, spender: str, amount: int, deadline: int) -> Permit:
        """A permit by ``sender``'s key for ``spender`` (name and nonce read from chain)."""
        return sign_permit(
            sender.account,
            token_name=self.name(),
            token_address=self.address,
            chain_id=sender.chain_id,
            spender=spender,
            amount=amount,
            nonce=self.nonce_of(sender.address),
            deadline=deadline,
        )


class Staking:
    """The staking contract at ``address``."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.contract = _contract(w3, "staking", address)
        self.address: ChecksumAddress = self.contract.address

    def _call(self, fn: str, *args: Any) -> Any:
        with node_errors(f"reading {fn}"):
            return getattr(self.contract.functions, fn)(*args).call()

    # -- reads ----------------------------------------------------------------------------

    def token_address(self) -> ChecksumAddress:
        return checksum_address(self._call("TOKEN"))

    def token(self) -> NMRToken:
        return NMRToken(self.w3, self.token_address())

    def config(self) -> StakingConfig:
        pending = checksum_address(self._call("pending_owner"))
        return StakingConfig(
            address=self.address,
            nmr_address=self.token_address(),
            authorization_signer=checksum_address(self._call("authorization_signer")),
            owner=checksum_address(self._call("owner")),
            pending_owner=None if pending == checksum_address(_ZERO) else pending,
            service_wallet=checksum_address(self._call("service_wallet")),
            guardian=checksum_address(self._call("guardian")),
            paused=bool(self._call("paused")),
            claim_period=int(self._call("CLAIM_PERIOD")),
            resolution_grace=int(self._call("RESOLUTION_GRACE")),
        )

    def round(self, round_id: int) -> OnChainRound:
        (tournament, open_time, close_time, resolve_time, cap, threshold, staked, cancelled) = (
            self._call("rounds", round_id)
        )
        root = bytes(self._call("merkle_root", round_id))
        payout_left, burn_left, deadline = self._call("settlement", round_id)
        return OnChainRound(
            round_id=round_id,
            schedule=RoundSchedule(
                round_id=round_id,
                tournament_id=tournament,
                open_time=open_time,
                close_time=close_time,
                resolve_time=resolve_time,
                stake_cap=cap,
                stake_threshold=threshold,
            ),
            state=RoundState(self._call("round_state", round_id)),
            total_staked=staked,
            cancelled=bool(cancelled),
            merkle_root=None if root == bytes(32) else root,
            remaining_payout=payout_left,
            remaining_burn=burn_left,
            claim_deadline=deadline,
            payout_factor=int(self._call("payout_factor", round_id)),
        )

    def stake_of(self, round_id: int, model_id: int) -> tuple[ChecksumAddress | None, int]:
        """``(staker, amount)`` of a model in a round; ``(None, 0)`` if never staked."""
        staker, amount = self._call("stake_of", round_id, model_id)
        address = checksum_address(staker)
        return (None if address == checksum_address(_ZERO) else address), int(amount)

    def is_claimed(self, round_id: int, model_id: int) -> bool:
        return bool(self._call("is_claimed", round_id, model_id))

    def authorization_used(self, staker: str, nonce: int) -> bool:
        return bool(self._call("authorization_used", checksum_address(staker), nonce))

    # -- the operator's writes ------------------------------------------------------------

    def open_round(self, sender: Sender, schedule: RoundSchedule) -> TxReceipt:
        return sender.send(self.contract.functions.open_round(*schedule.args()))

    def cancel_round(self, sender: Sender, round_id: int) -> TxReceipt:
        return sender.send(self.contract.functions.cancel_round(round_id))

    def post_root(self, sender: Sender, settlement: Settlement) -> TxReceipt:
        """Resolve ``settlement``'s round on chain: its root, its burn, its reward pulled
        from the service wallet. Refused before sending when the settlement's stakes are
        not the round's stakes on chain."""
        onchain = self.round(settlement.round_id).total_staked
        if onchain != settlement.total_stake:
            raise SettlementError(
                f"round {settlement.round_id} has {onchain} base units staked on chain but the "
                f"settlement accounts for {settlement.total_stake}",
                details={"on_chain": onchain, "settlement": settlement.total_stake},
            )
        return sender.send(
            self.contract.functions.post_root(
                settlement.round_id,
                settlement.root,
                settlement.total_payout,
                settlement.total_burn,
            )
        )

    def sweep(self, sender: Sender, round_id: int) -> TxReceipt:
        return sender.send(self.contract.functions.sweep(round_id))

    def refund(self, sender: Sender, round_id: int, model_id: int) -> TxReceipt:
        return sender.send(self.contract.functions.refund(round_id, model_id))

    def set_authorization_signer(self, sender: Sender, signer: str) -> TxReceipt:
        return sender.send(
            self.contract.functions.set_authorization_signer(checksum_address(signer))
        )

    def set_service_wallet(self, sender: Sender, wallet: str) -> TxReceipt:
        return sender.send(self.contract.functions.set_service_wallet(checksum_address(wallet)))

    def set_guardian(self, sender: Sender, guardian: str) -> TxReceipt:
        return sender.send(self.contract.functions.set_guardian(checksum_address(guardian)))

    def pause(self, sender: Sender) -> TxReceipt:
        return sender.send(self.contract.functions.pause())

    def unpause(self, sender: Sender) -> TxReceipt:
        return sender.send(self.contract.functions.unpause())

    def transfer_ownership(self, sender: Sender, new_owner: str) -> TxReceipt:
        return sender.send(self.contract.functions.transfer_ownership(checksum_address(new_owner)))

    def accept_ownership(self, sender: Sender) -> TxReceipt:
        return sender.send(self.contract.functions.accept_ownership())

    # -- participants' writes -------------------------------------------------------------

    def stake(self, sender: Sender, authorization: SignedAuthorization, amount: int) -> TxReceipt:
        """Stake ``amount`` under ``authorization`` (approved to this contract before)."""
        self._check(authorization, sender)
        return sender.send(self.contract.functions.stake(*authorization.stake_args(amount)))

    def stake_with_permit(
        self, sender: Sender, authorization: SignedAuthorization, permit: Permit
    ) -> TxReceipt:
        """Stake ``permit.amount`` with the permit in the same transaction."""
        self._check(authorization, sender)
        return sender.send(
            self.contract.functions.stake_with_permit(
                *authorization.stake_args(permit.amount),
                permit.deadline,
                permit.v,
                permit.r,
                permit.s,
            )
        )

    def claim(self, sender: Sender, claim: Claim) -> TxReceipt:
        """Claim a model's payout (any sender; the NMR goes to the claim's staker)."""
        return sender.send(self.contract.functions.claim(*claim.args()))

    def _check(self, authorization: SignedAuthorization, sender: Sender) -> None:
        if authorization.staking_address != self.address:
            raise ChainConfigurationError(
                f"the authorization is for staking contract {authorization.staking_address}, "
                f"not {self.address}"
            )
        if authorization.authorization.staker != sender.address:
            raise ChainConfigurationError(
                f"the authorization is for staker {authorization.authorization.staker}, but "
                f"{sender.address} would send the stake"
            )
