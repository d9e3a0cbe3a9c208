"""A tournament with governance installed, three funded accounts and a clock tests move."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from crowdalpha.governance import Governance
from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, TournamentConfig

ANCHOR = TournamentConfig().schedule.anchor


@dataclass
class World:
    tournament: Tournament
    governance: Governance
    clock: ManualClock
    alice: int
    bob: int
    carol: int
    alice_model: int


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[World]:
    clock = ManualClock(ANCHOR - timedelta(hours=1))
    t = Tournament(
        engine,
        LocalFileStore(tmp_path / "files"),
        SyntheticRoundData(seed=7, rows=200),
        clock=clock,
    )
    t.mint(nmr(100_000), to=TREASURY)
    alice = t.create_account("alice", "alice@example.org").id
    bob = t.create_account("bob", "bob@example.org").id
    carol = t.create_account("carol", "carol@example.org").id
    t.grant(alice, nmr(1_000))
    t.grant(bob, nmr(600))
    t.grant(carol, nmr(400))
    model = t.create_model(alice, "alice_model").id
    t.increase_stake(model, nmr(500))  # staked NMR votes too
    governance = Governance(t).install()
    yield World(t, governance, clock, alice, bob, carol, model)
