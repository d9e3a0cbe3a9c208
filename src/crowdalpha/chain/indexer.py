"""Following the contracts' events: confirmed, idempotent, and safe across reorganizations.

:class:`Indexer` reads the staking contract's events and the token's ``Transfer`` events
block range by block range, only from blocks at least ``confirmations`` deep, into an
:class:`EventStore`. Each poll first checks that the last block it indexed is still on
the chain; if not (a reorganization deeper than the confirmation depth, or a test's
``evm_revert``), it walks back to the newest indexed block that still is, removes every
event above it and indexes forward again. Events are keyed by ``(block hash, log
index)``: indexing the same range twice adds nothing. Each poll returns what it added and
removed, so a consumer (the SQL ledger in wave 2) applies exactly the difference.

:class:`MemoryEventStore` keeps everything in memory; a database-backed store implements
the same five methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_typing import ChecksumAddress
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractEvent
from web3.exceptions import BlockNotFound
from web3.types import LogReceipt

from crowdalpha.chain.contracts import NMRToken, Staking
from crowdalpha.chain.transactions import node_errors

__all__ = ["BlockRef", "ChainEvent", "EventStore", "IndexUpdate", "Indexer", "MemoryEventStore"]


@dataclass(frozen=True, order=True)
class BlockRef:
    number: int
    hash: bytes


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log of crowdalpha's contracts."""

    block_number: int
    log_index: int
    block_hash: bytes
    tx_hash: bytes
    contract: str  # "nmr" or "staking"
    name: str  # the event's name: "Staked", "Claimed", "Transfer"…
    args: Mapping[str, Any]  # ints, checksummed addresses and bytes

    @property
    def key(self) -> tuple[bytes, int]:
        return (self.block_hash, self.log_index)


@dataclass(frozen=True)
class IndexUpdate:
    """What one poll changed: events added, events removed by a reorganization."""

    added: tuple[ChainEvent, ...] = ()
    removed: tuple[ChainEvent, ...] = ()
    head: BlockRef | None = None  # the newest block indexed


class EventStore(Protocol):
    """Where indexed events are kept (atomically per call)."""

    def head(self) -> BlockRef | None:
        """The newest block indexed (None: nothing yet)."""

    def blocks(self) -> list[BlockRef]:
        """Indexed blocks whose hash is known (every block with an event, and the head),
        newest first."""

    def commit(self, head: BlockRef, events: Sequence[ChainEvent]) -> list[ChainEvent]:
        """Add ``events`` (those not already present) and move the head; returns the added."""

    def rollback(self, to: BlockRef | None) -> list[ChainEvent]:
        """Forget everything above ``to`` (everything for None); returns the removed events."""

    def events(self) -> list[ChainEvent]:
        """Every event, in chain order."""


@dataclass
class MemoryEventStore:
    """An :class:`EventStore` in memory."""

    _events: dict[tuple[bytes, int], ChainEvent] = field(default_factory=dict)
    _blocks: dict[int, bytes] = field(default_factory=dict)
    _head: BlockRef | None = None

    def head(self) -> BlockRef | None:
        return self._head

    def blocks(self) -> list[BlockRef]:
        return [BlockRef(n, h) for n, h in sorted(self._blocks.items(), reverse=True)]

    def commit(self, head: BlockRef, events: Sequence[ChainEvent]) -> list[ChainEvent]:
        added = [e for e in events if e.key not in self._events]
        for event in added:
            self._events[event.key] = event
            self._blocks[event.block_number] = event.block_hash
        self._blocks[head.number] = head.hash
        self._head = head
        return added

    def rollback(self, to: BlockRef | None) -> list[ChainEvent]:
        limit = -1 if to is None else to.number
        removed = [e for e in self._events.values() if e.block_number > limit]
        for event in removed:
            del self._events[event.key]
        self._blocks = {n: h for n, h in self._blocks.items() if n <= limit}
        self._head = to
        return sorted(removed, key=lambda e: (e.block_number, e.log_index))

    def events(self) -> list[ChainEvent]:
        return sorted(self._events.values(), key=lambda e: (e.block_number, e.log_index))


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, HexBytes)):
        return bytes(value)
    return value


class Indexer:
    """Polls the chain for the token's and the staking contract's events."""

    def __init__(
        self,
        w3: Web3,
        *,
        token: str,
        staking: str,
        store: EventStore,
        start_block: int = 0,
        confirmations: int = 12,
        batch_blocks: int = 2_000,
    ) -> None:
        self.w3 = w3
        self.store = store
        self.start_block = start_block
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        token_contract = NMRToken(w3, token).contract
        staking_contract = Staking(w3, staking).contract
        self.addresses: list[ChecksumAddress] = [token_contract.address, staking_contract.address]
        self._decoders: dict[tuple[str, bytes], tuple[str, ContractEvent]] = {}
        for name, contract, only in (
            ("nmr", token_contract, {"Transfer"}),
            ("staking", staking_contract, None),
        ):
            for abi in contract.abi:
                if abi["type"] != "event" or (only is not None and abi["name"] not in only):
                    continue
                topic = event_abi_to_log_topic(abi)
                self._decoders[(contract.address, topic)] = (
                    name,
                    contract.events[abi["name"]](),
                )

    def _block_hash(self, number: int) -> bytes | None:
        with node_errors("reading a block"):
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:  # a shorter chain after a reorganization
                return None
        return bytes(block["hash"])

    def _decode(self, log: LogReceipt) -> ChainEvent | None:
        topics = log["topics"]
        if not topics:
            return None
        found = self._decoders.get((Web3.to_checksum_address(log["address"]), bytes(topics[0])))
        if found is None:
            return None
        contract, event = found
        decoded = event.process_log(log)
        return ChainEvent(
            block_number=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
            block_hash=bytes(log["blockHash"]),
            tx_hash=bytes(log["transactionHash"]),
            contract=contract,
            name=decoded["event"],
            args={k: _plain(v) for k, v in decoded["args"].items()},
        )

    def _rewind(self) -> list[ChainEvent]:
        """Roll the store back to the newest indexed block still on the chain."""
        for ref in self.store.blocks():
            if self._block_hash(ref.number) == ref.hash:
                return self.store.rollback(ref)
        return self.store.rollback(None)

    def poll(self) -> IndexUpdate:
        """Index every confirmed block not indexed yet; handles reorganizations."""
        with node_errors("reading the chain head"):
            latest = self.w3.eth.block_number
        removed: list[ChainEvent] = []
        head = self.store.head()
        if head is not None and self._block_hash(head.number) != head.hash:
            removed = self._rewind()
            head = self.store.head()
        target = latest - self.confirmations
        start = self.start_block if head is None else head.number + 1
        added: list[ChainEvent] = []
        while start <= target:
            end = min(start + self.batch_blocks - 1, target)
            end_hash = self._block_hash(end)
            with node_errors("reading events"):
                logs = self.w3.eth.get_logs(
                    {"fromBlock": start, "toBlock": end, "address": self.addresses}
                )
            # By the hash chain, if `end` is unchanged after reading the logs and the last
            # indexed block is still canonical, the logs are those of the blocks between.
            if end_hash is None or self._block_hash(end) != end_hash:
                break  # the chain moved under us; the next poll rewinds and retries
            if head is not None and self._block_hash(head.number) != head.hash:
                break
            events = [e for e in map(self._decode, logs) if e is not None]
            if any(e.block_number > end for e in events):  # pragma: no cover - a broken node
                break
            added += self.store.commit(BlockRef(end, end_hash), events)
            head = self.store.head()
            start = end + 1
        return IndexUpdate(added=tuple(added), removed=tuple(removed), head=self.store.head())

    def events(self, names: Iterable[str] | None = None) -> list[ChainEvent]:
        """The indexed events (of ``names`` only, when given)."""
        wanted = None if names is None else set(names)
        return [e for e in self.store.events() if wanted is None or e.name in wanted]
