"""PostgreSQL: an entry that took a lower id but commits after a proposal's snapshot
would change what the snapshot means, so taking a snapshot waits for every entry still
being written (and keeps new ones out until the proposal commits)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from tests.governance.conftest import World

from crowdalpha.db import session_factory
from crowdalpha.governance import ProposalInfo, verify
from crowdalpha.ledger import SqlLedger, nmr, wallet


def test_a_snapshot_waits_for_entries_still_being_written(engine: Engine, db_kind: str) -> None:
    if db_kind != "postgresql":
        pytest.skip("entry ids come from a sequence only on PostgreSQL; SQLite has one writer")
    factory = session_factory(engine)
    with factory() as writer, factory() as reader:
        SqlLedger(writer).deposit(wallet(1), nmr(5))  # an entry id taken, not committed
        reader.execute(text("SET lock_timeout = 1000"))
        with pytest.raises(OperationalError, match="lock"):
            SqlLedger(reader).snapshot()
        reader.rollback()
        writer.commit()
        snapshot = SqlLedger(reader).snapshot()  # now it goes through, and sees the entry
        assert SqlLedger(reader).balances_at([wallet(1)], snapshot) == {wallet(1): nmr(5)}
        with factory() as late:
            late.execute(text("SET lock_timeout = 1000"))
            with pytest.raises(OperationalError, match="lock"):
                SqlLedger(late).deposit(wallet(2), nmr(1))  # kept out until the snapshot's end
        reader.commit()


def test_a_proposal_made_while_an_entry_is_written_counts_it(world: World, db_kind: str) -> None:
    if db_kind != "postgresql":
        pytest.skip("entry ids come from a sequence only on PostgreSQL; SQLite has one writer")
    t, gov = world.tournament, world.governance
    made: list[ProposalInfo] = []
    with session_factory(t.engine)() as writer:
        SqlLedger(writer).deposit(wallet(world.carol), nmr(5_000))  # not committed yet
        proposer = threading.Thread(
            target=lambda: made.append(
                gov.propose(world.alice, "p", competition="classic", changes={"clip": "0.04"})
            )
        )
        proposer.start()
        proposer.join(timeout=2.0)
        assert proposer.is_alive() and not made  # the snapshot waits for the entry
        writer.commit()
    proposer.join(timeout=60)
    (proposal,) = made
    assert proposal.total_power == nmr(7_000)
    assert gov.power(proposal.id, world.carol) == nmr(5_400)
    assert verify(gov).ok
