"""A price frame pivoted once into day × stock arrays, with each stock's country and ids.

Everything the Signals stages compute for a date ``t`` reads *windows* of these arrays —
rows ``t − k … t`` (features, universe) or ``t … t + lag + h`` (targets) of the columns of
that date's universe — copied out by fancy indexing. A value therefore depends on the
prices inside its window and on nothing else: not on how many days or stocks the panel
holds beyond them. That is what makes published values point-in-time (a panel cut at the
live date computes the same history as one that runs years further) and lets the operator
recompute a live era's targets later, bit for bit as a later round publishes them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals.ids import (
    assign_keyed_ids,
    bloomberg_ticker,
    derive_country,
    numerai_ticker,
    yahoo_ticker,
)
from crowdalpha.errors import InvalidInputError, InvalidParameterError, MissingColumnsError

__all__ = ["PricePanel"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class PricePanel:
    """Day × stock arrays of a validated price frame (:func:`crowdalpha.market.validate_prices`).

    ``close`` (and ``volume``, ``market_cap`` when the frame has them) are float64, NaN
    where a stock has no row; ``sector_code`` and ``country_code`` are int16 codes into
    :attr:`sector_names` and :attr:`country_names` (−1 where no row). A stock's country is
    its ``country`` on that day, or derived from its ticker where the frame has none
    (:func:`~crowdalpha.dataset.signals.ids.derive_country`). ``vault`` keys the FIGI and
    SEDOL of every stock, assigned in the order stocks first traded.

    ``start`` holds only the days from ``start`` on (and the stocks that trade in them):
    enough for the dates whose windows begin after it, at a fraction of the memory. Each
    stock's first trading day and ids still come from all the prices, so every value is
    the one a panel of all the days computes.
    """

    def __init__(
        self, prices: pd.DataFrame, vault: Vault, *, start: pd.Timestamp | None = None
    ) -> None:
        missing = [c for c in ("date", "ticker", "close") if c not in prices.columns]
        if missing:
            raise MissingColumnsError(
                f"prices lack the column(s) {missing}", details={"missing": missing}
            )
        if not isinstance(vault, Vault):
            raise InvalidParameterError("vault must be a crowdalpha Vault")
        if len(prices) == 0:
            raise InvalidInputError("the price frame is empty")
        all_dates = prices["date"].to_numpy(dtype="datetime64[ns]")
        if (all_dates[1:] < all_dates[:-1]).any():
            raise InvalidInputError(
                "prices must be sorted by date (crowdalpha.market.validate_prices does it)"
            )
        new_day = np.r_[True, all_dates[1:] != all_dates[:-1]]
        calendar = all_dates[new_day]
        # Each stock's first trading day, over all the prices (the frame is date-sorted).
        firsts = prices.drop_duplicates("ticker")
        first_names = firsts["ticker"].astype(str).to_numpy(dtype=object)
        first_days = np.searchsorted(calendar, firsts["date"].to_numpy(dtype="datetime64[ns]"))
        # FIGI and SEDOL of every stock, in the order stocks first traded (ties by ticker).
        priority = np.lexsort((first_names, first_days))
        figis, sedols = assign_keyed_ids(vault, [str(first_names[i]) for i in priority])
        keyed = {
            str(first_names[i]): (figi, sedol)
            for i, figi, sedol in zip(priority, figis, sedols, strict=True)
        }
        offset = 0 if start is None else int(np.searchsorted(calendar, np.datetime64(start, "ns")))
        if offset:
            prices = prices.iloc[int(np.searchsorted(all_dates, calendar[offset])) :]
        #: Index, in all the prices' days, of the panel's first day.
        self.offset = offset
        dates = prices["date"].to_numpy(dtype="datetime64[ns]")
        self.days = pd.DatetimeIndex(calendar[offset:], name="date")
        codes, uniques = pd.factorize(prices["ticker"], sort=True)
        #: Price tickers, sorted: the panel's columns.
        self.tickers = pd.Index(np.asarray(uniques, dtype=object).astype(str), name="price_ticker")
        self._ticker_list = [str(t) for t in self.tickers]
        di = self.days.searchsorted(dates).astype(np.int64)
        ti = np.asarray(codes, dtype=np.int64)
        shape = (len(self.days), len(self.tickers))
        self._pos = {d: i for i, d in enumerate(self.days)}

        def wide(column: str) -> F64 | None:
            if column not in prices.columns:
                return None
            out = np.full(shape, np.nan)
            out[di, ti] = prices[column].to_numpy(dtype=np.float64, na_value=np.nan)
            return out

        close = wide("close")
        if close is None:  # pragma: no cover - checked above
            raise MissingColumnsError("prices lack the column 'close'")
        self.close: F64 = close
        self.volume = wide("volume")
        self.market_cap = wide("market_cap")

        s_names: list[str] = ["unknown"]
        s_codes = np.zeros(len(prices), dtype=np.int64)
        if "sector" in prices.columns:
            s_codes, uniques = pd.factorize(prices["sector"], sort=True)
            s_names = [str(s) for s in uniques]
        self.sector_names: tuple[str, ...] = tuple(s_names)
        self.sector_code = np.full(shape, -1, dtype=np.int16)
        self.sector_code[di, ti] = s_codes

        derived = [derive_country(t) for t in self._ticker_list]
        names = sorted(set(derived))
        row_names: list[str] = []
        if "country" in prices.columns:
            g_codes, g_names = pd.factorize(prices["country"], sort=True)
            row_names = [str(g) for g in g_names]
            names = sorted(set(names) | {g for g in row_names if g})
        index = {c: i for i, c in enumerate(names)}
        by_ticker = np.array([index[c] for c in derived], dtype=np.int64)
        c_codes = by_ticker[ti]
        if row_names:
            given = np.array([index.get(g, -1) for g in row_names], dtype=np.int64)[g_codes]
            c_codes = np.where(given >= 0, given, c_codes)
        self.country_names: tuple[str, ...] = tuple(names)
        self.country_code = np.full(shape, -1, dtype=np.int16)
        self.country_code[di, ti] = c_codes

        global_first = dict(zip(first_names, first_days, strict=True))
        #: Each stock's first trading day, as an index of :attr:`days` (negative: before).
        self.first_day: I64 = np.array(
            [global_first[t] - offset for t in self._ticker_list], dtype=np.int64
        )
        self.figi = np.array([keyed[t][0] for t in self._ticker_list], dtype=object)
        self.sedol = np.array([keyed[t][1] for t in self._ticker_list], dtype=object)
        self._name_cache: dict[tuple[int, int], tuple[str, str, str, str]] = {}

    def __len__(self) -> int:
        return len(self.days)

    def day_index(self, date: pd.Timestamp | str) -> int:
        """Position of a trading day of the prices; raises for any other day."""
        ts = pd.Timestamp(date)
        pos = self._pos.get(ts)
        if pos is None:
            raise InvalidInputError(
                f"{ts:%Y-%m-%d} is not a trading day of the prices",
                details={"date": f"{ts:%Y-%m-%d}"},
            )
        return pos

    def window(self, values: F64, t: int, k: int, rows: I64) -> F64:
        """Days ``t − k + 1 … t`` of the stocks ``rows``: a fresh ``(k, rows)`` array,
        NaN-padded at the top where the panel starts later."""
        lo = t - k + 1
        if lo >= 0:
            out: F64 = values[lo : t + 1][:, rows]
            return out
        padded = np.full((k, len(rows)), np.nan)
        padded[-lo:] = values[: t + 1][:, rows]
        return padded

    def ahead(self, values: F64, t: int, k: int, rows: I64) -> F64:
        """Days ``t … t + k`` of the stocks ``rows`` (``k + 1`` rows; ``t + k`` must exist)."""
        out: F64 = values[t : t + k + 1][:, rows]
        return out

    def _names(self, t: int, rows: I64) -> list[tuple[str, str, str, str]]:
        """(price ticker, numerai_ticker, bloomberg_ticker, ticker) of ``rows`` on ``t``."""
        out = []
        cache = self._name_cache
        for i, c in zip(rows.tolist(), self.country_code[t, rows].tolist(), strict=True):
            names = cache.get((i, c))
            if names is None:
                p, cc = self._ticker_list[i], self.country_names[c]
                names = (p, numerai_ticker(p, cc), bloomberg_ticker(p, cc), yahoo_ticker(p, cc))
                cache[(i, c)] = names
            out.append(names)
        return out

    def numerai_tickers(self, t: int, rows: I64) -> list[str]:
        """The ``numerai_ticker`` of the stocks ``rows`` on day ``t``."""
        return [names[1] for names in self._names(t, rows)]

    def ids(self, t: int, rows: I64) -> pd.DataFrame:
        """The id columns of the stocks ``rows`` on day ``t`` (their country that day)."""
        names = self._names(t, rows)
        return pd.DataFrame(
            {
                "numerai_ticker": [n[1] for n in names],
                "composite_figi": self.figi[rows],
                "bloomberg_ticker": [n[2] for n in names],
                "ticker": [n[3] for n in names],
                "sedol": self.sedol[rows],
                "country": [self.country_names[c] for c in self.country_code[t, rows]],
                "sector": [self.sector_names[c] for c in self.sector_code[t, rows]],
                "price_ticker": [n[0] for n in names],
            }
        )
