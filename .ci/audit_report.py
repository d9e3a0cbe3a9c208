"""Read `uv audit --output-format json` (the pinned uv's preview schema) and decide.

Prints every known vulnerability of the locked packages (and any adverse project status,
PEP 792) and exits 1 only when at least one vulnerability has a fixed version to move to;
vulnerabilities without a fix are reported and do not fail. Output that is not the
audit's JSON exits 2. Standard library only: it runs before any virtualenv exists.

    uv audit --frozen --output-format json ... > audit.json
    python3 .ci/audit_report.py audit.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

FIXABLE = 1
UNREADABLE = 2


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    summary: str
    fix_versions: tuple[str, ...]
    link: str

    @property
    def fixable(self) -> bool:
        return bool(self.fix_versions)


def parse(text: str) -> tuple[list[Finding], list[dict[str, Any]]]:
    """The findings and adverse statuses of one audit; ValueError if ``text`` is not it."""
    report = json.loads(text)
    if not isinstance(report, dict) or not isinstance(report.get("vulnerabilities"), list):
        raise ValueError("not uv audit's JSON report (no 'vulnerabilities' list)")
    findings = []
    for entry in report["vulnerabilities"]:
        dependency = entry.get("dependency") or {}
        findings.append(
            Finding(
                package=str(dependency.get("name", "?")),
                version=str(dependency.get("version", "?")),
                id=str(entry.get("display_id") or entry.get("id") or "?"),
                summary=str(entry.get("summary") or ""),
                fix_versions=tuple(str(v) for v in entry.get("fix_versions") or ()),
                link=str(entry.get("link") or ""),
            )
        )
    statuses = [s for s in report.get("adverse_statuses") or () if isinstance(s, dict)]
    return findings, statuses


def render(findings: list[Finding], statuses: list[dict[str, Any]]) -> list[str]:
    lines = []
    for f in sorted(findings, key=lambda f: (not f.fixable, f.package, f.id)):
        fix = f"fixed in {', '.join(f.fix_versions)}" if f.fixable else "no fix available yet"
        lines.append(f"{f.package} {f.version}: {f.id} ({fix}) {f.summary} {f.link}".rstrip())
    for status in statuses:
        lines.append(f"adverse project status: {json.dumps(status, sort_keys=True)}")
    fixable = sum(f.fixable for f in findings)
    lines.append(
        f"dependency audit: {len(findings)} known vulnerabilities, {fixable} with a fix "
        f"available, {len(findings) - fixable} without; {len(statuses)} adverse statuses"
    )
    if fixable:
        lines.append("dependency audit FAILED: upgrade the packages above that have a fix")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        with open(argv[1], encoding="utf-8") as fh:
            text = fh.read()
    else:
        text = sys.stdin.read()
    try:
        findings, statuses = parse(text)
    except ValueError as exc:  # json.JSONDecodeError included
        sys.stdout.write(f"dependency audit: cannot read uv audit's report ({exc}):\n{text}\n")
        return UNREADABLE
    sys.stdout.write("".join(f"{line}\n" for line in render(findings, statuses)))
    return FIXABLE if any(f.fixable for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
