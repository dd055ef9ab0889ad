"""开征, 缴费文件入账 and 对账 from the portal (issue 14), each a background job over the CLI's use cases, on a
small synthetic county: the county administrator sends last year's roster, opens the season, records a
payment file and reconciles with the tax bureau's and the bank's files; the tax bureau may record and
reconcile but not open the season; a township may do none of it. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from canbao.services.access import Staff
from canbao.synth import Manifest, build_county
from conftest import TODAY
from web_support import Desk, desk_on

COUNTY = "341323"
ADMIN = Staff(user_id=1, username="admin", role="county_admin", county=COUNTY)
TAX = Staff(user_id=2, username="shuiwu", role="tax", county=COUNTY)
TOWNSHIP = Staff(user_id=3, username="clerk", role="township", county=COUNTY, township="灵城镇")


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return build_county(COUNTY, 500, 5, tmp_path_factory.mktemp("ops") / "county")


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Iterator[Desk]:
    with desk_on(engine, tmp_path / "files", TODAY) as d:
        yield d


def upload(path: Path) -> tuple[str, io.BytesIO, str]:
    return (path.name, io.BytesIO(path.read_bytes()), "application/octet-stream")


def test_the_county_opens_records_and_reconciles_from_the_portal(desk: Desk, county: Manifest, tmp_path: Path) -> None:
    policy = str(county.data["policy"])
    folder = county.directory
    admin = desk.as_(ADMIN)
    roster = admin.post(
        "/api/v1/submissions/roster", files={"file": upload(folder / "roster_2021.csv")}, data={"benefit_year": 2021}
    )
    assert desk.finished(roster)["result"]["committed"] is True
    opened = desk.finished(admin.post("/api/v1/season/open", json={"policy": policy}))["result"]
    assert opened["due"] > 0 and opened["benefit_year"] == 2022
    payments = tmp_path / "缴费通知.parquet"
    pl.concat([pl.read_parquet(f) for f in sorted((folder / "payments").glob("*.parquet"))]).write_parquet(payments)
    tax = desk.as_(TAX)
    recorded = desk.finished(
        tax.post("/api/v1/payment-files", files={"file": upload(payments)}, data={"policy": policy})
    )
    result = recorded["result"]
    assert result["enrolled"] > 0 and result["rows"] == result["enrolled"] + result["replayed"] + result["refused"]
    outcomes = tax.get(f"/api/v1/jobs/{recorded['job_id']}/files/逐笔结果.csv")
    assert outcomes.status_code == 200 and outcomes.content.decode("utf-8-sig").startswith("file,")
    again = desk.finished(tax.post("/api/v1/payment-files", files={"file": upload(payments)}, data={"policy": policy}))
    assert again["result"]["enrolled"] == 0  # a replayed file changes nothing
    files = {"tax": upload(folder / "tax_records.csv"), "bank": upload(folder / "bank_statement.csv")}
    reconciled = desk.finished(
        tax.post("/api/v1/reconciliations", files=files, data={"as_of": "2021-12-31", "benefit_year": 2022})
    )
    assert reconciled["result"]["benefit_year"] == 2022 and reconciled["result"]["counts"]
    workbook = tax.get(f"/api/v1/jobs/{reconciled['job_id']}/files/{reconciled['result']['files'][0]}")
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"


def test_who_may_run_which_operation(desk: Desk, county: Manifest) -> None:
    policy = str(county.data["policy"])
    assert desk.as_(TAX).post("/api/v1/season/open", json={"policy": policy}).status_code == 403
    township = desk.as_(TOWNSHIP)
    assert township.post("/api/v1/season/open", json={"policy": policy}).status_code == 403
    payments = township.post(
        "/api/v1/payment-files", files={"file": ("a.csv", io.BytesIO(b"x"), "text/csv")}, data={"policy": policy}
    )
    assert payments.status_code == 403 and "不能缴费文件入账" in payments.json()["detail"]
    nothing = desk.as_(TAX).post("/api/v1/reconciliations", data={"as_of": "2021-12-31"})
    assert nothing.status_code == 422 and "至少上传" in nothing.json()["detail"]
    bad_day = desk.as_(TAX).post(
        "/api/v1/reconciliations", data={"as_of": "2021-13-01"}, files={"tax": ("t.csv", io.BytesIO(b"x"), "text/csv")}
    )
    assert bad_day.status_code == 422 and bad_day.json()["field"] == "as_of"
