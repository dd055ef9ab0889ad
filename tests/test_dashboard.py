"""Issue 14: the dashboard's rows — the caller's area and the levels below it — from a cached progress report
that a write invalidates (a new enrollment, a refund, a termination, new targets) and a read does not."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import canbao.services.dashboard as dashboard
from area_data import STAFF, TODAY, VILLAGES, YEAR, County, Portal, build_county, enroll, targets_workbook
from canbao.errors import InputError
from canbao.services.access import NotAllowed, Staff
from canbao.services.dashboard import FIGURES, benefit_years, dashboard_rows
from canbao.services.payments import end_enrollment, refund
from canbao.services.people import person_page, search_persons
from canbao.services.progress import NO_TOWNSHIP, NO_VILLAGE, Progress
from canbao.services.targets import import_targets
from canbao.store.db import make_engine
from canbao.store.tables import enrollments
from conftest import fresh_database

AS_OF = dt.date(2021, 12, 15)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def county(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    folder = tmp_path_factory.mktemp(f"dashboard_{request.param}")
    with fresh_database(request.param, folder) as url:
        engine = make_engine(url)
        yield build_county(engine, folder)
        engine.dispose()


class Counted:
    """services.progress.progress, counting its calls (optionally slow, for the single-flight test)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self._lock = threading.Lock()
        self._real = dashboard.progress

    def __call__(self, engine: Engine, benefit_year: int, as_of: dt.date) -> Progress:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        return self._real(engine, benefit_year, as_of)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counted:
    dashboard.clear_cache()
    counter = Counted()
    monkeypatch.setattr(dashboard, "progress", counter)
    return counter


def _places(rows: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    return [(r["level"], r["township"], r["village"]) for r in rows]


def _row(engine: Engine, staff: Staff, level: str, township: str | None, village: str | None) -> dict[str, Any]:
    rows = dashboard_rows(engine, staff, YEAR, AS_OF).rows
    return next(r for r in rows if (r["level"], r["township"], r["village"]) == (level, township, village))


def _live(engine: Engine) -> int:
    e = enrollments.c
    query = select(func.count()).where(e.benefit_year == YEAR, e.live, e.paid_on <= AS_OF)
    with engine.connect() as c:
        return int(c.execute(query).scalar_one())


def test_rows_per_role(county: County, counted: Counted) -> None:
    engine = county.engine
    for role in ("county_admin", "tax"):
        report = dashboard_rows(engine, STAFF[role], YEAR, AS_OF)
        assert (report.benefit_year, report.as_of, report.week_before) == (YEAR, AS_OF, dt.date(2021, 12, 8))
        places = _places(report.rows)
        assert places[0] == ("county", None, None)
        assert {p for p in places if p[0] == "township"} == {
            ("township", "灵城镇", None), ("township", "韦集镇", None), ("township", NO_TOWNSHIP, None),
        }  # fmt: skip
        assert ("village", "灵城镇", "城东社区") in places and ("village", NO_TOWNSHIP, NO_VILLAGE) in places
        county_row = report.rows[0]
        assert set(county_row) == {"level", "township", "village", "rank", "township_rank", *FIGURES}
        assert county_row["enrollment_target"] == sum(v[-1] for v in VILLAGES)
        assert county_row["enrolled"] == _live(engine) >= 5  # the five who paid at least (not the student, …)
        assert county_row["enrolled"] == sum(r["enrolled"] for r in report.rows if r["level"] == "township")
    township = _places(dashboard_rows(engine, STAFF["township"], YEAR, AS_OF).rows)
    assert township[0] == ("township", "灵城镇", None) and len(township) == 4
    assert set(township[1:]) == {
        ("village", "灵城镇", "城东社区"), ("village", "灵城镇", "城西社区"), ("village", "灵城镇", NO_VILLAGE),
    }  # fmt: skip
    assert _places(dashboard_rows(engine, STAFF["village"], YEAR, AS_OF).rows) == [("village", "灵城镇", "城东社区")]
    for role in ("school", "department"):
        with pytest.raises(NotAllowed, match="没有参保进度工作台"):
            dashboard_rows(engine, STAFF[role], YEAR, AS_OF)
    east = _row(engine, STAFF["village"], "village", "灵城镇", "城东社区")
    assert (east["enrolled"], east["enrollment_target"], east["enrollment_rate_bp"]) == (1, 4, 2_500)
    assert isinstance(east["rank"], int) and isinstance(east["township_rank"], int)
    assert counted.calls == 1  # every view above came from one computation


def test_a_write_invalidates_the_cache_and_a_read_does_not(county: County, counted: Counted, tmp_path: Path) -> None:
    engine, village = county.engine, STAFF["village"]
    before = _row(engine, village, "village", "灵城镇", "城东社区")["enrolled"]
    assert counted.calls == 1
    # Reads: a search, a person's page (an audit line person_view), a second view.
    search_persons(engine, village, "张三")
    person_page(engine, village, county.east)
    assert _row(engine, village, "village", "灵城镇", "城东社区")["enrolled"] == before
    assert counted.calls == 1
    # A new enrollment.
    _, id_number = enroll(engine, "吴新", "灵城镇", "城东社区", paid_on="2021-12-14")
    row = _row(engine, village, "village", "灵城镇", "城东社区")
    assert (row["enrolled"], row["enrolled_this_week"]) == (before + 1, 1) and counted.calls == 2
    # A refund changes the enrollment in place.
    refund(engine, id_number, YEAR, "duplicate_payment", dt.date(2021, 12, 14), "clerk")
    assert _row(engine, village, "village", "灵城镇", "城东社区")["enrolled"] == before and counted.calls == 3
    # So does a termination (no money moves: its audit line is what changes the stamp).
    _, other = enroll(engine, "郑终止", "灵城镇", "城东社区", paid_on="2021-11-20")
    assert _row(engine, village, "village", "灵城镇", "城东社区")["enrolled"] == before + 1 and counted.calls == 4
    end_enrollment(engine, other, YEAR, "terminated", "moved_away", dt.date(2021, 12, 1), "clerk")
    assert _row(engine, village, "village", "灵城镇", "城东社区")["enrolled"] == before and counted.calls == 5
    # New targets for the year (replaced whole: on SQLite the new rows may take the old ids).
    changed = [(t, tc, v, vc, 10) for t, tc, v, vc, _ in VILLAGES]
    import_targets(engine, targets_workbook(tmp_path / "t.xlsx", changed), YEAR, "test")
    assert _row(engine, village, "village", "灵城镇", "城东社区")["enrollment_target"] == 10 and counted.calls == 6
    import_targets(engine, targets_workbook(tmp_path / "back.xlsx", VILLAGES), YEAR, "test")
    assert _row(engine, village, "village", "灵城镇", "城东社区")["enrollment_target"] == 4 and counted.calls == 7


def test_another_day_is_another_report(county: County, counted: Counted) -> None:
    staff = STAFF["county_admin"]
    dashboard_rows(county.engine, staff, YEAR, AS_OF)
    early = dashboard_rows(county.engine, staff, YEAR, dt.date(2021, 10, 1))
    assert early.rows[0]["enrolled"] == 0 and counted.calls == 2
    dashboard_rows(county.engine, staff, YEAR, AS_OF)
    assert counted.calls == 2


def test_concurrent_views_compute_once(county: County, monkeypatch: pytest.MonkeyPatch) -> None:
    dashboard.clear_cache()
    slow = Counted(delay=0.5)
    monkeypatch.setattr(dashboard, "progress", slow)
    results: list[int] = []
    errors: list[BaseException] = []

    def view() -> None:
        try:
            results.append(len(dashboard_rows(county.engine, STAFF["county_admin"], YEAR, AS_OF).rows))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=view) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6 and len(set(results)) == 1
    assert slow.calls == 1


def test_while_one_view_recomputes_the_others_get_the_report_before(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    dashboard.clear_cache()
    staff = STAFF["county_admin"]
    before = dashboard_rows(county.engine, staff, YEAR, AS_OF).rows[0]["enrolled"]
    started, release = threading.Event(), threading.Event()
    real = dashboard.progress

    def held(engine: Engine, benefit_year: int, as_of: dt.date) -> Progress:
        started.set()
        assert release.wait(30)
        return real(engine, benefit_year, as_of)

    monkeypatch.setattr(dashboard, "progress", held)
    enroll(county.engine, "冯并发", "韦集镇", "韦集村", paid_on="2021-12-01")
    fresh: list[int] = []
    refresher = threading.Thread(
        target=lambda: fresh.append(dashboard_rows(county.engine, staff, YEAR, AS_OF).rows[0]["enrolled"])
    )
    refresher.start()
    assert started.wait(30)
    assert dashboard_rows(county.engine, staff, YEAR, AS_OF).rows[0]["enrolled"] == before  # no wait: the last one
    release.set()
    refresher.join()
    assert fresh == [before + 1]
    assert dashboard_rows(county.engine, staff, YEAR, AS_OF).rows[0]["enrolled"] == before + 1


def test_a_year_without_targets_is_refused_without_counting(county: County, counted: Counted) -> None:
    with pytest.raises(InputError, match="尚未导入 2030 年度的任务分解表"):
        dashboard_rows(county.engine, STAFF["county_admin"], 2030, AS_OF)
    assert counted.calls == 0


def test_benefit_years(county: County, engine: Engine) -> None:
    today = dt.date(2021, 12, 20)
    years = benefit_years(county.engine, today)
    assert (years.years, years.default, years.today) == ([YEAR], YEAR, today)
    empty = benefit_years(engine, today)
    assert (empty.years, empty.default) == ([], None)
    enroll(engine, "孤年", "灵城镇", "城东社区")  # an enrollment of 2022, no targets at all
    assert (benefit_years(engine, today).years, benefit_years(engine, today).default) == ([YEAR], YEAR)


# ------------------------------------------------------------------------------------------------- the API


def test_api_progress_shape_and_scope(county: County) -> None:
    portal = Portal(county.engine)
    portal.staff = STAFF["township"]
    answer = portal.client.get("/api/v1/progress", params={"benefit_year": "2022", "as_of": "2021-12-15"})
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["benefit_year", "as_of", "week_before", "rows"]
    assert (body["benefit_year"], body["as_of"], body["week_before"]) == (2022, "2021-12-15", "2021-12-08")
    contract = {
        "level", "township", "village", "rank", "enrollment_target", "enrolled", "enrolled_last_week",
        "enrolled_this_week", "enrollment_rate_bp", "enrollment_rate_change_bp", "last_year", "renewed",
        "renewal_rate_bp", "e_voucher_target", "activated", "e_voucher_rate_bp",
    }  # fmt: skip
    for row in body["rows"]:
        assert contract <= set(row) and set(row) - contract == {"township_rank"}
        assert all(isinstance(row[k], int | None) for k in contract - {"level", "township", "village"})
    assert (body["rows"][0]["level"], body["rows"][0]["township"]) == ("township", "灵城镇")
    assert {r["township"] for r in body["rows"]} == {"灵城镇"}
    # Defaults: the newest year with targets, as of today.
    body = portal.client.get("/api/v1/progress").json()
    assert (body["benefit_year"], body["as_of"]) == (2022, TODAY.isoformat())
    portal.staff = STAFF["village"]
    rows = portal.client.get("/api/v1/progress", params={"benefit_year": 2022, "as_of": "2021-12-15"}).json()["rows"]
    assert [(r["level"], r["village"]) for r in rows] == [("village", "城东社区")]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"benefit_year": "2022", "as_of": "2021-13-01"}, "as_of", "不是有效日期"),
        ({"benefit_year": "2022", "as_of": "15/12/2021"}, "as_of", "YYYY-MM-DD"),
        ({"benefit_year": "二〇二二", "as_of": "2021-12-15"}, "benefit_year", "四位年份"),
        ({"benefit_year": "2031", "as_of": "2021-12-15"}, "benefit_year", "尚未导入 2031 年度的任务分解表"),
    ],
)
def test_api_progress_refusals_in_chinese(county: County, params: dict[str, str], field: str, words: str) -> None:
    answer = Portal(county.engine).client.get("/api/v1/progress", params=params)
    assert answer.status_code == 422
    assert answer.json()["field"] == field and words in answer.json()["detail"]


def test_api_progress_refused_to_schools_and_departments(county: County) -> None:
    portal = Portal(county.engine)
    for role in ("school", "department"):
        portal.staff = STAFF[role]
        answer = portal.client.get("/api/v1/progress", params={"benefit_year": "2022", "as_of": "2021-12-15"})
        assert answer.status_code == 403 and "工作台" in answer.json()["detail"]
    portal.staff = None
    assert portal.client.get("/api/v1/progress").status_code == 401
    assert portal.client.get("/api/v1/benefit-years").status_code == 401


def test_api_benefit_years(county: County, engine: Engine) -> None:
    answer = Portal(county.engine).client.get("/api/v1/benefit-years")
    assert answer.json() == {"years": [2022], "default": 2022, "today": TODAY.isoformat()}
    assert Portal(engine).client.get("/api/v1/benefit-years").json() == {
        "years": [], "default": None, "today": TODAY.isoformat(),
    }  # fmt: skip
    answer = Portal(engine).client.get("/api/v1/progress")
    assert answer.status_code == 422 and answer.json()["field"] == "benefit_year"
    schema = Portal(engine).client.get("/api/openapi.json").json()
    assert {"/api/v1/progress", "/api/v1/benefit-years"} <= set(schema["paths"])
    assert {"ProgressReport", "ProgressRow", "BenefitYears"} <= set(schema["components"]["schemas"])
