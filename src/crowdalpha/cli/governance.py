"""``crowdalpha governance …``: propose, vote, list, show (through the server, with the
saved login, like the participant commands) and verify (on the database, read only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from crowdalpha.cli import tables
from crowdalpha.cli.participant import JsonOption, session_of
from crowdalpha.client import Proposal
from crowdalpha.errors import InvalidInputError
from crowdalpha.units import format_nmr

__all__ = ["governance_app"]

governance_app = typer.Typer(
    help="Governance: proposals on the tournament's rules, votes, tallies, verification.",
    no_args_is_help=True,
)


def _pairs(values: list[str] | None, option: str) -> dict[str, str] | None:
    if not values:
        return None
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidInputError(
                f"{option} takes NAME=VALUE (e.g. {option} clip=0.06), got {item!r}"
            )
        out[name.strip()] = value.strip()
    return out


def _json(p: Proposal) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": p.kind,
        "title": p.title,
        "state": p.state,
        "competition": p.competition,
        "changes": p.changes,
        "grant_to": p.grant_to,
        "grant_amount": None if p.grant_amount is None else format_nmr(p.grant_amount),
        "deposit": format_nmr(p.deposit),
        "snapshot": p.snapshot,
        "total_power": format_nmr(p.total_power),
        "votes_for": format_nmr(p.votes_for),
        "votes_against": format_nmr(p.votes_against),
        "votes_abstain": format_nmr(p.votes_abstain),
        "voters": p.voters,
        "voting_ends_at": p.voting_ends_at.isoformat(),
        "executable_at": p.executable_at.isoformat(),
        "failure": p.failure,
    }


def _what(p: Proposal) -> str:
    if p.kind == "grant":
        return f"grant {tables.amount(p.grant_amount)} NMR to account {p.grant_to}"
    where = f"{p.competition}: " if p.competition else "governance: "
    return where + ", ".join(f"{k}={v}" for k, v in sorted(p.changes.items()))


@governance_app.command("list")
def list_proposals(
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Only proposals in this state.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Every proposal, newest first, with its tally (live while voting)."""
    with session_of() as session:
        rows = session.connect().proposals(states=state)
        if json_output:
            session.print_json([_json(p) for p in rows])
            return
        if not rows:
            session.out.print("no proposals yet")
            return
        table = tables.table(
            tables.number("#"),
            tables.text("title"),
            tables.text("change"),
            tables.text("state"),
            tables.number("for"),
            tables.number("against"),
            tables.text("voting ends"),
            title="Proposals (votes in NMR)",
        )
        for p in rows:
            table.add_row(
                str(p.id),
                escape(p.title),
                escape(_what(p)),
                p.state,
                tables.amount(p.votes_for),
                tables.amount(p.votes_against),
                tables.when(p.voting_ends_at),
            )
        tables.show(session.out, table)


@governance_app.command("show")
def show(
    proposal_id: Annotated[int, typer.Argument(min=1, help="The proposal's id.")],
    json_output: JsonOption = False,
) -> None:
    """A proposal: what it changes, its rules, its tally, every vote and its audit trail."""
    with session_of() as session:
        p = session.connect().proposal(proposal_id)
        if json_output:
            body = _json(p)
            body["votes"] = [
                {
                    "account_id": v.account_id,
                    "choice": v.choice,
                    "power": format_nmr(v.power),
                    "cast_at": v.cast_at.isoformat(),
                    "counts": v.counts,
                }
                for v in p.votes
            ]
            body["events"] = p.events
            session.print_json(body)
            return
        out = session.out
        out.print(f"[bold]#{p.id} {escape(p.title)}[/] — {p.state}")
        out.print(escape(_what(p)))
        if p.description:
            out.print(escape(p.description))
        out.print(
            f"deposit {tables.amount(p.deposit)} NMR · quorum {p.quorum} · approval > "
            f"{p.approval} · snapshot at ledger entry {p.snapshot} "
            f"({tables.amount(p.total_power)} NMR of voting power)"
        )
        out.print(
            f"voting ends {tables.when(p.voting_ends_at)} · executable from "
            f"{tables.when(p.executable_at)}"
        )
        out.print(
            f"for {tables.amount(p.votes_for)} · against {tables.amount(p.votes_against)} · "
            f"abstain {tables.amount(p.votes_abstain)} NMR ({p.voters} voters)"
        )
        if p.failure:
            out.print(f"[red]failed[/]: {escape(p.failure)}")
        if p.votes:
            table = tables.table(
                tables.text("account"),
                tables.text("vote"),
                tables.number("power"),
                tables.text("cast"),
                tables.text("counts"),
                title="Votes (NMR at the snapshot)",
            )
            for v in p.votes:
                table.add_row(
                    str(v.account_id),
                    v.choice,
                    tables.amount(v.power),
                    tables.when(v.cast_at),
                    "yes" if v.counts else "replaced",
                )
            tables.show(out, table)
        for e in p.events:
            entry = f" (ledger entry {e['entry_id']})" if e.get("entry_id") else ""
            out.print(f"[dim]{e['created_at']}[/] {e['kind']}{entry}")


@governance_app.command("propose")
def propose(
    title: Annotated[str, typer.Argument(help="What the proposal does, in a line.")],
    competition: Annotated[
        str | None, typer.Option(help="The competition whose round settings change.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="A round setting to change: NAME=VALUE (repeatable)."),
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option("--rule", help="A governance rule to change: NAME=VALUE (repeatable)."),
    ] = None,
    grant_to: Annotated[
        int | None, typer.Option(min=1, help="Grant: the receiving account's id.")
    ] = None,
    amount: Annotated[str | None, typer.Option(help="Grant: NMR, e.g. 250.")] = None,
    description: Annotated[str, typer.Option(help="Why, at any length.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Propose a change of round settings (--competition, --set), of governance rules
    (--rule), or a treasury grant (--grant-to, --amount). Locks the deposit."""
    with session_of() as session:
        p = session.connect().propose(
            title,
            description=description,
            competition=competition if set_ else None,
            changes=_pairs(set_, "--set"),
            governance=_pairs(rule, "--rule"),
            grant_to=grant_to,
            grant_amount=amount,
        )
        if json_output:
            session.print_json(_json(p))
            return
        session.out.print(
            f"proposal [bold]#{p.id}[/] made ({escape(_what(p))}); deposit "
            f"{tables.amount(p.deposit)} NMR locked; voting ends {tables.when(p.voting_ends_at)}"
        )


@governance_app.command("vote")
def vote(
    proposal_id: Annotated[int, typer.Argument(min=1, help="The proposal's id.")],
    choice: Annotated[str, typer.Argument(help="for, against or abstain.")],
    json_output: JsonOption = False,
) -> None:
    """Vote with your NMR held and staked at the proposal's snapshot (a new vote replaces
    your earlier one)."""
    with session_of() as session:
        v = session.connect().vote(proposal_id, choice)
        if json_output:
            session.print_json(
                {"proposal": proposal_id, "choice": v.choice, "power": format_nmr(v.power)}
            )
            return
        session.out.print(f"voted {v.choice} on #{proposal_id} with {tables.amount(v.power)} NMR")


HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="The tournament's folder (default $CROWDALPHA_HOME or ./crowdalpha-data)."
    ),
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="SQLAlchemy URL (default: SQLite in home).")
]


@governance_app.command("verify")
def verify_command(
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    json_output: JsonOption = False,
) -> None:
    """Recompute every tally, deposit outcome and grant from the ledger; exit 1 on any
    disagreement. Needs read access to the database only."""
    from crowdalpha.cli.operator import settings_from
    from crowdalpha.governance import Governance, verify
    from crowdalpha.runtime import open_tournament

    console = Console(highlight=False)
    with open_tournament(settings_from(home, database_url), migrate=False) as t:
        report = verify(Governance(t))
    if json_output:
        console.print_json(
            json.dumps(
                {
                    "ok": report.ok,
                    "proposals": report.proposals,
                    "votes": report.votes,
                    "problems": report.problems,
                }
            )
        )
    elif report.ok:
        console.print(
            f"[bold green]governance OK[/]: {report.proposals} proposals and {report.votes} "
            "votes recomputed from the ledger"
        )
    else:
        for problem in report.problems:
            console.print(f"[red]problem[/] {escape(problem)}")
        console.print(f"[bold red]governance verify failed[/]: {len(report.problems)} problem(s)")
    if not report.ok:
        raise typer.Exit(1)
