"""EIP-712 digests and signatures against eth_account's independent encoder."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.chain.support import key

from crowdalpha.chain.signing import (
    AuthorizationSigner,
    StakeAuthorization,
    recover_signer,
    sign_permit,
)
from crowdalpha.errors import InvalidInputError

STAKING = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"

uint = st.integers(0, 2**256 - 1)


@settings(max_examples=40, deadline=None)
@given(
    staker=st.binary(min_size=20, max_size=20),
    ids=st.tuples(uint, uint, uint, uint),
    submission_hash=st.binary(min_size=32, max_size=32),
    max_amount=st.integers(1, 2**256 - 1),
    nonce=uint,
    deadline=uint,
    chain_id=st.integers(1, 2**64),
)
def test_the_authorization_digest_is_the_eip712_digest(
    staker: bytes,
    ids: tuple[int, int, int, int],
    submission_hash: bytes,
    max_amount: int,
    nonce: int,
    deadline: int,
    chain_id: int,
) -> None:
    tournament_id, round_id, model_id, submission_id = ids
    auth = StakeAuthorization(
        staker="0x" + staker.hex(),
        tournament_id=tournament_id,
        round_id=round_id,
        model_id=model_id,
        submission_id=submission_id,
        submission_hash=submission_hash,
        max_amount=max_amount,
        nonce=nonce,
        deadline=deadline,
    )
    reference = encode_typed_data(full_message=auth.typed_data(chain_id, STAKING))
    expected = keccak(b"\x19" + reference.version + reference.header + reference.body)
    assert auth.digest(chain_id, STAKING) == expected


def test_a_signed_authorization_recovers_to_the_signer_and_hides_the_key() -> None:
    account = key("platform signer")
    signer = AuthorizationSigner(
        account, chain_id=31337, staking_address=STAKING, nmr_address=TOKEN
    )
    signed = signer.authorize(
        staker=key("staker").address.lower(),  # lowercase is accepted and checksummed
        tournament_id=8,
        round_id=8_000_001,
        model_id=3,
        submission_id=44,
        submission_hash=b"\x07" * 32,
        max_amount=10**18,
        deadline=2_000_000_000,
    )
    assert recover_signer(signed) == account.address == signed.signer
    assert signed.authorization.staker == key("staker").address
    assert len(signed.signature) == 65 and signed.signature[64] in (27, 28)
    assert 0 <= signed.authorization.nonce < 2**128
    assert account.key.hex() not in repr(signer) and account.key.hex() not in str(vars(signed))
    # The signature is eth_account's signature of the same typed data.
    reference = Account.sign_typed_data(
        account.key, full_message=signed.authorization.typed_data(31337, STAKING)
    )
    assert bytes(reference.signature) == signed.signature
    described = signed.describe()
    assert described["authorizationDigest"] == "0x" + signed.digest.hex()
    assert described["maxAmount"] == str(10**18) and described["stakingAddress"] == STAKING


def test_a_signature_by_anyone_else_recovers_to_them() -> None:
    signer = AuthorizationSigner(
        key("platform signer"), chain_id=1, staking_address=STAKING, nmr_address=TOKEN
    )
    impostor = AuthorizationSigner(
        key("impostor"), chain_id=1, staking_address=STAKING, nmr_address=TOKEN
    )
    fields = {
        "staker": key("staker").address,
        "tournament_id": 8,
        "round_id": 1,
        "model_id": 1,
        "submission_id": 1,
        "submission_hash": b"\x01" * 32,
        "max_amount": 1,
        "deadline": 1,
        "nonce": 5,
    }
    forged = impostor.authorize(**fields)  # type: ignore[arg-type]
    assert recover_signer(forged) != signer.address
    with pytest.raises(InvalidInputError, match="65 bytes"):
        from dataclasses import replace

        recover_signer(replace(forged, signature=forged.signature[:64]))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("staker", "0x1234", "not an Ethereum address"),
        ("max_amount", 0, "authorizes nothing"),
        ("nonce", -1, "from 0 to 2"),
        ("deadline", 2**256, "from 0 to 2"),
        ("submission_hash", b"\x01" * 31, "32 bytes"),
        ("round_id", True, "from 0 to 2"),
    ],
)
def test_malformed_authorizations_are_refused(field: str, value: object, message: str) -> None:
    fields: dict[str, object] = {
        "staker": key("staker").address,
        "tournament_id": 8,
        "round_id": 1,
        "model_id": 1,
        "submission_id": 1,
        "submission_hash": b"\x01" * 32,
        "max_amount": 1,
        "nonce": 0,
        "deadline": 1,
    }
    fields[field] = value
    with pytest.raises(InvalidInputError, match=message):
        StakeAuthorization(**fields)  # type: ignore[arg-type]


def test_a_permit_is_eth_accounts_eip2612_signature() -> None:
    owner = key("holder")
    permit = sign_permit(
        owner,
        token_name="Numeraire",
        token_address=TOKEN,
        chain_id=31337,
        spender=STAKING,
        amount=5,
        nonce=3,
        deadline=99,
    )
    message = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": "Numeraire",
            "version": "1",
            "chainId": 31337,
            "verifyingContract": TOKEN,
        },
        "message": {
            "owner": owner.address,
            "spender": STAKING,
            "value": 5,
            "nonce": 3,
            "deadline": 99,
        },
    }
    reference = Account.sign_typed_data(owner.key, full_message=message)
    assert (permit.v, permit.r, permit.s) == (
        reference.v,
        reference.r.to_bytes(32, "big"),
        reference.s.to_bytes(32, "big"),
    )
