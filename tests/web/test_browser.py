"""The web UI in a real browser: Debian's Chromium, driven by Playwright with JavaScript
turned off, against a uvicorn server on 127.0.0.1 serving a tournament with history.

Every page is visited and checked against the tournament's own numbers; a participant
signs in through the form, creates a key and revokes keys; the operator reads the
dashboard. A screenshot of each page goes to a temporary folder, or to
``$CROWDALPHA_SCREENSHOTS`` when set (which also refreshes
``docs/screenshots/leaderboard.png``; that file is written too when it is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import fresh_engine
from tests.live_server import ServerThread
from tests.web.site import Site, build_site

from crowdalpha.ledger import format_nmr
from crowdalpha.tournament import Tournament

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM = "/usr/bin/chromium"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "leaderboard.png"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _chromium() -> str:
    """Debian's Chromium, installed with apt-get when missing; skip only when impossible."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} is missing and apt-get cannot install it (not root or no apt)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(
            [apt, "update", "-qq"], check=False, env=env, capture_output=True, timeout=300
        )
        done = subprocess.run(
            [apt, "install", "-y", "-qq", "chromium"],
            check=False,
            env=env,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"installing chromium with apt-get failed: {exc}")
    if not Path(CHROMIUM).exists():
        tail = done.stderr.decode(errors="replace")[-300:]
        pytest.skip(f"apt-get install chromium did not provide {CHROMIUM}: {tail}")
    return CHROMIUM


class LiveSite:
    """The site's app in a uvicorn thread on a free port of 127.0.0.1."""

    def __init__(self, tmp: Path) -> None:
        self.server = ServerThread()
        self.url = self.server.url
        self.engine = fresh_engine("sqlite", tmp)
        self.site: Site = build_site(self.engine, tmp, public_url=self.url)

    def __enter__(self) -> LiveSite:
        self.server.start(self.site.app, http="h11")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.stop()
        self.engine.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    with LiveSite(tmp_path_factory.mktemp("web-live")) as server:
        yield server


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kept = os.environ.get("CROWDALPHA_SCREENSHOTS")
    folder = Path(kept) if kept else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = _chromium()
    with sync_api.sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=path, headless=True, args=ARGS)
        except sync_api.Error as exc:
            pytest.skip(f"Chromium at {path} did not start: {exc}")
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live: LiveSite) -> Iterator[Any]:
    # JavaScript off: every page and form must work without it.
    context = browser.new_context(
        base_url=live.url, java_script_enabled=False, viewport={"width": 1200, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def shoot(page: Any, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000
    return path


def sign_in(page: Any, live: LiveSite, who: str, then: str = "/account") -> None:
    public_id, secret = live.site.tokens[who]
    page.goto(f"/signin?next={then}")
    page.fill("#public_id", public_id)
    page.fill("#secret", secret)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"**{then}")


def cell_texts(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def test_the_public_pages_show_the_tournaments_numbers(
    page: Any, live: LiveSite, shots: Path
) -> None:
    t: Tournament = live.site.tournament
    page.goto("/")
    assert page.title() == "Leaderboard · crowdalpha"
    board = t.leaderboard()
    assert cell_texts(page, "#leaderboard tbody tr td:nth-child(2)") == [
        r.model_name for r in board
    ]
    for row in board:
        tr = page.locator(f'#leaderboard tr[data-model="{row.model_name}"]')
        assert tr.locator(".stake").inner_text() == format_nmr(row.stake)
        assert tr.locator(".reputation").inner_text() == f"{row.reputation:.4f}"
    leaderboard_png = shoot(page, shots, "leaderboard")
    if os.environ.get("CROWDALPHA_SCREENSHOTS") or not DOCS_SCREENSHOT.exists():
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(leaderboard_png, DOCS_SCREENSHOT)

    page.click('.sort a:text-is("stake")')  # the "Rank by: stake" link
    page.wait_for_url("**/?by=stake")
    by_stake = [r.model_name for r in t.leaderboard(by="stake")]
    assert cell_texts(page, "#leaderboard tbody tr td:nth-child(2)") == by_stake
    shoot(page, shots, "leaderboard-by-stake")

    page.click("nav >> text=Rounds")
    page.wait_for_url("**/rounds")
    for info in t.rounds():
        tr = page.locator(f'#rounds tr[data-round="{info.number}"]')
        assert tr.locator(".submissions").inner_text() == str(info.submissions)
        expected_risk = "—" if info.total_at_risk is None else format_nmr(info.total_at_risk)
        assert tr.locator(".at-risk").inner_text() == expected_risk
        assert tr.locator(".factor").inner_text() == (info.payout_factor or "—")
        assert tr.locator(".state").inner_text() == info.state
    shoot(page, shots, "rounds")

    first = live.site.resolved[0]
    page.click(f'#rounds tr[data-round="{first}"] a')
    page.wait_for_url(f"**/rounds/{first}")
    info = t.round(first)
    assert info.total_at_risk is not None and info.payout_factor is not None
    assert page.inner_text("#submissions") == str(info.submissions) == "3"
    assert page.inner_text("#at-risk") == f"{format_nmr(info.total_at_risk)} NMR"
    assert page.inner_text("#payout-factor") == info.payout_factor
    assert page.locator("#results tbody tr").count() == len(t.scores(round_number=first))
    shoot(page, shots, "round")

    page.click('#results a:text("alice_alpha")')
    model_id = live.site.models["alice_alpha"]
    page.wait_for_url(f"**/models/{model_id}")
    stake = t.stake_info(model_id)
    assert page.inner_text("#stake") == f"{format_nmr(stake.stake)} NMR"
    assert page.inner_text("#pending") == f"{format_nmr(stake.pending)} NMR" == "10 NMR"
    total = sum(p.amount for p in t.payouts(model_id=model_id))
    assert page.inner_text("#total-payout") == f"{format_nmr(total)} NMR"
    for score in t.scores(model_id=model_id):
        tr = page.locator(f'#model-rounds tr[data-round="{score.round_number}"]')
        assert tr.locator(".corr").inner_text() == f"{score.corr:.4f}"
        assert tr.locator(".mmc").inner_text() == f"{score.mmc:.4f}"
        assert tr.locator(".fnc").inner_text() == f"{score.fnc:.4f}"
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    assert page.locator("svg.chart").nth(0).locator("circle").count() == 3 * len(
        t.scores(model_id=model_id)
    )
    assert charts.nth(0).bounding_box()["width"] > 300  # rendered, not collapsed
    shoot(page, shots, "model")


def test_a_participant_signs_in_creates_and_revokes_keys(
    page: Any, live: LiveSite, shots: Path
) -> None:
    t: Tournament = live.site.tournament
    alice = live.site.accounts["alice"]
    page.goto("/account")
    page.wait_for_url("**/signin?next=/account")  # the account page needs a sign-in
    shoot(page, shots, "signin")
    sign_in(page, live, "alice")
    assert page.inner_text("header .username") == "alice"
    assert page.inner_text("#wallet-balance") == f"{format_nmr(t.wallet_balance(alice))} NMR"
    models = t.models(alice)
    staked = sum(t.stake_info(m.id).stake for m in models)
    assert page.inner_text("#staked") == f"{format_nmr(staked)} NMR"
    payouts = [p for m in models for p in t.payouts(model_id=m.id)]
    assert page.locator("#payouts tbody tr").count() == len(payouts) == 6
    assert page.locator("#releases tbody tr").count() == 1
    shoot(page, shots, "account")

    page.fill("#key-name", "ci key")
    page.check('input[name="scope"][value="upload"]')
    page.click("#create-key button[type=submit]")
    public_id = page.inner_text("#new-public-id")
    secret = page.inner_text("#new-secret")
    made = t.authenticate(public_id, secret)  # the secret shown works, once
    assert made.key.scopes == {"read", "upload"} and made.key.name == "ci key"
    shoot(page, shots, "account-new-key")
    page.goto("/account")
    assert secret not in page.content()  # shown once only

    page.click(f'tr[data-key="{public_id}"] button')
    page.wait_for_url(f"**/account?revoked={public_id}")
    assert f"API key {public_id} was revoked." in page.inner_text(".notice")
    assert next(k for k in t.api_keys(alice) if k.public_id == public_id).revoked_at
    shoot(page, shots, "account-revoked")

    page.goto("/operator")  # not an operator: a 403 page in the site's layout
    assert page.inner_text("h1") == "Not allowed"
    assert page.locator("header.site nav").count() == 1
    shoot(page, shots, "error-403")

    # revoking the key the session was signed in with signs the session out at once
    own = live.site.tokens["alice"][0]
    page.goto("/account")
    page.click(f'tr[data-key="{own}"] button')
    page.wait_for_url("**/signin?next=/account")
    assert page.locator("header .who").inner_text().strip() == "Sign in"


def test_the_operator_reads_the_dashboard(page: Any, live: LiveSite, shots: Path) -> None:
    t: Tournament = live.site.tournament
    sign_in(page, live, "operator", then="/operator")
    check = t.check_ledger()
    assert check.ok and page.inner_text("#ledger-check").startswith("OK")
    supply = t.supply()
    assert page.inner_text("#minted") == f"{format_nmr(supply.minted)} NMR"
    assert page.inner_text("#burned") == f"{format_nmr(supply.burned)} NMR"
    assert page.inner_text("#circulating") == f"{format_nmr(supply.circulating)} NMR"
    assert page.locator("#submissions tbody tr").count() == len(t.submissions())
    rows = page.locator("#meta tbody tr")
    assert rows.count() == len(live.site.resolved)
    metas = cell_texts(page, "#meta .meta-corr")
    assert all(m != "—" and abs(float(m)) < 1 for m in metas)
    assert page.locator("svg.chart").count() == 2
    shoot(page, shots, "operator")

    page.goto("/rounds/9999")
    assert page.inner_text("h1") == "Not found"
    assert "there is no round 9999" in page.inner_text("section.error")
    shoot(page, shots, "error-404")
    page.click("header .who button")  # sign out
    page.wait_for_url(f"{live.url}/")
    assert page.locator("header .who").inner_text().strip() == "Sign in"
