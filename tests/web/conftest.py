"""Fixtures for the web UI's fast tests: a site with history behind a TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient
from tests.web.site import Site, build_site


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Site:
    return build_site(engine, tmp_path)


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(site.app, base_url="http://testserver") as c:
        yield c
