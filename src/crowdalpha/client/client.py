"""The participant client: typed methods over crowdalpha's REST API.

Errors are the library's (``InsufficientFundsError``, ``SubmissionIdsError``…), rebuilt
from the server's error code; nothing fails silently. Transient failures — connection
errors, 502/503/504 and rate limits (429, waiting ``retry_after``) — are retried with
exponential backoff; everything else is raised at once. Requests that change something
are only retried when that is safe: they carry an idempotency key (generated when the
caller gives none), or the failure proves the server never handled them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from crowdalpha.client.errors import (
    CorruptDownloadError,
    ServerUnreachableError,
    error_from_response,
)
from crowdalpha.client.models import (
    Account,
    ApiKey,
    DatasetFile,
    Grant,
    LeaderboardRow,
    LedgerCheck,
    LedgerEntry,
    Model,
    NewApiKey,
    Payout,
    Profile,
    Proposal,
    ProposalVote,
    Round,
    Score,
    SignUp,
    Stake,
    Submission,
    TickResult,
    Wallet,
    Webhook,
)
from crowdalpha.errors import InvalidInputError, NotFoundError
from crowdalpha.units import format_nmr, to_base_units

__all__ = ["Amount", "Client", "Progress"]

#: ``progress(done_bytes, total_bytes_or_None)``, called as bytes move.
Progress = Callable[[int, int | None], None]
#: NMR as a string (``"12.5"``), a Decimal, or an int of whole NMR — never a float.
Amount = str | int | Decimal

_RETRY_STATUSES = frozenset({502, 503, 504})
_CHUNK = 1 << 16
#: The Signals file that lists a round's universe (numerapi's ``ticker_universe`` reads it).
_UNIVERSE_FILE = "signals/v1.0/live.parquet"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _wire_amount(amount: Amount) -> str:
    return format_nmr(to_base_units(amount))


class Client:
    """A session with a crowdalpha server.

    ``transport`` replaces the network (an ``httpx.MockTransport`` in tests, or any
    ``httpx.BaseTransport``); ``sleep`` replaces ``time.sleep`` between retries.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        public_id: str | None = None,
        secret_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (public_id is None) != (secret_key is None):
            raise InvalidInputError("give both public_id and secret_key, or neither")
        self.base_url = base_url.rstrip("/")
        self.public_id = public_id
        self._secret = secret_key
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, transport=transport, timeout=timeout, follow_redirects=True
        )

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.public_id is not None:
            headers["Authorization"] = f"Token {self.public_id}${self._secret}"
        headers.update(extra or {})
        return headers

    def _delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = min(self.max_backoff, self.backoff * 2.0**attempt)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_backoff * 4))
        return wait

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        """Seconds the server asked to wait (429 details, or a Retry-After header)."""
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return float(response.json()["error"]["details"]["retry_after"])
        with contextlib.suppress(ValueError, TypeError):
            return float(response.headers.get("retry-after", ""))
        return None

    @staticmethod
    def _rate_limited(response: httpx.Response) -> bool:
        if response.status_code != 429:
            return False
        with contextlib.suppress(ValueError, KeyError, TypeError):
            # 429 also carries other limits (a stake above the account's maximum): only
            # the rate limit goes away by waiting.
            return bool(response.json()["error"]["code"] == "limit_exceeded")
        return True

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: Callable[[], bytes | Iterator[bytes]] | None = None,
        safe: bool | None = None,
    ) -> httpx.Response:
        """One request with retries; the response if 2xx/3xx, else the typed error.

        ``safe``: repeating the request cannot act twice (default: GET, or a request with
        an idempotency key). Unsafe requests are retried only when the server surely never
        handled them: the connection was refused, or a rate limit turned them away."""
        all_headers = self._headers(headers)
        if safe is None:
            safe = method in ("GET", "HEAD") or "Idempotency-Key" in all_headers
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json,
                    params=query,
                    headers=all_headers,
                    content=content() if content is not None else None,
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt >= self.max_retries or not (safe or never_sent):
                    raise ServerUnreachableError(
                        f"{method} {path} failed: {exc.__class__.__name__}: {exc}",
                        details={"attempts": attempt + 1},
                    ) from exc
                self._sleep(self._delay(attempt))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            transient = self._rate_limited(response) or (
                safe and response.status_code in _RETRY_STATUSES
            )
            if transient and attempt < self.max_retries:
                self._sleep(self._delay(attempt, self._retry_after(response)))
                attempt += 1
                continue
            raise error_from_response(response.status_code, response.content)

    def _get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params).json()

    def _write(
        self, method: str, path: str, body: Any = None, *, key: str | None = None, **kw: Any
    ) -> Any:
        headers = {"Idempotency-Key": key} if key is not None else None
        return self._send(method, path, json=body, headers=headers, **kw).json()

    # -- server, sign-up, account, keys -------------------------------------------------

    def health(self) -> dict[str, str]:
        result: dict[str, str] = self._get("/v1/health")
        return result

    def sign_up(self, username: str, email: str, *, wallet_address: str | None = None) -> SignUp:
        """Create an account; its first API key's secret is in the result, once."""
        body = {"username": username, "email": email, "wallet_address": wallet_address}
        return SignUp.from_json(self._write("POST", "/v1/accounts", body))

    def account(self) -> Account:
        return Account.from_json(self._get("/v1/account"))

    def api_keys(self) -> list[ApiKey]:
        return [ApiKey.from_json(d) for d in self._get("/v1/account/keys")]

    def create_api_key(
        self, scopes: tuple[str, ...] | list[str] = ("read", "upload", "stake"), name: str = ""
    ) -> NewApiKey:
        body = {"scopes": list(scopes), "name": name}
        return NewApiKey.from_json(self._write("POST", "/v1/account/keys", body))

    def revoke_api_key(self, public_id: str) -> ApiKey:
        return ApiKey.from_json(self._write("DELETE", f"/v1/account/keys/{public_id}", safe=True))

    def wallet(self) -> Wallet:
        return Wallet.from_json(self._get("/v1/account/wallet"))

    def wallet_history(self, limit: int = 100) -> list[LedgerEntry]:
        return [
            LedgerEntry.from_json(d) for d in self._get("/v1/account/wallet/history", limit=limit)
        ]

    # -- models and stakes --------------------------------------------------------------

    def models(self, competition: str | None = None) -> list[Model]:
        """The account's models of every competition (of one: ``classic``, ``signals``)."""
        return [Model.from_json(d) for d in self._get("/v1/models", competition=competition)]

    def model(self, model: int | str) -> Model:
        """A model of the account, by id or by name."""
        if isinstance(model, int):
            return Model.from_json(self._get(f"/v1/models/{model}"))
        wanted = model.strip().lower()
        for found in self.models():
            if found.name == wanted:
                return found
        raise NotFoundError(f"the account has no model named {model!r}")

    def _model_id(self, model: int | str) -> int:
        return model if isinstance(model, int) else self.model(model).id

    def create_model(self, name: str, *, competition: str = "classic") -> Model:
        """A new model of ``competition`` (``classic`` or ``signals``)."""
        body = {"name": name, "competition": competition}
        return Model.from_json(self._write("POST", "/v1/models", body))

    def stake(self, model: int | str) -> Stake:
        return Stake.from_json(self._get(f"/v1/models/{self._model_id(model)}/stake"))

    def _stake_op(
        self, method: str, model: int | str, suffix: str, amount: Amount, key: str | None
    ) -> Stake:
        path = f"/v1/models/{self._model_id(model)}/stake{suffix}"
        body = {"amount": _wire_amount(amount)}
        return Stake.from_json(self._write(method, path, body, key=key or str(uuid.uuid4())))

    def increase_stake(
        self, model: int | str, amount: Amount, *, idempotency_key: str | None = None
    ) -> Stake:
        """Move ``amount`` NMR from the wallet to the model's stake."""
        return self._stake_op("POST", model, "/increase", amount, idempotency_key)

    def decrease_stake(
        self, model: int | str, amount: Amount, *, idempotency_key: str | None = None
    ) -> Stake:
        """Take ``amount`` NMR off the stake (a pending release while rounds are at risk)."""
        return self._stake_op("POST", model, "/decrease", amount, idempotency_key)

    def set_stake(
        self, model: int | str, amount: Amount, *, idempotency_key: str | None = None
    ) -> Stake:
        return self._stake_op("PUT", model, "", amount, idempotency_key)

    # -- a model's webhook and public profile --------------------------------------------

    def webhook(self, model: int | str) -> Webhook:
        """The model's webhook and its signing secret (``url`` None: none is set)."""
        return Webhook.from_json(self._get(f"/v1/models/{self._model_id(model)}/webhook"))

    def set_webhook(self, model: int | str, url: str | None) -> Webhook:
        """Set the URL POSTed to, signed, when a round opens (``None``: remove it). An
        internal address is refused: InvalidParameterError, reason internal_destination."""
        path = f"/v1/models/{self._model_id(model)}/webhook"
        if url is None:
            return Webhook.from_json(self._write("DELETE", path, safe=True))
        return Webhook.from_json(self._write("PUT", path, {"url": url}, safe=True))

    def profile(self, model: int | str) -> Profile:
        """The model's public bio and link."""
        return Profile.from_json(self._get(f"/v1/models/{self._model_id(model)}/profile"))

    def set_bio(self, model: int | str, bio: str) -> Profile:
        """Set the model's public bio (empty: remove it)."""
        path = f"/v1/models/{self._model_id(model)}/profile/bio"
        return Profile.from_json(self._write("PUT", path, {"bio": bio}, safe=True))

    def set_link(self, model: int | str, url: str, text: str | None = None) -> Profile:
        """Set the model's public link (an http(s) URL; empty: remove it) and its text."""
        path = f"/v1/models/{self._model_id(model)}/profile/link"
        body = {"url": url, "text": text}
        return Profile.from_json(self._write("PUT", path, body, safe=True))

    # -- rounds and datasets ------------------------------------------------------------

    # ``competition``: ``classic`` (the server's default when None) or ``signals``.

    def rounds(self, competition: str | None = None) -> list[Round]:
        return [Round.from_json(d) for d in self._get("/v1/rounds", competition=competition)]

    def round(self, number: int, competition: str | None = None) -> Round:
        return Round.from_json(self._get(f"/v1/rounds/{number}", competition=competition))

    def current_round(self, competition: str | None = None) -> Round | None:
        """The competition's open round; None while no round is open."""
        try:
            return Round.from_json(self._get("/v1/rounds/current", competition=competition))
        except NotFoundError:
            return None

    def _round_number(self, number: int | None, competition: str | None = None) -> int:
        if number is not None:
            return number
        current = self.current_round(competition)
        if current is None:
            raise NotFoundError("no round is open right now; name a round")
        return current.number

    def datasets(
        self, round_number: int | None = None, competition: str | None = None
    ) -> list[DatasetFile]:
        """The files of a round's dataset (the open round's by default)."""
        number = self._round_number(round_number, competition)
        rows = self._get(f"/v1/rounds/{number}/datasets", competition=competition)
        return [DatasetFile.from_json(d) for d in rows]

    def download_dataset(
        self,
        name: str,
        dest: str | os.PathLike[str] | None = None,
        *,
        round_number: int | None = None,
        progress: Progress | None = None,
        competition: str | None = None,
    ) -> Path:
        """Download one dataset file to ``dest`` (default: its name, here); resumes an
        interrupted download and replaces ``dest`` only once the whole file has arrived."""
        files = {f.name: f for f in self.datasets(round_number, competition)}
        if name not in files:
            raise NotFoundError(
                f"the dataset has no file {name!r}; it has {', '.join(sorted(files))}"
            )
        target = Path(dest) if dest is not None else Path(Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        wanted = files[name]
        part = target.with_name(target.name + ".part")
        resumed = part.exists()

        def fetch() -> Path:
            return self.download(
                wanted.url,
                target,
                expected_size=wanted.size_bytes,
                sha256=wanted.sha256,
                progress=progress,
            )

        try:
            return fetch()
        except CorruptDownloadError:
            if not resumed:
                raise
            # the part file left by an earlier run belonged to another file (last week's
            # live.parquet, say): it was deleted; download this one from the start
            return fetch()

    def ticker_universe(self, round_number: int | None = None) -> list[str]:
        """The Signals universe of a round (the open one by default): its ``numerai_ticker``
        ids, read from ``signals/v1.0/live.parquet`` as numerapi's ``ticker_universe``."""
        import tempfile

        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory() as folder:
            path = self.download_dataset(
                _UNIVERSE_FILE,
                Path(folder) / "universe.parquet",
                round_number=round_number,
                competition="signals",
            )
            column = pq.read_table(path, columns=["numerai_ticker"]).column(0)
            return [str(t) for t in column.to_pylist()]

    def download(
        self,
        url: str,
        dest: str | os.PathLike[str],
        *,
        expected_size: int | None = None,
        sha256: str | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """GET ``url`` into ``dest`` safely.

        Bytes go to ``dest + ".part"``; an interrupted transfer is resumed with a Range
        request (also from a ``.part`` left by an earlier run). Only a complete file whose
        size (and SHA-256, when given) checks out is renamed onto ``dest`` — an existing
        file there is never truncated or corrupted; a bad part file is deleted and
        :class:`CorruptDownloadError` raised."""
        target = Path(dest)
        part = target.with_name(target.name + ".part")
        attempt = 0
        total: int | None = expected_size
        while True:
            offset = part.stat().st_size if part.exists() else 0
            if expected_size is not None and offset > expected_size:
                part.unlink()
                offset = 0
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                total = self._fetch_into(url, part, offset, headers, total, progress)
                break
            except (httpx.TransportError, _Transient) as exc:
                if attempt >= self.max_retries:
                    raise ServerUnreachableError(
                        f"downloading {url} failed: {exc}", details={"attempts": attempt + 1}
                    ) from exc
                self._sleep(self._delay(attempt, getattr(exc, "retry_after", None)))
                attempt += 1
        size = part.stat().st_size
        problem = None
        if total is not None and size != total:
            problem = f"{size:,} bytes arrived, the server announced {total:,}"
        elif expected_size is not None and size != expected_size:
            problem = f"{size:,} bytes arrived, expected {expected_size:,}"
        elif sha256 is not None and _sha256(part) != sha256.lower():
            problem = "its SHA-256 does not match"
        if problem is not None:
            part.unlink(missing_ok=True)
            raise CorruptDownloadError(
                f"the download of {target.name} is corrupt ({problem}); {target} was left "
                "as it was — try again",
                details={"size": size, "expected": total if total is not None else expected_size},
            )
        os.replace(part, target)
        return target

    def _fetch_into(
        self,
        url: str,
        part: Path,
        offset: int,
        headers: dict[str, str],
        total: int | None,
        progress: Progress | None,
    ) -> int | None:
        """One GET into ``part``; the file's total size as the server announced it."""
        with self._http.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status == 416:  # the part is not a prefix of the file any more: start over
                part.unlink(missing_ok=True)
                raise _Transient("the server refused the resumed range")
            if status >= 400:
                response.read()
                if self._rate_limited(response) or status in _RETRY_STATUSES:
                    raise _Transient(f"HTTP {status}", self._retry_after(response))
                raise error_from_response(status, response.content)
            mode = "ab"
            if status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
                if match is None or int(match.group(1)) != offset:
                    part.unlink(missing_ok=True)
                    raise _Transient("the server answered another range")
                if match.group(3) != "*":
                    total = int(match.group(3))
            else:  # a full answer: whatever was there is replaced
                mode, offset = "wb", 0
                length = response.headers.get("content-length")
                if length is not None and length.isdigit():
                    total = int(length)
            done = offset
            with open(part, mode) as fh:
                if progress is not None:
                    progress(done, total)
                for chunk in response.iter_bytes():  # as they arrive: nothing held back
                    fh.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
                fh.flush()
                os.fsync(fh.fileno())
        return total

    # -- submissions --------------------------------------------------------------------

    def upload_predictions(
        self,
        model: int | str,
        predictions: bytes | str | os.PathLike[str],
        *,
        filename: str | None = None,
        round_number: int | None = None,
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> Submission:
        """Submit a prediction file (a path, or the file's bytes) for ``model``.

        The file is the raw request body; ``progress(sent, total)`` follows it. Retries
        reuse one idempotency key, so a file is recorded once however often it is sent."""
        if isinstance(predictions, bytes):
            data, name = predictions, filename or "predictions.csv"
        else:
            path = Path(predictions)
            data, name = path.read_bytes(), filename or path.name
        total = len(data)

        def body() -> Iterator[bytes]:
            sent = 0
            if progress is not None:
                progress(0, total)
            for start in range(0, total, _CHUNK):
                chunk = data[start : start + _CHUNK]
                sent += len(chunk)
                yield chunk
                if progress is not None:
                    progress(sent, total)

        response = self._send(
            "POST",
            f"/v1/models/{self._model_id(model)}/submissions",
            params={"filename": name, "round": round_number},
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(total),
                "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
            },
            content=body,
        )
        return Submission.from_json(response.json())

    def submissions(
        self, model: int | str, round_number: int | None = None, *, latest: int | None = None
    ) -> list[Submission]:
        """The model's submissions, oldest first (``latest``: only the newest so many)."""
        path = f"/v1/models/{self._model_id(model)}/submissions"
        return [Submission.from_json(d) for d in self._get(path, round=round_number, latest=latest)]

    def submission(self, submission_id: int) -> Submission:
        return Submission.from_json(self._get(f"/v1/submissions/{submission_id}"))

    def submission_file(self, submission_id: int) -> bytes:
        """A submitted file as uploaded, checked against its SHA-256."""
        response = self._send("GET", f"/v1/submissions/{submission_id}/file")
        expected = response.headers.get("x-content-sha256")
        if expected and hashlib.sha256(response.content).hexdigest() != expected:
            raise CorruptDownloadError(f"submission {submission_id}'s file arrived corrupt")
        return response.content

    # -- scores, payouts, leaderboard ---------------------------------------------------

    def scores(self, model: int | str, round_number: int | None = None) -> list[Score]:
        path = f"/v1/models/{self._model_id(model)}/scores"
        return [Score.from_json(d) for d in self._get(path, round=round_number)]

    def payouts(self, model: int | str, round_number: int | None = None) -> list[Payout]:
        path = f"/v1/models/{self._model_id(model)}/payouts"
        return [Payout.from_json(d) for d in self._get(path, round=round_number)]

    def leaderboard(
        self,
        by: str = "reputation",
        limit: int = 100,
        offset: int = 0,
        competition: str | None = None,
    ) -> list[LeaderboardRow]:
        """``limit`` rows of the competition's leaderboard from rank ``offset + 1``."""
        rows = self._get(
            "/v1/leaderboard", by=by, limit=limit, offset=offset, competition=competition
        )
        return [LeaderboardRow.from_json(d) for d in rows]

    # -- governance -----------------------------------------------------------------------

    def proposals(self, *, states: list[str] | None = None) -> list[Proposal]:
        """Every governance proposal, newest first, with its live (or final) tally."""
        rows = self._get("/v1/governance/proposals", state=states)
        return [Proposal.from_json(d) for d in rows]

    def proposal(self, proposal_id: int) -> Proposal:
        """One proposal with its votes and audit trail."""
        return Proposal.from_json(self._get(f"/v1/governance/proposals/{int(proposal_id)}"))

    def propose(
        self,
        title: str,
        *,
        description: str = "",
        competition: str | None = None,
        changes: dict[str, str] | None = None,
        governance: dict[str, str] | None = None,
        grant_to: int | None = None,
        grant_amount: Amount | None = None,
    ) -> Proposal:
        """Propose round-setting ``changes`` (of ``competition``), ``governance`` rule
        changes, or a grant; the deposit is locked from the wallet."""
        body = {
            "title": title,
            "description": description,
            "competition": competition,
            "changes": changes,
            "governance": governance,
            "grant_to": grant_to,
            "grant_amount": None if grant_amount is None else _wire_amount(grant_amount),
        }
        return Proposal.from_json(self._write("POST", "/v1/governance/proposals", body))

    def vote(self, proposal_id: int, choice: str) -> ProposalVote:
        """Vote ``for``, ``against`` or ``abstain``; a later vote replaces this one."""
        path = f"/v1/governance/proposals/{int(proposal_id)}/votes"
        return ProposalVote.from_json(self._write("POST", path, {"choice": choice}, safe=True))

    def governance_parameters(self) -> dict[str, Any]:
        """Every governable setting: value in force, hard bounds, largest move."""
        result: dict[str, Any] = self._get("/v1/governance/parameters")
        return result

    def verify_governance(self) -> dict[str, Any]:
        """The server's recomputation of every tally from the ledger (``ok``, ``problems``)."""
        result: dict[str, Any] = self._get("/v1/governance/verify")
        return result

    # -- operators (admin scope) --------------------------------------------------------

    def grant(
        self,
        amount: Amount,
        *,
        account_id: int | None = None,
        username: str | None = None,
        idempotency_key: str | None = None,
    ) -> Grant:
        """Give NMR from the treasury to an account (by id or username)."""
        body = {"amount": _wire_amount(amount), "account_id": account_id, "username": username}
        key = idempotency_key or str(uuid.uuid4())
        return Grant.from_json(self._write("POST", "/v1/admin/grants", body, key=key))

    def all_submissions(
        self,
        *,
        round_number: int | None = None,
        model_id: int | None = None,
        state: str | None = None,
    ) -> list[Submission]:
        rows = self._get(
            "/v1/admin/submissions", round=round_number, model_id=model_id, state=state
        )
        return [Submission.from_json(d) for d in rows]

    def ledger_check(self) -> LedgerCheck:
        return LedgerCheck.from_json(self._get("/v1/admin/ledger/check"))

    def tick(self) -> TickResult:
        """Run the round clock once (tick is idempotent: safe to retry)."""
        return TickResult.from_json(self._write("POST", "/v1/admin/tick", safe=True))


class _Transient(Exception):
    """A download attempt that failed in a way worth retrying."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
