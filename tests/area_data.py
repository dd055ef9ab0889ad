"""A small county for the portal's scoping tests (issue 14): persons in two townships, one without a place,
a school's students and a department's list, each made by the use cases that make them in production."""

from __future__ import annotations

import datetime as dt
import itertools
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from canbao.bootstrap import Settings
from canbao.ids import make_id_number
from canbao.services.access import Staff
from canbao.services.imports import import_department_list, import_school_roster
from canbao.services.payments import Payment, pay
from canbao.services.targets import import_targets
from canbao.store.tables import persons
from canbao.web.app import create_app
from canbao.web.deps import csrf_checked, current_staff

P = "anhui/suzhou/lingbi/2022"
YEAR = 2022
COUNTY = "341323"
TODAY = dt.date(2021, 12, 20)
SCHOOL = "灵城中心小学"
_seq = itertools.count(101)
_txn = itertools.count(1)

STAFF = {
    "county_admin": Staff(1, "county", "county_admin", county=COUNTY),
    "tax": Staff(2, "tax", "tax"),
    "township": Staff(3, "lingcheng", "township", county=COUNTY, township="灵城镇"),
    "village": Staff(4, "chengdong", "village", county=COUNTY, township="灵城镇", village="城东社区"),
    "school": Staff(5, "school", "school", county=COUNTY, school=SCHOOL),
    "department": Staff(6, "minzheng", "department", county=COUNTY, department="civil_affairs"),
}
OTHER = {  # the same roles, somewhere else
    "township": Staff(13, "weiji", "township", county=COUNTY, township="韦集镇"),
    "village": Staff(14, "chengxi", "village", county=COUNTY, township="灵城镇", village="城西社区"),
    "school": Staff(15, "other_school", "school", county=COUNTY, school="韦集中学"),
    "department": Staff(16, "canlian", "department", county=COUNTY, department="disabled_federation"),
    "county_admin": Staff(17, "elsewhere", "county_admin", county="341322"),
}


def new_id(birth: str = "1980-01-01") -> str:
    return make_id_number(COUNTY, dt.date.fromisoformat(birth), next(_seq) % 1000)


def enroll(
    engine: Engine,
    name: str,
    township: str | None,
    village: str | None,
    paid_on: str = "2021-11-01",
    id_number: str | None = None,
    phone: str | None = "13812345678",
) -> tuple[int, str]:
    """A person who paid for the year: (person id, ID number)."""
    id_number = id_number or new_id()
    application = {
        "person": {"id_number": id_number, "name": name, "county": COUNTY, "residency": "local_hukou",
                   "categories": []},
        "situation": "regular",
        "paid_on": paid_on,
    }  # fmt: skip
    payment = Payment(
        P, application, "online", f"T{next(_txn)}", Decimal("320"), township=township, village=village, phone=phone
    )
    result = pay(engine, payment, "test")
    return result.person_id, id_number


def person_id_of(engine: Engine, id_number: str) -> int:
    with engine.connect() as c:
        return int(c.execute(select(persons.c.id).where(persons.c.id_number == id_number)).scalar_one())


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


def targets_workbook(path: Path, villages: list[tuple[str, str, str, str, int]]) -> Path:
    """任务分解表: (township, township code, village, village code, target), the e-voucher target half of it."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "参保任务"
    sheet.append(["乡镇", "乡镇代码", "村", "村代码", "任务数"])
    voucher = workbook.create_sheet("电子凭证任务")
    voucher.append(["乡镇", "乡镇代码", "村", "村代码", "任务数"])
    for township, t_code, village, v_code, target in villages:
        sheet.append([township, t_code, village, v_code, target])
        voucher.append([township, t_code, village, v_code, max(target // 2, 1)])
    workbook.save(path)
    return path


VILLAGES = [
    ("灵城镇", "341323100", "城东社区", "341323100001", 4),
    ("灵城镇", "341323100", "城西社区", "341323100002", 4),
    ("韦集镇", "341323101", "韦集村", "341323101001", 2),
]


@dataclass
class County:
    engine: Engine
    east: int  # 灵城镇 城东社区
    west: int  # 灵城镇 城西社区
    weiji: int  # 韦集镇 韦集村
    unplaced: int  # no township, no village
    no_village: int  # 灵城镇, no village
    student: int  # on the school's roster (no township)
    listed: int  # on civil affairs' list (韦集镇)
    ids: dict[int, str]  # person id → ID number


def build_county(engine: Engine, folder: Path) -> County:
    ids: dict[int, str] = {}

    def add(name: str, township: str | None, village: str | None) -> int:
        person_id, id_number = enroll(engine, name, township, village)
        ids[person_id] = id_number
        return person_id

    east = add("张三", "灵城镇", "城东社区")
    west = add("张三丰", "灵城镇", "城西社区")
    weiji = add("张三", "韦集镇", "韦集村")
    unplaced = add("李四", None, None)
    no_village = add("王五", "灵城镇", None)
    student_id = new_id("2012-03-04")
    roster = write_csv(folder / "roster.csv", ["id_number", "name"], [[student_id, "赵小明"]])
    import_school_roster(engine, roster, SCHOOL, COUNTY, "test", today=TODAY, write_feedback=False)
    student = person_id_of(engine, student_id)
    ids[student] = student_id
    listed_id = new_id("1950-05-06")
    listing = write_csv(
        folder / "dibao.csv",
        ["id_number", "name", "category", "township", "village"],
        [[listed_id, "钱低保", "dibao", "韦集镇", "韦集村"]],
    )
    import_department_list(engine, listing, "civil_affairs", COUNTY, P, "test", today=TODAY, write_feedback=False)
    listed = person_id_of(engine, listed_id)
    ids[listed] = listed_id
    import_targets(engine, targets_workbook(folder / "targets.xlsx", VILLAGES), YEAR, "test")
    return County(engine, east, west, weiji, unplaced, no_village, student, listed, ids)


class Portal:
    """The portal app over `engine` with the signed-in member of staff and the CSRF check replaced (the
    accounts part has its own tests): `portal.staff = …`; state-changing calls send X-CSRF-Token: good."""

    CSRF = "good"

    def __init__(self, engine: Engine) -> None:
        url = engine.url.render_as_string(hide_password=False)
        files = Path(tempfile.mkdtemp(prefix="canbao-files-"))  # uploads and jobs' files: never the checkout
        self.app = create_app(Settings(url, True, None, TODAY, files_dir=files), engine)
        self.staff: Staff | None = STAFF["county_admin"]

        def signed_in() -> Staff:
            if self.staff is None:
                raise HTTPException(401, "请先登录")
            return self.staff

        def csrf(request: Request) -> None:
            if request.headers.get("X-CSRF-Token") != self.CSRF:
                raise HTTPException(403, "CSRF 令牌无效")

        self.app.dependency_overrides[current_staff] = signed_in
        self.app.dependency_overrides[csrf_checked] = csrf
        self.client = TestClient(self.app)
