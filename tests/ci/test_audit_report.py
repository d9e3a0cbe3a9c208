"""The dependency audit's verdict (.ci/audit_report.py) on reports recorded from the pinned
uv (0.13.9, ``uv audit --output-format json``) against a local stand-in for OSV: every
vulnerability is reported, and only one with a fixed version fails the audit."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).parent / "recorded"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_report", ROOT / ".ci" / "audit_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


audit = _load()


def _run(name: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = audit.main(["audit_report.py", str(RECORDED / name)])
    return code, capsys.readouterr().out


def test_a_vulnerability_with_a_fix_fails_and_every_one_is_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _run("fixable_and_unfixed.json", capsys)
    assert code == 1
    assert "idna 3.20: GHSA-fix1-0000-0000 (fixed in 99.0)" in out
    assert "certifi 2026.10.19.post1: GHSA-nofx-0000-0000 (no fix available yet)" in out
    assert "2 known vulnerabilities, 1 with a fix available, 1 without" in out
    assert "FAILED" in out


def test_vulnerabilities_without_a_fix_are_reported_and_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _run("unfixed_only.json", capsys)
    assert code == 0
    assert "GHSA-nofx-0000-0000 (no fix available yet)" in out
    assert "1 known vulnerabilities, 0 with a fix available, 1 without" in out
    assert "FAILED" not in out


def test_a_clean_audit_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run("clean.json", capsys)
    assert code == 0
    assert "0 known vulnerabilities" in out


def test_adverse_project_statuses_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads((RECORDED / "clean.json").read_text())
    report["adverse_statuses"] = [{"dependency": {"name": "pepy"}, "status": "archived"}]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    code = audit.main(["audit_report.py", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert '"status": "archived"' in out
    assert "1 adverse statuses" in out


@pytest.mark.parametrize("text", ["", "error: something went wrong", "[]", '{"summary": {}}'])
def test_output_that_is_not_the_report_is_an_error(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.json"
    path.write_text(text)
    assert audit.main(["audit_report.py", str(path)]) == 2
    assert "cannot read uv audit's report" in capsys.readouterr().out


def _fake_uv(tmp_path: Path, stdout_file: str | None, stderr: str, code: int) -> Path:
    """A stand-in for uv that answers ``uv audit`` as recorded (no network)."""
    script = tmp_path / "uv"
    cat = f"cat {RECORDED / stdout_file}\n" if stdout_file else ""
    script.write_text(f"#!/usr/bin/env bash\n{cat}printf '%s\\n' '{stderr}' >&2\nexit {code}\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    ("stdout_file", "stderr", "uv_code", "expected", "says"),
    [
        ("fixable_and_unfixed.json", "", 1, 1, "FAILED"),
        ("unfixed_only.json", "", 1, 0, "1 without"),
        ("clean.json", "", 0, 0, "0 known vulnerabilities"),
        (None, "cause: dns error", 2, 0, "dependency audit SKIPPED"),
        (None, "error: the lock file is out of date", 2, 2, "uv audit failed (exit 2)"),
    ],
)
def test_the_ci_step(
    stdout_file: str | None, stderr: str, uv_code: int, expected: int, says: str, tmp_path: Path
) -> None:
    uv = _fake_uv(tmp_path, stdout_file, stderr, uv_code)
    env = {**os.environ, "UV": str(uv), "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / ".ci" / "audit")], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == expected, done
    assert says in done.stdout
