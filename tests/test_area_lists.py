"""催缴清单 and 入户排查 downloads of a member of staff's own area (issue 14): a township user gets its own
township whatever it asks for, a village user its village, ID numbers are masked in the workbook, school and
department accounts have no such lists. On SQLite and PostgreSQL, through the API."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine

from canbao.ids import mask_id_number
from canbao.services.access import Staff
from canbao.services.payments import Payment, pay
from canbao.services.season import open_season
from conftest import TODAY, application
from web_support import Desk

LINGBI = "341323"
PLACES = [("灵城镇", "城东社区"), ("灵城镇", "城西社区"), ("韦集镇", "韦集村")]
ADMIN = Staff(1, "admin", "county_admin", county=LINGBI)
TOWNSHIP = Staff(2, "lingcheng", "township", county=LINGBI, township="灵城镇")
VILLAGE = Staff(3, "chengdong", "village", county=LINGBI, township="灵城镇", village="城东社区")
SCHOOL = Staff(4, "school", "school", county=LINGBI, school="灵城中学")


def last_years_enrollees(engine: Engine) -> dict[tuple[str, str], str]:
    ids = {}
    for i, (township, village) in enumerate(PLACES):
        app = application(LINGBI, f"19{60 + i}-01-01", "regular", "2020-10-10")
        payment = Payment("anhui/suzhou/2021", app, "online", f"L{i}", Decimal("280"), township=township,
                          village=village)  # fmt: skip
        pay(engine, payment, "clerk")
        ids[(township, village)] = str(app["person"]["id_number"])
    open_season(engine, "anhui/suzhou/lingbi/2022", "clerk", today=TODAY)
    return ids


def client_as(engine: Engine, folder: Path, staff: Staff) -> TestClient:
    return Desk(engine, folder, TODAY).as_(staff)


def workbook_text(content: bytes) -> str:
    book = load_workbook(io.BytesIO(content))
    rows = (row for sheet in book for row in sheet.iter_rows(values_only=True))
    return "\n".join(" ".join("" if v is None else str(v) for v in row) for row in rows)


@pytest.mark.parametrize("path", ["/api/v1/lists/due?benefit_year=2022",
                                  "/api/v1/lists/not-renewed?benefit_year=2022&as_of=2021-12-31"])  # fmt: skip
def test_a_township_or_village_user_downloads_its_own_area_masked(engine: Engine, tmp_path: Path, path: str) -> None:
    ids = last_years_enrollees(engine)
    township = client_as(engine, tmp_path, TOWNSHIP).get(path + "&township=韦集镇")  # asks for another township
    assert township.status_code == 200 and township.headers["content-type"].startswith("application/vnd.openxml")
    text = workbook_text(township.content)
    east, west, weiji = ids[PLACES[0]], ids[PLACES[1]], ids[PLACES[2]]
    assert east[:6] + "********" + east[-4:] in text and west[-4:] in text
    # The masked number, not its last 4 digits alone: those can be in any number's county code (341323 has 4132),
    # and which they are depends on how many applications this process made before (conftest.application).
    assert mask_id_number(weiji) not in text and "韦集" not in text
    assert east not in text and west not in text  # never the full number
    village = workbook_text(client_as(engine, tmp_path, VILLAGE).get(path).content)
    assert mask_id_number(east) in village and mask_id_number(west) not in village


def test_a_county_role_gets_every_township_as_a_zip_or_one_township(engine: Engine, tmp_path: Path) -> None:
    last_years_enrollees(engine)
    county = client_as(engine, tmp_path, ADMIN)
    everything = county.get("/api/v1/lists/due?benefit_year=2022")
    assert everything.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(everything.content)).namelist()
    assert sorted(names) == ["催缴清单-灵城镇.xlsx", "催缴清单-韦集镇.xlsx"]
    one = county.get("/api/v1/lists/due?benefit_year=2022&township=韦集镇")
    assert "filename*=UTF-8''" in one.headers["content-disposition"] and "韦集" in workbook_text(one.content)


def test_nobody_to_chase_and_roles_without_lists(engine: Engine, tmp_path: Path) -> None:
    nothing = client_as(engine, tmp_path, TOWNSHIP).get("/api/v1/lists/due?benefit_year=2022")
    assert nothing.status_code == 404 and nothing.json()["detail"] == "本区域没有尚未缴费的人员"
    school = client_as(engine, tmp_path, SCHOOL).get("/api/v1/lists/due?benefit_year=2022")
    assert school.status_code == 403
    bad = client_as(engine, tmp_path, TOWNSHIP).get("/api/v1/lists/not-renewed?benefit_year=2022&as_of=12/31")
    assert bad.status_code == 422 and bad.json()["field"] == "as_of"
    missing = client_as(engine, tmp_path, TOWNSHIP).get("/api/v1/lists/due")
    assert missing.status_code == 422 and missing.json() == {"detail": "缺少参数 benefit_year", "field": "benefit_year"}
