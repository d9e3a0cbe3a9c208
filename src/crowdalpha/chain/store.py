"""The indexer's events in the database (``chain_events``, ``chain_blocks``).

:class:`SqlEventStore` implements :class:`~crowdalpha.chain.indexer.EventStore` on the
platform's database: each ``commit`` and ``rollback`` is one transaction, events are keyed
by ``(block hash, log index)`` so a range indexed twice adds nothing, and a rollback
removes exactly the events above the block it returns to (a reorganization).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from crowdalpha.chain.indexer import BlockRef, ChainEvent
from crowdalpha.db.chain_tables import ChainBlockRow, ChainEventRow

__all__ = ["SqlEventStore", "decode_args", "encode_args"]


def encode_args(args: Mapping[str, Any]) -> dict[str, str]:
    """Event arguments as JSON: ``i:`` decimal ints (uint256 does not fit a JSON number),
    ``b:`` 0x-hex bytes, ``s:`` text (addresses), ``t:``/``f:`` booleans."""
    out: dict[str, str] = {}
    for name, value in args.items():
        if isinstance(value, bool):
            out[name] = "t:" if value else "f:"
        elif isinstance(value, int):
            out[name] = f"i:{value}"
        elif isinstance(value, bytes):
            out[name] = "b:0x" + value.hex()
        else:
            out[name] = f"s:{value}"
    return out


def decode_args(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, text in data.items():
        tag, value = str(text)[:2], str(text)[2:]
        if tag == "i:":
            out[name] = int(value)
        elif tag == "b:":
            out[name] = bytes.fromhex(value.removeprefix("0x"))
        elif tag in ("t:", "f:"):
            out[name] = tag == "t:"
        else:
            out[name] = value
    return out


def _event(row: ChainEventRow) -> ChainEvent:
    return ChainEvent(
        block_number=row.block_number,
        log_index=row.log_index,
        block_hash=bytes(row.block_hash),
        tx_hash=bytes(row.tx_hash),
        contract=row.contract,
        name=row.name,
        args=decode_args(row.args),
    )


class SqlEventStore:
    """An :class:`~crowdalpha.chain.indexer.EventStore` in the platform's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def head(self) -> BlockRef | None:
        with Session(self.engine) as session:
            row = session.scalar(select(ChainBlockRow).where(ChainBlockRow.is_head))
            return None if row is None else BlockRef(row.number, bytes(row.hash))

    def blocks(self) -> list[BlockRef]:
        with Session(self.engine) as session:
            rows = session.scalars(select(ChainBlockRow).order_by(ChainBlockRow.number.desc()))
            return [BlockRef(r.number, bytes(r.hash)) for r in rows]

    def commit(self, head: BlockRef, events: Sequence[ChainEvent]) -> list[ChainEvent]:
        with Session(self.engine) as session, session.begin():
            known = {
                (bytes(h), i)
                for h, i in session.execute(
                    select(ChainEventRow.block_hash, ChainEventRow.log_index).where(
                        ChainEventRow.block_number.in_({e.block_number for e in events})
                    )
                )
            }
            added = [e for e in events if e.key not in known]
            blocks = {e.block_number: e.block_hash for e in added}
            blocks[head.number] = head.hash
            for event in added:
                session.add(
                    ChainEventRow(
                        block_hash=event.block_hash,
                        log_index=event.log_index,
                        block_number=event.block_number,
                        tx_hash=event.tx_hash,
                        contract=event.contract,
                        name=event.name,
                        args=encode_args(event.args),
                    )
                )
            session.execute(update(ChainBlockRow).values(is_head=False))
            for number, block_hash in blocks.items():
                row = session.get(ChainBlockRow, number)
                if row is None:
                    session.add(
                        ChainBlockRow(number=number, hash=block_hash, is_head=number == head.number)
                    )
                else:
                    row.hash = block_hash
                    row.is_head = number == head.number
        return added

    def rollback(self, to: BlockRef | None) -> list[ChainEvent]:
        limit = -1 if to is None else to.number
        with Session(self.engine) as session, session.begin():
            rows = list(
                session.scalars(
                    select(ChainEventRow)
                    .where(ChainEventRow.block_number > limit)
                    .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
                )
            )
            removed = [_event(r) for r in rows]
            session.execute(delete(ChainEventRow).where(ChainEventRow.block_number > limit))
            session.execute(delete(ChainBlockRow).where(ChainBlockRow.number > limit))
            session.execute(update(ChainBlockRow).values(is_head=False))
            if to is not None:
                session.execute(
                    update(ChainBlockRow)
                    .where(ChainBlockRow.number == to.number)
                    .values(is_head=True)
                )
        return removed

    def events(self) -> list[ChainEvent]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(ChainEventRow).order_by(ChainEventRow.block_number, ChainEventRow.log_index)
            )
            return [_event(r) for r in rows]
