"""``crowdalpha demo --chain``: the demo tournament with its token and stakes on anvil.

The one chain test with an anvil of its own: the command under test starts and stops its
node itself (at the demo's simulated time, which the session's shared node is past)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from crowdalpha.chain.demo import ChainDemo
from crowdalpha.cli import app
from crowdalpha.demo import open_demo


def test_demo_on_chain_settles_every_round_and_the_books_agree(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    args = ["demo", "--home", str(home), "--no-serve", "--stocks", "120", "--days", "520"]
    result = CliRunner().invoke(app, [*args, "--rounds", "6", "--chain"])
    assert result.exit_code == 0, result.output
    assert "chain check: no difference" in result.output

    # Reopened, the chain comes back from its saved state and the weeks go on.
    demo = open_demo(home, hooks=ChainDemo.start)
    try:
        assert isinstance(demo.hooks, ChainDemo)
        platform = demo.hooks.platform
        resolved = [r.number for r in demo.tournament.rounds() if r.state == "resolved"]
        assert len(resolved) >= 1
        settled = [platform.settlement(platform.round_id(n)) for n in resolved]
        assert all(s is not None for s in settled)
        assert any(r.burn > 0 for s in settled if s for r in s.results)
        assert any(r.reward > 0 for s in settled if s for r in s.results)
        demo.next_week()
        demo.next_week()
        view = platform.view()
        assert view.claims  # the bots claimed their payouts
        assert view.burned > 0 and view.supply == platform.token.total_supply()
        assert platform.check() == []
        assert demo.tournament.check_ledger().ok
    finally:
        if demo.hooks is not None:
            demo.hooks.stop()
