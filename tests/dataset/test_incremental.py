"""Incremental builds: the era cache recomputes what changed and writes the same bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.dataset.build import BuildConfig, BuildReport, build_round
from crowdalpha.dataset.cache import day_hashes
from crowdalpha.dataset.example import ExampleSums
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.market import MarketConfig, append_prices, simulate_market

VAULT = Vault(bytes(range(32)))
CONFIG = BuildConfig(validation_eras=8, block_days=100)
FIRST_DAYS = 600  # days of prices for round 1; round 2 appends a week


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    # No listings or delistings: a cell's tickers change only when a test adds one.
    config = MarketConfig(n_stocks=150, n_days=700, seed=5, listing_rate=0.0, delisting_rate=0.0)
    return simulate_market(config).prices


def _days(prices: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.unique(prices["date"].to_numpy()))


def _head(prices: pd.DataFrame, n_days: int) -> pd.DataFrame:
    return prices[prices["date"] < _days(prices)[n_days]].reset_index(drop=True)


def _future(config: BuildConfig) -> int:
    t = config.targets
    return t.lag + max(t.horizon, *t.aux_horizons) + 1


def _history(config: BuildConfig) -> int:
    f = config.features
    return f.longest_window() + 1 + 5 * max(f.lags) + 10


def _build(
    prices: pd.DataFrame,
    root: Path,
    round_number: int,
    cache: Path | None,
    config: BuildConfig = CONFIG,
) -> BuildReport:
    return build_round(
        prices,
        out_dir=root / "public",
        operator_dir=root / "operator",
        vault=VAULT,
        round_number=round_number,
        config=config,
        cache_dir=cache,
    )


def _assert_same_bytes(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert {f.name for f in files} >= {"train.parquet", "live.parquet", "live_ids.parquet"}
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def _planned(report: BuildReport) -> list[pd.Timestamp]:
    return sorted(d for dates in report.eras.values() for d in dates)


@pytest.fixture(scope="module")
def rounds(market: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Round 1 built with a cache; round 2 (a week later) built with it and without it."""
    root = tmp_path_factory.mktemp("rounds")
    cache = root / "cache"
    first = _head(market, FIRST_DAYS)
    week = market[market["date"].isin(_days(market)[FIRST_DAYS : FIRST_DAYS + 5])]
    second = append_prices(first, week)
    r1 = _build(first, root / "r1", 1, cache)
    r2 = _build(second, root / "r2", 2, cache)
    full = _build(second, root / "full", 2, None)
    return {"root": root, "cache": cache, "prices": second, "r1": r1, "r2": r2, "full": full}


def test_the_first_build_computes_and_caches_every_era(rounds: dict[str, object]) -> None:
    r1 = rounds["r1"]
    assert isinstance(r1, BuildReport)
    assert list(r1.computed) == _planned(r1) and r1.reused == () and r1.damaged == 0
    r2 = rounds["r2"]
    assert isinstance(r2, BuildReport)
    cached = {pd.Timestamp(p.stem) for p in Path(str(rounds["cache"])).rglob("*.npz")}
    assert cached == set(r1.computed) | set(r2.computed)  # one file per era, both rounds
    assert not list(Path(str(rounds["cache"])).rglob(".tmp-*"))  # no temporary file left


def test_the_next_round_is_byte_identical_to_a_full_rebuild(rounds: dict[str, object]) -> None:
    root = Path(str(rounds["root"]))
    _assert_same_bytes(root / "r2", root / "full")
    full = rounds["full"]
    assert isinstance(full, BuildReport)
    assert full.reused == () and list(full.computed) == _planned(full)


def test_the_next_round_computes_only_new_eras_and_eras_whose_targets_arrived(
    rounds: dict[str, object],
) -> None:
    r1, r2 = rounds["r1"], rounds["r2"]
    assert isinstance(r1, BuildReport) and isinstance(r2, BuildReport)
    days = _days(_head(pd.DataFrame(rounds["prices"]), FIRST_DAYS))
    old_last = len(days) - 1
    before = set(_planned(r1))
    position = {d: i for i, d in enumerate(days)}
    # new eras, eras not published last round (the embargo moved) and eras whose targets
    # reached past the old data (so they were computed with fewer known targets)
    expected = [
        d for d in _planned(r2) if d not in before or position[d] + _future(CONFIG) - 1 > old_last
    ]
    assert list(r2.computed) == expected
    assert sorted(r2.reused) == sorted(set(_planned(r2)) - set(expected))
    # a week of prices: the live era, one era moving out of the embargo, and the eras
    # within the longest target horizon (60 days + lag) of the old end
    assert 10 <= len(expected) <= 16 and len(r2.reused) > 4 * len(expected)
    assert r2.damaged == 0


def test_the_next_round_copies_what_it_publishes_as_before(rounds: dict[str, object]) -> None:
    """An era reused with the same split and label (every train era the week did not
    touch) is copied from its cached part; the others are published anew."""
    r1, r2 = rounds["r1"], rounds["r2"]
    assert isinstance(r1, BuildReport) and isinstance(r2, BuildReport)
    before = {d: split for split, dates in r1.eras.items() for d in dates}
    now = {d: split for split, dates in r2.eras.items() for d in dates}
    same = [d for d in r2.reused if before.get(d) == now[d] != "live"]
    assert sorted(r2.copied) == sorted(same)
    assert len(r2.copied) > 0.8 * len(r2.reused) and set(r2.eras["train"]) & set(r2.copied)
    assert r1.copied == () and rounds["full"].copied == ()  # type: ignore[union-attr]
    parts = list(Path(str(rounds["cache"])).rglob("*.part"))
    assert len(parts) >= len(_planned(r2)) - 1  # every era but the live one, per split


def test_the_example_sums_add_only_the_eras_no_earlier_build_added(
    rounds: dict[str, object], market: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each cell keeps its example sums in the cache: a round built again adds no era, the
    next week's round adds its new train eras only, and a damaged sums file costs its cell
    a recount — the same bytes as a build without cache every time."""
    cache = tmp_path / "cache"
    shutil.copytree(Path(str(rounds["cache"])), cache)
    added: list[int] = []
    original = ExampleSums.add_era

    def counted(self: ExampleSums, bins: np.ndarray, target: np.ndarray) -> None:
        added.append(bins.shape[1])
        original(self, bins, target)

    monkeypatch.setattr(ExampleSums, "add_era", counted)
    second = pd.DataFrame(rounds["prices"])
    again = _build(second, tmp_path / "again", 2, cache)
    assert added == [] and len(again.copied) == len(_planned(again)) - 1
    _assert_same_bytes(tmp_path / "again", Path(str(rounds["root"])) / "full")
    week = market[market["date"].isin(_days(market)[FIRST_DAYS + 5 : FIRST_DAYS + 10])]
    third = append_prices(second, week)
    r2, r3 = rounds["r2"], _build(third, tmp_path / "r3", 3, cache)
    assert isinstance(r2, BuildReport)
    new_train = set(r3.eras["train"]) - set(r2.eras["train"])
    assert len(added) == len(new_train) >= 1
    monkeypatch.setattr(ExampleSums, "add_era", original)
    _build(third, tmp_path / "r3_full", 3, None)
    _assert_same_bytes(tmp_path / "r3", tmp_path / "r3_full")
    monkeypatch.setattr(ExampleSums, "add_era", counted)
    kept = sorted(cache.rglob("*.sums"))
    assert len(kept) > 1
    kept[0].write_bytes(b"damaged")
    added.clear()
    _build(third, tmp_path / "r3_again", 3, cache)
    days = _days(third)
    cell = days.get_loc(pd.Timestamp(kept[0].stem)) // 100
    in_cell = [d for d in r3.eras["train"] if days.get_loc(d) // 100 == cell]
    assert len(added) == len(in_cell) > 1
    _assert_same_bytes(tmp_path / "r3_again", tmp_path / "r3_full")


def test_a_new_listing_recomputes_only_the_eras_that_reach_it(
    market: pd.DataFrame, tmp_path: Path
) -> None:
    """A ticker listing on the last days changes no era whose values end before it: the
    market return is summed exactly, whatever other tickers the cell holds."""
    prices = market  # 700 days: a last cell of 100, its first eras in train
    days = _days(prices)
    newcomer = prices[(prices["ticker"] == prices["ticker"].iloc[0]) & (prices["date"] >= days[-3])]
    newcomer = newcomer.assign(ticker="ZZZ_NEW")
    listed = pd.concat([prices, newcomer]).sort_values(["date", "ticker"], ignore_index=True)
    cache = tmp_path / "cache"
    seed = _build(prices, tmp_path / "seed", 2, cache)
    again = _build(listed, tmp_path / "inc", 3, cache)
    full = _build(listed, tmp_path / "full", 3, None)
    _assert_same_bytes(tmp_path / "inc", tmp_path / "full")
    x, future = len(days) - 3, _future(CONFIG)
    expected = [d for d in _planned(again) if days.get_loc(d) + future - 1 >= x]
    assert list(again.computed) == expected
    in_last = [d for d in _planned(again) if days.get_loc(d) // 100 == (len(days) - 1) // 100]
    assert set(in_last) - set(expected)  # eras of the last cell were reused
    assert len(seed.computed) == len(_planned(seed)) and full.reused == ()


def test_a_corrected_price_recomputes_exactly_the_eras_computed_from_it(
    rounds: dict[str, object], tmp_path: Path
) -> None:
    prices = pd.DataFrame(rounds["prices"]).copy()
    days = _days(prices)
    x = 400  # a day late in the history
    row = prices.index[(prices["date"] == days[x])][7]
    prices.loc[row, "close"] *= 1.01
    cache = Path(str(rounds["cache"]))
    inc = _build(prices, tmp_path / "inc", 2, cache)
    _build(prices, tmp_path / "full", 2, None)
    _assert_same_bytes(tmp_path / "inc", tmp_path / "full")
    # The rule: an era's values come from its cell's window, from the window's first day
    # (history before the cell) to the era's last day of dependence (targets after it).
    history, future, block = _history(CONFIG), _future(CONFIG), 100
    expected = []
    for d in _planned(inc):
        p = days.get_loc(d)
        lo = max(0, p // block * block - history)
        reach = min(p + future - 1, len(days) - 1)
        if lo <= x <= reach:
            expected.append(d)
    assert list(inc.computed) == expected
    # the early eras do not reach the corrected day: they are reused
    assert 0 < len(expected) < len(_planned(inc)) and inc.damaged == 0
    assert sorted(inc.reused) == [d for d in _planned(inc) if days.get_loc(d) + future - 1 < x]


def test_corrupt_or_foreign_cache_files_are_recomputed(
    market: pd.DataFrame, tmp_path: Path
) -> None:
    prices = _head(market, 560)
    cache = tmp_path / "cache"
    first = _build(prices, tmp_path / "a", 1, cache)
    for part in cache.rglob("*.part"):  # the eras' values are what this test is about
        part.unlink()
    files = sorted(cache.rglob("*.npz"))
    files[3].write_bytes(files[3].read_bytes()[:1000])  # truncated
    files[5].write_bytes(b"not a cache file")  # garbage
    files[7].write_bytes(files[8].read_bytes())  # a valid file of another era: another key
    data = bytearray(files[9].read_bytes())  # a flipped byte in the middle: bad CRC
    data[len(data) // 2] ^= 0xFF
    files[9].write_bytes(bytes(data))
    again = _build(prices, tmp_path / "b", 1, cache)
    broken = sorted(pd.Timestamp(files[i].stem) for i in (3, 5, 7, 9))
    # the copied file is merely stale (another key); the other three are damaged
    assert again.damaged == 3 and list(again.computed) == broken
    assert len(again.reused) == len(first.computed) - 4 and again.copied == ()
    _assert_same_bytes(tmp_path / "a", tmp_path / "b")
    third = _build(prices, tmp_path / "c", 1, cache)  # the files were rewritten
    assert third.computed == () and third.damaged == 0
    assert len(third.copied) == len(first.computed) - 1  # all but the live era


def test_damaged_parts_are_published_again(market: pd.DataFrame, tmp_path: Path) -> None:
    prices = _head(market, 560)
    cache = tmp_path / "cache"
    first = _build(prices, tmp_path / "a", 1, cache)
    parts = sorted(cache.rglob("*.part"))
    parts[2].write_bytes(parts[2].read_bytes()[:5000])  # truncated
    data = bytearray(parts[4].read_bytes())  # a flipped byte in the Parquet data
    data[-len(data) // 3] ^= 0xFF
    parts[4].write_bytes(bytes(data))
    parts[6].write_bytes(b"junk")
    again = _build(prices, tmp_path / "b", 1, cache)
    assert again.computed == () and again.damaged == 3
    assert len(again.copied) == len(first.computed) - 1 - 3
    _assert_same_bytes(tmp_path / "a", tmp_path / "b")
    third = _build(prices, tmp_path / "c", 1, cache)  # the parts were rewritten
    assert third.damaged == 0 and len(third.copied) == len(first.computed) - 1


def test_the_cache_serves_other_split_plans_but_not_other_feature_settings(
    market: pd.DataFrame, tmp_path: Path
) -> None:
    prices = _head(market, 560)
    cache = tmp_path / "cache"
    first = _build(prices, tmp_path / "a", 1, cache)
    fewer = BuildConfig(validation_eras=4, block_days=100)
    other = _build(prices, tmp_path / "b", 1, cache, fewer)
    assert set(other.reused) == set(_planned(other)) & set(first.computed)
    _assert_same_bytes(tmp_path / "b", _fresh(prices, tmp_path / "b_full", fewer))
    cells = BuildConfig(validation_eras=8, block_days=150)  # other cells: other windows
    third = _build(prices, tmp_path / "c", 1, cache, cells)
    assert third.reused == () and third.damaged == 0


def _fresh(prices: pd.DataFrame, root: Path, config: BuildConfig) -> Path:
    _build(prices, root, 1, None, config)
    return root


def test_the_cli_builds_the_next_round_from_the_cache(tmp_path: Path) -> None:
    runner = CliRunner()
    prices = tmp_path / "prices.parquet"
    simulate = ["data", "simulate", "--out", str(prices), "--stocks", "80", "--days", "560"]
    assert runner.invoke(app, simulate).exit_code == 0
    args = ["data", "build", "--prices", str(prices), "--operator", str(tmp_path / "op")]
    args += ["--validation-eras", "6"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "r1"), "--round", "1"])
    assert first.exit_code == 0, first.output
    assert "computed" in first.output and (tmp_path / "op" / "cache").is_dir()
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "r2"), "--round", "2"])
    assert second.exit_code == 0, second.output
    assert "reused" in second.output and "0 eras computed" in second.output
    assert "copied as published before" in second.output
    third = runner.invoke(app, [*args, "--out", str(tmp_path / "r3"), "--round", "3", "--no-cache"])
    assert third.exit_code == 0, third.output
    assert "reused" not in third.output


def test_day_digests_read_text_the_same_however_pandas_holds_it() -> None:
    """Text columns are digested from Arrow's buffers: the same digest for object, Python
    and Arrow strings, and rows that concatenate alike still differ."""
    days = pd.DatetimeIndex(["2024-01-02", "2024-01-03"])

    def digests(tickers: list[str | None], dtype: str = "object") -> list[bytes]:
        frame = pd.DataFrame(
            {
                "date": days[[0, 0, 1]],
                "ticker": pd.Series(tickers, dtype=dtype),
                "close": [1.0, 2.0, 3.0],
            }
        )
        return day_hashes(frame, days)

    base = digests(["AB", "C", "D"])
    for dtype in ("string[python]", "string[pyarrow]"):
        assert digests(["AB", "C", "D"], dtype) == base
    assert digests(["A", "BC", "D"])[0] != base[0] and digests(["A", "BC", "D"])[1] == base[1]
    assert digests(["AB", "C", ""])[1] != digests(["AB", "C", None])[1]
    assert len(set(base)) == 2
    # an object column of other values is digested by its text, day by day
    codes = pd.DataFrame({"date": days[[0, 0, 1]], "code": pd.Series([7, 8, 9], dtype=object)})
    again = codes.assign(code=pd.Series([7, 8, 10], dtype=object))
    assert day_hashes(codes, days)[0] == day_hashes(again, days)[0]
    assert day_hashes(codes, days)[1] != day_hashes(again, days)[1]
