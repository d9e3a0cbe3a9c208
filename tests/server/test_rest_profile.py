"""A model's webhook, bio and link over REST (numerapi's ``set_submission_webhook``,
``set_bio``, ``set_link``): the same rules as GraphQL's — the core's URL and length checks,
and webhooks never to an internal address unless the operator allows them."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.server.rest_support import Served, served

from crowdalpha.server import create_app

__all__ = ["served"]

PUBLIC = "https://93.184.216.34/hook"  # a public IP literal: nothing is resolved


def test_a_model_webhook_is_set_read_and_removed(served: Served) -> None:
    c = served.client
    bob = served.sign_up("bob")
    model = served.create_model(bob, "bob_m")
    path = f"/v1/models/{model}/webhook"
    none = c.get(path, headers=bob.headers).json()
    assert none == {"model_id": model, "url": None, "secret": None, "updated_at": None}

    first = c.put(path, json={"url": f" {PUBLIC} "}, headers=bob.headers)
    assert first.status_code == 200, first.text
    hook = first.json()
    assert hook["url"] == PUBLIC and len(hook["secret"]) == 64
    assert c.get(path, headers=bob.headers).json() == hook
    stored = served.tournament.webhooks.get(model)
    assert stored is not None and stored.secret == hook["secret"]
    # the same URL keeps its secret; a new one gets a new secret
    assert c.put(path, json={"url": PUBLIC}, headers=bob.headers).json()["secret"] == hook["secret"]
    moved = c.put(path, json={"url": PUBLIC + "2"}, headers=bob.headers).json()
    assert moved["url"] == PUBLIC + "2" and moved["secret"] != hook["secret"]

    removed = c.delete(path, headers=bob.headers)
    assert removed.status_code == 200 and removed.json()["url"] is None
    assert served.tournament.webhooks.get(model) is None
    assert c.delete(path, headers=bob.headers).status_code == 200  # removing none is fine


def test_a_webhook_to_an_internal_address_is_refused_unless_allowed(served: Served) -> None:
    c = served.client
    bob = served.sign_up("bob")
    model = served.create_model(bob, "bob_m")
    path = f"/v1/models/{model}/webhook"
    for url in ("http://127.0.0.1:8080/hook", "http://[::1]/x", "http://169.254.169.254/a"):
        answer = c.put(path, json={"url": url}, headers=bob.headers)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_parameter"
        assert error["details"]["reason"] == "internal_destination"
        assert "public addresses" in error["message"]
    # the core's own rule: http(s) only
    ftp = c.put(path, json={"url": "ftp://example.org/x"}, headers=bob.headers)
    assert ftp.status_code == 422 and "http://" in ftp.json()["error"]["message"]
    assert served.tournament.webhooks.get(model) is None  # nothing stored

    allowing = served.settings.model_copy(update={"webhook_allow_private": True})
    with TestClient(create_app(served.tournament, allowing, background=False)) as other:
        ok = other.put(path, json={"url": "http://10.0.0.7/hook"}, headers=bob.headers)
    assert ok.status_code == 200 and ok.json()["url"] == "http://10.0.0.7/hook"


def test_a_model_bio_and_link(served: Served) -> None:
    c = served.client
    bob = served.sign_up("bob")
    model = served.create_model(bob, "bob_m")
    base = f"/v1/models/{model}/profile"
    empty = c.get(base, headers=bob.headers).json()
    assert empty["bio"] is None and empty["link_url"] is None

    bio = c.put(f"{base}/bio", json={"bio": " Ridge on every feature. "}, headers=bob.headers)
    assert bio.status_code == 200 and bio.json()["bio"] == "Ridge on every feature."
    link = c.put(
        f"{base}/link",
        json={"url": "https://example.org/bob", "text": "my notes"},
        headers=bob.headers,
    ).json()
    assert link["link_url"] == "https://example.org/bob" and link["link_text"] == "my notes"
    assert link["bio"] == "Ridge on every feature."  # the bio stays
    profile = served.tournament.profiles.profile(model)
    assert (profile.bio, profile.link_url) == ("Ridge on every feature.", "https://example.org/bob")
    assert c.get(base, headers=bob.headers).json() == link

    # refused with the core's reasons, nothing changed
    script = c.put(f"{base}/link", json={"url": "javascript:alert(1)"}, headers=bob.headers)
    assert script.status_code == 422 and script.json()["error"]["code"] == "invalid_parameter"
    long = c.put(f"{base}/bio", json={"bio": "x" * 2001}, headers=bob.headers)
    assert long.status_code == 422 and "at most 2000" in long.json()["error"]["message"]
    extra = c.put(f"{base}/bio", json={"bio": "a", "link": "b"}, headers=bob.headers)
    assert extra.status_code == 422
    assert c.get(base, headers=bob.headers).json() == link

    # empty values remove them
    cleared = c.put(f"{base}/link", json={"url": ""}, headers=bob.headers).json()
    assert cleared["link_url"] is None and cleared["link_text"] is None
    assert c.put(f"{base}/bio", json={"bio": ""}, headers=bob.headers).json()["bio"] is None
