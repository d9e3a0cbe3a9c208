"""Participant commands: ``login``, ``signup``, ``logout``, ``status``, ``download``,
``submit``, ``stake``, ``scores``, ``payouts`` and ``models``.

They talk to a crowdalpha server through :class:`crowdalpha.client.Client` with the key
saved by ``crowdalpha login`` (see :mod:`crowdalpha.cli.credentials`), or the one in
``$CROWDALPHA_PUBLIC_ID`` / ``$CROWDALPHA_SECRET_KEY`` (``$CROWDALPHA_SERVER_URL`` for the
server). Every refusal — the server's or ours — ends as one line ``error code: message``
(with a hint where one helps) and exit code 2, never a traceback. NMR amounts are exact
decimal strings in ``--json`` output (read commands take it, for scripts) and are rounded to
read in tables and messages (:mod:`crowdalpha.cli.tables`, which also keeps every table
readable on an 80-column terminal).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from crowdalpha.cli import tables
from crowdalpha.cli.credentials import (
    Credentials,
    NotLoggedInError,
    credentials_path,
    delete_credentials,
    load_credentials,
    save_credentials,
)
from crowdalpha.client import (
    Client,
    LeaderboardRow,
    Model,
    Payout,
    PendingRelease,
    Profile,
    Round,
    Score,
    ServerUnreachableError,
    Stake,
    Submission,
    Webhook,
)
from crowdalpha.errors import (
    AuthenticationError,
    CrowdAlphaError,
    InvalidInputError,
    NotFoundError,
)
from crowdalpha.units import format_nmr, to_base_units

__all__ = [
    "DEFAULT_URL",
    "download",
    "login",
    "logout",
    "models_app",
    "payouts",
    "register",
    "scores",
    "session_of",
    "signup",
    "stake",
    "status",
    "submit",
]

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "CROWDALPHA_SERVER_URL"
PUBLIC_ID_ENV = "CROWDALPHA_PUBLIC_ID"
SECRET_KEY_ENV = "CROWDALPHA_SECRET_KEY"
RETRIES_ENV = "CROWDALPHA_RETRIES"
PANEL = "Participants"

models_app = typer.Typer(
    help="Your models: list them (the default), create one, set a webhook, bio or link.",
    invoke_without_command=True,
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (amounts as exact decimal strings).")
]
RoundOption = Annotated[
    int | None, typer.Option("--round", min=1, help="The round (default: the open round).")
]
ModelArgument = Annotated[str, typer.Argument(help="The model's name (or its id).")]
TournamentOption = Annotated[
    str,
    typer.Option(
        "--tournament",
        "-t",
        help="The competition: classic (8) or signals (11).",
        show_default=True,
    ),
]
#: The scores each competition's tables show (Signals: its payout and gate measures too).
_SCORE_COLUMNS = {
    "classic": ("corr", "mmc", "fnc", "bmc", "mpc"),
    "signals": ("corr", "mmc", "fnc", "alpha", "mpc", "churn", "turnover"),
}


# -- sessions: consoles, the client, errors as one line ---------------------------------


class _Session:
    """One command's consoles and (once connected) its client and server URL."""

    def __init__(self) -> None:
        # Made per command so that $COLUMNS and the streams are read when it runs.
        self.out = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.url: str | None = None
        self.source: str | None = None
        self._clients: list[Client] = []

    def anonymous(self, url: str) -> Client:
        self.url = url
        return self._open(Client(url, max_retries=_retries()))

    def connect(self, credentials: Credentials | None = None) -> Client:
        if credentials is None:
            credentials, self.source = _saved_or_env_credentials()
        self.url = credentials.url
        return self._open(
            Client(
                credentials.url,
                credentials.public_id,
                credentials.secret_key,
                max_retries=_retries(),
            )
        )

    def _open(self, client: Client) -> Client:
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def fail(self, exc: CrowdAlphaError) -> None:
        self.err.print(f"[bold red]error[/] {exc.code}: {escape(exc.message)}")
        hint = self._hint(exc)
        if hint:
            self.err.print(f"[dim]{escape(hint)}[/]")

    def _hint(self, exc: CrowdAlphaError) -> str | None:
        if isinstance(exc, ServerUnreachableError):
            where = f"the server at {self.url}" if self.url else "the server"
            return (
                f"could not reach {where}: is it running, and is the URL right? "
                "(`crowdalpha login --url URL` changes it)"
            )
        if isinstance(exc, AuthenticationError):
            source = self.source or "the key given"
            return (
                f"the server refused {source}; run `crowdalpha login` with a "
                "valid key, or `crowdalpha signup` for a new account"
            )
        return None

    def print_json(self, value: Any) -> None:
        typer.echo(json.dumps(value, indent=2))


@contextmanager
def _session() -> Iterator[_Session]:
    """A command's session: typed errors and I/O errors become one line and exit 2."""
    session = _Session()
    try:
        yield session
    except CrowdAlphaError as exc:
        session.fail(exc)
        raise typer.Exit(2) from None
    except OSError as exc:
        session.err.print(f"[bold red]error[/] io_error: {escape(str(exc))}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        session.err.print("[bold red]interrupted[/]: run the same command again to resume")
        raise typer.Exit(130) from None
    finally:
        session.close()


#: A command's session (for the other command groups that talk to the server).
session_of = _session


def _retries() -> int:
    value = os.environ.get(RETRIES_ENV, "")
    return int(value) if value.isdigit() else 4


def _normal_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(
            f"the server URL {url!r} must start with http:// or https://",
            details={"url": url},
        )
    return url


def _saved_or_env_credentials() -> tuple[Credentials, str]:
    """The environment's key if it holds one, else the saved login; and where it came from."""
    public_id = os.environ.get(PUBLIC_ID_ENV)
    secret = os.environ.get(SECRET_KEY_ENV)
    env_url = os.environ.get(URL_ENV)
    if public_id and secret:
        url = env_url
        if not url:
            try:
                url = load_credentials().url
            except CrowdAlphaError:
                url = DEFAULT_URL
        return Credentials(_normal_url(url), public_id, secret), (
            f"the key in ${PUBLIC_ID_ENV}/${SECRET_KEY_ENV}"
        )
    path = credentials_path()
    saved = load_credentials(path)
    if env_url:
        saved = Credentials(_normal_url(env_url), saved.public_id, saved.secret_key)
    return saved, f"the key saved in {path}"


# -- formatting -------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _round_json(r: Round) -> dict[str, Any]:
    return {
        "number": r.number,
        "state": r.state,
        "opens_at": _iso(r.opens_at),
        "closes_at": _iso(r.closes_at),
        "resolves_at": _iso(r.resolves_at),
        "resolved_at": _iso(r.resolved_at),
        "live_rows": r.live_rows,
        "submissions": r.submissions,
        "total_at_risk": None if r.total_at_risk is None else format_nmr(r.total_at_risk),
        "payout_factor": r.payout_factor,
        "competition": r.competition,
    }


def _submission_json(s: Submission) -> dict[str, Any]:
    return {
        "id": s.id,
        "model_id": s.model_id,
        "round": s.round_number,
        "state": s.state,
        "filename": s.filename,
        "sha256": s.sha256,
        "size_bytes": s.size_bytes,
        "rows": s.rows,
        "unknown_ids": s.unknown_ids,
        "late": s.late,
        "selected": s.selected,
        "created_at": _iso(s.created_at),
        "error_code": s.error_code,
        "error_message": s.error_message,
    }


def _score_json(s: Score) -> dict[str, Any]:
    return {
        "round": s.round_number,
        "model_id": s.model_id,
        "final": s.final,
        "corr": s.corr,
        "mmc": s.mmc,
        "fnc": s.fnc,
        "bmc": s.bmc,
        "values": dict(s.values),
        "era": s.era,
        "scored_at": _iso(s.scored_at),
    }


def _payout_json(p: Payout) -> dict[str, Any]:
    return {
        "round": p.round_number,
        "model_id": p.model_id,
        "stake_at_risk": format_nmr(p.stake_at_risk),
        "payout": format_nmr(p.amount),
    }


def _release_json(r: PendingRelease) -> dict[str, Any]:
    return {
        "id": r.id,
        "requested": format_nmr(r.requested),
        "remaining": format_nmr(r.remaining),
        "requested_at": _iso(r.requested_at),
        "release_round": r.release_round,
        "released_at": _iso(r.released_at),
    }


def _stake_json(model: Model, s: Stake) -> dict[str, Any]:
    return {
        "model": model.name,
        "model_id": model.id,
        "competition": model.competition,
        "stake": format_nmr(s.stake),
        "pending": format_nmr(s.pending),
        "releases": [_release_json(r) for r in s.releases],
    }


def _model(client: Client, ref: str) -> Model:
    """A model of the account by name, or by id when no model has that name."""
    models = client.models()
    wanted = ref.strip().lower()
    for model in models:
        if model.name == wanted:
            return model
    if wanted.isdigit():
        for model in models:
            if model.id == int(wanted):
                return model
    names = ", ".join(m.name for m in models) or "none yet — `crowdalpha models create NAME`"
    raise NotFoundError(
        f"your account has no model {ref!r}; your models: {names}", details={"model": ref}
    )


@contextmanager
def _transfer_bars(
    console: Console,
) -> Iterator[Callable[[str], Callable[[int, int | None], None]]]:
    """Byte progress bars; yields ``bar(description)`` → a ``progress(done, total)``."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bars:

        def bar(description: str) -> Callable[[int, int | None], None]:
            task = bars.add_task(escape(description), total=None)

            def update(done: int, total: int | None) -> None:
                bars.update(task, completed=done, total=total)

            return update

        yield bar


# -- login, signup, logout --------------------------------------------------------------


def _verify_and_save(session: _Session, credentials: Credentials) -> str:
    """Check the key against the server (``account()``), then save it; the username."""
    client = session.connect(credentials)
    session.source = "the key given"
    account = client.account()
    path = credentials_path()
    try:
        previous = load_credentials(path)
    except CrowdAlphaError:
        previous = None
    save_credentials(credentials, path)
    if previous is not None and previous.public_id != credentials.public_id:
        session.err.print(f"replaced the saved key {escape(previous.public_id)}")
    if credentials.url.startswith("http://") and not _is_local(credentials.url):
        session.err.print(
            "[yellow]warning[/]: the server URL is plain http: your key travels unencrypted"
        )
    session.out.print(
        f"logged in to [bold]{escape(credentials.url)}[/] as [bold]{escape(account.username)}"
        f"[/] (key {escape(credentials.public_id)}); saved in {escape(str(path))}"
    )
    return account.username


def _is_local(url: str) -> bool:
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]")


def _default_url() -> str:
    try:
        return load_credentials().url
    except CrowdAlphaError:
        return DEFAULT_URL


UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar=URL_ENV,
        help="The server, e.g. https://tournament.example.org (prompted if not given).",
    ),
]


def login(
    url: UrlOption = None,
    public_id: Annotated[
        str | None,
        typer.Option(
            "--public-id",
            envvar=PUBLIC_ID_ENV,
            help="The key's public id (prompted if not given; PUBLIC$SECRET also works).",
        ),
    ] = None,
    secret_key: Annotated[
        str | None,
        typer.Option(
            "--secret-key",
            envvar=SECRET_KEY_ENV,
            help="The key's secret (prompted, hidden, if not given; prefer the prompt or the "
            "environment: command lines are visible to other users).",
        ),
    ] = None,
) -> None:
    """Save a server URL and an API key, after checking them against the server."""
    with _session() as session:
        if url is None:
            url = typer.prompt("server URL", default=_default_url())
        url = _normal_url(url)
        if public_id is None:
            public_id = typer.prompt("public id").strip()
        if secret_key is None and "$" in public_id:
            public_id, secret_key = public_id.split("$", 1)
        if secret_key is None:
            secret_key = typer.prompt("secret key", hide_input=True).strip()
        if not public_id or not secret_key:
            raise InvalidInputError("give both the public id and the secret key")
        _verify_and_save(session, Credentials(url, public_id, secret_key))


def signup(
    url: UrlOption = None,
    username: Annotated[
        str | None, typer.Option(help="3–64 letters, digits or underscores (prompted).")
    ] = None,
    email: Annotated[str | None, typer.Option(help="Your email (prompted).")] = None,
    wallet_address: Annotated[
        str | None, typer.Option(help="An outside wallet address, if you have one.")
    ] = None,
) -> None:
    """Create an account on a server that allows sign-up, and log in with its first key."""
    with _session() as session:
        if url is None:
            url = typer.prompt("server URL", default=_default_url())
        url = _normal_url(url)
        if username is None:
            username = typer.prompt("username").strip()
        if email is None:
            email = typer.prompt("email").strip()
        created = session.anonymous(url).sign_up(username, email, wallet_address=wallet_address)
        key = created.api_key
        session.out.print(
            f"account [bold]{escape(created.account.username)}[/] created; API key "
            f"{escape(key.public_id)} (scopes {', '.join(sorted(key.key.scopes))})"
        )
        _verify_and_save(session, Credentials(url, key.public_id, key.secret))


def logout(
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Also revoke the key on the server first.")
    ] = False,
) -> None:
    """Forget the saved key (and with --revoke, revoke it on the server)."""
    with _session() as session:
        path = credentials_path()
        if revoke:
            credentials = load_credentials(path)
            session.source = f"the key saved in {path}"
            try:
                session.connect(credentials).revoke_api_key(credentials.public_id)
            except AuthenticationError:  # revoked already, or wrong: useless either way
                session.err.print(
                    f"the server no longer accepts key {escape(credentials.public_id)}"
                )
            else:
                session.out.print(f"revoked key {escape(credentials.public_id)} on the server")
        if delete_credentials(path):
            session.out.print(f"logged out: removed {escape(str(path))}")
        else:
            session.out.print("not logged in: nothing to remove")


# -- data in, predictions out -----------------------------------------------------------


def _safe_relative(name: str) -> Path:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(p in ("..", "") for p in parts):
        raise InvalidInputError(f"the server named a file {name!r} outside the dataset folder")
    return Path(*parts)


def _claim_part_file(target: Path, source: dict[str, Any]) -> Path:
    """Keep ``target``'s ``.part`` file only if an earlier run left it for this same file.

    The client resumes any ``.part`` it finds, and nothing on the wire tells another
    file's bytes from this one's (last round's ``live.parquet`` has the same name), so a
    marker next to the part records what it holds; without a matching one it is removed.
    Returns the marker, to delete once the download is complete."""
    part = target.with_name(target.name + ".part")
    marker = target.with_name(target.name + ".part.json")
    try:
        previous = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    if previous != source:
        part.unlink(missing_ok=True)
    marker.write_text(json.dumps(source, sort_keys=True), encoding="utf-8")
    return marker


def download(
    files: Annotated[
        list[str] | None,
        typer.Argument(help="Files to download (default: all of them), e.g. live.parquet."),
    ] = None,
    round_number: RoundOption = None,
    dest: Annotated[
        Path, typer.Option("--dest", file_okay=False, help="The folder to download into.")
    ] = Path("."),
    tournament: TournamentOption = "classic",
) -> None:
    """Download the round's dataset files, with progress bars.

    A file arrives as FILE.part and replaces FILE only once complete and of the right
    size; an interrupted download continues from its .part file when run again (only
    if that .part belongs to the same round's file: a stale one is started over)."""
    with _session() as session:
        client = session.connect()
        chosen = (
            client.current_round(tournament)
            if round_number is None
            else client.round(round_number, tournament)
        )
        if chosen is None:
            raise NotFoundError("no round is open right now; name one with --round N")
        round_number = chosen.number
        available = {f.name: f for f in client.datasets(round_number, tournament)}
        wanted = list(files) if files else sorted(available)
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise NotFoundError(
                f"round {round_number}'s dataset has no {', '.join(map(repr, unknown))}; it "
                f"has {', '.join(sorted(available)) or 'no files'}",
                details={"unknown": unknown},
            )
        done: list[tuple[str, Path]] = []
        with _transfer_bars(session.err) as bar:
            for name in wanted:
                target = dest / _safe_relative(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                item = available[name]
                source = {
                    "server": session.url,
                    "competition": chosen.competition,
                    "round": round_number,
                    "dataset_version": chosen.dataset_version,
                    "name": name,
                    "size_bytes": item.size_bytes,
                }
                marker = _claim_part_file(target, source)
                client.download(item.url, target, expected_size=item.size_bytes, progress=bar(name))
                marker.unlink(missing_ok=True)
                done.append((name, target))
        for name, target in done:
            session.out.print(
                f"{escape(name)}: {target.stat().st_size:,} bytes → {escape(str(target))}"
            )
        session.out.print(f"round {round_number}: {len(done)} file(s) downloaded")


def submit(
    model: ModelArgument,
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="CSV, CSV.gz or Parquet predictions."
        ),
    ],
    round_number: RoundOption = None,
    json_output: JsonOption = False,
) -> None:
    """Upload a model's predictions; prints the submission's id, state and SHA-256."""
    with _session() as session:
        client = session.connect()
        found = _model(client, model)
        data = file.read_bytes()
        with _transfer_bars(session.err) as bar:
            sub = client.upload_predictions(
                found.id,
                data,
                filename=file.name,
                round_number=round_number,
                progress=bar(f"uploading {file.name}"),
            )
        local = hashlib.sha256(data).hexdigest()
        if sub.sha256 != local:
            raise CrowdAlphaError(
                f"the server recorded SHA-256 {sub.sha256} for submission {sub.id}, but "
                f"{file} has {local}: upload it again",
                details={"submission": sub.id},
            )
        if json_output:
            session.print_json(_submission_json(sub))
            return
        session.out.print(
            f"submission [bold]{sub.id}[/] of {escape(found.name)} for round "
            f"{sub.round_number}: [bold]{escape(sub.state)}[/]"
        )
        session.out.print(f"  file    {escape(sub.filename)}, {sub.size_bytes:,} bytes")
        session.out.print(f"  rows    {sub.rows:,} ({sub.unknown_ids:,} unknown ids)")
        session.out.print(f"  sha256  {sub.sha256}")
        if sub.late:
            session.out.print("  [yellow]late[/]: it will be scored, but not staked")
        if sub.error_code:
            session.out.print(
                f"  [red]{escape(sub.error_code)}[/]: {escape(sub.error_message or '')}"
            )


# -- stakes -----------------------------------------------------------------------------


def _print_stake(session: _Session, model: Model, s: Stake) -> None:
    session.out.print(
        f"{escape(model.name)}: stake [bold]{tables.amount(s.stake)}[/] NMR, pending release "
        f"{tables.amount(s.pending)} NMR"
    )
    waiting = [r for r in s.releases if r.released_at is None]
    if waiting:
        table = tables.table(
            tables.number("release"),
            tables.number("requested"),
            tables.number("remaining"),
            tables.fixed("requested at"),
            tables.number("after round"),
            title="Pending releases (NMR, times in UTC)",
        )
        for r in waiting:
            table.add_row(
                str(r.id),
                tables.amount(r.requested),
                tables.amount(r.remaining),
                tables.when(r.requested_at),
                "" if r.release_round is None else str(r.release_round),
            )
        tables.show(session.out, table)


def stake(
    model: ModelArgument,
    increase: Annotated[
        str | None, typer.Option(help="NMR to move from your wallet to the stake, e.g. 12.5.")
    ] = None,
    decrease: Annotated[
        str | None,
        typer.Option(help="NMR to take off the stake (released once rounds at risk end)."),
    ] = None,
    set_to: Annotated[
        str | None, typer.Option("--set", help="Change the stake to exactly this many NMR.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show a model's stake and pending releases, or change it (exact decimal NMR)."""
    options = (("--increase", increase), ("--decrease", decrease), ("--set", set_to))
    chosen = [(k, v) for k, v in options if v is not None]
    if len(chosen) > 1:
        raise typer.BadParameter(
            f"give one of --increase, --decrease or --set, not {' and '.join(k for k, _ in chosen)}"
        )
    with _session() as session:
        client = session.connect()
        found = _model(client, model)
        if chosen:
            option, amount = chosen[0]
            to_base_units(amount)  # refuse a bad amount before anything is sent
            change = {
                "--increase": client.increase_stake,
                "--decrease": client.decrease_stake,
                "--set": client.set_stake,
            }[option]
            result = change(found.id, amount)
        else:
            result = client.stake(found.id)
        if json_output:
            session.print_json(_stake_json(found, result))
            return
        _print_stake(session, found, result)
        if chosen:
            balance = client.wallet().balance
            session.out.print(f"wallet: {tables.amount(balance)} NMR available")


# -- reading: status, scores, payouts, models -------------------------------------------


def _latest_submission(client: Client, model_id: int) -> Submission | None:
    subs = client.submissions(model_id)
    return max(subs, key=lambda s: (s.round_number, s.id)) if subs else None


def _latest_score(client: Client, model_id: int) -> Score | None:
    scores = client.scores(model_id)
    return max(scores, key=lambda s: (s.round_number, s.final, s.scored_at)) if scores else None


def _latest_payout(client: Client, model_id: int) -> Payout | None:
    paid = client.payouts(model_id)
    return max(paid, key=lambda p: p.round_number) if paid else None


def status(json_output: JsonOption = False) -> None:
    """Your account, wallet, models with stakes, the open round and latest submissions."""
    with _session() as session:
        client = session.connect()
        account = client.account()
        wallet = client.wallet()
        current = client.current_round()
        mine = client.models()
        # the open round of each other competition the account has models in (Signals)
        others = {
            slug: client.current_round(slug)
            for slug in sorted({m.competition for m in mine} - {"classic"})
        }
        rows: list[dict[str, Any]] = []
        for model in mine:
            sub = _latest_submission(client, model.id)
            score = _latest_score(client, model.id)
            payout = _latest_payout(client, model.id)
            rows.append(
                {
                    "model": model,
                    "stake": client.stake(model.id),
                    "submission": sub,
                    "score": score,
                    "payout": payout,
                }
            )
        if json_output:
            session.print_json(
                {
                    "server": session.url,
                    "account": {
                        "id": account.id,
                        "username": account.username,
                        "email": account.email,
                        "reputation": account.reputation,
                    },
                    "wallet": {
                        "balance": format_nmr(wallet.balance),
                        "staked": format_nmr(wallet.staked),
                        "pending": format_nmr(wallet.pending),
                        "total": format_nmr(wallet.total),
                    },
                    "current_round": None if current is None else _round_json(current),
                    "current_rounds": {
                        slug: None if r is None else _round_json(r)
                        for slug, r in {"classic": current, **others}.items()
                    },
                    "models": [
                        {
                            **_stake_json(row["model"], row["stake"]),
                            "latest_submission": None
                            if row["submission"] is None
                            else _submission_json(row["submission"]),
                            "latest_score": None
                            if row["score"] is None
                            else _score_json(row["score"]),
                            "latest_payout": None
                            if row["payout"] is None
                            else _payout_json(row["payout"]),
                        }
                        for row in rows
                    ],
                }
            )
            return
        out = session.out
        reputation = "" if account.reputation is None else f", reputation {account.reputation:+.4f}"
        out.print(f"[bold]{escape(account.username)}[/] on {escape(session.url or '')}{reputation}")
        out.print(
            f"wallet: {tables.amount(wallet.balance)} NMR available, "
            f"{tables.amount(wallet.staked)} staked, {tables.amount(wallet.pending)} pending "
            f"release ({tables.amount(wallet.total)} in all)"
        )
        if current is None:
            out.print("no round is open right now")
        else:
            out.print(
                f"round [bold]{current.number}[/] is {current.state}: closes "
                f"{tables.when(current.closes_at)} UTC, {current.live_rows:,} live rows, "
                f"{current.submissions:,} submission(s)"
            )
        for slug, other in others.items():
            if other is None:
                out.print(f"no {slug} round is open right now")
            else:
                out.print(
                    f"{slug} round [bold]{other.number}[/] is {other.state}: closes "
                    f"{tables.when(other.closes_at)} UTC, {other.live_rows:,} tickers, "
                    f"{other.submissions:,} submission(s)"
                )
        if not rows:
            out.print("no models yet: `crowdalpha models create NAME`")
            return
        table = tables.table(
            tables.text("model"),
            tables.number("stake"),
            tables.number("pending"),
            tables.text("latest submission"),
            title="Models (NMR)",
        )
        results = tables.table(
            tables.text("model"),
            tables.fixed("round"),
            tables.number("corr"),
            tables.number("mmc"),
            tables.number("payout"),
            title="Latest scores",
        )
        for row in rows:
            sub, score, payout = row["submission"], row["score"], row["payout"]
            table.add_row(
                escape(row["model"].name),
                tables.amount(row["stake"].stake),
                tables.amount(row["stake"].pending),
                "" if sub is None else f"round {sub.round_number}: {sub.state} (#{sub.id})",
            )
            if score is not None:
                paid = payout is not None and payout.round_number == score.round_number
                results.add_row(
                    escape(row["model"].name),
                    f"{score.round_number}{'' if score.final else ' (provisional)'}",
                    tables.score(score.corr),
                    tables.score(score.mmc),
                    tables.amount(payout.amount) if paid and payout is not None else "",
                )
        tables.show(out, table)
        if results.row_count:
            tables.show(out, results)


def scores(
    model: ModelArgument,
    round_number: Annotated[
        int | None, typer.Option("--round", min=1, help="Only this round.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """A model's scores, round by round: CORR, MMC, FNC, BMC and MPC (Signals: CORR, MMC,
    FNC, ALPHA, MPC, churn and turnover)."""
    with _session() as session:
        client = session.connect()
        found = _model(client, model)
        rows = client.scores(found.id, round_number)
        if json_output:
            session.print_json([_score_json(s) for s in rows])
            return
        if not rows:
            session.out.print(f"{escape(found.name)} has no scores yet")
            return
        metrics = _SCORE_COLUMNS.get(found.competition, _SCORE_COLUMNS["classic"])
        table = tables.table(
            tables.number("round"),
            tables.fixed("final"),
            *(tables.number(m) for m in metrics),
            tables.fixed("scored"),
            title=f"Scores of {escape(found.name)}",
        )
        for s in rows:
            table.add_row(
                str(s.round_number),
                "yes" if s.final else "provisional",
                *(tables.score(s.get(m), 6) for m in metrics),
                tables.day(s.scored_at),
            )
        tables.show(session.out, table)


def payouts(
    model: ModelArgument,
    round_number: Annotated[
        int | None, typer.Option("--round", min=1, help="Only this round.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """A model's payouts, round by round (exact NMR; negative ones were burned)."""
    with _session() as session:
        client = session.connect()
        found = _model(client, model)
        rows = client.payouts(found.id, round_number)
        if json_output:
            session.print_json([_payout_json(p) for p in rows])
            return
        if not rows:
            session.out.print(f"{escape(found.name)} has no payouts yet")
            return
        table = tables.table(
            tables.number("round"),
            tables.number("stake at risk"),
            tables.number("payout"),
            tables.number("return"),
            title=f"Payouts of {escape(found.name)} (NMR)",
        )
        for p in rows:
            ratio = "" if not p.stake_at_risk else f"{100 * p.amount / p.stake_at_risk:+.2f}%"
            table.add_row(
                str(p.round_number), tables.amount(p.stake_at_risk), tables.amount(p.amount), ratio
            )
        tables.show(session.out, table)
        total = sum(p.amount for p in rows)
        session.out.print(f"total: {tables.amount(total)} NMR")


class Ranking(StrEnum):
    reputation = "reputation"
    stake = "stake"


def leaderboard(
    by: Annotated[
        Ranking, typer.Option(help="Rank by reputation (mean final CORR) or by stake.")
    ] = Ranking.reputation,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip from the top.")] = 0,
    tournament: TournamentOption = "classic",
    json_output: JsonOption = False,
) -> None:
    """A competition's leaderboard: models ranked by reputation or stake (yours in bold,
    if logged in)."""
    with _session() as session:
        try:
            client = session.connect()
            mine = client.account().username
        except NotLoggedInError:  # the board is public
            client = session.anonymous(_normal_url(os.environ.get(URL_ENV) or DEFAULT_URL))
            mine = None
        rows = client.leaderboard(by=by.value, limit=limit, offset=offset, competition=tournament)
        if json_output:
            session.print_json([_leaderboard_json(r) for r in rows])
            return
        if not rows:
            session.out.print("the leaderboard has no models" + (" here" if offset else ""))
            return
        table = tables.table(
            tables.number("#"),
            tables.text("model"),
            tables.text("participant"),
            tables.number("reputation"),
            tables.number("stake"),
            tables.number("rounds"),
            title=f"Leaderboard by {by.value} (stakes in NMR)"
            + ("" if tournament in ("classic", "8") else f", {tournament}"),
        )
        for r in rows:
            style = "bold" if r.username == mine else None
            table.add_row(
                str(r.rank),
                escape(r.model_name),
                escape(r.username),
                tables.score(r.reputation, 6) or "—",
                tables.amount(r.stake),
                str(r.rounds),
                style=style,
            )
        tables.show(session.out, table)


def _leaderboard_json(r: LeaderboardRow) -> dict[str, Any]:
    return {
        "rank": r.rank,
        "model_id": r.model_id,
        "model": r.model_name,
        "username": r.username,
        "reputation": r.reputation,
        "stake": format_nmr(r.stake),
        "rounds": r.rounds,
    }


@models_app.callback()
def models(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Your models: list them (the default), create one, set a webhook, bio or link."""
    if ctx.invoked_subcommand is not None:
        return
    _list_models(json_output)


@models_app.command("list")
def list_models(json_output: JsonOption = False) -> None:
    """List your models with their stakes."""
    _list_models(json_output)


def _list_models(json_output: bool) -> None:
    with _session() as session:
        client = session.connect()
        found = [(m, client.stake(m.id)) for m in client.models()]
        if json_output:
            session.print_json(
                [{**_stake_json(m, s), "created_at": _iso(m.created_at)} for m, s in found]
            )
            return
        if not found:
            session.out.print("no models yet: `crowdalpha models create NAME`")
            return
        table = tables.table(
            tables.number("id"),
            tables.text("model"),
            tables.text("competition"),
            tables.number("stake"),
            tables.number("pending"),
            tables.fixed("created"),
            title="Models (NMR, times in UTC)",
        )
        for m, s in found:
            table.add_row(
                str(m.id),
                escape(m.name),
                m.competition,
                tables.amount(s.stake),
                tables.amount(s.pending),
                tables.when(m.created_at),
            )
        tables.show(session.out, table)


@models_app.command("create")
def create_model(
    name: Annotated[str, typer.Argument(help="1–64 lowercase letters, digits or underscores.")],
    tournament: TournamentOption = "classic",
) -> None:
    """Create a model of a competition (names are unique across competitions)."""
    with _session() as session:
        created = session.connect().create_model(name, competition=tournament)
        session.out.print(
            f"{created.competition} model [bold]{escape(created.name)}[/] created (id {created.id})"
        )


def _webhook_json(model: Model, hook: Webhook) -> dict[str, Any]:
    return {
        "model": model.name,
        "model_id": model.id,
        "url": hook.url,
        "secret": hook.secret,
        "updated_at": _iso(hook.updated_at),
    }


@models_app.command("webhook")
def model_webhook(
    model: ModelArgument,
    url: Annotated[
        str | None,
        typer.Argument(help="The http(s) URL to POST to when a round opens (default: show)."),
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the webhook.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Show a model's webhook, set it (a public http(s) URL, called signed when a round
    opens), or remove it."""
    if remove and url is not None:
        raise typer.BadParameter("give a URL or --remove, not both")
    with _session() as session:
        client = session.connect()
        found = _model(client, model)
        if remove:
            hook = client.set_webhook(found.id, None)
        elif url is not None:
            hook = client.set_webhook(found.id, url)
        else:
            hook = client.webhook(found.id)
        if json_output:
            session.print_json(_webhook_json(found, hook))
            return
        name = escape(found.name)
        if hook.url is None:
            done = "removed" if remove else "none set"
            session.out.print(
                f"{name}: no webhook ({done}); set one with `crowdalpha models webhook {name} URL`"
            )
            return
        verb = "set to" if url is not None else "is"
        session.out.print(f"{name}: webhook {verb} [bold]{escape(hook.url)}[/]")
        session.out.print(
            f"calls are signed with secret {escape(hook.secret or '')} "
            "(HMAC-SHA256, header X-CrowdAlpha-Signature)"
        )


def _profile_json(model: Model, profile: Profile) -> dict[str, Any]:
    return {
        "model": model.name,
        "model_id": model.id,
        "bio": profile.bio,
        "link_url": profile.link_url,
        "link_text": profile.link_text,
        "updated_at": _iso(profile.updated_at),
    }


def _print_profile(session: _Session, model: Model, profile: Profile) -> None:
    name = escape(model.name)
    session.out.print(f"{name}: bio {escape(profile.bio) if profile.bio else '(none)'}")
    if profile.link_url:
        text = f" ({escape(profile.link_text)})" if profile.link_text else ""
        session.out.print(f"{name}: link {escape(profile.link_url)}{text}")
    else:
        session.out.print(f"{name}: link (none)")


@models_app.command("bio")
def model_bio(
    model: ModelArgument,
    bio: Annotated[
        str | None,
        typer.Argument(help='The public bio (default: show the profile; "" removes it).'),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show a model's public profile, or set its bio."""
    with _session() as session:
        client = session.connect()
        found = _model(client, model)
        profile = client.profile(found.id) if bio is None else client.set_bio(found.id, bio)
        if json_output:
            session.print_json(_profile_json(found, profile))
            return
        _print_profile(session, found, profile)


@models_app.command("link")
def model_link(
    model: ModelArgument,
    url: Annotated[
        str | None,
        typer.Argument(help='An http(s) URL (default: show the profile; "" removes it).'),
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="The link's text.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Show a model's public profile, or set its link."""
    if url is None and text is not None:
        raise typer.BadParameter("--text goes with a URL")
    with _session() as session:
        client = session.connect()
        found = _model(client, model)
        profile = client.profile(found.id) if url is None else client.set_link(found.id, url, text)
        if json_output:
            session.print_json(_profile_json(found, profile))
            return
        _print_profile(session, found, profile)


def universe(
    round_number: RoundOption = None,
    json_output: JsonOption = False,
) -> None:
    """The Signals universe: the tickers (numerai_ticker) a Signals round accepts."""
    with _session() as session:
        try:
            client = session.connect()
        except NotLoggedInError:  # the data are public
            client = session.anonymous(_normal_url(os.environ.get(URL_ENV) or DEFAULT_URL))
        tickers = client.ticker_universe(round_number)
        if json_output:
            session.print_json(tickers)
            return
        for ticker in tickers:
            session.out.print(escape(ticker))
        session.err.print(f"{len(tickers):,} tickers")


def register(app: typer.Typer) -> None:
    """Add the participant commands to the ``crowdalpha`` command line."""
    commands = (signup, login, logout, status, download, submit, stake, scores, payouts)
    for command in (*commands, leaderboard, universe):
        app.command(rich_help_panel=PANEL)(command)
    app.add_typer(models_app, name="models", rich_help_panel=PANEL)
