"""EIP-712 signatures: the platform's stake authorizations and participants' EIP-2612 permits.

A stake authorization lets one staker stake at most ``max_amount`` on one submission of
one model in one round, until ``deadline``, once (``nonce``). The staking contract
rebuilds the same digest from its own state and the call's arguments and recovers the
signer; any other staker, round, model, submission, file hash, chain or contract gives
another digest and is refused.

Digests are computed here with ``eth_abi`` and ``keccak`` (no JSON round trip); the tests
check them against ``eth_account``'s independent EIP-712 encoder and against the
contract's own ``authorization_digest``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import Signature
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak

from crowdalpha.chain.encoding import UINT256_MAX, checksum_address, hex32
from crowdalpha.errors import InvalidInputError

__all__ = [
    "AUTHORIZATION_TYPE",
    "PERMIT_TYPE",
    "STAKING_DOMAIN_NAME",
    "STAKING_DOMAIN_VERSION",
    "AuthorizationSigner",
    "Permit",
    "SignedAuthorization",
    "StakeAuthorization",
    "domain_separator",
    "recover_signer",
    "sign_permit",
    "typed_data_digest",
]

STAKING_DOMAIN_NAME = "crowdalpha staking"
STAKING_DOMAIN_VERSION = "1"

_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
AUTHORIZATION_TYPE = (
    "StakeAuthorization(address staker,uint256 tournamentId,uint256 roundId,uint256 modelId,"
    "uint256 submissionId,bytes32 submissionHash,uint256 maxAmount,uint256 nonce,"
    "uint256 deadline)"
)
PERMIT_TYPE = "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"


def domain_separator(name: str, version: str, chain_id: int, verifying_contract: str) -> bytes:
    """The EIP-712 domain separator of a contract (name, version, chain, address)."""
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(text=_DOMAIN_TYPE),
                keccak(text=name),
                keccak(text=version),
                chain_id,
                checksum_address(verifying_contract, name="verifying contract"),
            ],
        )
    )


def typed_data_digest(separator: bytes, struct_hash: bytes) -> bytes:
    """``keccak256(0x1901 ‖ domain separator ‖ struct hash)``: what is signed."""
    return keccak(b"\x19\x01" + separator + struct_hash)


def _uint(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
        raise InvalidInputError(f"{name} must be a whole number from 0 to 2^256 − 1")
    return value


@dataclass(frozen=True)
class StakeAuthorization:
    """What the platform authorizes: the fields of the signed ``StakeAuthorization``."""

    staker: ChecksumAddress
    tournament_id: int
    round_id: int  # the on-chain round id (see crowdalpha.chain.encoding)
    model_id: int
    submission_id: int
    submission_hash: bytes  # SHA-256 of the submission's file
    max_amount: int  # base units
    nonce: int
    deadline: int  # unix seconds

    def __post_init__(self) -> None:
        object.__setattr__(self, "staker", checksum_address(self.staker, name="staker"))
        for name in (
            "tournament_id",
            "round_id",
            "model_id",
            "submission_id",
            "max_amount",
            "nonce",
            "deadline",
        ):
            _uint(getattr(self, name), name)
        if len(self.submission_hash) != 32:
            raise InvalidInputError("submission_hash must be 32 bytes (a SHA-256)")
        if self.max_amount == 0:
            raise InvalidInputError("an authorization for at most 0 NMR authorizes nothing")

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                [
                    "bytes32",
                    "address",
                    "uint256",
                    "uint256",
                    "uint256",
                    "uint256",
                    "bytes32",
                    "uint256",
                    "uint256",
                    "uint256",
                ],
                [
                    keccak(text=AUTHORIZATION_TYPE),
                    self.staker,
                    self.tournament_id,
                    self.round_id,
                    self.model_id,
                    self.submission_id,
                    self.submission_hash,
                    self.max_amount,
                    self.nonce,
                    self.deadline,
                ],
            )
        )

    def digest(self, chain_id: int, staking_address: str) -> bytes:
        separator = domain_separator(
            STAKING_DOMAIN_NAME, STAKING_DOMAIN_VERSION, chain_id, staking_address
        )
        return typed_data_digest(separator, self.struct_hash())

    def typed_data(self, chain_id: int, staking_address: str) -> dict[str, Any]:
        """The EIP-712 message as JSON (``eth_signTypedData_v4``), for wallets and for
        checking the digest with another implementation."""
        return {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "StakeAuthorization": [
                    {"name": "staker", "type": "address"},
                    {"name": "tournamentId", "type": "uint256"},
                    {"name": "roundId", "type": "uint256"},
                    {"name": "modelId", "type": "uint256"},
                    {"name": "submissionId", "type": "uint256"},
                    {"name": "submissionHash", "type": "bytes32"},
                    {"name": "maxAmount", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "StakeAuthorization",
            "domain": {
                "name": STAKING_DOMAIN_NAME,
                "version": STAKING_DOMAIN_VERSION,
                "chainId": chain_id,
                "verifyingContract": checksum_address(staking_address),
            },
            "message": {
                "staker": self.staker,
                "tournamentId": self.tournament_id,
                "roundId": self.round_id,
                "modelId": self.model_id,
                "submissionId": self.submission_id,
                "submissionHash": self.submission_hash,
                "maxAmount": self.max_amount,
                "nonce": self.nonce,
                "deadline": self.deadline,
            },
        }


@dataclass(frozen=True)
class SignedAuthorization:
    """An authorization with its signature and where it is valid: everything a staker
    needs to call ``stake`` (numerapi's ``v3StakeAuth`` fields, see crowdalpha.chain.v3)."""

    authorization: StakeAuthorization
    chain_id: int
    staking_address: ChecksumAddress
    nmr_address: ChecksumAddress
    signer: ChecksumAddress
    digest: bytes
    signature: bytes  # 65 bytes: r ‖ s ‖ v (v = 27 or 28)

    def stake_args(self, amount: int) -> tuple[Any, ...]:
        """The arguments of ``staking.stake(...)`` for staking ``amount`` base units."""
        a = self.authorization
        return (
            a.round_id,
            a.model_id,
            a.submission_id,
            a.submission_hash,
            amount,
            a.max_amount,
            a.nonce,
            a.deadline,
            self.signature,
        )

    def describe(self) -> dict[str, str]:
        """Readable fields (hashes as 0x-hex, numbers as decimal strings)."""
        a = self.authorization
        return {
            "staker": a.staker,
            "tournamentId": str(a.tournament_id),
            "roundId": str(a.round_id),
            "modelId": str(a.model_id),
            "submissionId": str(a.submission_id),
            "submissionHash": hex32(a.submission_hash),
            "maxAmount": str(a.max_amount),
            "nonce": str(a.nonce),
            "deadline": str(a.deadline),
            "chainId": str(self.chain_id),
            "stakingAddress": self.staking_address,
            "nmrAddress": self.nmr_address,
            "authorizationSigner": self.signer,
            "authorizationDigest": hex32(self.digest),
            "signature": "0x" + self.signature.hex(),
        }


class AuthorizationSigner:
    """The platform's authorization key, bound to one staking contract on one chain.

    The key never leaves this object: it is not in its ``repr``, and only signatures and
    the signer's address come out.
    """

    def __init__(
        self,
        account: LocalAccount,
        *,
        chain_id: int,
        staking_address: str,
        nmr_address: str,
    ) -> None:
        self._account = account
        self.chain_id = chain_id
        self.staking_address = checksum_address(staking_address, name="staking address")
        self.nmr_address = checksum_address(nmr_address, name="NMR address")

    def __repr__(self) -> str:
        return f"AuthorizationSigner(address={self.address}, chain_id={self.chain_id})"

    @property
    def address(self) -> ChecksumAddress:
        return self._account.address

    def authorize(
        self,
        *,
        staker: str,
        tournament_id: int,
        round_id: int,
        model_id: int,
        submission_id: int,
        submission_hash: bytes,
        max_amount: int,
        deadline: int,
        nonce: int | None = None,
    ) -> SignedAuthorization:
        """Sign an authorization; without ``nonce`` a random 128-bit one (the contract
        accepts nonces in any order, each once per staker)."""
        authorization = StakeAuthorization(
            staker=checksum_address(staker, name="staker"),
            tournament_id=tournament_id,
            round_id=round_id,
            model_id=model_id,
            submission_id=submission_id,
            submission_hash=submission_hash,
            max_amount=max_amount,
            nonce=secrets.randbits(128) if nonce is None else nonce,
            deadline=deadline,
        )
        digest = authorization.digest(self.chain_id, self.staking_address)
        signed = Account.unsafe_sign_hash(digest, self._account.key)
        return SignedAuthorization(
            authorization=authorization,
            chain_id=self.chain_id,
            staking_address=self.staking_address,
            nmr_address=self.nmr_address,
            signer=self.address,
            digest=digest,
            signature=bytes(signed.signature),
        )


def recover_signer(signed: SignedAuthorization) -> ChecksumAddress:
    """Who signed ``signed`` (recomputing the digest from its fields)."""
    digest = signed.authorization.digest(signed.chain_id, signed.staking_address)
    raw = signed.signature
    if len(raw) != 65 or raw[64] not in (27, 28):
        raise InvalidInputError("a signature is 65 bytes ending in v = 27 or 28")
    signature = Signature(signature_bytes=raw[:64] + bytes([raw[64] - 27]))
    return signature.recover_public_key_from_msg_hash(digest).to_checksum_address()


@dataclass(frozen=True)
class Permit:
    """An EIP-2612 permit: ``owner`` lets ``spender`` move ``amount`` until ``deadline``."""

    owner: ChecksumAddress
    spender: ChecksumAddress
    amount: int
    nonce: int
    deadline: int
    v: int
    r: bytes
    s: bytes


def sign_permit(
    account: LocalAccount,
    *,
    token_name: str,
    token_address: str,
    chain_id: int,
    spender: str,
    amount: int,
    nonce: int,
    deadline: int,
) -> Permit:
    """Sign a permit for the NMR token (its EIP-712 domain: the token's name, version 1)."""
    spender = checksum_address(spender, name="spender")
    struct_hash = keccak(
        encode(
            ["bytes32", "address", "address", "uint256", "uint256", "uint256"],
            [keccak(text=PERMIT_TYPE), account.address, spender, amount, nonce, deadline],
        )
    )
    digest = typed_data_digest(
        domain_separator(token_name, "1", chain_id, token_address), struct_hash
    )
    signed = Account.unsafe_sign_hash(digest, account.key)
    return Permit(
        owner=account.address,
        spender=spender,
        amount=amount,
        nonce=nonce,
        deadline=deadline,
        v=signed.v,
        r=signed.r.to_bytes(32, "big"),
        s=signed.s.to_bytes(32, "big"),
    )
