"""Stage 1: the signal and stake formats, the meta model, and the timing contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdalpha.errors import FundInputError, LookAheadError
from crowdalpha.fund import load_stakes, meta_signal, validate_signals, validate_stakes
from crowdalpha.fund.signals import check_available, fill_sessions, gauss_rank


def _signals(**overrides: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "signal_date": ["2024-01-05", "2024-01-05", "2024-01-12"],
            "ticker": ["AAA", "BBB", "AAA"],
            "score": [0.1, 0.9, 0.5],
            "available_at": ["2024-01-05 17:00", "2024-01-05 17:00", "2024-01-12 17:00"],
        }
    )
    for key, value in overrides.items():
        frame[key] = value
    return frame


def test_valid_signals_come_back_canonical_and_sorted() -> None:
    out = validate_signals(_signals().iloc[::-1])
    assert list(out.columns) == ["signal_date", "available_at", "ticker", "score"]
    assert out["ticker"].tolist() == ["AAA", "BBB", "AAA"]
    assert out["signal_date"].dt.hour.eq(0).all()
    assert out["available_at"].iloc[0] == pd.Timestamp("2024-01-05 17:00")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"score": [0.1, np.nan, 0.5]}, "not finite"),
        ({"ticker": ["AAA", "", "AAA"]}, "empty ticker"),
        ({"ticker": ["AAA", "AAA", "AAA"], "signal_date": ["2024-01-05"] * 3}, "repeat"),
        ({"available_at": [None, "2024-01-05 17:00", "2024-01-12 17:00"]}, "no available_at"),
        ({"signal_date": ["yesterday", "2024-01-05", "2024-01-12"]}, "not dates"),
    ],
)
def test_bad_signals_are_refused_with_a_reason(change: dict[str, object], words: str) -> None:
    with pytest.raises(FundInputError, match=words):
        validate_signals(_signals(**change))


def test_missing_columns_and_time_zones_are_refused() -> None:
    with pytest.raises(FundInputError, match="available_at"):
        validate_signals(_signals().drop(columns="available_at"))
    aware = _signals()
    aware["available_at"] = pd.to_datetime(aware["available_at"]).dt.tz_localize("UTC")
    with pytest.raises(FundInputError, match="without a time zone"):
        validate_signals(aware)


def test_stakes_are_whole_base_units_and_stay_exact_in_csv(tmp_path: Path) -> None:
    big = 123_456_789 * 10**18 + 7  # above 2^63: a float would round it
    path = tmp_path / "stakes.csv"
    path.write_text(f"signal_date,model,stake\n2024-01-05,a,{big}\n2024-01-05,b,0\n")
    stakes = load_stakes(path)
    assert stakes["stake"].tolist() == [big, 0]
    with pytest.raises(FundInputError, match="whole number"):
        validate_stakes(
            pd.DataFrame({"signal_date": ["2024-01-05"], "model": ["a"], "stake": [1.5]})
        )
    with pytest.raises(FundInputError, match="negative"):
        validate_stakes(
            pd.DataFrame({"signal_date": ["2024-01-05"], "model": ["a"], "stake": [-1]})
        )


def test_meta_signal_is_the_stake_weighted_mean_of_gaussianized_ranks() -> None:
    rng = np.random.default_rng(0)
    tickers = [f"T{i:02d}" for i in range(30)]
    preds = pd.concat(
        [
            pd.DataFrame(
                {
                    "signal_date": "2024-01-05",
                    "model": m,
                    "ticker": tickers,
                    "score": rng.standard_normal(30),
                    "available_at": f"2024-01-05 {hour}:00",
                }
            )
            for m, hour in (("a", 17), ("b", 18), ("c", 19))
        ]
    )
    stakes = pd.DataFrame(
        {"signal_date": "2024-01-05", "model": ["a", "b", "c"], "stake": [3 * 10**18, 10**18, 0]}
    )
    meta = meta_signal(preds, stakes)
    g = {m: gauss_rank(preds[preds.model == m]["score"].to_numpy()) for m in ("a", "b")}
    expected = (3 * g["a"] + g["b"]) / 4
    assert np.allclose(meta["score"].to_numpy(), expected, atol=1e-14, rtol=0)
    # Available when its last member is, the unstaked model included.
    assert (meta["available_at"] == pd.Timestamp("2024-01-05 19:00")).all()


def test_a_score_available_before_its_dates_close_is_look_ahead() -> None:
    ok = validate_signals(_signals())
    check_available(ok, session_close="16:00")
    shifted = ok.assign(available_at=ok["available_at"] - pd.Timedelta(weeks=1))
    with pytest.raises(LookAheadError, match="before the close of their signal date"):
        check_available(shifted, session_close="16:00")
    bare_date = ok.assign(available_at=ok["signal_date"])  # midnight: before the data exist
    with pytest.raises(LookAheadError):
        check_available(bare_date, session_close="16:00")


def test_fills_are_at_the_lag_th_open_at_or_after_availability() -> None:
    sessions = pd.bdate_range("2024-01-01", periods=10)
    at = np.array(
        [
            "2024-01-02T17:00",  # after Tuesday's close → Wednesday's open
            "2024-01-03T09:30",  # exactly at an open → that open
            "2024-01-03T12:00",  # during the session → the next open
            "2024-01-12T17:00",  # after the last session → no fill
        ],
        dtype="datetime64[ns]",
    )
    one = fill_sessions(at, sessions, session_open="09:30", lag=1)
    assert one.tolist() == [2, 2, 3, -1]
    two = fill_sessions(at, sessions, session_open="09:30", lag=2)
    assert two.tolist() == [3, 3, 4, -1]
