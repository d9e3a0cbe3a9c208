"""`crowdalpha demo`: a living tournament set up from nothing, then reopened."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.demo import open_demo


def test_the_demo_sets_up_a_living_tournament_and_reopens_it(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    args = ["demo", "--home", str(home), "--no-serve", "--stocks", "120", "--days", "520"]
    result = CliRunner().invoke(app, [*args, "--rounds", "7"])
    assert result.exit_code == 0, result.output
    assert "resolved" in result.output

    demo = open_demo(home)
    t = demo.tournament
    states = [r.state for r in t.rounds()]
    assert states.count("resolved") >= 2 and states[-1] == "open"
    payouts = t.payouts()
    assert any(p.amount > 0 for p in payouts) and any(p.amount < 0 for p in payouts)
    assert t.supply().burned > 0
    assert t.check_ledger().ok
    # bots of every kind took part, through the tournament's own operations
    names = {m.name for m in t.models()}
    for kind in ("good", "random", "overfit", "copy", "anti", "diversified"):
        assert any(n.startswith(kind) for n in names), kind
    # the ready participant: a working key, a model, NMR to stake, and a round to submit to
    principal = t.authenticate(demo.public_id, demo.secret_key)
    assert principal.account.username == demo.participant
    assert t.wallet_balance(principal.account.id) > 0
    assert t.model_by_name(demo.model).account_id == principal.account.id
    current = t.current_round()
    assert current is not None and len(t.live_ids(current.number)) > 50
    keys = [k for k in t.store.keys("datasets/") if k.endswith("train.parquet")]
    assert keys  # real datasets: the example model has something to train on

    # Signals runs beside Classic on the same market, with its own bots and rounds
    signals = t.using("signals")
    rounds = signals.rounds()
    assert [r.state for r in rounds].count("resolved") >= 2 and rounds[-1].state == "open"
    assert all(r.submissions == len(demo.signals_bots) for r in rounds[:-1])
    kinds = {m.name.split("_")[1] for m in signals.models()}
    assert kinds == {"momentum", "reversal", "volatility", "skilled"}
    scored = signals.scores(round_number=2)
    assert all(s.get("churn") is not None and s.get("alpha") is not None for s in scored)
    assert any(r.total_at_risk for r in rounds if r.state == "resolved")  # some pass the gate
    assert {m.id for m in signals.models()}.isdisjoint({m.id for m in t.models()})
    assert signals.dataset_file(current.number, "signals/v1.0/live.parquet").size_bytes > 0

    again = CliRunner().invoke(app, ["demo", "--home", str(home), "--no-serve"])
    assert again.exit_code == 0 and "Reopening the demo" in again.output

    # while it is served, weeks go by: the reopened demo's bots (found again by name)
    # submit to the open round, which then closes, and the next one opens
    reopened = open_demo(home)
    open_before = current.number
    reopened.next_week()
    t2 = reopened.tournament
    assert t2.round(open_before).state == "closed"
    assert t2.round(open_before).submissions >= 40
    signals_open = t2.using("signals").rounds()[-2]
    assert signals_open.state == "closed" and signals_open.submissions == len(demo.signals_bots)
    assert t2.current_round() is not None and t2.current_round().number == open_before + 1
    assert open_demo(home).clock.now() == reopened.clock.now()  # the state file follows
    assert t2.check_ledger().ok
