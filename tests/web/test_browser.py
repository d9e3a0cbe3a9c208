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
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import fresh_engine
from tests.live_server import ServerThread
from tests.web.site import Site, build_site

from crowdalpha.tournament import Tournament
from crowdalpha.units import display_nmr, format_nmr, to_base_units

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


def assert_amount(element: Any, units: int, suffix: str = "") -> None:
    """The element shows the amount rounded to read, and holds it exactly (tooltip, value)."""
    assert element.inner_text() == f"{display_nmr(units)}{suffix}"
    data = element.locator("data.nmr")
    assert data.get_attribute("value") == format_nmr(units)
    assert data.get_attribute("title") == f"{format_nmr(units)} NMR"


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
        assert_amount(tr.locator(".stake"), row.stake)
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
        if info.total_at_risk is None:
            assert tr.locator(".at-risk").inner_text() == "—"
        else:
            assert_amount(tr.locator(".at-risk"), info.total_at_risk)
        assert tr.locator(".factor").inner_text() == (info.payout_factor or "—")
        assert tr.locator(".state").inner_text() == info.state
    shoot(page, shots, "rounds")

    first = live.site.resolved[0]
    page.click(f'#rounds tr[data-round="{first}"] a')
    page.wait_for_url(f"**/rounds/{first}")
    info = t.round(first)
    assert info.total_at_risk is not None and info.payout_factor is not None
    assert page.inner_text("#submissions") == str(info.submissions) == "3"
    assert_amount(page.locator("#at-risk"), info.total_at_risk, " NMR")
    assert page.inner_text("#payout-factor") == info.payout_factor
    assert page.locator("#results tbody tr").count() == len(t.scores(round_number=first))
    shoot(page, shots, "round")

    page.click('#results a:text("alice_alpha")')
    model_id = live.site.models["alice_alpha"]
    page.wait_for_url(f"**/models/{model_id}")
    stake = t.stake_info(model_id)
    assert_amount(page.locator("#stake"), stake.stake, " NMR")
    assert_amount(page.locator("#pending"), stake.pending, " NMR")
    assert page.inner_text("#pending") == "10.00 NMR"
    total = sum(p.amount for p in t.payouts(model_id=model_id))
    assert_amount(page.locator("#total-payout"), total, " NMR")
    for score in t.scores(model_id=model_id):
        tr = page.locator(f'#model-rounds tr[data-round="{score.round_number}"]')
        assert tr.locator(".corr").inner_text() == f"{score.corr:.4f}"
        assert tr.locator(".mmc").inner_text() == f"{score.mmc:.4f}"
        assert tr.locator(".fnc").inner_text() == f"{score.fnc:.4f}"
    charts = page.locator("svg.chart")
    # scores, payouts, stake; cumulative score, drawdown, corr w/ meta model and exposure
    assert charts.count() == 6
    assert page.locator("svg.chart").nth(0).locator("circle").count() == 3 * len(
        t.scores(model_id=model_id)
    )
    assert charts.nth(0).bounding_box()["width"] > 300  # rendered, not collapsed
    # consistency: the cumulative CORR, MMC and FNC of each resolved round, and the summary
    finals = sorted(
        (s for s in t.scores(model_id=model_id) if s.final), key=lambda s: s.round_number
    )
    assert charts.nth(3).locator("circle").count() == 3 * len(finals)
    corr = [s.corr or 0.0 for s in finals]
    mean = sum(corr) / len(corr)
    cells = page.locator('#consistency tr[data-metric="corr"] td')
    assert cells.nth(0).inner_text() == f"{mean:.4f}"
    share = sum(c > 0 for c in corr) / len(corr)
    assert cells.nth(4).inner_text() == f"{100 * share:.0f}%"
    # each round's correlation with its meta model and maximum feature exposure, as stored
    for score in t.scores(model_id=model_id):
        tr = page.locator(f'#model-rounds tr[data-round="{score.round_number}"]')
        assert tr.locator(".corr-meta").inner_text() == f"{score.get('corr_meta'):.4f}"
        exposure = score.get("feature_exposure")
        assert exposure is not None and 0 < exposure < 1
        assert tr.locator(".feature-exposure").inner_text() == f"{exposure:.4f}"
    assert charts.nth(5).locator("circle").count() == 2 * len(finals)
    exposures = [s.get("feature_exposure") or 0.0 for s in finals]
    cells = page.locator('#consistency tr[data-metric="feature_exposure"] td')
    assert cells.nth(0).inner_text() == f"{sum(exposures) / len(exposures):.4f}"
    # the means by market regime: the rounds' labels from the data source
    regimes: dict[str, list[float]] = {}
    for s in finals:
        regimes.setdefault(live.site.data.regime(s.round_number), []).append(s.corr or 0.0)
    rows = page.locator("#regimes tbody tr")
    assert rows.count() == len(regimes)
    for regime, values in regimes.items():
        tr = page.locator(f'#regimes tr[data-regime="{regime}"]')
        assert tr.locator("td.rounds").inner_text() == str(len(values))
        assert tr.locator("td").nth(1).inner_text() == f"{sum(values) / len(values):.4f}"
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
    assert_amount(page.locator("#wallet-balance"), t.wallet_balance(alice), " NMR")
    models = t.models(alice)
    staked = sum(t.stake_info(m.id).stake for m in models)
    assert_amount(page.locator("#staked"), staked, " NMR")
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
    assert_amount(page.locator("#minted"), supply.minted, " NMR")
    assert_amount(page.locator("#burned"), supply.burned, " NMR")
    assert_amount(page.locator("#circulating"), supply.circulating, " NMR")
    assert page.locator("#submissions tbody tr").count() == len(t.submissions())
    rows = page.locator("#meta tbody tr")
    assert rows.count() == len(live.site.resolved)
    metas = cell_texts(page, "#meta .meta-corr")
    assert all(m != "—" and abs(float(m)) < 1 for m in metas)
    assert page.locator("svg.chart").count() == 2
    shoot(page, shots, "operator")

    page.goto("/rounds/9999")
    assert page.inner_text("h1") == "Not found"
    assert "there is no Classic round 9999" in page.inner_text("section.error")
    shoot(page, shots, "error-404")
    page.click("header .who button")  # sign out
    page.wait_for_url(f"{live.url}/")
    assert page.locator("header .who").inner_text().strip() == "Sign in"


READABLE_AMOUNT = re.compile(r"-?\d{1,3}(,\d{3})*\.\d{2,6}|<0\.000001|>-0\.000001")


def check_amounts_read_well(page: Any, width: int) -> int:
    """Every amount on the page: at most six decimals, on one line, within the screen's
    width, with its exact value a hover away. Returns how many there are."""
    amounts = page.locator("data.nmr").all()
    for data in amounts:
        text = data.inner_text()
        assert READABLE_AMOUNT.fullmatch(text), text
        exact = data.get_attribute("value")
        assert data.get_attribute("title") == f"{exact} NMR"
        assert display_nmr(to_base_units(exact, allow_negative=True)) == text
        box = data.bounding_box()
        # one line of text is about 21 px high here (.92rem × 1.45); two would be 40+
        assert box is not None and box["height"] < 30, (text, box)
        # on the screen, or in a table that fits it and scrolls sideways (on a phone)
        table = data.locator("xpath=ancestor::table[1]")
        frame = table.bounding_box() if table.count() else box
        assert frame is not None and frame["x"] >= 0, (text, frame)
        assert frame["x"] + frame["width"] <= width, (text, frame)
    return len(amounts)


@pytest.mark.parametrize("width", [1200, 390])  # a laptop and a phone
def test_amounts_read_well_on_the_leaderboard_and_the_account_page(
    browser: Any, live: LiveSite, shots: Path, width: int
) -> None:
    context = browser.new_context(
        base_url=live.url, java_script_enabled=False, viewport={"width": width, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/?by=stake")
        assert check_amounts_read_well(page, width) >= len(live.site.tournament.leaderboard())
        shoot(page, shots, f"amounts-leaderboard-{width}")
        sign_in(page, live, "bob")
        assert check_amounts_read_well(page, width) >= 5  # wallet, stakes, payouts
        shoot(page, shots, f"amounts-account-{width}")
    finally:
        context.close()
