"""Signals ids: the id formats, real check digits, keyed FIGI/SEDOL, derived countries."""

from __future__ import annotations

from collections import Counter

import pytest

from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals import ids
from crowdalpha.dataset.signals.ids import (
    COUNTRIES,
    assign_keyed_ids,
    bloomberg_ticker,
    derive_country,
    figi_check_digit,
    is_figi,
    is_sedol,
    numerai_ticker,
    sedol_check_digit,
    yahoo_ticker,
)

KEY = bytes(range(32))


@pytest.mark.parametrize(
    "figi",
    # Composite FIGIs of Apple, IBM, Microsoft and Amazon (OpenFIGI).
    ["BBG000B9XRY4", "BBG000BLNNH6", "BBG000BPH459", "BBG000BVPV84"],
)
def test_figi_check_digits_match_real_figis(figi: str) -> None:
    assert figi_check_digit(figi[:11]) == figi[11]
    assert is_figi(figi)
    assert not is_figi(figi[:11] + str((int(figi[11]) + 1) % 10))


@pytest.mark.parametrize("sedol", ["2046251", "0263494", "B0YBKJ7", "2000019"])
def test_sedol_check_digits_match_real_sedols(sedol: str) -> None:
    # Apple, BAE Systems, and two from the published SEDOL examples
    assert sedol_check_digit(sedol[:6]) == sedol[6]
    assert is_sedol(sedol)
    assert not is_sedol(sedol[:6] + str((int(sedol[6]) + 1) % 10))


def test_ticker_forms_per_country() -> None:
    assert numerai_ticker("7203", "JP") == "7203 JP"
    assert bloomberg_ticker("7203", "JP") == "7203 JT"
    assert yahoo_ticker("7203", "JP") == "7203.T"
    assert (numerai_ticker("AAPL", "US"), bloomberg_ticker("AAPL", "US")) == ("AAPL US", "AAPL US")
    assert yahoo_ticker("AAPL", "US") == "AAPL"
    assert bloomberg_ticker("VOD", "GB") == "VOD LN" and yahoo_ticker("VOD", "GB") == "VOD.L"
    # a country outside the table keeps its own code
    assert bloomberg_ticker("ABC", "AR") == "ABC AR" and yahoo_ticker("ABC", "AR") == "ABC.AR"


def test_the_country_table_is_consistent() -> None:
    assert sum(c.weight for c in COUNTRIES) == pytest.approx(1.0)
    for attribute in ("code", "bloomberg", "yahoo"):
        values = [getattr(c, attribute) for c in COUNTRIES]
        assert len(set(values)) == len(values), attribute


def test_keyed_ids_are_well_formed_stable_and_depend_on_the_key() -> None:
    tickers = [f"SIM{i:04d}" for i in range(2000)]
    figis, sedols = assign_keyed_ids(Vault(KEY), tickers)
    assert all(is_figi(f) and f.startswith("BBG") for f in figis)
    assert all(is_sedol(s) for s in sedols)
    assert len(set(figis)) == len(set(sedols)) == len(tickers)
    again = assign_keyed_ids(Vault(KEY), tickers)
    assert again == (figis, sedols)
    other = assign_keyed_ids(Vault(bytes(32)), tickers)
    # another key gives other ids: nothing but the key maps a ticker to its FIGI
    assert sum(a == b for a, b in zip(figis, other[0], strict=True)) == 0
    assert sum(a == b for a, b in zip(sedols, other[1], strict=True)) == 0


def test_ids_do_not_change_when_later_stocks_list() -> None:
    vault = Vault(KEY)
    early, _ = assign_keyed_ids(vault, ["AAA", "BBB"])
    later, _ = assign_keyed_ids(vault, ["AAA", "BBB", "CCC", "DDD"])
    assert later[:2] == early


def test_a_collision_moves_the_later_stock(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ids._keyed_chars

    def colliding(key: bytes, kind: str, ticker: str, attempt: int, n: int) -> str:
        # every stock's first candidate is the same: the later ones must walk on
        return (
            real(key, kind, "same", 0, n) if attempt == 0 else real(key, kind, ticker, attempt, n)
        )

    monkeypatch.setattr(ids, "_keyed_chars", colliding)
    figis, sedols = assign_keyed_ids(Vault(KEY), ["FIRST", "SECOND", "THIRD"])
    assert figis[0] == ids._figi(KEY, "same", 0)
    assert len(set(figis)) == len(set(sedols)) == 3
    assert figis[1] == ids._figi(KEY, "SECOND", 1) and sedols[2] == ids._sedol(KEY, "THIRD", 1)


def test_derived_countries_follow_the_weights() -> None:
    tickers = [f"T{i:05d}" for i in range(20_000)]
    counts = Counter(derive_country(t) for t in tickers)
    assert derive_country("T00001") == derive_country("T00001")
    assert set(counts) <= {c.code for c in COUNTRIES if c.weight > 0}
    for country in COUNTRIES:
        # a share p of 20,000 draws has a standard deviation ≤ sqrt(.25/20000) = 0.0035
        assert counts.get(country.code, 0) / len(tickers) == pytest.approx(
            country.weight, abs=0.015
        )
