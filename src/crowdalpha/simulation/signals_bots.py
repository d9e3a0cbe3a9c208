"""Signals bots: participants who bring their own signal, computed from public prices or from
a private source of skill, and act through the tournament's own operations.

Each round a Signals bot sees what a Signals participant has: the round's live universe
(``numerai_ticker`` and the other id types) and the public prices up to the live date; a
*skilled* bot also has a private signal (on a simulated market, the market's hidden alpha,
which the demo knows because it made the market). It submits one value per ticker with
:meth:`Tournament.submit` on its Signals model, keyed by ``numerai_ticker`` (or another id
type), and keeps its stake with :meth:`Tournament.set_stake`.

The kinds (:data:`SIGNALS_BOT_KINDS`):

- ``momentum`` — twelve-month return skipping the last month (the classic 12-1 factor);
- ``reversal`` — minus the last week's return (short-term reversal: it changes every week,
  so the churn gate usually zeroes its stake — as on Numerai);
- ``volatility`` — minus the volatility of the last 60 days' returns (low-volatility);
- ``skilled`` — the private signal plus noise fixed per stock (so the signal is stable
  from week to week); the noise is the skill knob.

Real Signals participants keep their submissions smooth, because the stake gate compares
each one with the last five (churn ≥ 15 % or turnover ≥ 25 % zeroes the stake): every kind
but ``reversal`` submits an exponential average of its weekly ranks
(:data:`SMOOTHING`: ``s_t = rank(λ·s_{t−1} + (1 − λ)·r_t)``, its own last submission
``s_{t−1}`` and this week's ranks ``r_t``); ``reversal`` submits its raw one-week signal,
the fast signal the gate is there to stop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import nmr
from crowdalpha.tournament import Tournament

__all__ = [
    "DEFAULT_SIGNALS_ROSTER",
    "SIGNALS_BOT_KINDS",
    "SMOOTHING",
    "SignalsBot",
    "SignalsView",
    "make_signals_bots",
    "price_signal",
]

SIGNALS_BOT_KINDS = ("momentum", "reversal", "volatility", "skilled")
#: Eight bots: three price factors and three skilled ones.
DEFAULT_SIGNALS_ROSTER: tuple[tuple[str, int], ...] = (
    ("momentum", 2),
    ("reversal", 1),
    ("volatility", 2),
    ("skilled", 3),
)
#: The skilled bots' noise levels, in units of the standardized private signal.
SKILLED_NOISES = (0.5, 1.0, 2.0)
#: Each kind's weight λ on its last submission (0: the raw signal every week).
SMOOTHING: dict[str, float] = {"momentum": 0.8, "reversal": 0.0, "volatility": 0.8, "skilled": 0.8}


@dataclass(frozen=True)
class SignalsView:
    """What a Signals bot sees of a round: the live universe (a row per stock, a column
    per id type, ``numerai_ticker`` first), the public prices up to the live date, and —
    for skilled bots — a private signal by price ticker."""

    number: int
    universe: pd.DataFrame
    prices: pd.DataFrame
    private: pd.Series | None = None

    @property
    def tickers(self) -> pd.Index:
        """Each universe row's price ticker (``numerai_ticker`` less its country code)."""
        return pd.Index(self.universe["numerai_ticker"].str.rsplit(" ", n=1).str[0])


def _closes(prices: pd.DataFrame, days: int) -> pd.DataFrame:
    """The last ``days`` trading days of closes, dates × tickers."""
    dates = prices["date"].drop_duplicates().iloc[-days:]
    recent = prices[prices["date"] >= dates.iloc[0]]
    table: pd.DataFrame = recent.pivot_table(
        index="date", columns="ticker", values="close", aggfunc="last"
    )
    return table


def price_signal(prices: pd.DataFrame, kind: str) -> pd.Series:
    """A public price factor per ticker from ``prices`` (the last day's is the live one)."""
    if kind == "momentum":
        closes = _closes(prices, 253)
        values = (closes.iloc[-22] / closes.iloc[0]).apply(np.log)
    elif kind == "reversal":
        closes = _closes(prices, 6)
        values = -(closes.iloc[-1] / closes.iloc[0]).apply(np.log)
    elif kind == "volatility":
        closes = _closes(prices, 61)
        log = pd.DataFrame(np.log(closes.to_numpy(dtype=np.float64)), columns=closes.columns)
        values = -log.diff().std()
    else:
        raise InvalidParameterError(f"{kind!r} is not a price signal")
    return pd.Series(values, dtype=np.float64)


def _stock_noise(seed: int, name: str, tickers: pd.Index) -> np.ndarray:
    """Noise fixed per (bot, stock): the same every week."""
    out = np.empty(len(tickers))
    for i, ticker in enumerate(tickers):
        digest = hashlib.sha256(f"{seed}:{name}:{ticker}".encode()).digest()
        out[i] = np.random.default_rng(int.from_bytes(digest[:8], "little")).normal()
    return out


def _ranks(values: np.ndarray) -> np.ndarray:
    """Values as ranks in (0, 1); 0.5 where a value is missing (as Numerai fills)."""
    series = pd.Series(values, dtype=np.float64)
    ranks = (series.rank(method="first") - 0.5) / max(int(series.notna().sum()), 1)
    return ranks.fillna(0.5).to_numpy()


@dataclass
class SignalsBot:
    """A Signals participant: one account, one Signals model, a stake it keeps."""

    name: str
    kind: str
    stake: int
    noise: float = 1.0
    seed: int = 0
    #: Weight on the last submission (:data:`SMOOTHING`).
    smoothing: float = 0.0
    account_id: int = 0
    model_id: int = 0
    #: The last signal submitted, by ``numerai_ticker`` (none yet: this week's raw ranks).
    last: pd.Series | None = field(default=None, repr=False, compare=False)

    def join(self, tournament: Tournament) -> None:
        """Sign up, receive twice the stake from the treasury, create the Signals model."""
        signals = tournament.using("signals")
        account = signals.create_account(self.name, f"{self.name}@bots.invalid")
        self.account_id = account.id
        signals.grant(account.id, 2 * self.stake, key=f"grant:{self.name}")
        self.model_id = signals.create_model(account.id, self.name).id

    def find(self, tournament: Tournament) -> None:
        """Find the account and model again by name (a reopened tournament)."""
        self.account_id = tournament.account_by_username(self.name).id
        self.model_id = tournament.model_by_name(self.name).id

    def signal(self, view: SignalsView, previous: pd.Series | None = None) -> pd.Series:
        """One value in (0, 1) per universe row, indexed by ``numerai_ticker``: this week's
        ranks, averaged with ``previous`` (the last submission) by :attr:`smoothing`."""
        fresh = pd.Series(_ranks(self._raw(view)), index=view.universe["numerai_ticker"].to_numpy())
        if previous is None or self.smoothing == 0:
            return fresh
        # a ticker new to the universe starts from this week's rank
        before = previous.reindex(fresh.index).fillna(fresh)
        blended = self.smoothing * before + (1 - self.smoothing) * fresh
        return pd.Series(_ranks(blended.to_numpy()), index=fresh.index)

    def _raw(self, view: SignalsView) -> np.ndarray:
        """This week's raw values, one per universe row (NaN where unknown)."""
        tickers = view.tickers
        if self.kind == "skilled":
            if view.private is None:
                raise InvalidParameterError("skilled Signals bots need the private signal")
            private = view.private.reindex(tickers).fillna(0.0).to_numpy(dtype=np.float64)
            std = float(private.std()) or 1.0
            raw = (private - private.mean()) / std
            raw = raw + self.noise * _stock_noise(self.seed, self.name, tickers)
        else:
            raw = price_signal(view.prices, self.kind).reindex(tickers).to_numpy()
        return np.asarray(raw, dtype=np.float64)

    def play(self, tournament: Tournament, view: SignalsView) -> None:
        """Keep the stake, then submit this round's signal."""
        signals = tournament.using("signals")
        if signals.stake_info(self.model_id).stake < self.stake:
            held = signals.stake_info(self.model_id).stake
            wallet = signals.wallet_balance(self.account_id)
            top_up = min(self.stake - held, wallet)
            if top_up > 0:
                signals.increase_stake(self.model_id, top_up)
        values = self.signal(view, self.last)
        self.last = values
        frame = pd.DataFrame({"numerai_ticker": values.index, "signal": values.to_numpy()})
        signals.submit(
            self.model_id,
            frame.to_csv(index=False).encode(),
            filename=f"{self.name}.csv",
            round_number=view.number,
        )


def make_signals_bots(
    roster: Sequence[tuple[str, int]] = DEFAULT_SIGNALS_ROSTER, *, seed: int = 0
) -> list[SignalsBot]:
    """Bots of each kind, named ``signals_<kind>_<n>``; skilled ones cycle through
    :data:`SKILLED_NOISES`, stakes alternate between 50 and 500 NMR."""
    bots: list[SignalsBot] = []
    for kind, count in roster:
        if kind not in SIGNALS_BOT_KINDS:
            raise InvalidParameterError(
                f"unknown Signals bot kind {kind!r}; choose from {', '.join(SIGNALS_BOT_KINDS)}"
            )
        for i in range(count):
            bots.append(
                SignalsBot(
                    name=f"signals_{kind}_{i + 1}",
                    kind=kind,
                    stake=nmr(500) if i % 2 == 0 else nmr(50),
                    noise=SKILLED_NOISES[i % len(SKILLED_NOISES)],
                    seed=seed,
                    smoothing=SMOOTHING[kind],
                )
            )
    return bots
