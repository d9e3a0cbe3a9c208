"""A round's on-chain settlement: per-stake results → leaves, Merkle root, totals, proofs.

The payout policy is the core's (crowdalpha.payouts): it says, for each staked model,
how much is returned to the staker and how much of the stake is burned. This module only
turns those results into what the staking contract takes — one ``post_root`` with the
root, the total payout and the total burn — and into one claim (leaf + proof) per model.

A leaf is ``(staker, model, submission, payout, burn)`` (the contract's ABI encoding:
``address, uint256, uint256, uint256, uint256``); ``payout`` is what the staker
receives (the stake less its burn, plus any reward) and ``burn`` the part of the stake
destroyed. Every leaf keeps ``payout + burn ≥ stake``: the stake is accounted for in
full, and whatever is above it is the reward the contract pulls from the service wallet.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

from eth_typing import ChecksumAddress

from crowdalpha.chain.encoding import checksum_address, hex32
from crowdalpha.chain.merkle import StandardMerkleTree, process_proof
from crowdalpha.chain.merkle import leaf_hash as _leaf_hash
from crowdalpha.errors import InvalidInputError, NotFoundError, SettlementError

__all__ = ["LEAF_ENCODING", "Claim", "Settlement", "StakeResult", "build_settlement"]

LEAF_ENCODING = ("address", "uint256", "uint256", "uint256", "uint256")
"""staker, model id, submission id, payout, burn — as the contract's ``claim`` hashes them."""

_FORMAT = "crowdalpha-settlement-v1"


@dataclass(frozen=True)
class StakeResult:
    """One model's stake in a round and what resolution made of it (base units)."""

    staker: ChecksumAddress
    model_id: int
    submission_id: int
    stake: int
    payout: int  # returned to the staker: stake − burn + reward
    burn: int  # destroyed from the stake

    def __post_init__(self) -> None:
        object.__setattr__(self, "staker", checksum_address(self.staker, name="staker"))
        for name in ("model_id", "submission_id", "stake", "payout", "burn"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SettlementError(f"{name} of model {self.model_id} must be an int ≥ 0")
        if self.stake == 0:
            raise SettlementError(f"model {self.model_id} has no stake to settle")
        if self.burn > self.stake:
            raise SettlementError(
                f"model {self.model_id} would burn {self.burn} of a {self.stake} stake",
                details={"model_id": self.model_id, "stake": self.stake, "burn": self.burn},
            )
        if self.payout + self.burn < self.stake:
            raise SettlementError(
                f"model {self.model_id}'s payout {self.payout} and burn {self.burn} leave part "
                f"of its {self.stake} stake unaccounted for",
                details={"model_id": self.model_id, "stake": self.stake},
            )

    @classmethod
    def from_change(
        cls,
        *,
        staker: str,
        model_id: int,
        submission_id: int,
        stake: int,
        change: int,
    ) -> StakeResult:
        """From the core's signed payout (``change > 0``: a reward on top of the returned
        stake; ``change < 0``: that much of the stake burned)."""
        burn = max(-change, 0)
        return cls(
            staker=checksum_address(staker, name="staker"),
            model_id=model_id,
            submission_id=submission_id,
            stake=stake,
            payout=stake + change if change >= 0 else stake - burn,
            burn=burn,
        )

    @property
    def reward(self) -> int:
        """What is paid above the stake (from the service wallet)."""
        return self.payout + self.burn - self.stake

    @property
    def leaf(self) -> tuple[ChecksumAddress, int, int, int, int]:
        return (self.staker, self.model_id, self.submission_id, self.payout, self.burn)


@dataclass(frozen=True)
class Claim:
    """Everything ``staking.claim`` takes for one model (numerapi's ``v3StakeClaim``)."""

    round_id: int
    staker: ChecksumAddress
    model_id: int
    submission_id: int
    payout: int
    burn: int
    proof: tuple[bytes, ...]
    merkle_root: bytes

    def args(self) -> tuple[Any, ...]:
        """The arguments of ``staking.claim(...)``."""
        return (
            self.round_id,
            self.staker,
            self.model_id,
            self.submission_id,
            self.payout,
            self.burn,
            list(self.proof),
        )

    def verify(self) -> bool:
        """Whether the proof leads from this claim's leaf to its root."""
        leaf = _leaf_hash(
            (self.staker, self.model_id, self.submission_id, self.payout, self.burn),
            LEAF_ENCODING,
        )
        return process_proof(leaf, self.proof) == self.merkle_root


@dataclass(frozen=True)
class Settlement:
    """A round's settlement: the results, their tree and the totals ``post_root`` takes."""

    round_id: int
    results: tuple[StakeResult, ...]  # by model id
    tree: StandardMerkleTree

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def total_stake(self) -> int:
        return sum(r.stake for r in self.results)

    @property
    def total_payout(self) -> int:
        return sum(r.payout for r in self.results)

    @property
    def total_burn(self) -> int:
        return sum(r.burn for r in self.results)

    @property
    def reward(self) -> int:
        """What the contract pulls from the service wallet when the root is posted."""
        return self.total_payout + self.total_burn - self.total_stake

    @cached_property
    def _index(self) -> dict[int, int]:
        return {r.model_id: i for i, r in enumerate(self.results)}

    def _position(self, model_id: int) -> int:
        index = self._index.get(model_id)
        if index is None:
            raise NotFoundError(f"model {model_id} has no stake settled in round {self.round_id}")
        return index

    def result(self, model_id: int) -> StakeResult:
        return self.results[self._position(model_id)]

    def claim(self, model_id: int, staker: str | None = None) -> Claim:
        """The claim of ``model_id`` (checked against ``staker`` when given)."""
        index = self._position(model_id)
        result = self.results[index]
        if staker is not None and checksum_address(staker, name="staker") != result.staker:
            raise NotFoundError(
                f"model {model_id}'s stake in round {self.round_id} is not {staker}'s"
            )
        return Claim(
            round_id=self.round_id,
            staker=result.staker,
            model_id=result.model_id,
            submission_id=result.submission_id,
            payout=result.payout,
            burn=result.burn,
            proof=tuple(self.tree.proof(index)),
            merkle_root=self.root,
        )

    def claims(self) -> Iterator[Claim]:
        for result in self.results:
            yield self.claim(result.model_id)

    def to_json(self) -> dict[str, Any]:
        """A JSON document to keep with the round (it serves proofs after a restart);
        ``tree`` is OpenZeppelin's dump format."""
        return {
            "format": _FORMAT,
            "roundId": str(self.round_id),
            "merkleRoot": hex32(self.root),
            "stakes": [str(r.stake) for r in self.results],
            "tree": self.tree.dump(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settlement:
        if data.get("format") != _FORMAT:
            raise InvalidInputError(f"not a settlement document: {data.get('format')!r}")
        tree = StandardMerkleTree.load(data["tree"])
        if tuple(tree.encoding) != LEAF_ENCODING:
            raise InvalidInputError("the settlement's tree does not hold stake leaves")
        stakes = [int(s) for s in data["stakes"]]
        if len(stakes) != len(tree.values):
            raise InvalidInputError("the settlement has a stake for each leaf")
        results = tuple(
            StakeResult(
                staker=value[0],
                model_id=value[1],
                submission_id=value[2],
                stake=stake,
                payout=value[3],
                burn=value[4],
            )
            for value, stake in zip(tree.values, stakes, strict=True)
        )
        settlement = cls(round_id=int(data["roundId"]), results=results, tree=tree)
        if hex32(settlement.root) != str(data["merkleRoot"]).lower():
            raise InvalidInputError("the settlement's root does not match its tree")
        return settlement


def build_settlement(round_id: int, results: Iterable[StakeResult]) -> Settlement:
    """The settlement of ``round_id`` from one result per staked model."""
    ordered = tuple(sorted(results, key=lambda r: r.model_id))
    if not ordered:
        raise SettlementError(
            f"round {round_id} has no stakes to settle; a round without stakes posts no root"
        )
    for previous, current in pairwise(ordered):
        if previous.model_id == current.model_id:
            raise SettlementError(
                f"model {current.model_id} appears twice in round {round_id}'s results; the "
                "contract settles each model once",
                details={"model_id": current.model_id},
            )
    tree = StandardMerkleTree([r.leaf for r in ordered], LEAF_ENCODING)
    return Settlement(round_id=round_id, results=ordered, tree=tree)
