"""Tests of crowdalpha.dataset.features: values against hand computation, NaN rules, spec."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import skew

from crowdalpha.dataset.features import (
    FAMILIES,
    FeatureConfig,
    FeatureEngine,
    era_dates,
)
from crowdalpha.errors import InvalidParameterError, MissingColumnsError

FULL = ("open", "high", "low", "volume", "sector", "market_cap")


def walk(
    n_tickers: int = 6,
    n_days: int = 60,
    *,
    seed: int = 0,
    columns: tuple[str, ...] = FULL,
    start: str = "2021-01-04",
) -> pd.DataFrame:
    """A small random-walk price frame in canonical long format."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, periods=n_days)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_days, n_tickers)), axis=0))
    n = n_days * n_tickers
    df = pd.DataFrame(
        {
            "date": np.repeat(days, n_tickers),
            "ticker": np.tile([f"T{i:02d}" for i in range(n_tickers)], n_days),
            "close": close.ravel(),
        }
    )
    opn = df["close"].to_numpy() * np.exp(rng.normal(0, 0.01, n))
    extra = {
        "open": opn,
        "high": np.maximum(opn, df["close"]) * (1 + rng.uniform(0, 0.02, n)),
        "low": np.minimum(opn, df["close"]) * (1 - rng.uniform(0, 0.02, n)),
        "volume": rng.lognormal(10, 1, n),
        "sector": np.tile([f"S{i % 2}" for i in range(n_tickers)], n_days),
        "market_cap": df["close"].to_numpy() * 1e6 * np.tile(np.arange(1, n_tickers + 1), n_days),
    }
    for col in ("open", "high", "low", "close", "volume", "sector", "market_cap"):
        if col in columns:
            df[col] = extra[col]
    cols = [c for c in ("date", "ticker", "open", "high", "low", "close") if c in df]
    return df[cols + [c for c in ("volume", "sector", "market_cap") if c in df]]


TINY = FeatureConfig(
    momentum_windows=(5,),
    skip_momentum=((10, 2),),
    reversal_windows=(3,),
    volatility_windows=(5,),
    downside_windows=(5,),
    skew_windows=(5,),
    volume_windows=(5,),
    volume_trends=((2, 5),),
    turnover_windows=(5,),
    dollar_volume_windows=(5,),
    amihud_windows=(5,),
    drawdown_windows=(5,),
    beta_windows=(6,),
    range_windows=(5,),
    intraday_windows=(5,),
    lags=(0, 1, 2),
    min_coverage=1.0,
)


def wide(df: pd.DataFrame, col: str) -> pd.DataFrame:
    return df.pivot(index="date", columns="ticker", values=col)


def hand_features(df: pd.DataFrame, t: int) -> pd.DataFrame:
    """The TINY base features on day position ``t``, computed the slow obvious way."""
    c = wide(df, "close")
    lc = np.log(c)
    r = lc.diff()
    m = r.mean(axis=1)
    v, mc = wide(df, "volume"), wide(df, "market_cap")
    dv = c * v
    out = {}
    out["mom_5"] = lc.iloc[t] - lc.iloc[t - 5]
    out["momskip_10_2"] = lc.iloc[t - 2] - lc.iloc[t - 10]
    out["rev_3"] = lc.iloc[t] - lc.iloc[t - 2 : t + 1].mean()
    rw = r.iloc[t - 4 : t + 1]
    out["vol_5"] = rw.std(ddof=1)
    out["dvol_5"] = np.sqrt((np.minimum(rw, 0) ** 2).mean())
    out["skew_5"] = pd.Series(skew(rw.to_numpy(), axis=0, bias=True), index=c.columns)
    out["volume_5"] = np.log(v.iloc[t - 4 : t + 1].mean())
    out["voltrend_2_5"] = np.log(v.iloc[t - 1 : t + 1].mean() / v.iloc[t - 4 : t + 1].mean())
    out["turnover_5"] = (dv / mc).iloc[t - 4 : t + 1].mean()
    out["dollarvol_5"] = np.log(dv.iloc[t - 4 : t + 1].mean())
    out["amihud_5"] = np.log1p(1e6 * (r.abs() / dv).iloc[t - 4 : t + 1].mean())
    out["dd_5"] = lc.iloc[t] - lc.iloc[t - 4 : t + 1].max()
    betas, ivols = {}, {}
    for tk in c.columns:
        y = r[tk].iloc[t - 5 : t + 1].to_numpy()
        x = m.iloc[t - 5 : t + 1].to_numpy()
        slope, icpt = np.polyfit(x, y, 1)
        betas[tk] = slope
        ivols[tk] = np.sqrt(((y - icpt - slope * x) ** 2).sum() / (len(y) - 2))
    out["beta_6"] = pd.Series(betas)
    out["ivol_6"] = pd.Series(ivols)
    out["range_5"] = np.log(wide(df, "high") / wide(df, "low")).iloc[t - 4 : t + 1].mean()
    out["intraday_5"] = np.log(c / wide(df, "open")).iloc[t - 4 : t + 1].mean()
    out["size"] = np.log(mc.iloc[t])
    out["price"] = lc.iloc[t]
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def tiny() -> tuple[pd.DataFrame, FeatureEngine]:
    df = walk()
    return df, FeatureEngine(df, TINY)


# -- era dates -------------------------------------------------------------------------------


def test_era_dates_last_trading_day_of_each_iso_week() -> None:
    days = pd.to_datetime(
        [
            "2020-12-28",
            "2020-12-31",  # Thu; Fri 2021-01-01 is a holiday, same ISO week (2020-W53)
            "2021-01-04",
            "2021-01-05",
            "2021-01-08",
            "2021-01-11",
            "2021-01-12",  # last week, not over yet: still an era
        ]
    )
    df = pd.DataFrame({"date": days, "ticker": "A", "close": 1.0})
    eras = era_dates(df)
    assert list(eras) == list(pd.to_datetime(["2020-12-31", "2021-01-08", "2021-01-12"]))
    assert era_dates(df.iloc[:0]).empty
    with pytest.raises(InvalidParameterError):
        era_dates(df, weekday=7)


# -- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [12, 33, 59])
def test_base_features_match_hand_computation(
    tiny: tuple[pd.DataFrame, FeatureEngine], t: int
) -> None:
    df, fe = tiny
    expected = hand_features(df, t)
    got = fe.base(fe.days[t])
    assert list(got.columns) == list(fe.base_names) == list(expected.columns)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-12)
    # era() holds the same values as float32
    era = fe.era(fe.days[t])
    np.testing.assert_allclose(era[list(fe.base_names)].to_numpy(), expected.to_numpy(), rtol=1e-5)


def test_sector_relative_is_value_minus_sector_mean(
    tiny: tuple[pd.DataFrame, FeatureEngine],
) -> None:
    df, fe = tiny
    date = fe.eras[-1]
    era = fe.era(date)
    sectors = df[df["date"] == date].set_index("ticker")["sector"]
    for name in ("mom_5", "vol_5", "beta_6", "size"):
        raw = era[name].astype(np.float64)
        expected = raw - raw.groupby(sectors).transform("mean")
        np.testing.assert_allclose(era[f"{name}_secrel"], expected, rtol=1e-5, atol=1e-6)


def test_lag_k_is_the_value_k_eras_before(tiny: tuple[pd.DataFrame, FeatureEngine]) -> None:
    _, fe = tiny
    eras = fe.eras
    now = fe.era(eras[-1])
    for k in (1, 2):
        before = fe.era(eras[-1 - k])
        for name in ("mom_5", "dd_5_secrel", "price"):
            pd.testing.assert_series_equal(now[f"{name}_lag{k}"], before[name], check_names=False)
    # a mid-week day: lag 1 is the last era before it
    mid = fe.days[fe.day_index(eras[-2]) + 2]
    assert mid not in eras
    pd.testing.assert_series_equal(
        fe.era(mid)["mom_5_lag1"], fe.era(eras[-2])["mom_5"], check_names=False
    )


def test_nan_when_history_is_short(tiny: tuple[pd.DataFrame, FeatureEngine]) -> None:
    _, fe = tiny
    early = fe.era(fe.days[3])
    for name in ("mom_5", "vol_5", "momskip_10_2", "dd_5", "beta_6", "range_5", "mom_5_lag1"):
        assert early[name].isna().all(), name
    assert early["price"].notna().all() and early["rev_3"].notna().all()
    assert fe.min_history == 11
    later = fe.era(fe.days[fe.min_history])
    assert later[list(fe.base_names)].notna().all().all()
    # the first eras have no earlier era to copy
    first = fe.era(fe.eras[0])
    assert first.filter(like="_lag").isna().all().all()


def test_listing_late_gives_nan_until_enough_history() -> None:
    df = walk(n_days=40)
    late = (df["ticker"] == "T03") & (df["date"] < df["date"].unique()[20])
    fe = FeatureEngine(df[~late].reset_index(drop=True), TINY)
    assert "T03" not in fe.era(fe.days[19]).index
    on_day = fe.era(fe.days[20])
    assert "T03" in on_day.index
    assert np.isnan(on_day.loc["T03", "mom_5"]) and np.isnan(on_day.loc["T03", "vol_5"])
    assert np.isfinite(on_day.loc["T02", "mom_5"])
    # 5 returns need 6 closes: day 20 (listing) to day 25
    assert np.isnan(fe.era(fe.days[24]).loc["T03", ["mom_5", "vol_5"]]).all()
    assert np.isfinite(fe.era(fe.days[25]).loc["T03", ["mom_5", "vol_5"]]).all()


def test_min_coverage_allows_gaps() -> None:
    df = walk(n_days=30)
    gap = (df["ticker"] == "T01") & (df["date"] == df["date"].unique()[25])
    strict = FeatureEngine(df[~gap].reset_index(drop=True), TINY)
    loose = FeatureEngine(
        df[~gap].reset_index(drop=True), dataclasses.replace(TINY, min_coverage=0.6)
    )
    day = strict.days[27]
    assert np.isnan(strict.era(day).loc["T01", "vol_5"])
    assert np.isfinite(loose.era(day).loc["T01", "vol_5"])


def test_missing_optional_columns_give_nan_for_their_features() -> None:
    fe = FeatureEngine(walk(columns=()), TINY)
    era = fe.era(fe.eras[-1])
    need_columns = {"volume_5", "voltrend_2_5", "turnover_5", "dollarvol_5", "amihud_5"}
    need_columns |= {"range_5", "intraday_5", "size"}
    for name in fe.base_names:
        if name in need_columns:
            assert era[name].isna().all(), name
        else:
            assert era[name].notna().all(), name
    assert era.filter(like="_secrel").isna().all().all()  # no sector column
    # volume without market cap: turnover is NaN, the rest of liquidity works
    fe2 = FeatureEngine(walk(columns=("volume",)), TINY)
    era2 = fe2.era(fe2.eras[-1])
    assert era2["turnover_5"].isna().all() and era2["amihud_5"].notna().all()


def test_missing_required_column_raises() -> None:
    with pytest.raises(MissingColumnsError):
        FeatureEngine(walk().drop(columns="close"))


# -- shape, spec, configuration --------------------------------------------------------------


def test_era_frame_is_float32_indexed_by_listed_tickers(
    tiny: tuple[pd.DataFrame, FeatureEngine],
) -> None:
    df, fe = tiny
    date = fe.eras[-3]
    era = fe.era(date)
    assert (era.dtypes == np.float32).all()
    assert list(era.columns) == list(fe.spec.names)
    assert list(era.index) == sorted(df.loc[df["date"] == date, "ticker"])
    assert list(fe.listed(date)) == list(era.index)
    with pytest.raises(InvalidParameterError):
        fe.era(pd.Timestamp("2021-01-02"))  # a Saturday
    with pytest.raises(InvalidParameterError):
        fe.base(date, ["no_such_feature"])


def test_default_config_gives_hundreds_and_large_over_a_thousand() -> None:
    df = walk(n_days=15)
    n_default = len(FeatureEngine(df).spec.names)
    n_large = len(FeatureEngine(df, FeatureConfig.large()).spec.names)
    assert 300 <= n_default <= 600
    assert n_large > 1000
    more = dataclasses.replace(FeatureConfig(), momentum_windows=(5, 10, 20, 40, 60, 120, 250, 3))
    assert len(FeatureEngine(df, more).spec.names) == n_default + 2 * 4
    fewer_lags = dataclasses.replace(FeatureConfig(), lags=(0,))
    assert len(FeatureEngine(df, fewer_lags).spec.names) * 4 == n_default
    no_secrel = dataclasses.replace(FeatureConfig(), sector_relative=False)
    assert len(FeatureEngine(df, no_secrel).spec.names) * 2 == n_default


@pytest.mark.parametrize("config", [FeatureConfig(), TINY, FeatureConfig.large()])
def test_groups_and_sets_are_consistent(config: FeatureConfig) -> None:
    fe = FeatureEngine(walk(n_days=12), config)
    spec = fe.spec
    names = set(spec.names)
    assert len(names) == len(spec.names)
    assert spec.sets["all"] == spec.names
    small, medium = set(spec.sets["small"]), set(spec.sets["medium"])
    assert small <= medium < names
    if len(names) > 3 * len(small):
        assert small < medium
    assert len(spec.sets["small"]) == min(40, len(names))
    assert abs(len(medium) - len(names) / 3) <= max(1, len(small))
    for group, members in spec.groups.items():
        assert members and set(members) <= names, group
    # families partition the names; every lag group too
    fams = [n for f in FAMILIES if f in spec.groups for n in spec.groups[f]]
    assert sorted(fams) == sorted(spec.names)
    lags = [n for k in config.lags for n in spec.groups[f"lag{k}"]]
    assert sorted(lags) == sorted(spec.names)
    assert all(n.endswith("_secrel") or "_secrel_lag" in n for n in spec.groups["sector_relative"])
    # the small set spreads over the families
    small_families = {f for f in FAMILIES if small & set(spec.groups.get(f, ()))}
    assert len(small_families) >= min(8, len(small))


@pytest.mark.parametrize(
    "changes",
    [
        {"momentum_windows": (0, 5)},
        {"momentum_windows": (5, 5)},
        {"momentum_windows": [5, 10]},
        {"volatility_windows": (1,)},
        {"skew_windows": (2,)},
        {"skip_momentum": ((21, 252),)},
        {"skip_momentum": ((252,),)},
        {"volume_trends": ((60, 5),)},
        {"lags": (-1,)},
        {"lags": ()},
        {"lags": (0, 1.5)},
        {"min_coverage": 0.0},
        {"min_coverage": 1.5},
        {"small_set_size": 0},
        {"sector_relative": "yes"},
    ],
)
def test_config_validation(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterError):
        FeatureConfig(**changes)  # type: ignore[arg-type]


def test_config_must_be_a_feature_config() -> None:
    with pytest.raises(InvalidParameterError):
        FeatureEngine(walk(n_days=5), config="small")  # type: ignore[arg-type]


def test_deterministic(tiny: tuple[pd.DataFrame, FeatureEngine]) -> None:
    df, fe = tiny
    again = FeatureEngine(df.copy(), TINY)
    for date in fe.eras[-3:]:
        pd.testing.assert_frame_equal(fe.era(date), again.era(date))
    # asking in another order gives the same values (the per-day cache is transparent)
    pd.testing.assert_frame_equal(fe.era(fe.eras[-2]), again.era(fe.eras[-2]))
