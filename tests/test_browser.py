"""Issue 14: the staff portal in real headless Chromium (Debian's package, through Playwright for Python).

A small synthetic county's season on SQLite (the security tests run both databases elsewhere), the portal
served by uvicorn on 127.0.0.1, one browser for the module and a fresh context (its own cookies) per test.
Every page is checked to load nothing from outside the portal and to raise no script error."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine, func, select

from browser_support import OffsiteGuard, Tab, chromium, new_tab, serve, sign_in
from canbao.bootstrap import Settings
from canbao.ids import mask_id_number
from canbao.services.targets import import_activations
from canbao.store.tables import identity_memberships, import_batches, import_rows, persons
from canbao.web.app import create_app
from conftest import fresh_database
from county import run_season
from web_support import add_staff, fast_hashes

PERSONS = 600
SEED = 11
AS_OF = dt.date(2021, 12, 31)  # the end of Lingbi's 2022 collection window: the dashboard's "today"
YEAR = 2022


@dataclass(frozen=True)
class Someone:
    person_id: int
    name: str
    id_number: str
    township: str
    village: str | None


@dataclass
class Portal:
    base_url: str
    engine: Engine
    accounts: dict[str, tuple[str, str]]  # role → (username, password)
    township: str  # the township and village of the township and village accounts
    village: str
    mine: Someone  # a person of that village
    theirs: Someone  # a person of another township


def _someone(engine: Engine, *where: Any) -> Someone:
    with engine.connect() as c:
        row = c.execute(
            select(persons.c.id, persons.c.name, persons.c.id_number, persons.c.township, persons.c.village)
            .where(*where)
            .order_by(persons.c.id)
            .limit(1)
        ).one()
    return Someone(*row)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    folder = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as patch, fresh_database("sqlite", folder) as url:
        fast_hashes(patch)
        season = run_season(folder, PERSONS, SEED, url)
        engine = season.engine
        import_activations(engine, season.data / "e_voucher_activations.csv", "test", today=dt.date(2022, 6, 1))
        with engine.connect() as c:
            township, village = c.execute(
                select(persons.c.township, persons.c.village)
                .where(persons.c.township.is_not(None), persons.c.village.is_not(None))
                .group_by(persons.c.township, persons.c.village)
                .order_by(func.count().desc(), persons.c.township, persons.c.village)
                .limit(1)
            ).one()
        mine = _someone(engine, persons.c.township == township, persons.c.village == village)
        theirs = _someone(engine, persons.c.township.is_not(None), persons.c.township != township)
        accounts = {
            "county_admin": add_staff(engine, "county_admin"),
            "tax": add_staff(engine, "tax"),
            "township": add_staff(engine, "township", township=township),
            "village": add_staff(engine, "village", township=township, village=village),
        }
        settings = Settings(url, True, None, fixed_today=AS_OF, files_dir=folder / "files")
        with serve(create_app(settings, engine)) as base_url:
            yield Portal(base_url, engine, accounts, township, village, mine, theirs)
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def tab(browser: Browser, portal: Portal) -> Iterator[Tab]:
    with new_tab(browser, portal.base_url, timeout_ms=15_000) as t:
        yield t


def _login(tab: Tab, portal: Portal, role: str, next_path: str = "") -> None:
    username, password = portal.accounts[role]
    sign_in(tab.page, portal.base_url, username, password, next_path=next_path)


def _api(tab: Tab, path: str) -> Any:
    """What the JSON API answers this browser's session (its cookie), to compare the page against."""
    answer = tab.page.request.get(tab.base_url + path)
    assert answer.ok, answer.text()
    return answer.json()


def _rate(bp: int | None) -> str:
    return "—" if bp is None else f"{bp // 100}.{bp % 100:02d}%"


# ------------------------------------------------------------------------------------------------- login


def test_a_page_without_a_session_goes_to_the_login_and_a_wrong_password_is_refused_in_chinese(
    tab: Tab, portal: Portal
) -> None:
    page = tab.page
    page.goto(f"{portal.base_url}/persons")
    assert page.url == f"{portal.base_url}/login?next=/persons"
    expect(page).to_have_title("登录 — 城乡居民医保参保工作平台")
    username, password = portal.accounts["township"]
    page.fill("#username", username)
    page.fill("#password", password + "x")
    with page.expect_response("**/api/v1/login") as answer:
        page.click("#login-submit")
    assert answer.value.status == 401
    expect(page.locator("#login-error")).to_be_visible()
    message = page.locator("#login-error").inner_text()
    assert message == answer.value.json()["detail"] and any("\u4e00" <= ch <= "\u9fff" for ch in message)
    assert page.url.startswith(f"{portal.base_url}/login")
    # The right password goes on to the page first asked for.
    page.fill("#password", password)
    with page.expect_navigation(url=f"{portal.base_url}/persons"):
        page.click("#login-submit")
    expect(page.locator("h1")).to_have_text("人员查询")


def test_a_throttled_login_says_so_in_chinese(tab: Tab, portal: Portal) -> None:
    page = tab.page
    username, _ = add_staff(portal.engine, "village", township=portal.township, village=portal.village)
    page.goto(f"{portal.base_url}/login")
    statuses = []
    for _ in range(8):  # the account's allowance of wrong passwords, and then some (far below the address's)
        page.fill("#username", username)
        page.fill("#password", "wrong-password")
        with page.expect_response("**/api/v1/login") as answer:
            page.click("#login-submit")
        statuses.append(answer.value.status)
        if answer.value.status == 429:
            break
    assert statuses[0] == 401 and statuses[-1] == 429
    expect(page.locator("#login-error")).to_have_text(answer.value.json()["detail"])
    expect(page.locator("#login-submit")).to_be_enabled()


def test_the_login_goes_nowhere_but_this_portal(tab: Tab, portal: Portal) -> None:
    _login(tab, portal, "village", next_path="?next=//example.com/x")
    assert tab.page.url.startswith(f"{portal.base_url}/?")  # the dashboard, with its year and day


# ------------------------------------------------------------------------------------------- dashboards


@pytest.mark.parametrize("role", ["county_admin", "tax", "township", "village"])
def test_each_role_sees_its_own_dashboard(tab: Tab, portal: Portal, role: str) -> None:
    page = tab.page
    _login(tab, portal, role)
    assert page.url.startswith(f"{portal.base_url}/")
    expect(page.locator("h1")).to_have_text("工作台")
    username = portal.accounts[role][0]
    expect(page.locator("#staff-user")).to_have_text(username)
    me = _api(tab, "/api/v1/me")
    assert me["role"] == role and me["username"] == username
    expect(page.locator("#staff-area")).to_have_text(me["area"])
    # The benefit year and the day default from the API; the cards show the area's own row.
    expect(page.locator("#benefit-year")).to_have_value(str(YEAR))
    expect(page.locator("#as-of")).to_have_value(AS_OF.isoformat())
    expect(page.locator("#card-rate .value")).not_to_be_empty()
    progress = _api(tab, f"/api/v1/progress?benefit_year={YEAR}&as_of={AS_OF}")
    rows = progress["rows"]
    levels = [r["level"] for r in rows]
    top_level = next(level for level in ("county", "township", "village") if level in levels)
    top = next(r for r in rows if r["level"] == top_level)
    assert top_level == {"county_admin": "county", "tax": "county", "township": "township", "village": "village"}[role]
    expect(page.locator("#card-rate .value")).to_have_text(_rate(top["enrollment_rate_bp"]))
    expect(page.locator("#card-renewal .value")).to_have_text(_rate(top["renewal_rate_bp"]))
    expect(page.locator("#card-evoucher .value")).to_have_text(_rate(top["e_voucher_rate_bp"]))
    enrolled = f"{top['enrolled']:,}"
    expect(page.locator("#card-rate .detail")).to_contain_text(f"已参保 {enrolled}")
    # Only the caller's area: a township's user sees its own township and its villages, nothing else.
    if role in ("township", "village"):
        assert {r["township"] for r in rows} == {portal.township}
    if role == "village":
        assert {r["village"] for r in rows} == {portal.village}
    # The ranked tables below the area, and the chart drawn in the browser (ECharts, served by canbao).
    below = {"county": "township", "township": "village", "village": "village"}[top_level]
    bars = [r for r in rows if r["level"] == below]
    expect(page.locator("#chart")).to_have_attribute("data-bars", str(len(bars)))
    expect(page.locator("#chart canvas")).to_have_count(1)
    if top_level == "county":
        expect(page.locator("#townships tbody tr")).to_have_count(len(bars))
        first = min(bars, key=lambda r: (r["rank"] is None, r["rank"] or 0))
        expect(page.locator("#townships tbody tr").first).to_contain_text(first["township"])
        expect(page.locator("#townships tbody tr").first).to_contain_text(_rate(first["enrollment_rate_bp"]))
        # The villages one township at a time.
        page.select_option("#village-township", portal.township)
        theirs = [r for r in rows if r["level"] == "village" and r["township"] == portal.township]
        expect(page.locator("#villages tbody tr")).to_have_count(min(len(theirs), 50))
        assert set(page.locator("#villages tbody td:nth-child(2)").all_inner_texts()) == {portal.township}
    if top_level == "township":
        expect(page.locator("#villages tbody tr")).to_have_count(len(bars))
        expect(page.locator("#townships-section")).to_be_hidden()
    assert any(u.endswith("/static/vendor/echarts/echarts.min.js") for u in tab.guard.requests)
    # The menu by role: the API's documentation for the county roles only.
    expect(page.locator("nav a", has_text="接口文档")).to_have_count(1 if role in ("county_admin", "tax") else 0)


def test_another_day_redraws_the_dashboard(tab: Tab, portal: Portal) -> None:
    page = tab.page
    _login(tab, portal, "county_admin")
    expect(page.locator("#card-rate .value")).not_to_be_empty()
    earlier = dt.date(2021, 11, 1)
    with page.expect_response(lambda r: "/api/v1/progress" in r.url and earlier.isoformat() in r.url):
        page.fill("#as-of", earlier.isoformat())
        page.dispatch_event("#as-of", "change")
    progress = _api(tab, f"/api/v1/progress?benefit_year={YEAR}&as_of={earlier}")
    county = next(r for r in progress["rows"] if r["level"] == "county")
    expect(page.locator("#card-rate .value")).to_have_text(_rate(county["enrollment_rate_bp"]))
    expect(page.locator("#period")).to_contain_text(earlier.isoformat())


# ---------------------------------------------------------------------------------------------- persons


def test_a_township_finds_its_own_persons_masked_and_nothing_of_another_township(tab: Tab, portal: Portal) -> None:
    page = tab.page
    _login(tab, portal, "township", next_path="?next=/persons")
    mine, theirs = portal.mine, portal.theirs
    page.fill("#q", mine.id_number)
    page.click("#search")
    row = page.locator("#results tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(mask_id_number(mine.id_number))
    expect(row).to_contain_text(mine.name)
    assert mine.id_number not in page.content()
    # Another township's person, by full ID number and by name: nothing of theirs is listed.
    page.fill("#q", theirs.id_number)
    page.click("#search")
    expect(page.locator("#results .empty")).to_have_text("本辖区内没有找到符合条件的人员")
    page.fill("#q", theirs.name)
    page.click("#search")
    expect(page.locator("#results")).not_to_contain_text("正在查询")
    for township in page.locator("#results tbody tr td:nth-child(3)").all_inner_texts():
        assert township == portal.township
    # Their page by its URL: 404 from the API, and the page says not found.
    with page.expect_response(f"**/api/v1/persons/{theirs.person_id}") as answer:
        page.goto(f"{portal.base_url}/persons/{theirs.person_id}")
    assert answer.value.status == 404
    expect(page.locator("#person-title")).to_have_text("未找到该人员")
    expect(page.locator("#person-error")).to_contain_text("未找到")
    assert theirs.name not in page.locator("main").inner_text()
    assert mask_id_number(theirs.id_number) not in page.content()


def test_a_persons_page_shows_the_masked_number_and_no_reveal_for_a_township(tab: Tab, portal: Portal) -> None:
    page = tab.page
    _login(tab, portal, "township", next_path=f"?next=/persons/{portal.mine.person_id}")
    expect(page.locator("#person-title")).to_have_text(f"人员详情：{portal.mine.name}")
    expect(page.locator("#id-number")).to_have_text(mask_id_number(portal.mine.id_number))
    expect(page.locator("#reveal-id")).to_have_count(0)
    for section in ("基本信息", "参保记录", "资金台账", "退费记录", "操作日志"):
        expect(page.locator("main h2", has_text=section)).to_have_count(1)
    assert portal.mine.id_number not in page.content()
    # Money in yuan with two decimals (the ledger's amounts are fen).
    amounts = page.locator("#section-ledger tbody td.num").all_inner_texts()
    assert amounts and all(a == "—" or a.replace(",", "").replace("-", "").split(".")[1].isdigit() for a in amounts)


def test_a_county_admin_reveals_a_full_id_number(tab: Tab, portal: Portal) -> None:
    page = tab.page
    someone = portal.theirs
    _login(tab, portal, "county_admin", next_path="?next=/persons")
    page.fill("#q", someone.id_number)
    page.click("#search")
    with page.expect_navigation():
        page.locator("#results tbody a").first.click()
    assert page.url == f"{portal.base_url}/persons/{someone.person_id}"
    expect(page.locator("#id-number")).to_have_text(mask_id_number(someone.id_number))
    assert someone.id_number not in page.content()
    with page.expect_response(f"**/api/v1/persons/{someone.person_id}/id-number") as answer:
        page.click("#reveal-id")
    assert answer.value.status == 200
    assert answer.value.request.headers.get("x-csrf-token")
    expect(page.locator("#id-number")).to_have_text(someone.id_number)


# -------------------------------------------------------------------------------------- logout and docs


def test_logout_ends_the_session(tab: Tab, portal: Portal) -> None:
    page = tab.page
    _login(tab, portal, "tax")
    with page.expect_response("**/api/v1/logout") as answer:
        page.click("#logout")
    assert answer.value.status == 204
    page.wait_for_url(f"{portal.base_url}/login")
    page.goto(f"{portal.base_url}/")
    assert page.url == f"{portal.base_url}/login?next=/"


def test_the_api_documentation_is_served_by_the_portal(tab: Tab, portal: Portal) -> None:
    page = tab.page
    page.goto(f"{portal.base_url}/api/docs")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/login").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/progress").first).to_be_visible()
    assert any("/static/swagger-ui/swagger-ui-bundle.js" in u for u in tab.guard.requests)
    # Swagger UI 4 reads OpenAPI 3.0: the page is given the API's 3.1 description in 3.0 words.
    described = page.request.get(f"{portal.base_url}/api/docs/openapi-3.0.json").json()
    canonical = page.request.get(f"{portal.base_url}/api/openapi.json").json()
    assert described["openapi"] == "3.0.3" and described["paths"].keys() == canonical["paths"].keys()
    assert '{"type": "null"}' not in json.dumps(described)


def test_try_it_out_on_the_api_documentation_sends_the_sessions_csrf_token(tab: Tab, portal: Portal) -> None:
    page = tab.page
    _login(tab, portal, "county_admin")
    page.goto(f"{portal.base_url}/api/docs")
    logout = page.locator(".opblock-post", has=page.locator(".opblock-summary-path", has_text="/api/v1/logout"))
    logout.locator(".opblock-summary").click()
    logout.locator(".try-out__btn").click()
    with page.expect_response("**/api/v1/logout") as answer:
        logout.locator(".execute").click()
    assert answer.value.status == 204, answer.value.text()
    assert answer.value.request.headers.get("x-csrf-token")
    page.goto(f"{portal.base_url}/")  # the session has ended: the logout went through
    assert page.url == f"{portal.base_url}/login?next=/"


def test_numbers_are_formatted_without_floating_point(tab: Tab, portal: Portal) -> None:
    page = tab.page
    page.goto(f"{portal.base_url}/login")
    shown = page.evaluate(
        "[canbao.rate(5926), canbao.rate(10000), canbao.rate(7), canbao.rateChange(-35), canbao.yuan(12345),"
        " canbao.yuan(-5), canbao.yuan(38000000), canbao.count(1234567), canbao.rate(null)]"
    )
    assert shown == ["59.26%", "100.00%", "0.07%", "-0.35 个百分点", "123.45", "-0.05", "380,000.00", "1,234,567", "—"]


@pytest.mark.parametrize("role", ["school", "department"])
def test_a_school_or_department_has_no_dashboard_and_finds_only_its_own_persons(
    browser: Browser, portal: Portal, role: str
) -> None:
    """A school sees the students its rosters entered, a department the persons on its lists: the person
    search, not the dashboard."""
    with portal.engine.connect() as c:
        if role == "school":
            area = c.execute(
                select(import_batches.c.department).where(import_batches.c.kind == "school").limit(1)
            ).scalar_one()
            listed = (
                select(import_rows.c.person_id)
                .join(import_batches, import_batches.c.id == import_rows.c.batch_id)
                .where(import_batches.c.department == area, import_rows.c.person_id.is_not(None))
            )
        else:
            area = "civil_affairs"
            listed = select(identity_memberships.c.person_id).where(identity_memberships.c.department == area)
    own = _someone(portal.engine, persons.c.id.in_(listed))
    other = _someone(portal.engine, persons.c.id.not_in(listed))
    username, password = add_staff(portal.engine, role, **{role: area})
    context = browser.new_context()
    page = context.new_page()
    guard = OffsiteGuard(page, portal.base_url)
    sign_in(page, portal.base_url, username, password)
    assert page.url == f"{portal.base_url}/persons"
    expect(page.locator("nav a")).to_have_text(["人员查询", "名单报送", "任务"])  # its lists, not the dashboard
    me = page.request.get(f"{portal.base_url}/api/v1/me").json()
    expect(page.locator("#staff-area")).to_have_text(me["area"])
    page.fill("#q", own.id_number)
    page.click("#search")
    expect(page.locator("#results tbody tr")).to_contain_text(mask_id_number(own.id_number))
    page.fill("#q", other.id_number)
    page.click("#search")
    expect(page.locator("#results .empty")).to_be_visible()
    context.close()
    guard.check()
