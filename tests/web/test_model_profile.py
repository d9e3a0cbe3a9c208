"""A model's page shows the bio and link its owner set (numerapi's set_bio / set_link),
escaped, with the link limited to http(s)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.web.site import Site

from crowdalpha.errors import InvalidParameterError


def test_the_model_page_shows_its_bio_and_link(client: TestClient, site: Site) -> None:
    t = site.tournament
    model = site.models["bob_gamma"]
    before = client.get(f"/models/{model}").text
    assert 'id="model-profile"' not in before
    t.profiles.set_bio(model, "<script>alert(1)</script> ridge on all features")
    t.profiles.set_link(model, "https://example.org/gamma?a=1&b=2", "my <b>notes</b>")
    page = client.get(f"/models/{model}").text
    assert 'id="model-profile"' in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ridge on all features" in page
    assert 'href="https://example.org/gamma?a=1&amp;b=2"' in page
    assert "my &lt;b&gt;notes&lt;/b&gt;" in page
    with pytest.raises(InvalidParameterError):
        t.profiles.set_link(model, "javascript:alert(1)", "x")
    t.profiles.set_link(model, "")  # removes the link; the bio stays
    page = client.get(f"/models/{model}").text
    assert "example.org/gamma" not in page and "ridge on all features" in page
