"""meta_model.parquet: every resolved round's stake-weighted meta model, in Numerai's v5
layout, rebuilt when another round resolves."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine
from tests.server.graphql_support import (
    ROWS,
    SEED,
    ValidatingRoundData,
    add_participant,
    build_tournament,
    skilled,
    start_clock,
)

from crowdalpha.ledger import nmr


def test_the_meta_model_file_holds_every_resolved_round(engine: Engine, tmp_path: Path) -> None:
    clock = start_clock()
    data = ValidatingRoundData(seed=SEED, rows=ROWS)
    t = build_tournament(engine, tmp_path / "home", clock, data)
    t.tick()
    who = add_participant(t, "alice", ("alpha", "beta"))
    assert t.meta_model_file() is None  # nothing resolved yet
    for name in ("alpha", "beta"):
        t.increase_stake(who.models[name], nmr(10))
    submitted: set[int] = set()
    files = []
    while len([r for r in t.rounds() if r.state == "resolved"]) < 2:
        current = t.current_round()
        if current is not None and current.number <= 2 and current.number not in submitted:
            ids = t.live_ids(current.number)
            for i, name in enumerate(("alpha", "beta")):
                values = skilled(data.skill_signal(current.number), 0.5 + i, seed=i)
                frame = pd.DataFrame({"id": ids, "prediction": values})
                t.submit(who.models[name], frame.to_csv(index=False).encode())
            submitted.add(current.number)
        clock.advance(timedelta(days=1))
        t.tick()
        if t.round(1).state == "resolved" and not files:
            files.append(t.meta_model_file())
    first = files[0]
    assert first is not None
    latest = t.meta_model_file()
    assert latest is not None and latest.key != first.key  # rebuilt: another round resolved
    assert latest.name == "meta_model.parquet"
    table = pd.read_parquet(io.BytesIO(t.store.get(latest.key)))
    assert list(table.columns) == ["era", "data_type", "numerai_meta_model"]
    assert table.index.name == "id" and set(table["data_type"]) == {"live"}
    expected = pd.concat([t.meta_model(1), t.meta_model(2)])
    assert list(table["era"].unique()) == ["0001", "0002"]
    assert list(table.index) == [str(i) for i in expected.index]
    assert table["numerai_meta_model"].to_numpy().tolist() == expected.to_numpy().tolist()
    assert t.meta_model_file() == latest  # kept, not rebuilt
