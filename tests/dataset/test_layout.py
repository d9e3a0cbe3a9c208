"""The v5 layout writer: files participants' loading code reads, and nothing that leaks."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdalpha.dataset.layout import EraPublisher, EraRows, RoundWriter
from crowdalpha.dataset.obfuscate import Vault, published_eras
from crowdalpha.errors import ConflictError, InvalidInputError

FEATURES = ["mom_20", "mom_60", "vol_20", "volume_20", "drawdown_60"]
SETS = {"small": FEATURES[:2], "medium": FEATURES[:4], "all": FEATURES}
TARGETS = ["target", "target_60"]


def _era(day: str, tickers: list[str], rng: np.random.Generator, *, known: bool) -> EraRows:
    n = len(tickers)
    values = rng.normal(size=(len(FEATURES), n))
    values[3, :3] = np.nan  # a few missing volumes
    targets = {
        "target": rng.choice([0, 0.25, 0.5, 0.75, 1.0], n) if known else np.full(n, np.nan),
        "target_60": np.full(n, np.nan),
    }
    return EraRows(pd.Timestamp(day), tickers, values, targets)


def _write(tmp_path: Path, vault: Vault) -> tuple[Path, Path, RoundWriter]:
    rng = np.random.default_rng(1)
    tickers = [f"SIM{i:04d}" for i in range(200)]
    days = ["2024-01-05", "2024-01-12", "2024-01-19", "2024-02-16", "2024-03-15"]
    labels = published_eras([pd.Timestamp(d) for d in days])
    out, operator = tmp_path / "public" / "v5.0", tmp_path / "operator"
    with RoundWriter(
        out,
        operator,
        vault,
        round_number=12,
        feature_names=FEATURES,
        feature_sets=SETS,
        target_names=TARGETS,
        era_labels=labels,
    ) as writer:
        for day in days[:3]:
            writer.add("train", _era(day, tickers, rng, known=True))
        writer.add("validation", _era(days[3], tickers[:150], rng, known=True))
        writer.add("live", _era(days[4], tickers[:180], rng, known=False))
    return out, operator, writer


def test_a_round_reads_like_numerai_data(tmp_path: Path) -> None:
    vault = Vault.create()
    out, _operator, writer = _write(tmp_path, vault)
    assert writer.rows == {"train": 600, "validation": 150, "live": 180}
    meta = json.loads((out / "features.json").read_text())
    assert meta["targets"] == TARGETS
    assert set(meta["feature_sets"]) == {"small", "medium", "all"}
    published = meta["feature_sets"]["all"]
    assert len(published) == len(FEATURES) and all(f.startswith("feature_") for f in published)
    train = pd.read_parquet(out / "train.parquet")
    assert train.index.name == "id"
    assert train["era"].tolist()[:1] == ["0001"] and sorted(train["era"].unique()) == [
        "0001",
        "0002",
        "0003",
    ]
    assert (train["data_type"] == "train").all()
    assert all(str(train[f].dtype) == "int8" for f in published)
    assert train[published].isin([0, 1, 2, 3, 4]).all().all()
    assert str(train["target"].dtype) == "float32"
    assert set(train["target"].unique()) <= {0, 0.25, 0.5, 0.75, 1.0}
    # reading only the small feature set works (column projection)
    small = pd.read_parquet(out / "train.parquet", columns=["era", *meta["feature_sets"]["small"]])
    assert small.shape == (600, 3)
    live = pd.read_parquet(out / "live.parquet")
    assert len(live) == 180 and live["target"].isna().all()
    assert (live["era"] == "0005").all()


def test_nothing_published_links_rows_to_stocks_or_eras(tmp_path: Path) -> None:
    vault = Vault.create()
    out, operator, _ = _write(tmp_path, vault)
    frames = [pd.read_parquet(out / f"{s}.parquet") for s in ("train", "validation", "live")]
    ids = pd.concat([f.index.to_series() for f in frames])
    assert ids.is_unique  # no id repeats across eras: nothing links two eras by id
    everything = pd.concat(frames).astype(str)
    assert not everything.apply(lambda c: c.str.contains("SIM")).any().any()
    assert not any("mom" in c or "vol" in c for c in frames[0].columns)
    # rows are shuffled: the first era is not in ticker order
    first = frames[0][frames[0]["era"] == "0001"]
    expected_in_order = vault.row_ids(
        pd.Timestamp("2024-01-05"), [f"SIM{i:04d}" for i in range(200)]
    )
    assert first.index.tolist() != expected_in_order
    assert sorted(first.index) == sorted(expected_in_order)
    # the operator can map live ids back to tickers
    live_ids = pd.read_parquet(operator / "live_ids.parquet")
    assert set(live_ids["id"]) == set(frames[2].index)
    assert set(live_ids["ticker"]) == {f"SIM{i:04d}" for i in range(180)}
    names = json.loads((operator / "feature_names.json").read_text())
    assert sorted(names.values()) == sorted(FEATURES)


def test_bad_use_is_refused(tmp_path: Path) -> None:
    vault = Vault.create()
    out, _, _ = _write(tmp_path, vault)
    with pytest.raises(ConflictError):
        RoundWriter(
            out,
            tmp_path / "op2",
            vault,
            round_number=13,
            feature_names=FEATURES,
            feature_sets=SETS,
            target_names=TARGETS,
            era_labels={},
        )
    day = pd.Timestamp("2024-01-05")
    writer = RoundWriter(
        tmp_path / "other",
        tmp_path / "op3",
        vault,
        round_number=1,
        feature_names=FEATURES,
        feature_sets=SETS,
        target_names=TARGETS,
        era_labels={day: "0001"},
    )
    rng = np.random.default_rng(2)
    with pytest.raises(InvalidInputError, match="features must be"):
        writer.add("train", EraRows(day, ["A", "B"], np.zeros((2, 2)), {}))
    writer.add("train", _era("2024-01-05", ["A", "B", "C"], rng, known=True))
    with pytest.raises(InvalidInputError, match="date order"):
        writer.add("train", _era("2024-01-05", ["A", "B", "C"], rng, known=True))
    writer.close(completed=False)
    assert not (tmp_path / "other" / "features.json").exists()


def test_a_parts_key_names_everything_it_depends_on() -> None:
    """Two eras share a key only when published from the same values by the same vault,
    obfuscation, split and label — a live era also by the same round."""
    base = EraPublisher(Vault(bytes(range(32))), 5, tuple(FEATURES), tuple(TARGETS))
    same = pickle.loads(pickle.dumps(base))  # what a worker receives
    key = base.key("values", "train", "0001")
    assert same.key("values", "train", "0001") == key
    others = [
        base.key("other values", "train", "0001"),
        base.key("values", "validation", "0001"),
        base.key("values", "train", "0002"),
        EraPublisher(Vault(bytes(range(1, 33))), 5, tuple(FEATURES), tuple(TARGETS)).key(
            "values", "train", "0001"
        ),
        EraPublisher(Vault(bytes(range(32))), 5, tuple(FEATURES), tuple(TARGETS), "noisy", 0.5).key(
            "values", "train", "0001"
        ),
    ]
    assert len({key, *others}) == 1 + len(others)
    # the round matters for live rows only (their ids are keyed by it)
    later = EraPublisher(Vault(bytes(range(32))), 6, tuple(FEATURES), tuple(TARGETS))
    assert later.key("values", "train", "0001") == key
    assert later.key("values", "live", "0009") != base.key("values", "live", "0009")
    # and the same era publishes the same bytes wherever it is published
    era = _era("2024-01-05", [f"S{i}" for i in range(40)], np.random.default_rng(3), known=True)
    assert same.publish("train", era, "0001").part == base.publish("train", era, "0001").part
