"""Issue 14: the staff portal's work pages in real headless Chromium (Debian's package, through Playwright):
名单报送 with a bad row → progress → the row results filtered → the feedback workbook → the fixed file imported;
a school's roster; a village's due list (XLSX, masked ID numbers); the county opens the season, adds a user and
reads the audit log; a job cut off by a restart says so and is rerun; a township is refused 用户管理.

A small synthetic county's season on SQLite (the API's own tests run both databases), the portal served by
uvicorn on 127.0.0.1, one browser for the module and a fresh context (its own cookies) per test. Every page is
checked to load nothing from outside the portal and to raise no script error."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, func, insert, select

from browser_support import Tab, chromium, new_tab, serve, sign_in
from canbao.bootstrap import Settings
from canbao.ids import make_id_number, mask_id_number
from canbao.services.access import Staff
from canbao.services.jobs import INTERRUPTED
from canbao.services.payments import Payment, pay
from canbao.services.season import due_list
from canbao.store.tables import enrollments, identity_memberships, jobs, persons, users
from canbao.web.app import create_app
from conftest import application, fresh_database
from county import run_season
from web_support import add_staff, fast_hashes

PERSONS = 500
SEED = 12
AS_OF = dt.date(2021, 12, 31)
YEAR = 2022
POLICY = "anhui/suzhou/lingbi/2022"
COUNTY = "341323"
SCHOOL = "灵城中心小学"
EIGHTEEN_DIGITS = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")


@dataclass
class Portal:
    base_url: str
    engine: Engine
    folder: Path
    data: Path  # the synthetic county's files (payments, the tax bureau's and the bank's records)
    accounts: dict[str, tuple[str, str]]  # role → (username, password)
    township: str  # the township and village of the township and village accounts: someone there owes
    village: str


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    folder = tmp_path_factory.mktemp("browser_work")
    with pytest.MonkeyPatch.context() as patch, fresh_database("sqlite", folder) as url:
        fast_hashes(patch)
        season = run_season(folder, PERSONS, SEED, url)
        engine = season.engine
        owing = (
            due_list(engine, YEAR)
            .filter(pl.col("township").is_not_null() & pl.col("village").is_not_null())
            .group_by("township", "village")
            .len()
            .sort("len", "township", "village", descending=[True, False, False])
        )
        township, village = owing.row(0)[:2]
        accounts = {
            "county_admin": add_staff(engine, "county_admin"),
            "tax": add_staff(engine, "tax"),
            "township": add_staff(engine, "township", township=township),
            "village": add_staff(engine, "village", township=township, village=village),
            "department": add_staff(engine, "department", department="civil_affairs"),
            "school": add_staff(engine, "school", school=SCHOOL),
        }
        settings = Settings(url, True, None, fixed_today=AS_OF, files_dir=folder / "files")
        with serve(create_app(settings, engine)) as base_url:
            yield Portal(base_url, engine, folder, season.data, accounts, township, village)
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def tab(browser: Browser, portal: Portal) -> Iterator[Tab]:
    with new_tab(browser, portal.base_url, timeout_ms=20_000, downloads=True) as t:
        yield t


def _login(tab: Tab, portal: Portal, role: str, next_path: str = "") -> None:
    username, password = portal.accounts[role]
    sign_in(tab.page, portal.base_url, username, password, next_path=f"?next={next_path}" if next_path else "")


def _cells(path: Path) -> list[str]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    return [str(v) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for v in row if v]


def _department_list(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A civil affairs bureau's list as it sends one: a title row, then the header, ID numbers as text."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "低保名单"
    sheet.append(["灵璧县2022年度城乡低保、特困人员参保资助名单"])
    sheet.append(["序号", "姓名", "身份证号码", "人员类别", "联系电话"])
    for i, (name, id_number, category) in enumerate(rows, start=1):
        sheet.append([i, name, id_number, category, "13800000000"])
    for row in sheet.iter_rows(min_row=3, min_col=3, max_col=3):
        row[0].number_format = "@"
    workbook.save(path)
    return path


def _finished(page: Page) -> None:
    expect(page.locator("#job-status")).to_have_text(re.compile("已完成|失败"), timeout=60_000)


def _memberships(engine: Engine, id_numbers: list[str]) -> int:
    with engine.connect() as c:
        return int(
            c.execute(
                select(func.count())
                .select_from(identity_memberships.join(persons, persons.c.id == identity_memberships.c.person_id))
                .where(persons.c.id_number.in_(id_numbers))
            ).scalar_one()
        )


def _enrolled(engine: Engine, offset: int, township: str | None = None) -> tuple[int, str, str]:
    """A person who paid for YEAR (the offset-th; of `township`): (person id, name, ID number)."""
    with engine.connect() as c:
        row = c.execute(
            select(persons.c.id, persons.c.name, persons.c.id_number)
            .join(enrollments, enrollments.c.person_id == persons.c.id)
            .where(enrollments.c.benefit_year == YEAR, enrollments.c.live.is_(True), persons.c.township.is_not(None))
            .where(persons.c.township == township if township else persons.c.township.is_not(None))
            .order_by(persons.c.id)
            .offset(offset)
            .limit(1)
        ).one()
    return int(row[0]), str(row[1]), str(row[2])


# ------------------------------------------------------------------------------------------ 名单报送


def test_a_department_sends_a_list_with_a_bad_row_reads_the_feedback_and_sends_the_fixed_file(
    tab: Tab, portal: Portal, tmp_path: Path
) -> None:
    page = tab.page
    good = [make_id_number(COUNTY, dt.date(1950 + i, 3, 1 + i), 500 + i) for i in range(3)]
    wrong = good[2][:-1] + ("0" if good[2][-1] != "0" else "1")  # a wrong check digit
    rows = [("张秀英", good[0], "低保对象"), ("李建国", good[1], "特困人员"), ("王桂兰", wrong, "低保对象")]
    listing = _department_list(tmp_path / "低保名单.xlsx", rows)
    _login(tab, portal, "department")
    expect(page.locator("nav a", has_text="名单报送")).to_have_count(1)
    expect(page.locator("nav a", has_text="用户管理")).to_have_count(0)
    page.goto(f"{portal.base_url}/submissions")
    expect(page.locator("#submit-form")).to_be_visible()
    expect(page.locator("#field-kind")).to_be_hidden()  # one kind only: the department's own list
    expect(page.locator("#field-department")).to_be_hidden()  # its own department
    page.select_option("#policy", POLICY)
    page.set_input_files("#file", str(listing))
    expect(page.locator("#accept-valid")).not_to_be_checked()  # all or nothing by default
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#submit")
    _finished(page)
    expect(page.locator("#job-status")).to_have_text("已完成")
    assert page.eval_on_selector("#job-progress", "p => p.value === p.max")
    expect(page.locator("#job-outcome")).to_contain_text("整批未导入")
    expect(page.locator('#result-facts dd[data-key="rejected"]')).to_have_text("1")
    expect(page.locator('#result-facts dd[data-key="accepted"]')).to_have_text("2")
    expect(page.locator("#import-valid")).to_be_visible()
    expect(page.locator("#rows-table tbody tr")).to_have_count(3)
    assert _memberships(portal.engine, good) == 0  # nothing written
    # Only the refused rows: the bad one, its masked number and its reason.
    with page.expect_response(lambda r: "/rows?" in r.url and "outcome=rejected" in r.url):
        page.select_option("#row-outcome", "rejected")
    refused = page.locator("#rows-table tbody tr")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("王桂兰")
    expect(refused).to_contain_text("退回")
    expect(refused).to_contain_text(mask_id_number(wrong))
    expect(refused.locator("td").nth(5)).to_contain_text("校验")
    assert wrong not in page.content()
    # The feedback workbook, downloaded as a person does: the bad row is in it, for the department to fix.
    with page.expect_download() as download:
        page.click("#job-file-list a:has-text('反馈')")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "低保名单_反馈.xlsx"
    assert any("王桂兰" in cell for cell in _cells(saved))
    assert any("校验" in cell for cell in _cells(saved))
    # The fixed file, sent again: imported whole.
    fixed = good[2]
    listing = _department_list(tmp_path / "低保名单（修改后）.xlsx", [*rows[:2], ("王桂兰", fixed, "低保对象")])
    page.goto(f"{portal.base_url}/submissions")
    page.select_option("#policy", POLICY)
    page.set_input_files("#file", str(listing))
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#submit")
    _finished(page)
    expect(page.locator("#job-outcome")).to_contain_text("已导入")
    expect(page.locator('#result-facts dd[data-key="accepted"]')).to_have_text("3")
    expect(page.locator("#import-valid")).to_be_hidden()
    assert _memberships(portal.engine, good) == 3
    # Both on the list of the department's jobs.
    page.goto(f"{portal.base_url}/jobs")
    expect(page.locator("#jobs tbody tr")).to_have_count(2)
    expect(page.locator("#jobs tbody tr").last).to_contain_text("整批未导入")


def test_only_the_valid_rows_from_the_job_page(tab: Tab, portal: Portal, tmp_path: Path) -> None:
    page = tab.page
    good = make_id_number(COUNTY, dt.date(1948, 5, 6), 610)
    more = [make_id_number(COUNTY, dt.date(1940 + i % 20, 1 + i % 12, 1 + i % 28), 620 + i) for i in range(52)]
    rows = [("赵德明", good, "特困人员"), ("孙玉芳", "34132319480506", "低保对象")]  # a number too short
    rows += [(f"周{i:02d}", n, "低保对象") for i, n in enumerate(more)]  # a list longer than a page
    _login(tab, portal, "department", next_path="/submissions")
    page.select_option("#policy", POLICY)
    page.set_input_files("#file", str(_department_list(tmp_path / "特困名单.xlsx", rows)))
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#submit")
    _finished(page)
    expect(page.locator("#job-outcome")).to_contain_text("整批未导入")
    # 54 rows: 50 on the first page, 4 on the second.
    expect(page.locator("#rows-table tbody tr")).to_have_count(50)
    expect(page.locator("#rows-page")).to_have_text("第 1 / 2 页")
    expect(page.locator("#rows-prev")).to_be_disabled()
    page.click("#rows-next")
    expect(page.locator("#rows-table tbody tr")).to_have_count(4)
    expect(page.locator("#rows-next")).to_be_disabled()
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#import-valid")
    _finished(page)
    expect(page.locator("#job-outcome")).to_contain_text("已导入")
    expect(page.locator('#result-facts dd[data-key="accepted"]')).to_have_text("53")
    assert _memberships(portal.engine, [good, *more]) == 53


def test_a_school_sends_its_roster(tab: Tab, portal: Portal, tmp_path: Path) -> None:
    page = tab.page
    students = [make_id_number(COUNTY, dt.date(2013, 9, 1 + i), 700 + i) for i in range(2)]
    roster = tmp_path / "学生名册.csv"
    lines = ["姓名,身份证号码,年级,班级"] + [f"学生{i},{n},四年级,四(一)班" for i, n in enumerate(students)]
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    _login(tab, portal, "school")
    assert page.url == f"{portal.base_url}/persons"
    page.click("nav a:has-text('名单报送')")
    expect(page.locator("#field-school")).to_be_hidden()  # the account's own school
    page.select_option("#policy", POLICY)  # the county of the roster
    page.set_input_files("#file", str(roster))
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#submit")
    _finished(page)
    expect(page.locator("#job-outcome")).to_contain_text("已导入")
    expect(page.locator('#result-facts dd[data-key="accepted"]')).to_have_text("2")
    expect(page.locator("#rows-table tbody tr")).to_have_count(2)
    expect(page.locator("#job-title")).to_contain_text("名单报送")


# ------------------------------------------------------------------------------------------ lists


def test_a_village_downloads_its_due_list_with_masked_numbers(tab: Tab, portal: Portal, tmp_path: Path) -> None:
    page = tab.page
    _login(tab, portal, "village")
    page.click("nav a:has-text('催缴清单')")
    expect(page.locator("#benefit-year")).to_have_value(str(YEAR))
    expect(page.locator("#township")).to_have_count(0)  # its own village only
    with page.expect_download() as download:
        page.click("#download-due")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    cells = _cells(saved)
    assert [c for c in cells if EIGHTEEN_DIGITS.search(c)] == []
    masked = [c for c in cells if re.fullmatch(r"\d{6}\*{8}[\dX]{4}", c)]
    assert masked
    assert portal.village in " ".join(cells)
    expect(page.locator("#lists-info")).to_contain_text("已下载催缴清单")


def test_a_list_with_nobody_on_it_says_so_instead_of_downloading(tab: Tab, portal: Portal) -> None:
    page = tab.page
    _login(tab, portal, "county_admin", next_path="/lists")
    page.fill("#township", "没有这个镇")
    with page.expect_response(lambda r: "/api/v1/lists/due" in r.url) as answer:
        page.click("#download-due")
    assert answer.value.status == 404
    expect(page.locator("#lists-info")).to_have_text(answer.value.json()["detail"])


# ------------------------------------------------------------------------------------------ the county


def test_the_county_opens_the_season_adds_a_user_and_reads_the_audit_log(tab: Tab, portal: Portal) -> None:
    page = tab.page
    _login(tab, portal, "county_admin")
    for label in ("名单报送", "开征", "缴费入账", "对账", "任务", "用户管理", "审计日志"):
        expect(page.locator("nav a", has_text=label)).to_have_count(1)
    page.click("nav a:has-text('开征')")
    page.select_option("#policy", POLICY)
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#open-season")
    _finished(page)
    expect(page.locator("#job-status")).to_have_text("已完成")
    expect(page.locator("#job-title")).to_contain_text("开征")
    expect(page.locator('#result-facts dd[data-key="benefit_year"]')).to_have_text(str(YEAR))
    job_id = int(page.url.rsplit("/", 1)[1])
    result = page.request.get(f"{portal.base_url}/api/v1/jobs/{job_id}").json()["result"]
    expect(page.locator('#result-facts dd[data-key="due"]')).to_have_text(f"{result['due']:,}")
    # 用户管理: a new township clerk.
    page.click("nav a:has-text('用户管理')")
    expect(page.locator("#users tbody tr").first).to_be_visible()
    page.fill("#new-username", "lingcheng_clerk")
    page.select_option("#new-role", "village")
    expect(page.locator("#new-village")).to_be_visible()
    expect(page.locator("#new-school")).to_be_hidden()
    page.fill("#new-township", portal.township)
    page.fill("#new-village", portal.village)
    page.fill("#new-password", "a-long-password-1")
    with page.expect_response("**/api/v1/users") as answer:
        page.click("#add-user")
    assert answer.value.status == 201 and answer.value.request.headers.get("x-csrf-token")
    row = page.locator('#users tr[data-username="lingcheng_clerk"]')
    expect(row).to_contain_text(portal.village)
    expect(page.locator("#users-info")).to_contain_text("已添加用户 lingcheng_clerk")
    # Disabled, with a second click to confirm; enabled again; its password reset.
    disable = row.locator("button", has_text="停用")
    disable.click()
    expect(disable).to_have_text("确认停用")
    with page.expect_response("**/api/v1/users/lingcheng_clerk/disable") as answer:
        disable.click()
    assert answer.value.status == 204
    expect(row).to_contain_text("已停用")
    with page.expect_response("**/api/v1/users/lingcheng_clerk/enable") as answer:
        row.locator("button", has_text="启用").click()
    assert answer.value.status == 204
    expect(page.locator("#users-info")).to_contain_text("已启用用户 lingcheng_clerk")
    expect(row.locator("button", has_text="停用")).to_be_visible()
    reset = row.locator("[data-password] button")
    reset.click()
    expect(reset).to_have_text("确认重设")
    row.locator("[data-password] input").fill("a-new-password-2")
    with page.expect_response("**/api/v1/users/lingcheng_clerk/password") as answer:
        reset.click()
    assert answer.value.status == 204 and answer.value.request.headers.get("x-csrf-token")
    expect(page.locator("#users-info")).to_contain_text("已重设用户 lingcheng_clerk 的密码")
    disable = row.locator("button", has_text="停用")
    disable.click()
    with page.expect_response("**/api/v1/users/lingcheng_clerk/disable"):
        disable.click()
    expect(row).to_contain_text("已停用")
    # 审计日志: the newest first, both lines there, and filtered by action.
    page.click("nav a:has-text('审计日志')")
    first = page.locator("#audit tbody tr").first
    expect(first).to_contain_text("停用用户")
    expect(first).to_contain_text("lingcheng_clerk")
    page.select_option("#action", "user_add")
    with page.expect_response(lambda r: "/api/v1/audit?" in r.url and "action=user_add" in r.url):
        page.click("#audit-search")
    expect(page.locator("#audit tbody tr").first).to_contain_text("新增用户")
    expect(page.locator("#audit tbody tr").first).to_contain_text("lingcheng_clerk")
    for action in page.locator("#audit tbody td:nth-child(4)").all_inner_texts():
        assert "user_add" in action
    page.select_option("#action", "")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/audit?limit=25")):
        page.click("#audit-search")
    lines = page.locator("#audit tbody tr")
    expect(lines).to_have_count(25)
    newest_page = page.locator("#audit tbody td:nth-child(1)").all_inner_texts()
    with page.expect_response(lambda r: "before_id=" in r.url):
        page.click("#audit-next")
    expect(page.locator("#audit-first")).to_be_visible()
    older = page.locator("#audit tbody td:nth-child(1)").first.inner_text()
    assert int(older.replace(",", "")) < min(int(i.replace(",", "")) for i in newest_page)


def test_a_job_cut_off_by_a_restart_says_so_and_is_rerun(tab: Tab, portal: Portal) -> None:
    page = tab.page
    username = portal.accounts["county_admin"][0]
    with portal.engine.begin() as c:
        user_id = c.execute(select(users.c.id).where(users.c.username == username)).scalar_one()
        staff = Staff(user_id, username, "county_admin")
        job_id = c.execute(
            insert(jobs)
            .values(
                kind="season_open", status="failed", params=json.dumps({"policy": POLICY}), today=AS_OF,
                user_id=user_id, actor=username, staff=json.dumps(dataclasses.asdict(staff)), done_steps=1,
                total_steps=3, stage="测算应缴", error=INTERRUPTED, created_at=dt.datetime.now(dt.UTC),
                finished_at=dt.datetime.now(dt.UTC),
            )
            .returning(jobs.c.id)
        ).scalar_one()  # fmt: skip
    _login(tab, portal, "county_admin", next_path=f"/jobs/{job_id}")
    expect(page.locator("#job-status")).to_have_text("失败")
    expect(page.locator("#job-failure")).to_have_text(INTERRUPTED)
    expect(page.locator("#job-interrupted")).to_contain_text("服务器重启而中断")
    expect(page.locator("#job-interrupted")).to_contain_text("重新运行")
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#rerun")
    assert page.url != f"{portal.base_url}/jobs/{job_id}"
    _finished(page)
    expect(page.locator("#job-status")).to_have_text("已完成")


def test_a_township_cannot_reach_user_management(tab: Tab, portal: Portal) -> None:
    page = tab.page
    _login(tab, portal, "township")
    expect(page.locator("nav a", has_text="用户管理")).to_have_count(0)
    expect(page.locator("nav a", has_text="名单报送")).to_have_count(0)
    expect(page.locator("nav a", has_text="催缴清单")).to_have_count(1)
    with page.expect_response("**/api/v1/users") as answer:
        page.goto(f"{portal.base_url}/users")
    assert answer.value.status == 403
    expect(page.locator("#users-error")).to_have_text(answer.value.json()["detail"])
    expect(page.locator("#user-form")).to_be_hidden()
    with page.expect_response("**/api/v1/audit?limit=25") as answer:
        page.goto(f"{portal.base_url}/audit")
    assert answer.value.status == 403
    expect(page.locator("#audit-error")).to_contain_text("只有县医保局管理员")
    # 名单报送 by its address: the page says the account sends no list.
    page.goto(f"{portal.base_url}/submissions")
    expect(page.locator("#submit-error")).to_contain_text("不能报送名单")
    expect(page.locator("#submit-form")).to_be_hidden()


def test_the_tax_bureau_records_a_payment_file_and_reconciles(tab: Tab, portal: Portal, tmp_path: Path) -> None:
    page = tab.page
    _login(tab, portal, "tax")
    expect(page.locator("nav a", has_text="开征")).to_have_count(0)
    page.click("nav a:has-text('缴费入账')")
    payments = sorted((portal.data / "payments").glob("*.parquet"))[0]
    page.select_option("#policy", POLICY)
    page.set_input_files("#file", str(payments))
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#apply-payments")
    _finished(page)
    expect(page.locator("#job-title")).to_contain_text("缴费文件入账")
    rows = pl.read_parquet(payments).height
    expect(page.locator('#result-facts dd[data-key="rows"]')).to_have_text(f"{rows:,}")
    expect(page.locator('#result-facts dd[data-key="enrolled"]')).to_have_text("0")  # already recorded: replayed
    expect(page.locator('#result-facts dd[data-key="replayed"]')).to_have_text(f"{rows:,}")
    expect(page.locator("#job-file-list a")).to_have_text("逐笔结果.csv")
    # 对账 with the tax bureau's and the bank's records.
    page.click("nav a:has-text('对账')")
    page.fill("#as-of", AS_OF.isoformat())
    page.select_option("#benefit-year", str(YEAR))
    page.set_input_files("#tax", str(portal.data / "tax_records.csv"))
    page.set_input_files("#bank", str(portal.data / "bank_statement.csv"))
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#reconcile")
    _finished(page)
    expect(page.locator("#job-status")).to_have_text("已完成")
    expect(page.locator("#job-summary h3", has_text="各来源记录数")).to_have_count(1)
    expect(page.locator("#job-summary h3", has_text="核对")).to_have_count(1)
    with page.expect_download() as download:
        page.locator("#job-file-list a").first.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".xlsx" and saved.read_bytes()[:2] == b"PK"


# ------------------------------------------------------------------------------------------ money


def test_the_tax_bureau_reads_the_funds_and_downloads_their_workbook(tab: Tab, portal: Portal, tmp_path: Path) -> None:
    page = tab.page
    _login(tab, portal, "tax")
    page.click("nav a:has-text('资金核算')")
    page.select_option("#policy", POLICY)
    with page.expect_response(lambda r: "/api/v1/funds?" in r.url) as answer:
        page.click("#funds-show")
    assert answer.value.status == 200, answer.value.text()
    data = answer.value.json()
    expect(page.locator("#funds-levels tbody tr")).to_have_count(len(data["levels"]))
    expect(page.locator("#funds-townships tbody tr")).to_have_count(len(data["fiscal_by_township"]) + 1)
    total = data["fiscal_county"]["fiscal_total_fen"]
    expect(page.locator("#funds-townships tbody tr").last).to_contain_text(f"{total // 100:,}.{total % 100:02d}")
    with page.expect_download() as download:
        page.click("#funds-workbook")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix in (".xlsx", ".zip") and saved.read_bytes()[:2] == b"PK"
    if saved.suffix == ".xlsx":
        assert [c for c in _cells(saved) if EIGHTEEN_DIGITS.search(c)] == []


def test_the_county_reads_the_rewards_and_runs_a_cleanup(tab: Tab, portal: Portal, tmp_path: Path) -> None:
    page = tab.page
    _login(tab, portal, "county_admin", next_path="/rewards")
    page.select_option("#policy", POLICY)
    with page.expect_response(lambda r: "/api/v1/rewards?" in r.url) as answer:
        page.click("#rewards-show")
    assert answer.value.status == 200, answer.value.text()
    expect(page.locator("#rewards tbody tr")).to_have_count(len(answer.value.json()["townships"]))
    expect(page.locator("#rewards-summary .card")).to_have_count(4)
    # 清理: a paid person reported dead.
    _, name, dead = _enrolled(portal.engine, 0)
    deaths = tmp_path / "死亡人员名单.csv"
    deaths.write_text(f"身份证号码,姓名,死亡日期\n{dead},{name},2021-12-01\n", encoding="utf-8-sig")
    page.click("nav a:has-text('参保清理')")
    expect(page.locator("#benefit-year")).to_have_value(str(YEAR))
    page.select_option("#policy", POLICY)
    page.fill("#as-of", AS_OF.isoformat())
    page.set_input_files("#deaths", str(deaths))
    with page.expect_navigation(url=re.compile(r"/jobs/\d+$")):
        page.click("#cleanup")
    _finished(page)
    expect(page.locator("#job-status")).to_have_text("已完成")
    expect(page.locator("#job-title")).to_contain_text("清理")
    expect(page.locator('#result-facts dd[data-key="terminate"]')).to_have_text("1")
    with page.expect_download() as download:
        page.click("#job-file-list a")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    cells = _cells(saved)
    assert mask_id_number(dead) in cells and [c for c in cells if EIGHTEEN_DIGITS.search(c)] == []


def test_a_county_admin_refunds_from_the_persons_page(tab: Tab, portal: Portal) -> None:
    page = tab.page
    person_id, name, _ = _enrolled(portal.engine, 1, portal.township)
    _login(tab, portal, "county_admin", next_path=f"/persons/{person_id}")
    expect(page.locator("#person-title")).to_have_text(f"人员详情：{name}")
    expect(page.locator("#refund-form")).to_be_visible()
    page.fill("#refund-year", str(YEAR))
    page.select_option("#refund-reason", "joined_employee_insurance")
    page.fill("#refund-requested-on", AS_OF.isoformat())
    with page.expect_response(f"**/api/v1/persons/{person_id}/refund") as answer:
        page.click("#refund-submit")
    assert answer.value.status == 200, answer.value.text()
    assert answer.value.request.headers.get("x-csrf-token")
    result = answer.value.json()
    expect(page.locator("#refund-result")).to_be_visible()
    expect(page.locator("#refund-result")).to_contain_text(result["why"])
    if result["refunded"]:
        expect(page.locator("#refund-result")).to_contain_text("已退费")
        expect(page.locator("#section-refunds tbody tr")).to_have_count(1)
    # A township clerk has no refund form.
    page.context.clear_cookies()
    _login(tab, portal, "township", next_path=f"/persons/{person_id}")
    expect(page.locator("#person-facts")).to_be_visible()
    expect(page.locator("#refund-form")).to_have_count(0)


def test_a_township_sees_its_county_subsidy_list(tab: Tab, portal: Portal) -> None:
    page = tab.page
    _login(tab, portal, "township")
    with page.expect_response(lambda r: "/api/v1/county-subsidy?" in r.url) as answer:
        page.click("nav a:has-text('先缴后补退补')")
    assert answer.value.status == 200
    owed = answer.value.json()
    expect(page.locator("#subsidy-total")).to_contain_text(f"待退补 {owed['persons']:,} 人")
    if owed["items"]:
        expect(page.locator("#subsidy tbody tr")).to_have_count(len(owed["items"]))
        assert {i["township"] for i in owed["items"]} == {portal.township}
    else:
        expect(page.locator("#subsidy .empty")).to_have_text("本辖区没有待退补的人员")


def test_a_township_records_a_county_subsidy_paid_back(tab: Tab, portal: Portal) -> None:
    """怀远 2025 (004 二(三)): key entitled persons pay in full, the township pays the county's part back."""
    huaiyuan, county, township = "anhui/bengbu/huaiyuan/2025", "340321", "榴城镇"
    for txn in ("hy-1", "hy-2"):
        app = application(county, "1960-05-05", "regular", "2024-10-01", ["key_entitled"])
        payment = Payment(huaiyuan, app, "collecting_unit", txn, Decimal("400"), township=township,
                          collecting_unit=township)  # fmt: skip
        pay(portal.engine, payment, "test")
    portal.accounts["huaiyuan_township"] = add_staff(portal.engine, "township", county=county, township=township)
    page = tab.page
    _login(tab, portal, "huaiyuan_township", next_path="/county-subsidy")
    page.select_option("#benefit-year", "2025")
    with page.expect_response(lambda r: "/api/v1/county-subsidy?benefit_year=2025" in r.url) as answer:
        page.click("#subsidy-show")
    owed = answer.value.json()
    assert owed["persons"] == 2
    rows = page.locator("#subsidy tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#subsidy-total")).to_contain_text("待退补 2 人")
    first = owed["items"][0]
    expect(rows.first).to_contain_text(first["id_number"])  # masked
    with page.expect_response("**/api/v1/county-subsidy/record") as recorded:
        rows.first.locator("button").click()
    assert recorded.value.status == 200 and recorded.value.request.headers.get("x-csrf-token")
    expect(page.locator("#subsidy-info")).to_contain_text("已登记")
    expect(page.locator("#subsidy tbody tr")).to_have_count(1)
    expect(page.locator("#subsidy-total")).to_contain_text("待退补 1 人")


def test_the_county_is_asked_for_what_a_list_needs(tab: Tab, portal: Portal, tmp_path: Path) -> None:
    """county_admin sends any kind of list: the form asks for the department of a department list, and the API's
    refusal names the field, which the page marks."""
    page = tab.page
    listing = _department_list(
        tmp_path / "名单.xlsx", [("张秀英", make_id_number(COUNTY, dt.date(1951, 2, 3), 880), "低保对象")]
    )
    _login(tab, portal, "county_admin", next_path="/submissions")
    kinds = page.locator("#kind option").all_inner_texts()
    assert kinds == ["部门认定名单", "学校学生名册", "上年度参保名册", "任务分解表", "电子凭证激活记录"]
    expect(page.locator("#field-department")).to_be_visible()
    page.select_option("#policy", POLICY)
    page.set_input_files("#file", str(listing))
    with page.expect_response("**/api/v1/submissions/department_list") as answer:
        page.click("#submit")
    assert answer.value.status == 422 and answer.value.json()["field"] == "department"
    expect(page.locator("#submit-error")).to_have_text(answer.value.json()["detail"])
    expect(page.locator("#field-department")).to_have_class(re.compile("invalid"))
    # The school roster asks for the school, last year's roster for the benefit year.
    page.select_option("#kind", "school_roster")
    expect(page.locator("#field-school")).to_be_visible()
    expect(page.locator("#field-department")).to_be_hidden()
    page.select_option("#kind", "roster")
    expect(page.locator("#field-benefit-year")).to_be_visible()
    expect(page.locator("#benefit-year")).to_have_value(str(YEAR))
