"""The participant CLI against a real server (uvicorn on 127.0.0.1): sign up, create
models, download the live data, submit, stake, and read the resolved round's scores,
payouts and status — the numbers the core itself holds. Plus the credentials file's
permissions and readable errors (refused file, not logged in, wrong key, server down)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.conftest import fresh_engine
from tests.live_server import ServerThread
from tests.server.rest_support import Served, build
from typer.testing import CliRunner, Result

from crowdalpha.cli import app
from crowdalpha.cli.credentials import Credentials, load_credentials, save_credentials
from crowdalpha.units import display_nmr, format_nmr, nmr

runner = CliRunner()


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config folder, no key in the environment, wide tables."""
    folder = tmp_path / "config" / "crowdalpha"
    monkeypatch.setenv("CROWDALPHA_CONFIG_DIR", str(folder))
    for name in ("CROWDALPHA_PUBLIC_ID", "CROWDALPHA_SECRET_KEY", "CROWDALPHA_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CROWDALPHA_RETRIES", "0")
    monkeypatch.setenv("COLUMNS", "200")
    return folder


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Served, str]]:
    server = ServerThread()
    engine = fresh_engine("sqlite", tmp_path)
    served = build(engine, tmp_path, public_url=server.url)
    server.start(served.app)
    try:
        yield served, server.url
    finally:
        server.stop()
        engine.dispose()


def cli(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str, input: str | None = None) -> Result:
    """A command that must fail with one readable line, exit code 2 and no traceback."""
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert "Traceback" not in result.output
    return result


def as_json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def predictions(ids: list[str], signal: pd.Series, noise: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    raw = signal.reindex(ids).to_numpy() + noise * rng.normal(size=len(ids))
    ranks = (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)
    return pd.DataFrame({"id": ids, "prediction": ranks})


def test_a_participant_plays_a_round_from_the_command_line(
    live: tuple[Served, str], tmp_path: Path, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, url = live
    t = served.tournament

    # -- not logged in yet -------------------------------------------------------------------
    assert "not_logged_in: not logged in" in refused("status").stderr
    assert "crowdalpha login" in refused("models").stderr

    # -- sign up: the account is created and its key saved privately ------------------------
    out = cli("signup", "--url", url, "--username", "alice", "--email", "alice@example.org")
    assert "account alice created" in out and "logged in to" in out
    saved = load_credentials()
    assert saved.url == url and saved.secret_key not in out
    assert stat.S_IMODE((config_dir / "credentials.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    alice = t.account_by_username("alice")
    t.grant(alice.id, nmr(100))

    # -- models ------------------------------------------------------------------------------
    assert "model alpha created" in cli("models", "create", "alpha")
    cli("models", "create", "Beta")  # names are lower-cased by the server
    assert [m["model"] for m in as_json("models")] == ["alpha", "beta"]
    assert "beta" in cli("models", "list")
    assert "conflict" in refused("models", "create", "alpha").stderr

    # -- download the open round's live data ------------------------------------------------
    assert "no round is open" in refused("download").stderr
    number = served.open_round()
    data = tmp_path / "data"
    out = cli("download", "--dest", str(data))  # every file of the round
    stored = t.store.get(t.dataset_key(number, "live.parquet"))
    live_file = data / "live.parquet"
    assert live_file.read_bytes() == stored
    assert (data / "features.json").read_bytes() == t.store.get(
        t.dataset_key(number, "features.json")
    )
    assert f"round {number}: 2 file(s) downloaded" in out
    # an interrupted download leaves the existing file as it was, and resumes from its
    # .part file with a Range request when run again
    live_file.write_bytes(b"an older live.parquet")
    read_chunks = httpx.Response.iter_bytes

    def cut(self: httpx.Response, chunk_size: int | None = None) -> Iterator[bytes]:
        if not self.request.url.path.startswith("/files/"):  # the signed file URL
            yield from read_chunks(self, chunk_size)
            return
        for chunk in read_chunks(self, chunk_size):
            yield chunk[:1000]
            raise KeyboardInterrupt  # Ctrl-C after the first kilobyte

    with monkeypatch.context() as patch:
        patch.setattr(httpx.Response, "iter_bytes", cut)
        result = runner.invoke(app, ["download", "live.parquet", "--dest", str(data)])
    assert result.exit_code == 130 and "run the same command again" in result.stderr
    assert live_file.read_bytes() == b"an older live.parquet"
    assert (data / "live.parquet.part").read_bytes() == stored[:1000]
    ranges: list[str | None] = []
    stream = httpx.Client.stream

    def spy(self: httpx.Client, method: str, url: str, **kw: Any) -> Any:
        ranges.append((kw.get("headers") or {}).get("Range"))
        return stream(self, method, url, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(httpx.Client, "stream", spy)
        cli("download", "live.parquet", "--dest", str(data), "--round", str(number))
    assert ranges == ["bytes=1000-"]
    assert live_file.read_bytes() == stored
    assert sorted(p.name for p in data.iterdir()) == ["features.json", "live.parquet"]
    # a .part left by another file (last round's live.parquet) is started over, not resumed
    (data / "live.parquet.part").write_bytes(b"x" * 1000)
    (data / "live.parquet.part.json").write_text('{"round": 0}')
    cli("download", "live.parquet", "--dest", str(data))
    assert live_file.read_bytes() == stored
    assert "has no 'nope.csv'" in refused("download", "nope.csv", "--dest", str(data)).stderr

    # -- submit predictions for two models, built from the downloaded ids -------------------
    ids = list(pd.read_parquet(live_file).index)
    assert ids == t.live_ids(number)
    signal = served.data.skill_signal(number)
    files = {}
    for i, name in enumerate(("alpha", "beta")):
        files[name] = tmp_path / f"{name}.csv"
        predictions(ids, signal, 0.5 + i, seed=i).to_csv(files[name], index=False)
    out = cli("submit", "alpha", str(files["alpha"]))
    digest = hashlib.sha256(files["alpha"].read_bytes()).hexdigest()
    assert f"sha256  {digest}" in out and f"for round {number}" in out
    beta_sub = as_json("submit", "beta", str(files["beta"]))
    stored_subs = {s.id: s for s in t.submissions(round_number=number)}
    assert beta_sub["state"] == stored_subs[beta_sub["id"]].state
    assert beta_sub["sha256"] == hashlib.sha256(files["beta"].read_bytes()).hexdigest()
    assert len(stored_subs) == 2

    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": ids[:5], "prediction": [0.1, 0.2, 0.3, 0.4, 0.5]}).to_csv(bad, index=False)
    error = refused("submit", "alpha", str(bad)).stderr
    assert "\nerror invalid_submission_ids: " in error and "every row" in error
    assert len(t.submissions(round_number=number)) == 2  # nothing stored on refusal
    assert "no model 'gamma'" in refused("submit", "gamma", str(files["alpha"])).stderr

    # -- stakes, exact to the base unit -----------------------------------------------------
    assert "stake 25.00 NMR" in cli("stake", "alpha", "--increase", "25")
    cli("stake", "beta", "--set", "10.250000000000000001")
    out = cli("stake", "beta", "--decrease", "0.000000000000000001")  # nothing at risk yet
    assert "stake 10.25 NMR" in out and "64.75 NMR available" in out
    shown = as_json("stake", "alpha")
    assert (shown["stake"], shown["pending"], shown["releases"]) == ("25", "0", [])
    assert "insufficient_funds" in refused("stake", "alpha", "--increase", "64.76").stderr
    assert "invalid_amount" in refused("stake", "alpha", "--increase", "1e-30").stderr
    assert refused("stake", "alpha", "--increase", "1", "--set", "2").exit_code == 2

    before = as_json("status")
    assert before["current_round"]["number"] == number
    assert {m["model"]: m["latest_submission"]["state"] for m in before["models"]} == {
        s_name: stored_subs[sid].state
        for s_name, sid in (
            ("alpha", next(i for i, s in stored_subs.items() if s.id != beta_sub["id"])),
            ("beta", beta_sub["id"]),
        )
    }

    # -- the round closes (stakes at risk), a decrease waits, then the round resolves --------
    served.clock.set(t.round(number).closes_at)
    t.tick()
    out = cli("stake", "alpha", "--decrease", "5")
    assert "pending release 5.00 NMR" in out and "Pending releases" in out
    served.clock.set(t.round(number).resolves_at)
    t.tick()
    assert t.round(number).state == "resolved"

    models = {m.name: m.id for m in t.models(alice.id)}
    for name, model_id in models.items():
        expected = t.scores(model_id=model_id, round_number=number)
        got = as_json("scores", name)
        assert [s["round"] for s in got] == [number] and got[0]["final"] is True
        assert got[0]["corr"] == pytest.approx(expected[0].corr, rel=1e-12)
        assert got[0]["mmc"] == pytest.approx(expected[0].mmc, rel=1e-12)
        assert f"{expected[0].corr:+.6f}" in cli("scores", name)

        paid = t.payouts(model_id=model_id, round_number=number)[0]
        got_paid = as_json("payouts", name)
        assert got_paid == [
            {
                "round": number,
                "model_id": model_id,
                "stake_at_risk": format_nmr(paid.stake_at_risk),
                "payout": format_nmr(paid.amount),
            }
        ]
        assert display_nmr(paid.amount) in cli("payouts", name)

    after = as_json("status")
    wallet = t.wallet_balance(alice.id)
    assert after["account"]["username"] == "alice"
    assert after["wallet"]["balance"] == format_nmr(wallet)
    by_name = {m["model"]: m for m in after["models"]}
    for name, model_id in models.items():
        info = t.stake_info(model_id)
        paid = t.payouts(model_id=model_id, round_number=number)[0]
        assert by_name[name]["stake"] == format_nmr(info.stake)
        assert by_name[name]["latest_submission"]["state"] == "resolved"
        assert by_name[name]["latest_payout"]["payout"] == format_nmr(paid.amount)
        assert by_name[name]["latest_score"]["corr"] == pytest.approx(
            t.scores(model_id=model_id, round_number=number)[0].corr, rel=1e-12
        )
    alpha_paid = t.payouts(model_id=models["alpha"], round_number=number)[0].amount
    assert by_name["alpha"]["stake"] == format_nmr(nmr(20) + alpha_paid)  # 5 came back
    table = cli("status")
    assert "alice" in table and f"round {number}: resolved" in table
    assert display_nmr(alpha_paid) in table

    # -- the leaderboard, as the server ranks it ------------------------------------------
    board = as_json("leaderboard", "--by", "stake")
    want = t.leaderboard(by="stake", limit=20)
    assert len(board) >= 2
    assert [(r["rank"], r["model"], r["stake"]) for r in board] == [
        (w.rank, w.model_name, format_nmr(w.stake)) for w in want
    ]
    assert as_json("leaderboard", "--by", "stake", "--offset", "1", "--limit", "1") == board[1:2]
    assert "alpha" in cli("leaderboard") and "Leaderboard by reputation" in cli("leaderboard")

    # -- keys: a wrong one is refused and nothing saved; the prompt hides the secret ---------
    refusal = refused(
        "login", "--url", url, "--public-id", saved.public_id, "--secret-key", "wrong"
    ).stderr
    assert "authentication_failed" in refusal and "crowdalpha login" in refusal
    assert load_credentials() == saved
    save_credentials(Credentials(url, saved.public_id, "stale"))
    refusal = refused("status").stderr
    assert "authentication_failed" in refusal and "refused the key saved in" in refusal
    out = cli("login", input=f"{url}\n{saved.public_id}\n{saved.secret_key}\n")
    assert "logged in to" in out and saved.secret_key not in out
    assert "logged out" in cli("logout")
    assert "not_logged_in" in refused("scores", "alpha").stderr
    # the leaderboard is public: no key needed
    result = runner.invoke(app, ["leaderboard", "--json"], env={"CROWDALPHA_SERVER_URL": url})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["model"] == t.leaderboard(limit=1)[0].model_name
    # the key can also come from the environment, without a saved file
    env = {
        "CROWDALPHA_PUBLIC_ID": saved.public_id,
        "CROWDALPHA_SECRET_KEY": saved.secret_key,
        "CROWDALPHA_SERVER_URL": url,
    }
    result = runner.invoke(app, ["models", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert "alpha" in result.stdout
    result = runner.invoke(app, ["login"], env=env)
    assert result.exit_code == 0, result.output
    assert load_credentials() == saved
    cli("logout", "--revoke")
    assert t.api_keys(alice.id)[0].revoked_at is not None


def test_the_credentials_file_is_private_and_refused_otherwise(config_dir: Path) -> None:
    creds = Credentials("http://127.0.0.1:1", "pub", 'se"cr$et\\')
    path = save_credentials(creds)
    assert path == config_dir / "credentials.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    assert load_credentials() == creds
    assert "***" in repr(creds) and "cr$et" not in repr(creds)
    assert [p.name for p in config_dir.iterdir()] == ["credentials.toml"]  # no temp file left

    for mode in (0o644, 0o640, 0o604):
        os.chmod(path, mode)
        error = refused("status").stderr
        assert error.startswith("error insecure_credentials:")
        assert f"chmod 600 {path}" in error.replace("\n", "")
    os.chmod(path, 0o600)
    path.write_text("url = [broken")
    assert "bad_credentials_file" in refused("status").stderr
    path.write_text('url = "http://x"\n')
    assert "lacks public_id, secret_key" in refused("status").stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_that_is_down_gives_a_clear_message(tmp_path: Path, config_dir: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    error = refused("login", "--url", url, "--public-id", "pub", "--secret-key", "secret").stderr
    assert "server_unreachable" in error and f"could not reach the server at {url}" in error
    assert not (config_dir / "credentials.toml").exists()  # nothing saved unverified
    save_credentials(Credentials(url, "pub", "secret"))
    for args in (("status",), ("stake", "alpha"), ("download", "--dest", str(tmp_path))):
        assert "server_unreachable" in refused(*args).stderr
    assert "must start with http" in refused("login", "--url", "example.org").stderr


def test_a_model_webhook_bio_and_link_from_the_command_line(
    live: tuple[Served, str], config_dir: Path
) -> None:
    served, url = live
    t = served.tournament
    cli("signup", "--url", url, "--username", "dora", "--email", "dora@example.org")
    cli("models", "create", "delta")
    model = t.model_by_name("delta")

    out = cli("models", "webhook", "delta")
    assert "no webhook" in out and "crowdalpha models webhook delta URL" in out
    out = cli("models", "webhook", "delta", "https://93.184.216.34/hook")
    hook = t.webhooks.get(model.id)
    assert hook is not None and hook.url == "https://93.184.216.34/hook"
    assert "webhook set to https://93.184.216.34/hook" in out and hook.secret in out
    shown = as_json("models", "webhook", "delta")
    assert shown["url"] == hook.url and shown["secret"] == hook.secret

    # an internal address: refused with its code and reason, nothing changed
    result = refused("models", "webhook", "delta", "http://127.0.0.1:9000/hook")
    err = " ".join(result.stderr.split())
    assert "invalid_parameter" in err and "loopback" in err and "public addresses" in err
    assert t.webhooks.get(model.id) == hook
    assert "invalid_parameter" in refused("models", "webhook", "delta", "ftp://x.org/").stderr
    assert "no model 'nope'" in refused("models", "webhook", "nope", "https://1.1.1.1/").stderr

    assert "removed" in cli("models", "webhook", "delta", "--remove")
    assert t.webhooks.get(model.id) is None

    out = cli("models", "bio", "delta", "Ridge on the medium features.")
    assert "delta: bio Ridge on the medium features." in out
    out = cli("models", "link", "delta", "https://example.org/dora", "--text", "notes")
    assert "delta: link https://example.org/dora (notes)" in out
    profile = t.profiles.profile(model.id)
    assert (profile.bio, profile.link_url, profile.link_text) == (
        "Ridge on the medium features.",
        "https://example.org/dora",
        "notes",
    )
    shown = as_json("models", "bio", "delta")
    assert shown["bio"] == profile.bio and shown["link_url"] == profile.link_url
    assert "invalid_parameter" in refused("models", "link", "delta", "javascript:x").stderr
    assert "link (none)" in cli("models", "link", "delta", "")
    assert t.profiles.profile(model.id).link_url is None
