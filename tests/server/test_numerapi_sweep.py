"""Every public method of numerapi 3.1.1's ``NumerAPI``, called unchanged against a real
crowdalpha server: each is answered, or is on the short list of calls this server refuses
on purpose with ``not_supported: <why>`` (never GraphQL's ``Cannot query field``).

The methods are enumerated from the class, so a method this test forgets fails it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numerapi
import numerapi.base_api
import pandas as pd
import pytest
from tests.conftest import fresh_engine
from tests.server.graphql_support import Participant, add_participant, await_diagnostics, skilled
from tests.server.test_numerapi import LiveServer

from crowdalpha.ledger import nmr

#: Deliberately not served: Numerai Compute's model uploads.
UNSUPPORTED = {"model_upload", "model_upload_data_versions", "model_upload_docker_images"}
#: On-chain staking: answered when the operator enabled the chain, else refused.
CHAIN = {"v3_stake_auth", "v3_stake_claim", "v3_stake_config", "v3_stake_round"}


def public_methods() -> set[str]:
    return {
        name
        for name, _ in inspect.getmembers(numerapi.NumerAPI, inspect.isfunction)
        if not name.startswith("_")
    }


class Sweep:
    """The live server after one resolved round, and alice's numerapi client."""

    def __init__(self, live: LiveServer, tmp: Path) -> None:
        self.live = live
        self.tmp = tmp
        t = live.tournament
        self.alice: Participant = add_participant(t, "alice", ("alpha", "beta"), wallet="100")
        self.napi = numerapi.NumerAPI(
            self.alice.public_id, self.alice.secret, show_progress_bars=False
        )
        self.alpha = str(self.alice.models["alpha"])
        self.beta = str(self.alice.models["beta"])
        self.submit(1, self.alpha, 0.5)
        self.submit(1, self.beta, 1.5)
        t.increase_stake(int(self.alpha), nmr(20))
        t.increase_stake(int(self.beta), nmr(10))
        live.advance(timedelta(days=7))
        live.advance(timedelta(days=28))
        assert t.round(1).state == "resolved"

    def submit(self, number: int, model_id: str, noise: float) -> None:
        t = self.live.tournament
        ids = t.live_ids(number)
        values = skilled(self.live.data.skill_signal(number), noise, seed=int(model_id))
        frame = pd.DataFrame({"id": ids, "prediction": values})
        t.submit(int(model_id), frame.to_csv(index=False).encode(), round_number=number)


@pytest.fixture
def sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sweep]:
    engine = fresh_engine("sqlite", tmp_path)
    with LiveServer(engine, tmp_path / "home") as server:
        monkeypatch.setattr(numerapi.base_api, "API_TOURNAMENT_URL", f"{server.url}/graphql")
        yield Sweep(server, tmp_path)
    engine.dispose()


def check_chain(s: Sweep, call: Callable[[], Any]) -> None:
    """The v3 staking calls need the chain (tests/chain's anvil runs answer them); this
    server runs without one, so each is refused with a clear reason."""
    assert s.live.app.state.context.chain is None
    with pytest.raises(ValueError, match=r"^not_supported: chain staking is not enabled"):
        call()


def calls(s: Sweep) -> dict[str, Callable[[], None]]:
    t = s.live.tournament
    napi = s.napi
    current = t.current_round()
    assert current is not None
    now = datetime.now(UTC)

    def check_new_round() -> None:
        assert napi.check_new_round(hours=12) == (current.opens_at > now - timedelta(hours=12))

    def check_round_open() -> None:
        assert napi.check_round_open() == (current.opens_at < now < current.closes_at)

    def daily_model_performances() -> None:
        rows = napi.daily_model_performances("alpha")
        assert len(rows) == 1 and rows[0]["corrRep"] is not None

    def diagnostics_pair() -> None:
        validation = s.live.data.validation()
        frame = pd.DataFrame(
            {
                "id": validation.index,
                "prediction": skilled(s.live.data.validation_signal(), 1.0, 9),
            }
        )
        ident = napi.upload_diagnostics(df=frame, model_id=s.alpha)
        assert await_diagnostics(napi, s.alpha, ident)["status"] == "succeeded"
        assert napi.diagnostics(s.alpha)["erasAcceptedCount"] == 3

    def download_dataset() -> None:
        dest = s.tmp / "meta_model.parquet"
        napi.download_dataset("v5.0/meta_model.parquet", str(dest))
        meta = pd.read_parquet(dest)
        expected = t.meta_model(1)
        assert list(meta.columns) == ["era", "data_type", "numerai_meta_model"]
        assert meta.index.name == "id" and list(meta.index) == [str(i) for i in expected.index]
        assert (meta["era"] == "0001").all() and (meta["data_type"] == "live").all()
        assert meta["numerai_meta_model"].to_numpy() == pytest.approx(expected.to_numpy())

    def download_submission() -> None:
        dest = s.tmp / "latest.csv"
        napi.download_submission(model_id=s.alpha, dest_path=str(dest))
        latest = max(t.submissions(model_id=int(s.alpha)), key=lambda x: x.id)
        assert dest.read_bytes() == t.submission_file(latest.id)
        first = napi.submission_ids(s.alpha)[0]["id"]
        older = s.tmp / "first.csv"
        napi.download_submission(submission_id=first, dest_path=str(older))
        assert older.read_bytes() == t.submission_file(int(first))
        bob = add_participant(t, "bob", ("gamma",))
        bobs = numerapi.NumerAPI(bob.public_id, bob.secret, show_progress_bars=False)
        with pytest.raises(ValueError, match="permission_denied"):
            bobs.download_submission(submission_id=first, dest_path=str(s.tmp / "x.csv"))

    def get_account() -> None:
        account = napi.get_account()
        assert account["mfaEnabled"] is False
        assert account["apiTokens"] == [
            {"name": "test", "public_id": s.alice.public_id, "scopes": ["read", "stake", "upload"]}
        ]
        assert account["availableNmr"] == Decimal(70)

    def get_competitions() -> None:
        numbers = {r["number"] for r in napi.get_competitions()}
        assert numbers == {r.number for r in t.rounds()}

    def get_submission_filenames() -> None:
        names = napi.get_submission_filenames(model_id=s.alpha)
        assert {n["round_num"] for n in names} == {
            x.round_number for x in t.submissions(model_id=int(s.alpha))
        }
        assert 1 in {n["round_num"] for n in names}

    def intra_round_scores() -> None:
        rows = napi.intra_round_scores(s.alpha)
        assert [r["roundNumber"] for r in rows if r["roundNumber"] == 1] == [1]

    def pipeline_status() -> None:
        resolved_on = t.round(1).resolved_at
        assert resolved_on is not None
        status = napi.pipeline_status(resolved_on.date().isoformat())
        assert status["tournament"] == "classic"
        assert status["resolvedAt"] == resolved_on
        assert status["isScoringDay"] is True  # round 1 was scored until it resolved
        last = max(x.scored_at for x in t.scores(round_number=1))
        assert status["scoredAt"] == last and status["startedAt"] <= last
        before = napi.pipeline_status((t.round(1).opens_at - timedelta(days=3)).date().isoformat())
        assert before["isScoringDay"] is False
        assert [before[k] for k in ("dataReadyAt", "startedAt", "scoredAt", "resolvedAt")] == [
            None
        ] * 4
        today = napi.pipeline_status(current.opens_at.date().isoformat())
        assert today["dataReadyAt"] == current.opens_at
        with pytest.raises(ValueError, match="invalid_parameter: date must be YYYY-MM-DD"):
            napi.pipeline_status("yesterday")

    def public_user_profile() -> None:
        assert napi.set_bio(s.alpha, "Ridge on every feature.") is True
        assert napi.public_user_profile("alpha")["bio"] == "Ridge on every feature."

    def set_link() -> None:
        assert napi.set_link(s.alpha, "my site", "https://example.org/alpha") is True
        profile = t.profiles.profile(int(s.alpha))
        assert (profile.link_text, profile.link_url) == ("my site", "https://example.org/alpha")
        with pytest.raises(ValueError, match="invalid_parameter: the link must be an http"):
            napi.set_link(s.alpha, "x", "javascript:alert(1)")

    def set_submission_webhook() -> None:
        assert napi.set_submission_webhook(s.alpha, "http://127.0.0.1:9/hook") is True
        hook = t.webhooks.get(int(s.alpha))
        assert hook is not None and hook.url == "http://127.0.0.1:9/hook"
        got = napi.raw_query(
            "query($m: String) { submissionWebhook(modelId: $m) { url secret } }",
            {"m": s.alpha},
            authorization=True,
        )["data"]["submissionWebhook"]
        assert got == {"url": hook.url, "secret": hook.secret}
        assert napi.set_submission_webhook(s.alpha, None) is True
        assert t.webhooks.get(int(s.alpha)) is None

    def set_global_data_dir() -> None:
        napi.set_global_data_dir(str(s.tmp / "data"))
        assert napi.global_data_dir == str(s.tmp / "data")
        napi.set_global_data_dir(".")

    def stakes() -> None:
        before = napi.stake_get("beta")  # 10 NMR and round 1's payout
        assert before is not None and before != Decimal(10)
        assert napi.stake_increase("1", s.beta)["type"] == "increase"
        assert napi.stake_change("1", "increase", s.beta)["requestedAmount"] == Decimal(1)
        assert napi.stake_get("beta") == before + 2
        napi.stake_set("20", s.beta)
        assert napi.stake_get("beta") == Decimal(20)
        assert napi.stake_decrease("1", s.beta)["type"] == "decrease"
        assert napi.stake_drain(s.beta)["drain"] is True

    def upload_predictions() -> None:
        ids = t.live_ids(current.number)
        frame = pd.DataFrame(
            {"id": ids, "prediction": [(i + 0.5) / len(ids) for i in range(len(ids))]}
        )
        ident = napi.upload_predictions(df=frame, model_id=s.alpha)
        assert t.submission(int(ident)).round_number == current.number

    def round_model_performances() -> None:
        with pytest.warns(DeprecationWarning):  # it calls round_model_performances_v2
            rows = napi.round_model_performances("alpha")
        assert any(p["roundNumber"] == 1 and p["roundResolved"] for p in rows)

    def round_model_performances_v2() -> None:
        with pytest.warns(DeprecationWarning):
            rows = napi.round_model_performances_v2(s.alpha)
        first = next(r for r in rows if r["roundNumber"] == 1)
        assert first["atRisk"] == Decimal(20) and first["roundResolved"] is True

    def models_of_account() -> None:
        assert napi.models_of_account("alice") == {"alpha": s.alpha, "beta": s.beta}

    def raw_query() -> None:
        data = napi.raw_query("query { rounds(number: 1) { number state } }")
        assert data["data"]["rounds"] == [{"number": 1, "state": "resolved"}]

    def unsupported(method: str) -> Callable[[], None]:
        def call() -> None:
            target = s.tmp / "model.pkl"
            target.write_bytes(b"not a model")
            fn = getattr(napi, method)
            with pytest.raises(ValueError) as err:
                fn(str(target)) if method == "model_upload" else fn()
            message = str(err.value)
            assert message.startswith("not_supported: ") and "Numerai Compute" in message
            assert "Cannot query field" not in message

        return call

    table: dict[str, Callable[[], None]] = {
        "check_new_round": check_new_round,
        "check_round_open": check_round_open,
        "daily_model_performances": daily_model_performances,
        "diagnostics": diagnostics_pair,
        "download_dataset": download_dataset,
        "download_submission": download_submission,
        "get_account": get_account,
        "get_account_leaderboard": lambda: (
            next(r["username"] for r in napi.get_account_leaderboard()) == "alice"
            or pytest.fail("account leaderboard")
        ),
        "get_competitions": get_competitions,
        "get_current_round": lambda: (
            napi.get_current_round() == current.number or pytest.fail("current round")
        ),
        "get_leaderboard": lambda: (
            {"alpha", "beta"} <= {r["username"] for r in napi.get_leaderboard()}
            or pytest.fail("leaderboard")
        ),
        "get_models": lambda: (
            napi.get_models() == {"alpha": s.alpha, "beta": s.beta} or pytest.fail("models")
        ),
        "get_submission_filenames": get_submission_filenames,
        "intra_round_scores": intra_round_scores,
        "list_datasets": lambda: (
            {"v5.0/live.parquet", "v5.0/meta_model.parquet"} <= set(napi.list_datasets())
            or pytest.fail("datasets")
        ),
        "list_rounds": lambda: (
            [r["number"] for r in napi.list_rounds(status="resolved")] == [1]
            or pytest.fail("rounds")
        ),
        "modelid_to_modelname": lambda: (
            napi.modelid_to_modelname(s.alpha) == "alpha" or pytest.fail("model name")
        ),
        "models_of_account": models_of_account,
        "pending_model_payouts": lambda: (
            {p["modelName"] for p in napi.pending_model_payouts()["actual"]} == {"alpha", "beta"}
            or pytest.fail("payouts")
        ),
        "pipeline_status": pipeline_status,
        "public_user_profile": public_user_profile,
        "raw_query": raw_query,
        "round_model_performances": round_model_performances,
        "round_model_performances_v2": round_model_performances_v2,
        "set_bio": public_user_profile,
        "set_global_data_dir": set_global_data_dir,
        "set_link": set_link,
        "set_submission_webhook": set_submission_webhook,
        "stake_change": stakes,
        "stake_decrease": stakes,
        "stake_drain": stakes,
        "stake_get": stakes,
        "stake_increase": stakes,
        "stake_set": stakes,
        "submission_ids": lambda: (
            len(napi.submission_ids(s.alpha)) == len(t.submissions(model_id=int(s.alpha)))
            or pytest.fail("submission ids")
        ),
        "submission_scores": lambda: (
            [x["roundNumber"] for x in napi.submission_scores(s.alpha, display_name="v2_corr20")]
            == [1]
            or pytest.fail("scores")
        ),
        "upload_diagnostics": diagnostics_pair,
        "upload_predictions": upload_predictions,
        "v3_stake_auth": lambda: check_chain(
            s, lambda: napi.v3_stake_auth("1", "0x" + "11" * 20, "1")
        ),
        "v3_stake_claim": lambda: check_chain(
            s, lambda: napi.v3_stake_claim(1, s.alpha, "0x" + "11" * 20)
        ),
        "v3_stake_config": lambda: check_chain(s, napi.v3_stake_config),
        "v3_stake_round": lambda: check_chain(s, lambda: napi.v3_stake_round(1)),
        "wallet_transactions": lambda: (
            isinstance(napi.wallet_transactions(), list) or pytest.fail("wallet transactions")
        ),
    }
    for method in UNSUPPORTED:
        table[method] = unsupported(method)
    return table


def test_every_numerapi_method_is_answered_or_refused_clearly(sweep: Sweep) -> None:
    table = calls(sweep)
    methods = public_methods()
    assert len(methods) == 46
    missing = methods - set(table)
    assert not missing, f"numerapi methods the sweep does not call: {sorted(missing)}"
    assert set(table) == methods
    done: set[int] = set()
    for method in sorted(methods):
        call = table[method]
        if id(call) in done:  # one check covers several methods (stake_*, set_bio…)
            continue
        done.add(id(call))
        try:
            call()
        except ValueError as exc:
            pytest.fail(f"numerapi's {method} failed: {exc}")
