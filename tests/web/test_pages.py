"""The web UI's pages through a TestClient: every page anonymous and signed in, access
control, the session cookie, CSRF refusals, escaping, and error pages in the layout."""

from __future__ import annotations

import base64
import re
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient
from tests.web.site import Site

from crowdalpha.errors import AuthenticationError
from crowdalpha.units import display_nmr, format_nmr, to_base_units
from crowdalpha.web import pages as web_pages
from crowdalpha.web.charts import Series, line_chart
from crowdalpha.web.session import CSRF_COOKIE, SESSION_COOKIE

HOSTILE = "<script>alert('x')</script>"


def csrf(client: TestClient, path: str = "/signin") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(client: TestClient, site: Site, who: str, then: str = "/account") -> None:
    public_id, secret = site.tokens[who]
    response = client.post(
        "/signin",
        data={"csrf_token": csrf(client), "public_id": public_id, "secret": secret, "next": then},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == then, response.text


def replace_cookie(client: TestClient, name: str, value: str) -> None:
    client.cookies.delete(name)
    client.cookies.set(name, value)


def amount(units: int) -> str:
    """How the pages write an amount: rounded to read, exact in the value and the tooltip."""
    exact = format_nmr(units)
    return f'<data class="nmr" value="{exact}" title="{exact} NMR">{display_nmr(units)}</data>'


#: A number with more than six decimals in a page's visible text (an amount shown raw).
LONG_DECIMALS = re.compile(r"\d\.\d{7,}")


def visible_text(html: str) -> str:
    """The page's text as a person sees it: no tags, attributes or SVG titles."""
    body = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def is_page(response_text: str) -> bool:
    return '<header class="site">' in response_text and "</html>" in response_text


def test_every_public_page_renders_for_visitors(client: TestClient, site: Site) -> None:
    t = site.tournament
    paths = ["/", "/leaderboard", "/?by=stake", "/rounds", "/signin"]
    paths += [f"/rounds/{r.number}" for r in t.rounds()]
    paths += [f"/models/{m}" for m in site.models.values()]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert is_page(response.text), path
        assert "<script" not in response.text  # no JavaScript anywhere
    css = client.get("/static/crowdalpha.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    board = client.get("/?by=stake").text
    names = [r.model_name for r in t.leaderboard(by="stake")]
    positions = [board.index(f'data-model="{n}"') for n in names]
    assert positions == sorted(positions)
    for row in t.leaderboard(by="stake"):
        assert f'<td class="num stake">{amount(row.stake)}</td>' in board
    info = t.round(site.resolved[0])
    page = client.get(f"/rounds/{info.number}").text
    assert info.total_at_risk is not None and info.payout_factor is not None
    assert f'id="at-risk">{amount(info.total_at_risk)} NMR<' in page
    factor = info.payout_factor
    assert (
        f'id="payout-factor"><data class="factor-value" value="{factor}" title="{factor}">' in page
    )
    assert f'id="submissions">{info.submissions}<' in page
    model = client.get(f"/models/{site.models['bob_gamma']}").text
    # scores, cumulative payout, stake; cumulative score, drawdown, meta model and exposure
    assert model.count('<svg class="chart"') == 6
    for score in t.scores(model_id=site.models["bob_gamma"]):
        assert f'class="num corr">{score.corr:.4f}<' in model
        if score.final:  # each resolved round's contribution to the meta portfolio
            assert score.mpc is not None and f'class="num mpc">{score.mpc:.4f}<' in model


def test_a_long_payout_factor_is_rounded_to_read_and_kept_exact() -> None:
    exact = str(Decimal(72_000) / Decimal("80000.000000000000000123"))
    assert len(exact) > 20
    shown = str(web_pages._factor(exact))
    assert shown == f'<data class="factor-value" value="{exact}" title="{exact}">0.9000</data>'
    assert str(web_pages._factor(None)) == str(web_pages._factor("")) == "—"


def test_the_leaderboard_is_paged(
    client: TestClient, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_pages, "PAGE_ROWS", 2)
    board = [r.model_name for r in site.tournament.leaderboard(by="stake")]
    assert len(board) > 2
    seen: list[str] = []
    for number in range(1, -(-len(board) // 2) + 1):
        text = client.get(f"/?by=stake&page={number}").text
        shown = [n for n in board if f'data-model="{n}"' in text]
        assert len(shown) <= 2 and f"Page {number} of" in text
        assert (f"page={number - 1}" in text) == (number > 1)  # the previous page's link
        assert f"{len(board)} models" in text  # counted over every page
        seen += sorted(shown, key=board.index)
    assert seen == board  # each model once, in rank order
    number = site.resolved[0]
    results = site.tournament.scores(round_number=number)
    assert len(results) > 2
    first = client.get(f"/rounds/{number}").text
    assert first.count("<tr data-model=") == 2
    assert f'href="/rounds/{number}?page=2" rel="next"' in first
    for bad in ("/?page=0", "/?page=x", f"/?page={len(board)}", f"/rounds/{number}?page=99"):
        response = client.get(bad)
        assert response.status_code == 404 and is_page(response.text), bad


def test_the_account_and_dashboard_need_a_sign_in(client: TestClient, site: Site) -> None:
    for path in ("/account", "/operator"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/signin?next={path}"
    sign_in(client, site, "alice")
    account = client.get("/account")
    assert account.status_code == 200 and account.headers["cache-control"] == "no-store"
    balance = site.tournament.wallet_balance(site.accounts["alice"])
    assert f'id="wallet-balance">{amount(balance)} NMR<' in account.text
    assert 'id="releases"' in account.text  # alice_alpha's pending release
    denied = client.get("/operator")
    assert denied.status_code == 403 and is_page(denied.text)
    assert "admin scope" in denied.text and "<h1>Not allowed</h1>" in denied.text


def test_the_operator_sees_the_dashboard(client: TestClient, site: Site) -> None:
    sign_in(client, site, "operator", then="/operator")
    page = client.get("/operator")
    assert page.status_code == 200
    supply = site.tournament.supply()
    assert f'id="minted">{amount(supply.minted)} NMR<' in page.text
    assert "OK: every entry balances" in page.text
    assert page.text.count("data-submission=") == len(site.tournament.submissions())
    assert page.text.count('class="num meta-corr">0.') + page.text.count(
        'class="num meta-corr">-0.'
    ) == len(site.resolved)


def test_every_amount_reads_well_and_stays_exact(client: TestClient, site: Site) -> None:
    """On every page an amount shows at most six decimals (two from one NMR up) and carries
    its exact value, to the base unit, in its ``value`` and tooltip."""
    t = site.tournament
    public = ["/", "/?by=stake", "/rounds"]
    public += [f"/rounds/{r.number}" for r in t.rounds()]
    public += [f"/models/{m}" for m in site.models.values()]
    pages = {path: client.get(path).text for path in public}
    sign_in(client, site, "alice")
    pages["/account"] = client.get("/account").text
    sign_in(client, site, "operator", then="/operator")
    pages["/operator"] = client.get("/operator").text
    exact_values: set[str] = set()
    for path, html in pages.items():
        assert is_page(html), path
        assert not LONG_DECIMALS.search(visible_text(html)), path
        found = re.findall(r'<data class="nmr" value="([^"]*)" title="([^"]*)">([^<]*)<', html)
        assert found or path == f"/rounds/{site.open}", path  # the open round has none yet
        for exact, title, shown in found:
            assert title == f"{exact} NMR", path
            units = to_base_units(exact, allow_negative=True)
            assert format_nmr(units) == exact and display_nmr(units) == shown, path
            exact_values.add(exact)
    # the check has teeth: the site holds amounts that need more than six decimals
    assert any(len(v.partition(".")[2]) > 6 for v in exact_values), exact_values
    account = pages["/account"]
    staked = sum(t.stake_info(m.id).stake for m in t.models(site.accounts["alice"]))
    assert f'id="staked">{amount(staked)} NMR<' in account
    assert len(format_nmr(staked).partition(".")[2]) > 6  # shown rounded: 2 decimals


def test_the_session_cookie_is_signed_httponly_strict_and_holds_no_secret(
    client: TestClient, site: Site
) -> None:
    public_id, secret = site.tokens["alice"]
    response = client.post(
        "/signin",
        data={"csrf_token": csrf(client), "public_id": public_id, "secret": secret},
        follow_redirects=False,
    )
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    value = session.split(";")[0].split("=", 1)[1]
    body = value.split(".")[0]
    decoded = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    assert secret not in value and secret not in decoded
    # a forged or altered cookie is no session
    replace_cookie(client, SESSION_COOKIE, value[:-2] + ("BB" if value.endswith("AA") else "AA"))
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_a_wrong_secret_is_refused_and_the_next_target_stays_local(
    client: TestClient, site: Site
) -> None:
    public_id, secret = site.tokens["alice"]
    wrong = client.post(
        "/signin",
        data={"csrf_token": csrf(client), "public_id": public_id, "secret": secret + "x"},
        follow_redirects=False,
    )
    assert wrong.status_code == 401 and "wrong API key" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    away = client.post(
        "/signin",
        data={
            "csrf_token": csrf(client),
            "public_id": public_id,
            "secret": secret,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert away.status_code == 303 and away.headers["location"] == "/"


def test_revoking_the_key_ends_its_sessions_at_once(client: TestClient, site: Site) -> None:
    sign_in(client, site, "bob")
    assert client.get("/account").status_code == 200
    site.tournament.revoke_api_key(site.accounts["bob"], site.tokens["bob"][0])
    again = client.get("/account", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/signin?next=/account"


def test_keys_are_created_with_the_secret_shown_once_and_revoked(
    client: TestClient, site: Site
) -> None:
    t = site.tournament
    alice = site.accounts["alice"]
    sign_in(client, site, "alice")
    token = csrf(client, "/account")
    made = client.post(
        "/account/keys", data={"csrf_token": token, "name": "ci", "scope": ["read", "stake"]}
    )
    assert made.status_code == 201
    public_id = re.search(r'id="new-public-id">([0-9A-F]+)<', made.text)
    secret = re.search(r'id="new-secret">([^<]+)<', made.text)
    assert public_id and secret
    assert t.authenticate(public_id.group(1), secret.group(1)).key.scopes == {"read", "stake"}
    assert secret.group(1) not in client.get("/account").text
    refused = client.post("/account/keys", data={"csrf_token": token, "scope": "admin"})
    assert refused.status_code == 403 and is_page(refused.text)
    gone = client.post(
        f"/account/keys/{public_id.group(1)}/revoke",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    assert client.get(gone.headers["location"]).text.count("was revoked") == 1
    with pytest.raises(AuthenticationError):
        t.authenticate(public_id.group(1), secret.group(1))
    other = client.post(f"/account/keys/{site.tokens['bob'][0]}/revoke", data={"csrf_token": token})
    assert other.status_code == 404  # not alice's key
    assert all(k.revoked_at is None for k in t.api_keys(site.accounts["bob"]))
    assert len(t.api_keys(alice)) == 2


def test_posts_without_a_matching_csrf_token_are_refused(client: TestClient, site: Site) -> None:
    t = site.tournament
    public_id, secret = site.tokens["alice"]
    bare = client.post("/signin", data={"public_id": public_id, "secret": secret})
    assert bare.status_code == 403 and "CSRF" in bare.text and is_page(bare.text)
    sign_in(client, site, "alice")
    token = csrf(client, "/account")
    keys = len(t.api_keys(site.accounts["alice"]))
    for data, headers in (
        ({"scope": "read"}, {}),  # no token
        ({"scope": "read", "csrf_token": "0" * 64}, {}),  # a wrong token
        ({"scope": "read", "csrf_token": token}, {"Origin": "https://evil.example"}),
    ):
        refused = client.post("/account/keys", data=data, headers=headers)
        assert refused.status_code == 403, data
    # a token minted for another browser's nonce does not fit this browser's cookie
    replace_cookie(client, CSRF_COOKIE, "another-nonce")
    mismatched = client.post("/account/keys", data={"scope": "read", "csrf_token": token})
    assert mismatched.status_code == 403
    assert client.post("/signout", data={"csrf_token": token}).status_code == 403
    assert len(t.api_keys(site.accounts["alice"])) == keys


def test_hostile_names_are_escaped(client: TestClient, site: Site) -> None:
    t = site.tournament
    with t.engine.begin() as connection:
        connection.execute(
            text("UPDATE accounts SET username = :u WHERE id = :i"),
            {"u": HOSTILE, "i": site.accounts["bob"]},
        )
        connection.execute(
            text("UPDATE models SET name = :n WHERE id = :i"),
            {"n": '"><img src=x onerror=alert(1)>', "i": site.models["bob_gamma"]},
        )
    t.create_api_key(site.accounts["alice"], name=HOSTILE)
    sign_in(client, site, "alice")
    pages = [
        client.get("/").text,
        client.get(f"/models/{site.models['bob_gamma']}").text,
        client.get(f"/rounds/{site.resolved[0]}").text,
        client.get("/account").text,
    ]
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in pages[0]
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in pages[1]
    assert "&lt;script&gt;" in pages[3]


def test_errors_are_pages_in_the_layout(client: TestClient, site: Site) -> None:
    for path in ("/rounds/9999", "/models/9999", "/models/abc", "/rounds/-1", "/?by=nonsense"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert is_page(response.text) and "<h1>Not found</h1>" in response.text
    # the APIs keep their JSON errors
    api = client.get("/v1/rounds/9999")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_signing_out_ends_the_session(client: TestClient, site: Site) -> None:
    sign_in(client, site, "alice")
    token = csrf(client, "/account")
    out = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/"
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_charts_escape_their_text_and_say_when_empty() -> None:
    chart = line_chart(HOSTILE, [Series(HOSTILE, [(1.0, 0.5), (2.0, None), (3.0, -0.1)])])
    assert "<script>" not in chart and "&lt;script&gt;" in chart
    assert chart.count("<circle") == 2
    empty = line_chart("Nothing", [Series("a", [])])
    assert "nothing to show yet" in empty and "<polyline" not in empty


def test_the_operator_sees_the_fund_and_its_report(client: TestClient, site: Site) -> None:
    """The fund page shows the fund folder's files (equity, figures, today's book) and
    serves the full report — to operators only."""
    from crowdalpha.fund import BacktestOptions, FundConfig, bot_predictions, run_backtest
    from crowdalpha.fund import write_report as write_fund_report
    from crowdalpha.market import MarketConfig, simulate_market

    for path in ("/operator/fund", "/operator/fund/report"):
        assert client.get(path, follow_redirects=False).status_code == 303  # sign in first
    sign_in(client, site, "alice")
    assert client.get("/operator/fund").status_code == 403
    assert client.get("/operator/fund/report").status_code == 403
    client.cookies.clear()
    sign_in(client, site, "operator", then="/operator/fund")
    empty = client.get("/operator/fund")
    assert empty.status_code == 200 and 'id="no-fund"' in empty.text
    assert client.get("/operator/fund/report").status_code == 404
    assert "No fund backtest yet" in client.get("/operator").text

    market = simulate_market(MarketConfig(n_stocks=120, n_days=420, seed=5))
    signals, stakes = bot_predictions(market, seed=5)
    result = run_backtest(
        market.prices,
        signals,
        stakes=stakes,
        config=FundConfig(aum=5e6),
        options=BacktestOptions(placebo_seeds=1, oracle=False, bootstrap_samples=200),
    )
    folder = site.app.state.context.settings.resolved_fund_dir
    paths = write_fund_report(result, folder)

    page = client.get("/operator/fund")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    net = result.metrics["fund"]["net_daily"]
    assert f'id="net-sharpe">{net["sharpe"]:.2f} [' in page.text
    assert page.text.count('<svg class="chart"') == 1
    book = pd.read_csv(paths["book"])
    longs = book[book["weight"] > 0].head(15)
    shown = re.findall(r'<td class="ticker">([^<]+)</td><td class="num weight">([^<]+)<', page.text)
    assert shown[: len(longs)] == [
        (str(t), f"{100 * w:.3f}") for t, w in zip(longs["ticker"], longs["weight"], strict=True)
    ]
    assert len(shown) == len(longs) + len(book[book["weight"] < 0].head(15))
    for row in result.metrics["contributions"]:
        assert f'data-model="{row["model"]}"' in page.text
    assert 'href="/operator/fund/report"' in client.get("/operator").text

    report = client.get("/operator/fund/report")
    assert report.status_code == 200
    assert report.text == paths["report"].read_text(encoding="utf-8")
    csp = report.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script" not in csp
