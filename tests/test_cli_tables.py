"""The CLI's tables read on an 80-column terminal, and show amounts rounded to read.

Every table command runs with ``COLUMNS=80`` against a tournament with history (the web
UI's test site: resolved rounds, a closed round at risk, a pending release, amounts with
18 decimals) served on 127.0.0.1; its output must keep every line within 80 columns and
every typical value whole on one line — no date, amount, score or name folded across
lines or cut short with "…" — while longer text (notes, descriptions) wraps between words.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console
from tests.live_server import ServerThread
from tests.web.site import Site, build_site
from typer.testing import CliRunner

from crowdalpha.cli import app, tables
from crowdalpha.cli.credentials import Credentials, save_credentials
from crowdalpha.settings import Settings
from crowdalpha.tournament import Tournament
from crowdalpha.units import display_factor, display_nmr, format_nmr, nmr

WIDTH = 80
#: A number with more than six decimals: an amount printed raw (all 18 decimals).
LONG_DECIMALS = re.compile(r"\d\.\d{7,}")

runner = CliRunner()


def whole(value: str) -> re.Pattern[str]:
    """``value`` as a whole cell value: not part of a longer number or name."""
    return re.compile(rf"(?<![\w.,]){re.escape(value)}(?![\w.,])")


def assert_reads_at_80(
    output: str, values: Iterable[str] = (), words: Iterable[str] = (), *, width: int = WIDTH
) -> None:
    """Every line within ``width`` columns, nothing cut short, each of ``values`` whole on
    one line, and each word of ``words`` (text that may wrap between words) whole."""
    lines = output.splitlines()
    assert lines, "no output"
    too_wide = [line for line in lines if len(line.rstrip()) > width]
    assert not too_wide, too_wide
    assert "…" not in output, output
    for value in values:
        assert any(whole(value).search(line) for line in lines), (value, output)
    for text in words:
        for word in text.split():
            assert any(whole(word).search(line) for line in lines), (word, output)


# -- the table style itself, on a console of 80 columns --------------------------------


def render(*rows: tuple[str, ...]) -> str:
    table = tables.table(
        tables.number("id"),
        tables.text("model"),
        tables.fixed("uploaded"),
        tables.number("stake"),
        tables.text("notes"),
        title="Submissions",
    )
    for row in rows:
        table.add_row(*row)
    console = Console(width=WIDTH, file=io.StringIO(), color_system=None)
    console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def test_long_text_wraps_between_words_and_numbers_stay_whole() -> None:
    note = (
        "invalid_submission_values: predictions must lie in [0, 1]; 12 of 5,000 rows are "
        "outside it, the first at id n0042 with 1.37"
    )
    out = render(
        ("12", "alice_alpha", "2026-03-07 18:00", "1,234.57", note),
        ("7", "bob_gamma", "2026-03-07 18:05", "0.00025", "late"),
    )
    assert_reads_at_80(
        out,
        values=["alice_alpha", "2026-03-07 18:00", "1,234.57", "0.00025", "bob_gamma"],
        words=[note],
    )
    assert len([line for line in out.splitlines() if line.strip()]) > 5  # the note wrapped


def test_a_table_that_cannot_fit_whole_becomes_one_block_per_row() -> None:
    console = Console(width=WIDTH, file=io.StringIO(), color_system=None)
    fitting = tables.table(tables.text("model"), tables.number("stake"))
    fitting.add_row("alice_alpha", "105.00")
    assert tables.fits(console, fitting)
    long_name = "a_model_whose_name_takes_sixty_four_characters_which_is_the_limit_"[:64]
    crowded = tables.table(
        tables.number("id"), tables.text("model"), tables.fixed("created"), tables.number("stake")
    )
    crowded.add_row("1", "alice_alpha", "2026-01-03 17:00", "105.00")
    crowded.add_row("2", long_name, "2026-01-03 17:05", "12,345.68")
    assert not tables.fits(console, crowded)  # the name would fold mid-word
    tables.show(console, crowded)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "│" not in out
    assert re.search(rf"^model\s+{long_name}\s*$", out, re.M)
    assert_reads_at_80(out, ["2026-01-03 17:05", "12,345.68", "alice_alpha"])


def test_values_are_written_the_same_way_everywhere() -> None:
    assert tables.amount(nmr("375.903877417278943006")) == "375.90"
    assert tables.amount(None) == ""
    assert tables.factor("0.89998461538461538461") == "0.9000"
    assert tables.factor(None) == ""
    assert tables.score(0.0123456) == "+0.0123" and tables.score(None) == ""
    from datetime import UTC, datetime, timedelta, timezone

    moment = datetime(2026, 3, 7, 19, 30, tzinfo=timezone(timedelta(hours=1)))
    assert tables.when(moment) == "2026-03-07 18:30"  # always in UTC
    assert tables.day(moment) == "2026-03-07"
    assert tables.when(datetime(2026, 3, 7, 18, 30)) == "2026-03-07 18:30"  # naive: UTC
    assert tables.when(None) == tables.day(None) == ""
    assert tables.when(datetime(2026, 3, 7, 18, 30, tzinfo=UTC)) == "2026-03-07 18:30"


# -- every table command, end to end ---------------------------------------------------


@dataclass
class Served:
    site: Site
    home: Path
    env: dict[str, str | None]

    @property
    def t(self) -> Tournament:
        return self.site.tournament

    def run(self, *args: str, width: int = WIDTH) -> str:
        result = runner.invoke(app, list(args), env={**self.env, "COLUMNS": str(width)})
        assert result.exit_code == 0, result.output
        assert not LONG_DECIMALS.search(result.stdout), result.stdout
        return result.stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The test site in a home folder the operator commands open, served for the
    participant commands, with alice logged in."""
    home = tmp_path_factory.mktemp("cli-tables")
    engine = Settings(home=home).engine(migrate=True)
    server = ServerThread()
    site = build_site(engine, home, public_url=server.url)
    server.start(site.app)
    config = home / "config"
    env: dict[str, str | None] = {
        "COLUMNS": str(WIDTH),
        "CROWDALPHA_CONFIG_DIR": str(config),
        "CROWDALPHA_RETRIES": "0",
        "CROWDALPHA_PUBLIC_ID": None,
        "CROWDALPHA_SECRET_KEY": None,
        "CROWDALPHA_SERVER_URL": None,
        "CROWDALPHA_HOME": str(home),
        "CROWDALPHA_DATABASE_URL": None,
    }
    public_id, secret = site.tokens["alice"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CROWDALPHA_CONFIG_DIR", str(config))
        save_credentials(Credentials(server.url, public_id, secret))
    try:
        yield Served(site, home, env)
    finally:
        server.stop()
        engine.dispose()


def test_the_site_has_amounts_that_need_rounding(served: Served) -> None:
    """The checks below have teeth: some amounts carry more than six decimals."""
    stake = served.t.stake_info(served.site.models["alice_beta"]).stake
    assert len(format_nmr(stake).partition(".")[2]) > 6


def rounds_values(t: Tournament) -> list[str]:
    values = []
    for r in t.rounds():
        values += [tables.when(r.closes_at), tables.day(r.resolves_at), r.state]
        if r.total_at_risk is not None:
            values.append(display_nmr(r.total_at_risk))
        if r.payout_factor:
            values.append(display_factor(r.payout_factor))
    return values


def test_rounds_list(served: Served) -> None:
    out = served.run("rounds", "list")
    for r in served.t.rounds():
        assert re.search(rf"^\s*{r.number} │ {r.state}\b", out, re.M), r.number
    assert_reads_at_80(out, rounds_values(served.t))


def test_a_narrower_terminal_gets_one_block_per_row(served: Served) -> None:
    """Under 80 columns the rounds no longer fit side by side: each becomes a block of
    "header  value" lines, values still whole (never cut to "230.…")."""
    out = served.run("rounds", "list", width=50)
    assert "│" not in out
    numbers = re.findall(r"^round\s+(\d+)\s*$", out, re.M)
    assert numbers == [str(r.number) for r in served.t.rounds()]
    assert_reads_at_80(out, rounds_values(served.t), width=50)
    out = served.run("leaderboard", "--by", "stake", width=40)
    board = served.t.leaderboard(by="stake")
    assert re.findall(r"^model\s+(\S+)\s*$", out, re.M) == [r.model_name for r in board]
    assert_reads_at_80(out, [display_nmr(r.stake) for r in board], width=40)


def test_admin_submissions(served: Served) -> None:
    out = served.run("admin", "submissions")
    names = {m.id: m.name for m in served.t.models()}
    subs = served.t.submissions()
    values = [tables.when(s.created_at) for s in subs] + [names[s.model_id] for s in subs]
    assert_reads_at_80(out, values + [s.state for s in subs])
    assert len(re.findall(r"^\s*\d+ │", out, re.M)) == len(subs)


def test_config(served: Served) -> None:
    out = served.run("config")
    rows = Settings(home=served.home).described()
    assert_reads_at_80(
        out,
        values=[f"{r.variable} = {r.value}" for r in rows if len(r.variable + r.value) < 60],
        words=[r.description for r in rows],
    )


def test_ledger_check(served: Served) -> None:
    supply = served.t.supply()
    out = served.run("ledger", "check")
    amounts = (supply.minted, supply.burned, supply.net_deposits, supply.circulating)
    assert_reads_at_80(out, [display_nmr(u) for u in amounts] + [str(u) for u in amounts])
    assert "ledger OK" in out


def test_status(served: Served) -> None:
    t, alice = served.t, served.site.accounts["alice"]
    out = served.run("status")
    models = t.models(alice)
    stakes = [t.stake_info(m.id) for m in models]
    values = [display_nmr(t.wallet_balance(alice))]
    values += [m.name for m in models] + [display_nmr(s.stake) for s in stakes]
    assert_reads_at_80(out, values, words=[f"round {served.site.closed}: validated"])


def test_scores(served: Served) -> None:
    model_id = served.site.models["alice_alpha"]
    out = served.run("scores", "alice_alpha")
    values = []
    for s in served.t.scores(model_id=model_id):
        assert s.corr is not None and s.mmc is not None and s.fnc is not None
        assert s.mpc is not None
        values += [f"{s.corr:+.6f}", f"{s.mmc:+.6f}", f"{s.fnc:+.6f}", f"{s.mpc:+.6f}"]
        values.append(tables.day(s.scored_at))
    assert_reads_at_80(out, values)


def test_payouts(served: Served) -> None:
    model_id = served.site.models["alice_beta"]
    out = served.run("payouts", "alice_beta")
    paid = served.t.payouts(model_id=model_id)
    values = [display_nmr(p.amount) for p in paid] + [display_nmr(p.stake_at_risk) for p in paid]
    total = sum(p.amount for p in paid)
    assert_reads_at_80(out, [*values, display_nmr(total)])


def test_leaderboard(served: Served) -> None:
    out = served.run("leaderboard", "--by", "stake")
    board = served.t.leaderboard(by="stake")
    values = [r.model_name for r in board] + [display_nmr(r.stake) for r in board]
    values += [f"{r.reputation:+.6f}" for r in board if r.reputation is not None]
    assert_reads_at_80(out, values)


def test_models_and_a_stake_with_a_pending_release(served: Served) -> None:
    t = served.t
    models = t.models(served.site.accounts["alice"])
    out = served.run("models")
    values = [m.name for m in models] + [tables.when(m.created_at) for m in models]
    values += [display_nmr(t.stake_info(m.id).stake) for m in models]
    assert_reads_at_80(out, values)
    info = t.stake_info(served.site.models["alice_alpha"])
    (release,) = [r for r in info.releases if r.remaining]
    out = served.run("stake", "alice_alpha")
    assert_reads_at_80(out, [display_nmr(release.remaining), tables.when(release.requested_at)])
    assert f"stake {display_nmr(info.stake)} NMR" in out
