"""How the platform's identifiers and hashes appear on chain (one rule for each).

- Round ids are unique across tournaments on chain: ``tournament × 10⁶ + number``
  (tournament 8, round 612 → ``8000612``), readable on a block explorer.
- Model and submission ids are ``uint256``: the platform's integer id as it is, a UUID
  as its 128-bit number, so a participant turns the id numerapi shows into the value the
  contract takes with ``int(...)`` (or ``uuid.UUID(...).int``).
- A submission's hash is the SHA-256 of its file, as ``bytes32``.
- Addresses are EIP-55 checksummed.
"""

from __future__ import annotations

import re
import uuid

from eth_typing import ChecksumAddress
from eth_utils.address import (
    is_address,
    is_checksum_address,
    is_checksum_formatted_address,
    to_checksum_address,
)

from crowdalpha.errors import InvalidInputError

__all__ = [
    "ROUND_ID_BASE",
    "UINT256_MAX",
    "bytes32_from_hex",
    "checksum_address",
    "hex32",
    "id_to_uint",
    "onchain_round_id",
    "split_round_id",
]

ROUND_ID_BASE = 10**6
UINT256_MAX = 2**256 - 1
_HEX32 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def onchain_round_id(tournament: int, number: int) -> int:
    """The contract's id of round ``number`` of ``tournament``."""
    if tournament < 0 or not 0 < number < ROUND_ID_BASE:
        raise InvalidInputError(
            f"round {number} of tournament {tournament} has no on-chain id: the tournament "
            f"must be ≥ 0 and the round number between 1 and {ROUND_ID_BASE - 1}"
        )
    return tournament * ROUND_ID_BASE + number


def split_round_id(round_id: int) -> tuple[int, int]:
    """``(tournament, number)`` of an on-chain round id."""
    tournament, number = divmod(round_id, ROUND_ID_BASE)
    if round_id < 0 or number == 0:
        raise InvalidInputError(f"{round_id} is not an on-chain round id")
    return tournament, number


def id_to_uint(value: int | str | uuid.UUID) -> int:
    """A model or submission id as the contract's ``uint256``: an integer as it is, a UUID
    (object or string) as its number, a decimal string as its integer."""
    if isinstance(value, uuid.UUID):
        return value.int
    if isinstance(value, bool):
        raise InvalidInputError(f"{value!r} is not an id")
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        if text.isdigit():
            number = int(text)
        else:
            try:
                number = uuid.UUID(text).int
            except ValueError:
                raise InvalidInputError(
                    f"id {value!r} is neither a whole number nor a UUID"
                ) from None
    if not 0 <= number <= UINT256_MAX:
        raise InvalidInputError(f"id {value!r} does not fit in a uint256")
    return number


def bytes32_from_hex(value: str | bytes, *, name: str = "value") -> bytes:
    """32 bytes from a 64-digit hex string (with or without ``0x``) or from 32 bytes."""
    if isinstance(value, bytes):
        if len(value) != 32:
            raise InvalidInputError(f"{name} must be 32 bytes, got {len(value)}")
        return value
    if not _HEX32.match(value):
        raise InvalidInputError(f"{name} must be 64 hex digits (a SHA-256 or keccak hash)")
    return bytes.fromhex(value.removeprefix("0x"))


def hex32(value: bytes) -> str:
    """``0x``-prefixed lowercase hex of a hash."""
    return "0x" + value.hex()


def checksum_address(value: str, *, name: str = "address") -> ChecksumAddress:
    """``value`` as an EIP-55 address; refuses anything that is not 20 bytes of hex
    (and a mixed-case address whose checksum is wrong)."""
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInputError(f"{name} {value!r} is not an Ethereum address")
    if is_checksum_formatted_address(value) and not is_checksum_address(value):
        raise InvalidInputError(
            f"{name} {value!r} has a wrong EIP-55 checksum (a mistyped address?); "
            "give it in lowercase or with its correct checksum"
        )
    return to_checksum_address(value)
