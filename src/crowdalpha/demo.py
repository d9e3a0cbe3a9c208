"""A living tournament in one call: what ``make demo`` (``crowdalpha demo``) sets up.

It simulates a stock market, runs the real data pipeline on it (``PipelineRoundData``:
obfuscated train / validation / live files every round), creates the operator and a crowd
of bots (:mod:`crowdalpha.simulation`) that stake and submit through the tournament's own
operations, and plays several weekly rounds on a simulated clock — opening, closing,
scoring, resolving, paying and burning — then adds a ready participant account with an API
key. The caller (the CLI) then serves it: web UI, REST and GraphQL on the same tournament.

Bots get their skill from the market's hidden alpha (the demo knows it: it made the market),
mapped to the live rows through the operator's vault — plus noise of a size that sets each
bot's skill (:data:`~crowdalpha.simulation.bots.MARKET_NOISE_SCALE` sizes it for the
market, so that after set-up the leaderboard orders the kinds by skill). Nothing of that
leaks to participants: they see only the published files.

**Calendar.** The demo runs on the real calendar: its clock starts ``rounds`` weeks before
the real time of the set-up, so once the rounds are played the open round is the one that
contains the real time (numerapi's ``check_round_open()`` tells the truth), and the market
(:class:`~crowdalpha.tournament.simulated.SimulatedRoundData`, the default source's) is
dated alongside it, fixed when the demo starts. While it serves, the demo follows the real
clock (:meth:`DemoTournament.follow`), or with ``--week-every`` lets simulated weeks go by
faster (:meth:`DemoTournament.next_week`).

Signals runs beside Classic on the same market (when the simulated history is long enough
for its data): Signals bots (:mod:`crowdalpha.simulation.signals_bots`) submit a signal per
ticker computed from the public prices (momentum, reversal, volatility) or from the
market's hidden alpha with noise (skilled), through the Signals competition's own rounds.

After its rounds the demo's fund trades them (:func:`crowdalpha.fund.run_tournament_fund`:
the resolved rounds' staked predictions, mapped to tickers through the operator's vault,
on the prices known at the demo's time) and writes its report to ``home/fund``, which the
operator's dashboard links (``/operator/fund``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from crowdalpha.dataset.signals import SignalsConfig, cut_prices, signals_splits
from crowdalpha.errors import InvalidInputError
from crowdalpha.ledger import nmr
from crowdalpha.market import SimulatedMarket
from crowdalpha.settings import Settings
from crowdalpha.simulation.bots import (
    DEFAULT_ROSTER,
    MARKET_NOISE_SCALE,
    Bot,
    RoundView,
    make_bots,
)
from crowdalpha.simulation.signals_bots import SignalsBot, SignalsView, make_signals_bots
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import (
    SIGNALS,
    ManualClock,
    Schedule,
    TickReport,
    Tournament,
    TournamentConfig,
)
from crowdalpha.tournament.pipeline import PipelineRoundData
from crowdalpha.tournament.signals import plug_signals
from crowdalpha.tournament.signals_source import SignalsRoundData
from crowdalpha.tournament.simulated import SimulatedRoundData

__all__ = ["DemoConfig", "DemoHooks", "DemoTournament", "open_demo", "set_up_demo"]

Progress = Callable[[str, int, int], None]


class DemoHooks(Protocol):
    """What runs beside the demo's tournament (``demo --chain``: the chain): called after
    every tick, and after the bots submitted (with each bot's name and models' ids)."""

    def ticked(self, report: TickReport) -> None: ...

    def played(self, bots: list[tuple[str, dict[str, int]]]) -> None: ...

    def stop(self) -> None: ...


#: Builds the hooks once the demo's tournament and clock exist (home, tournament, clock).
HooksFactory = Callable[[Path, Tournament, ManualClock], DemoHooks]
STATE_FILE = "demo.json"
#: Signals' short history: 8 validation eras and at most 20 train eras.
DEMO_SIGNALS = SignalsConfig(validation_eras=8, max_train_eras=20)


@dataclass(frozen=True)
class DemoConfig:
    """How big the demo is: sized to set up in a few minutes on 2 cores."""

    stocks: int = 300
    days: int = 800  # trading days of history before round 1's live era
    rounds: int = 10
    seed: int = 0
    #: The market's hidden alpha: twice the simulated source's default (0.05), so that the
    #: example model's skill shows on 300 stocks (validation CORR ≈ 0.14, per-era Sharpe ≈ 3
    #: on seed 0; 0.05 gives 0.01–0.03 and Sharpe 0.2–0.5).
    alpha_strength: float = 0.1
    roster: tuple[tuple[str, int], ...] = DEFAULT_ROSTER
    participant: str = "demo"
    #: Trade the resolved rounds with the fund and write its report (``home/fund``).
    fund: bool = True


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
    source: SimulatedRoundData
    bots: list[Bot]
    home: Path
    #: The operator's admin key (the dashboard and the fund page); None in older demos.
    operator_key: tuple[str, str] | None = None
    fund: bool = True
    #: What runs beside the tournament (``demo --chain``: the chain); None without.
    hooks: DemoHooks | None = None
    signals_bots: list[SignalsBot] = field(default_factory=list)
    signals_source: SignalsRoundData | None = None

    def next_week(self) -> None:
        """A simulated week goes by: the bots stake and submit, the clock moves, the
        tournament ticks (opening, closing, scoring, resolving what is due) and, when a
        round resolved, the fund trades it too."""
        self._play_open_round()
        self.clock.advance(timedelta(days=7))
        self._tick()
        self._save(played=None)

    def follow(self, now: datetime | None = None) -> None:
        """Keep up with the real clock: move to ``now`` (default: the real time, never
        backwards), tick, and let the bots submit to the open rounds once."""
        target = now if now is not None else datetime.now(UTC)
        if target > self.clock.now():
            self.clock.set(target)
        self._tick()
        self._play_open_round()
        self._save(played=None)

    def _tick(self) -> None:
        report = _tick(self.tournament, self.hooks)
        if self.fund and report.resolved:
            trade_demo_fund(self.tournament, self.settings.resolved_fund_dir)

    def _play_open_round(self) -> None:
        current = self.tournament.current_round()
        if current is None or current.number <= int(self._state().get("played", 0)):
            return
        _play_round(self.tournament, self.source, self.bots, self.hooks)
        _play_signals(self.tournament, self.market, self.signals_source, self.signals_bots)
        self._save(played=current.number)

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.home / STATE_FILE).read_text())
        return state

    def _save(self, *, played: int | None) -> None:
        state = self._state()
        state["now"] = self.clock.now().isoformat()
        if played is not None:
            state["played"] = played
        _write_state(self.home / STATE_FILE, state)


def _demo_settings(home: Path) -> Settings:
    return Settings(
        home=home,
        database_url=f"sqlite:///{(home / 'crowdalpha.db').resolve()}",
        storage_dir=home / "files",
        tick_interval=0,  # the demo's clock is simulated; it moves when the demo says
    )


def _source(home: Path, config: DemoConfig) -> SimulatedRoundData:
    return SimulatedRoundData(
        home / "pipeline",
        stocks=config.stocks,
        seed=config.seed,
        schedule=Schedule(),
        history_days=config.days,
        alpha_strength=config.alpha_strength,
    )


def _signals_source(home: Path, source: PipelineRoundData) -> SignalsRoundData | None:
    """Signals over the demo's market, if its history is long enough for Signals' data."""
    first = source.live_date(1)
    if first is None:
        return None
    try:
        signals_splits(cut_prices(source.prices, first), first, DEMO_SIGNALS)
    except InvalidInputError:
        return None  # too short a history: the demo runs Classic only
    return SignalsRoundData(source, workdir=home / "signals", config=DEMO_SIGNALS)


def _tournament(
    home: Path, source: SimulatedRoundData, signals: SignalsRoundData | None, clock: ManualClock
) -> Tournament:
    settings = _demo_settings(home)
    competitions = (
        () if signals is None else (plug_signals(SIGNALS.configured(schedule=Schedule()), signals),)
    )
    return Tournament(
        settings.engine(migrate=True),
        LocalFileStore(settings.resolved_storage_dir),
        source,
        config=TournamentConfig(schedule=Schedule(), competitions=competitions),
        clock=clock,
    )


def _tick(tournament: Tournament, hooks: DemoHooks | None) -> TickReport:
    report = tournament.tick()
    if hooks is not None:
        hooks.ticked(report)
    return report


def _play_round(
    tournament: Tournament,
    source: SimulatedRoundData,
    bots: list[Bot],
    hooks: DemoHooks | None = None,
) -> None:
    current = tournament.current_round()
    if current is None:
        return
    number = current.number
    view = RoundView(
        number,
        source.pipeline.live_features(number),
        source.skill_signal(number),
        public=source.pipeline.public_dir(number),
    )
    made: dict[str, pd.Series] = {}
    for bot in bots:
        bot.rebalance(tournament, None)
        bot.submit(tournament, number, bot.predict(view, made))
    if hooks is not None:
        hooks.played([(bot.name, dict(bot.model_ids)) for bot in bots])


def _play_signals(
    tournament: Tournament,
    market: SimulatedMarket,
    source: SignalsRoundData | None,
    bots: list[SignalsBot],
) -> None:
    """The Signals bots stake and submit to Signals' open round."""
    if source is None or not bots:
        return
    current = tournament.using("signals").current_round()
    if current is None:
        return
    day = source.live_date(current.number)
    if day is None:
        return
    alpha = market.alpha[market.alpha["date"] <= day]
    private = alpha.sort_values("date").groupby("ticker")["alpha"].last()
    view = SignalsView(
        current.number, source.universe(current.number), cut_prices(market.prices, day), private
    )
    for bot in bots:
        bot.play(tournament, view)


def set_up_demo(
    home: str | Path,
    config: DemoConfig | None = None,
    progress: Progress | None = None,
    *,
    hooks: HooksFactory | None = None,
    now: datetime | None = None,
) -> DemoTournament:
    """Build the demo under ``home`` (which must be empty or absent), its rounds played up
    to ``now`` (default: the real time); ``hooks`` builds what runs beside it (``demo
    --chain``)."""
    cfg = config or DemoConfig()
    root = Path(home)
    if (root / STATE_FILE).exists():
        raise FileExistsError(f"{root} already holds a demo; open it with open_demo")
    root.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _step, _done, _total: None)
    schedule = Schedule()
    end = now if now is not None else datetime.now(UTC)
    clock = ManualClock(end - cfg.rounds * schedule.period)
    say("Simulating the market", 0, 1)
    source = _source(root, cfg)
    # fixed now, on the opening of the round the clock starts in (the tournament's round 1)
    source.fix_market(schedule.opens(schedule.latest_due(clock.now())))
    market = source.market
    say("Simulating the market", 1, 1)
    signals = _signals_source(root, source.pipeline)
    t = _tournament(root, source, signals, clock)
    beside = None if hooks is None else hooks(root, t, clock)

    operator = t.create_account("operator", "operator@demo.invalid", is_operator=True)
    operator_key, operator_secret = t.create_api_key(
        operator.id, scopes=["admin"], name="demo operator"
    )
    t.mint(nmr(1_000_000))
    t.fund_reward_pool(nmr(10_000))
    bots = make_bots(cfg.roster, seed=cfg.seed, noise_scale=MARKET_NOISE_SCALE)
    for bot in bots:
        bot.join(t)
    signals_bots = make_signals_bots(seed=cfg.seed) if signals is not None else []
    for signals_bot in signals_bots:
        signals_bot.join(t)

    played = 0
    for week in range(cfg.rounds):
        say("Playing rounds", week, cfg.rounds)
        _tick(t, beside)
        _play_round(t, source, bots, beside)
        _play_signals(t, market, signals, signals_bots)
        current = t.current_round()
        played = current.number if current is not None else played
        clock.advance(schedule.period)
    _tick(t, beside)
    say("Playing rounds", cfg.rounds, cfg.rounds)
    if cfg.fund:
        say("Trading the fund", 0, 1)
        trade_demo_fund(t, _demo_settings(root).resolved_fund_dir)
        say("Trading the fund", 1, 1)

    person = t.create_account(cfg.participant, f"{cfg.participant}@demo.invalid")
    model = t.create_model(person.id, f"{cfg.participant}_model")
    t.grant(person.id, nmr(100))
    key, secret = t.create_api_key(person.id, name="demo participant")
    state: dict[str, object] = {
        "now": clock.now().isoformat(),
        "played": played,  # the last round the bots submitted to
        "seed": cfg.seed,
        "stocks": cfg.stocks,
        "days": cfg.days,
        "rounds": cfg.rounds,
        "participant": cfg.participant,
        "model": model.name,
        "public_id": key.public_id,
        "secret_key": secret,
        "operator_public_id": operator_key.public_id,
        "operator_secret_key": operator_secret,
        "fund": cfg.fund,
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
        (operator_key.public_id, operator_secret),
        cfg.fund,
        beside,
        signals_bots=signals_bots,
        signals_source=signals,
    )


def open_demo(home: str | Path, *, hooks: HooksFactory | None = None) -> DemoTournament:
    """Reopen a demo set up earlier under ``home``, at the simulated time it stopped."""
    root = Path(home)
    state = json.loads((root / STATE_FILE).read_text())
    cfg = DemoConfig(stocks=int(state["stocks"]), days=int(state["days"]), seed=int(state["seed"]))
    source = _source(root, cfg)  # the market saved at set-up: simulated again, the same
    market = source.market
    clock = ManualClock(pd.Timestamp(state["now"]).to_pydatetime())
    signals = _signals_source(root, source.pipeline)
    t = _tournament(root, source, signals, clock)
    bots = make_bots(cfg.roster, seed=cfg.seed, noise_scale=MARKET_NOISE_SCALE)
    for bot in bots:  # the same bots, found again by name
        bot.account_id = t.account_by_username(bot.name).id
        bot.model_ids = {name: t.model_by_name(name).id for name, _ in bot.models}
    signals_bots = make_signals_bots(seed=cfg.seed) if signals is not None else []
    for signals_bot in signals_bots:
        signals_bot.find(t)
    beside = None if hooks is None else hooks(root, t, clock)
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
        (state["operator_public_id"], state["operator_secret_key"])
        if "operator_public_id" in state
        else None,
        bool(state.get("fund", True)),
        beside,
        signals_bots=signals_bots,
        signals_source=signals,
    )


def trade_demo_fund(tournament: Tournament, out: Path) -> Path | None:
    """The demo's fund trades every resolved round; returns its report (None: no round is
    resolved yet, so there is nothing to trade). A $10M fund: the demo's few hundred
    simulated stocks are thin."""
    from crowdalpha.errors import FundInputError
    from crowdalpha.fund import BacktestOptions, FundConfig
    from crowdalpha.fund.tournament import run_tournament_fund

    try:
        paths = run_tournament_fund(
            tournament,
            out,
            config=FundConfig(aum=10e6),
            options=BacktestOptions(placebo_seeds=5, bootstrap_samples=500),
        )
    except FundInputError:
        if any(r.state == "resolved" for r in tournament.rounds()):
            raise
        return None
    return paths["report"]


def _write_state(path: Path, state: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.chmod(0o600)
    tmp.replace(path)
