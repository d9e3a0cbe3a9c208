"""The command line: the demo scores a crowd; errors come out as one readable line."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from crowdalpha import __version__
from crowdalpha.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_demo_scores_every_model() -> None:
    result = runner.invoke(
        app, ["scoring-demo", "--eras", "6", "--rows", "300", "--features", "20"]
    )
    assert result.exit_code == 0, result.output
    for model in ("sharp", "steady", "random", "copycat"):
        assert model in result.output
    assert "Scored 5 models × 6 eras" in result.output


def test_demo_refuses_bad_options_without_traceback() -> None:
    result = runner.invoke(app, ["scoring-demo", "--eras", "1"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_typed_errors_become_one_line_and_exit_code_2() -> None:
    code = (
        "import sys\nimport crowdalpha.cli.commands as mod\n"
        "from crowdalpha.errors import NotFoundError\n"
        "@mod.app.command('boom')\n"
        "def boom() -> None:\n"
        "    raise NotFoundError('round 7 does not exist')\n"
        "sys.argv = ['crowdalpha', 'boom']\n"
        "mod.main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "not_found: round 7 does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
