"""File names and signed URLs: a name can only pick a file the round published (no path
traversal, absolute path or encoding trick reaches anything else), and a signed URL serves
exactly the file it was signed for, until it expires — editing its path or its token
reaches neither another file nor another account's file.

The REST routes (``/v1/rounds/{n}/datasets/{name}``), GraphQL's ``dataset`` and
``submissionDownloadAuth`` (numerapi's), and the signed routes ``/files/{token}/{name}`` and
``/uploads/{token}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import pytest
from tests.server.rest_support import Participant, Served, predictions_csv, served

from crowdalpha.server import signing

__all__ = ["served"]

#: Names that try to leave the round's files (as they reach the server, percent-encoded where
#: a URL would otherwise lose them).
TRICKS = (
    "../../../../etc/passwd",
    "/etc/passwd",
    "v5.0/../../../../etc/passwd",
    "..\\..\\..\\etc\\passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%252e%252e%252fetc%252fpasswd",
    "....//....//etc/passwd",
    "live.parquet\x00.txt",
    "live.parquet%00",
    "~/.ssh/id_rsa",
    "file:///etc/passwd",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".", 1)[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def _forge(token: str, **changes: Any) -> str:
    """``token`` with its facts edited and its signature kept (what an attacker can do)."""
    payload = {**_payload(token), **changes}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{token.split('.', 1)[1]}"


def _path(url: str) -> str:
    return urlsplit(url).path


def _token(url: str) -> str:
    return _path(url).split("/")[2]


def _submission_url(s: Served, who: Participant, submission: int) -> str:
    body = s.client.post(
        "/graphql",
        json={"query": f'{{ submissionDownloadAuth(id: "{submission}") {{ url }} }}'},
        headers=who.headers,
    ).json()
    assert "errors" not in body, body
    return str(body["data"]["submissionDownloadAuth"]["url"])


@pytest.fixture
def round_(served: Served) -> int:
    return served.open_round()


def _upload(s: Served, who: Participant, model: int, content: bytes) -> int:
    response = s.client.post(
        f"/v1/models/{model}/submissions", content=content, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


# -- names -------------------------------------------------------------------------------


def test_dataset_names_that_leave_the_round_are_refused(served: Served, round_: int) -> None:
    query = "query($f: String!) { dataset(filename: $f) }"
    for name in TRICKS:
        # as a client would send it, and with every byte percent-encoded (so that no client
        # or router normalizes it away: the handler sees exactly ``name``)
        for sent in (quote(name, safe="/%~:"), "".join(f"%{b:02X}" for b in name.encode())):
            response = served.client.get(
                f"/v1/rounds/{round_}/datasets/{sent}", params={"redirect": "false"}
            )
            assert response.status_code in (404, 422), (sent, response.status_code, response.text)
            code = response.json()["error"]["code"]
            assert code in ("not_found", "invalid_parameter", "invalid_input"), (sent, code)
        body = served.client.post("/graphql", json={"query": query, "variables": {"f": name}})
        reply = body.json()
        assert reply["data"] is None
        assert reply["errors"][0]["extensions"]["code"] == "not_found", (name, reply)


def test_a_published_name_is_served(served: Served, round_: int) -> None:
    """The refusals above are not everything refused: the published names work."""
    listed = served.client.get(f"/v1/rounds/{round_}/datasets").json()
    assert listed
    for item in listed:
        got = served.client.get(item["url"])
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == item["sha256"]


# -- signed download URLs ------------------------------------------------------------------


def test_editing_the_name_of_a_signed_url_serves_the_same_file(served: Served, round_: int) -> None:
    first, second = served.client.get(f"/v1/rounds/{round_}/datasets").json()[:2]
    token = _token(first["url"])
    for name in (second["name"], "..%2F..%2Fsigning.key", "%2e%2e", "x%00y", "a\\b", "signing.key"):
        response = served.client.get(f"/files/{token}/{name}")
        if response.status_code == 200:  # the name is only what the file is saved as
            assert hashlib.sha256(response.content).hexdigest() == first["sha256"], name
        else:  # a name the route does not match
            assert response.status_code == 404, (name, response.text)


def test_a_signed_url_cannot_be_edited_to_reach_another_file(served: Served, round_: int) -> None:
    first, second = served.client.get(f"/v1/rounds/{round_}/datasets").json()[:2]
    token = _token(first["url"])
    other_key = _payload(_token(second["url"]))["key"]
    for forged in (
        _forge(token, key=other_key),
        _forge(token, key="../home/signing.key"),
        _forge(token, e=int(time.time()) + 10**9),  # a longer life
        _forge(token, p="upload"),
        token.split(".")[0] + ".",
        token.split(".")[0],
        "..",
        "%2e%2e",
        "a%00b",
    ):
        response = served.client.get(f"/files/{forged}/{second['name']}")
        assert response.status_code in (401, 404), (forged, response.status_code)
        assert second["sha256"] not in response.text


def test_a_url_for_one_accounts_submission_never_serves_anothers(served: Served) -> None:
    s = served
    bob = s.sign_up("bob")
    alice = s.sign_up("alice")
    bob_model = s.create_model(bob, "bob_m")
    alice_model = s.create_model(alice, "alice_m")
    number = s.open_round()
    ids = s.tournament.live_ids(number)
    bob_file = predictions_csv(ids)
    alice_file = predictions_csv(ids, (np.arange(len(ids))[::-1] + 0.5) / len(ids))
    bob_sub = _upload(s, bob, bob_model, bob_file)
    alice_sub = _upload(s, alice, alice_model, alice_file)
    bob_url = _submission_url(s, bob, bob_sub)
    assert s.client.get(bob_url).content == bob_file

    # alice cannot get a URL for bob's submission, nor bob one for hers
    for who, sub in ((alice, bob_sub), (bob, alice_sub)):
        body = s.client.post(
            "/graphql",
            json={"query": f'{{ submissionDownloadAuth(id: "{sub}") {{ url }} }}'},
            headers=who.headers,
        ).json()
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] in ("permission_denied", "not_found")

    # bob's URL with alice's file's name, or its token edited to alice's file: never hers
    alice_key = s.tournament.submission_key(alice_sub)
    token = _token(bob_url)
    same = s.client.get(f"/files/{token}/{alice_key.rsplit('/', 1)[-1]}")
    assert same.status_code == 200 and same.content == bob_file
    forged = s.client.get(f"/files/{_forge(token, key=alice_key)}/x.csv")
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "authentication_failed"
    assert alice_file not in forged.content


def test_signed_urls_expire(served: Served, round_: int, monkeypatch: pytest.MonkeyPatch) -> None:
    [item, *_] = served.client.get(f"/v1/rounds/{round_}/datasets").json()
    upload_url = served.app.state.context.upload_url("uploads/expiry/p.csv", 1)
    assert served.client.get(item["url"]).status_code == 200
    ttl = served.settings.signed_url_ttl
    real = time.time

    class Later:
        @staticmethod
        def time() -> float:
            return real() + ttl + 2

    monkeypatch.setattr(signing, "time", Later)
    for response in (
        served.client.get(item["url"]),
        served.client.put(upload_url, content=b"id,prediction\n"),
    ):
        assert response.status_code == 401
        assert "expired" in response.json()["error"]["message"]
    assert not served.tournament.store.exists("uploads/expiry/p.csv")


def test_download_and_upload_urls_are_not_interchangeable(served: Served, round_: int) -> None:
    [item, *_] = served.client.get(f"/v1/rounds/{round_}/datasets").json()
    before = served.client.get(item["url"]).content
    download = _token(item["url"])
    upload_url = served.app.state.context.upload_url("uploads/swap/p.csv", 1)
    upload = _path(upload_url).rsplit("/", 1)[-1]
    # a download token PUT to: refused, the dataset file unchanged
    put = served.client.put(f"/uploads/{download}", content=b"overwritten")
    assert put.status_code == 401
    assert served.client.get(item["url"]).content == before
    # an upload token read from: refused
    got = served.client.get(f"/files/{upload}/p.csv")
    assert got.status_code == 401
    # an upload token edited to write elsewhere (over the dataset file): refused
    target = _payload(download)["key"]
    forged = served.client.put(f"/uploads/{_forge(upload, key=target)}", content=b"overwritten")
    assert forged.status_code == 401
    assert served.client.get(item["url"]).content == before


def test_a_forged_signature_is_refused(served: Served, round_: int) -> None:
    """A token signed with another key (the attacker's) is refused: the key is the server's."""
    [item, *_] = served.client.get(f"/v1/rounds/{round_}/datasets").json()
    body = _token(item["url"]).split(".")[0]
    mac = hmac.new(b"attacker-key", body.encode(), hashlib.sha256).digest()
    response = served.client.get(f"/files/{body}.{_b64(mac)}/x")
    assert response.status_code == 401
