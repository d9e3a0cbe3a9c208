"""A living tournament in one call: what ``make demo`` (``crowdalpha demo``) sets up.

It simulates a stock market, runs the real data pipeline on it (``PipelineRoundData``:
obfuscated train / validation / live files every round), creates the operator and a crowd
of bots (:mod:`crowdalpha.simulation`) that stake and submit through the tournament's own
operations, and plays several weekly rounds on a simulated clock — opening, closing,
scoring, resolving, paying and burning — then adds a ready participant account with an API
key. The caller (the CLI) then serves it: web UI, REST and GraphQL on the same tournament.

Bots get their skill from the market's hidden alpha (the demo knows it: it made the market),
mapped to the live rows through the operator's vault — plus noise of a size that sets each
bot's skill. Nothing of that leaks to participants: they see only the published files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd

from crowdalpha.dataset.build import BuildConfig
from crowdalpha.ledger import nmr
from crowdalpha.market import MarketConfig, SimulatedMarket, simulate_market
from crowdalpha.settings import Settings
from crowdalpha.simulation.bots import DEFAULT_ROSTER, Bot, RoundView, make_bots
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, Schedule, Tournament, TournamentConfig
from crowdalpha.tournament.pipeline import PipelineRoundData

__all__ = ["DemoConfig", "DemoTournament", "open_demo", "set_up_demo"]

Progress = Callable[[str, int, int], None]
STATE_FILE = "demo.json"
#: A short history: 20 validation eras instead of a year.
DEMO_BUILD = BuildConfig(validation_eras=20)


@dataclass(frozen=True)
class DemoConfig:
    """How big the demo is: sized to set up in a few minutes on 2 cores."""

    stocks: int = 300
    days: int = 800
    rounds: int = 10
    seed: int = 0
    roster: tuple[tuple[str, int], ...] = DEFAULT_ROSTER
    participant: str = "demo"


@dataclass(frozen=True)
class DemoTournament:
    """A set-up demo: the tournament, its clock, and the participant's credentials."""

    tournament: Tournament
    clock: ManualClock
    settings: Settings
    participant: str
    model: str
    public_id: str
    secret_key: str
    market: SimulatedMarket
    source: PipelineRoundData
    bots: list[Bot]
    home: Path

    def next_week(self) -> None:
        """A simulated week goes by: the bots stake and submit, the clock moves, the
        tournament ticks (opening, closing, scoring, resolving what is due)."""
        _play_round(self.tournament, self.market, self.source, self.bots)
        self.clock.advance(timedelta(days=7))
        self.tournament.tick()
        state_path = self.home / STATE_FILE
        state = json.loads(state_path.read_text())
        state["now"] = self.clock.now().isoformat()
        _write_state(state_path, state)


def _demo_settings(home: Path) -> Settings:
    return Settings(
        home=home,
        database_url=f"sqlite:///{(home / 'crowdalpha.db').resolve()}",
        storage_dir=home / "files",
        tick_interval=0,  # the demo's clock is simulated; it moves when the demo says
    )


def _market(config: DemoConfig) -> SimulatedMarket:
    return simulate_market(
        MarketConfig(n_stocks=config.stocks, n_days=config.days, seed=config.seed)
    )


def _source(home: Path, prices: pd.DataFrame, rounds: int) -> PipelineRoundData:
    days = pd.DatetimeIndex(sorted(prices["date"].unique()))
    # round 1's live era lies far enough back that every round of the demo, and the four
    # weeks of prices each needs to resolve, fall within the simulated history
    first_live = days[-(5 * (rounds + 1) + 30)]
    return PipelineRoundData(
        prices,
        workdir=home / "pipeline",
        first_live=first_live,
        schedule=Schedule(),
        config=DEMO_BUILD,
    )


def _tournament(home: Path, source: PipelineRoundData, clock: ManualClock) -> Tournament:
    settings = _demo_settings(home)
    return Tournament(
        settings.engine(migrate=True),
        LocalFileStore(settings.resolved_storage_dir),
        source,
        config=TournamentConfig(schedule=Schedule()),
        clock=clock,
    )


def _alpha_signal(market: SimulatedMarket, source: PipelineRoundData, number: int) -> pd.Series:
    """The market's hidden alpha at round ``number``'s live date, per live id (demo only)."""
    live_date = source.live_date(number)
    tickers = source.live_tickers(number)
    alpha = market.alpha[market.alpha["date"] <= live_date]
    latest = alpha.sort_values("date").groupby("ticker")["alpha"].last()
    return pd.Series(tickers.map(latest).fillna(0.0).to_numpy(), index=tickers.index)


def _play_round(
    tournament: Tournament, market: SimulatedMarket, source: PipelineRoundData, bots: list[Bot]
) -> None:
    current = tournament.current_round()
    if current is None:
        return
    number = current.number
    view = RoundView(number, source.live_features(number), _alpha_signal(market, source, number))
    made: dict[str, pd.Series] = {}
    for bot in bots:
        bot.rebalance(tournament, None)
        bot.submit(tournament, number, bot.predict(view, made))


def set_up_demo(
    home: str | Path, config: DemoConfig | None = None, progress: Progress | None = None
) -> DemoTournament:
    """Build the demo under ``home`` (which must be empty or absent)."""
    cfg = config or DemoConfig()
    root = Path(home)
    if (root / STATE_FILE).exists():
        raise FileExistsError(f"{root} already holds a demo; open it with open_demo")
    root.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _step, _done, _total: None)
    say("Simulating the market", 0, 1)
    market = _market(cfg)
    say("Simulating the market", 1, 1)
    prices_path = root / "prices.parquet"
    market.prices.to_parquet(prices_path, index=False)
    source = _source(root, market.prices, cfg.rounds)
    schedule = Schedule()
    clock = ManualClock(schedule.anchor)
    t = _tournament(root, source, clock)

    operator = t.create_account("operator", "operator@demo.invalid", is_operator=True)
    t.create_api_key(operator.id, scopes=["admin"], name="demo operator")
    t.mint(nmr(1_000_000))
    t.fund_reward_pool(nmr(10_000))
    bots = make_bots(cfg.roster, seed=cfg.seed)
    for bot in bots:
        bot.join(t)

    for week in range(cfg.rounds):
        say("Playing rounds", week, cfg.rounds)
        t.tick()
        _play_round(t, market, source, bots)
        clock.advance(timedelta(days=7))
    t.tick()
    say("Playing rounds", cfg.rounds, cfg.rounds)

    person = t.create_account(cfg.participant, f"{cfg.participant}@demo.invalid")
    model = t.create_model(person.id, f"{cfg.participant}_model")
    t.grant(person.id, nmr(100))
    key, secret = t.create_api_key(person.id, name="demo participant")
    state: dict[str, object] = {
        "now": clock.now().isoformat(),
        "seed": cfg.seed,
        "stocks": cfg.stocks,
        "days": cfg.days,
        "rounds": cfg.rounds,
        "first_live": str(source.first_live.date()),
        "participant": cfg.participant,
        "model": model.name,
        "public_id": key.public_id,
        "secret_key": secret,
    }
    _write_state(root / STATE_FILE, state)
    return DemoTournament(
        t,
        clock,
        _demo_settings(root),
        cfg.participant,
        model.name,
        key.public_id,
        secret,
        market,
        source,
        bots,
        root,
    )


def open_demo(home: str | Path) -> DemoTournament:
    """Reopen a demo set up earlier under ``home``, at the simulated time it stopped."""
    root = Path(home)
    state = json.loads((root / STATE_FILE).read_text())
    cfg = DemoConfig(stocks=int(state["stocks"]), days=int(state["days"]), seed=int(state["seed"]))
    market = _market(cfg)  # deterministic: the same market the demo was built on
    source = PipelineRoundData(
        market.prices,
        workdir=root / "pipeline",
        first_live=state["first_live"],
        schedule=Schedule(),
        config=DEMO_BUILD,
    )
    clock = ManualClock(pd.Timestamp(state["now"]).to_pydatetime())
    t = _tournament(root, source, clock)
    bots = make_bots(cfg.roster, seed=cfg.seed)
    for bot in bots:  # the same bots, found again by name
        bot.account_id = t.account_by_username(bot.name).id
        bot.model_ids = {name: t.model_by_name(name).id for name, _ in bot.models}
    return DemoTournament(
        t,
        clock,
        _demo_settings(root),
        state["participant"],
        state["model"],
        state["public_id"],
        state["secret_key"],
        market,
        source,
        bots,
        root,
    )


def _write_state(path: Path, state: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.chmod(0o600)
    tmp.replace(path)
