"""资金核算, 考核奖惩, 重复/无效参保清理, 退费 and 先缴后补 退补 through the portal's JSON API (issue 14): each the
CLI's use case, who may do it checked in services.money_desk; money in integer fen, ID numbers masked in every
answer and download; another township's person is not found (and audited); a replay changes nothing.
On SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

from area_data import targets_workbook
from canbao.bootstrap import Settings
from canbao.ids import mask_id_number
from canbao.services.access import Staff
from canbao.services.payments import Payment, pay
from canbao.services.targets import import_targets
from canbao.store.tables import audit_log, enrollments, ledger_entries, persons
from canbao.web.app import create_app
from canbao.web.deps import current_staff
from conftest import TODAY, application
from web_support import Desk, desk_on

BENGBU = "anhui/bengbu/2022"
HUAIYUAN = "anhui/bengbu/huaiyuan/2025"
LINGBI = "anhui/suzhou/lingbi/2022"
HY = "340321"  # 怀远县
ADMIN = Staff(1, "admin", "county_admin", county=HY)
TAX = Staff(2, "shuiwu", "tax", county=HY)
LIUCHENG = Staff(3, "liucheng", "township", county=HY, township="榴城镇")
CHANGFENG = Staff(4, "changfeng", "township", county=HY, township="常坟镇")
VILLAGE = Staff(5, "cun", "village", county=HY, township="榴城镇", village="城东社区")
LB_ADMIN = Staff(6, "lbadmin", "county_admin", county="341323")
LB_TAX = Staff(7, "lbtax", "tax", county="341323")


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Iterator[Desk]:
    with desk_on(engine, tmp_path / "files", TODAY) as d:
        yield d


def enroll(engine: Engine, policy: str, county: str, township: str, txn: str, amount: str, *categories: str,
           paid_on: str = "2021-11-01", village: str | None = None, **person: Any) -> str:  # fmt: skip
    app = application(county, "1960-05-05", "regular", paid_on, list(categories), **person)
    channel = "collecting_unit" if categories else "online"
    payment = Payment(policy, app, channel, txn, Decimal(amount), township=township, village=village,
                      collecting_unit=township)  # fmt: skip
    pay(engine, payment, "t")
    return str(app["person"]["id_number"])


def person_id(engine: Engine, id_number: str) -> int:
    with engine.connect() as c:
        return int(c.execute(select(persons.c.id).where(persons.c.id_number == id_number)).scalar_one())


def ledger_count(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(ledger_entries)).scalar_one())


def no_float(value: Any) -> None:
    """Money is integer fen: no float anywhere in an answer."""
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for v in value.values():
            no_float(v)
    if isinstance(value, list):
        for v in value:
            no_float(v)


def workbook_text(content: bytes) -> str:
    book = load_workbook(io.BytesIO(content))
    rows = (row for sheet in book for row in sheet.iter_rows(values_only=True))
    return "\n".join(" ".join("" if v is None else str(v) for v in row) for row in rows)


def refused_out_of_area(engine: Engine, actor: str) -> int:
    with engine.connect() as c:
        return int(
            c.execute(
                select(func.count()).where(audit_log.c.actor == actor, audit_log.c.action == "out_of_area")
            ).scalar_one()
        )


# ---------------------------------------------------------------------------------------------------- 资金核算


def test_funds_summary_and_workbook_for_the_county_roles_only(desk: Desk) -> None:
    plain = enroll(desk.engine, BENGBU, HY, "榴城镇", "h1", "320")
    dibao = enroll(desk.engine, BENGBU, HY, "榴城镇", "h2", "40", "dibao")
    for staff in (ADMIN, TAX):
        answer = desk.as_(staff).get("/api/v1/funds?benefit_year=2022")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        no_float(body)
        assert plain not in answer.text and dibao not in answer.text
        assert body["benefit_year"] == 2022 and body["policies"] == [BENGBU]
        # 000 二(一) 怀远: 464 central + 116 province per person.
        levels = {row["level"]: row["amount_fen"] for row in body["levels"]}
        assert levels == {"central": 92800, "province": 23200, "city": 0, "county": 0, "total": 116000}
        towns = {row["township"]: row for row in body["fiscal_by_township"]}
        assert towns["榴城镇"]["persons"] == 2 and towns["榴城镇"]["fiscal_total_fen"] == 116000
        assert body["fiscal_county"]["township"] == "合计"
        dibao_row = next(r for r in body["subsidies_by_category"] if r["subsidy_category"] == "dibao")
        assert (dibao_row["persons"], dibao_row["ledger_fen"], dibao_row["subsidy_category_label"]) == (
            1,
            28000,
            "低保对象",
        )
        assert (body["transfer_persons"], body["transfer_fen"]) == (1, 28000)
        assert body["county_subsidy_total"]["owed_persons"] == 0

    workbook = desk.as_(TAX).get("/api/v1/funds/workbook?benefit_year=2022")
    assert workbook.status_code == 200, workbook.text
    assert workbook.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in workbook.headers["content-disposition"]
    sheets = load_workbook(io.BytesIO(workbook.content)).sheetnames
    assert "资助划拨明细" in sheets and "先缴后补-按乡镇" in sheets
    text = workbook_text(workbook.content)
    assert dibao not in text and mask_id_number(dibao) in text  # the transfer list, masked

    for staff in (LIUCHENG, VILLAGE):
        for path in ("/api/v1/funds?benefit_year=2022", "/api/v1/funds/workbook?benefit_year=2022"):
            refused = desk.as_(staff).get(path)
            assert refused.status_code == 403 and "资金核算" in refused.json()["detail"]


def test_funds_refuse_a_policy_of_another_year_naming_the_field(desk: Desk) -> None:
    answer = desk.as_(ADMIN).get(f"/api/v1/funds?benefit_year=2025&policy={BENGBU}")
    assert answer.status_code == 422 and answer.json()["field"] == "policy"
    assert desk.as_(ADMIN).get("/api/v1/funds").json()["field"] == "benefit_year"


def test_a_county_account_gets_no_county_report_over_another_countys_persons(desk: Desk) -> None:
    enroll(desk.engine, BENGBU, HY, "榴城镇", "h1", "320")
    enroll(desk.engine, BENGBU, "340322", "城关镇", "w1", "320")  # 五河县, in the same database
    for path in ("/api/v1/funds?benefit_year=2022", "/api/v1/funds/workbook?benefit_year=2022"):
        refused = desk.as_(ADMIN).get(path)
        assert refused.status_code == 403 and "其他县" in refused.json()["detail"]
    deaths = ("d.csv", io.BytesIO("身份证号码,姓名,死亡日期\n".encode()), "text/csv")
    cleanup = desk.as_(ADMIN).post(
        "/api/v1/cleanup", data={"benefit_year": "2022", "policy": BENGBU}, files={"deaths": deaths}
    )
    assert cleanup.status_code == 403
    # An account of the whole registry (no county) sees both.
    whole = desk.as_(Staff(9, "root", "county_admin")).get("/api/v1/funds?benefit_year=2022")
    assert whole.status_code == 200 and whole.json()["fiscal_county"]["persons"] == 2


def test_state_changing_calls_need_the_csrf_token(engine: Engine, tmp_path: Path) -> None:
    app = create_app(Settings(str(engine.url), True, None, TODAY, files_dir=tmp_path / "files"), engine)
    app.dependency_overrides[current_staff] = lambda: ADMIN  # signed in, but no session token to match
    with TestClient(app) as client:
        body = {"benefit_year": 2025, "reason": "death", "requested_on": "2024-12-01"}
        assert client.post("/api/v1/persons/1/refund", json=body).status_code == 403
        record = client.post("/api/v1/county-subsidy/record", json={"person_id": 1, "benefit_year": 2025})
        assert record.status_code == 403 and "CSRF" in record.json()["detail"]
        assert client.post("/api/v1/cleanup", data={"benefit_year": "2025"}).status_code == 403


# ---------------------------------------------------------------------------------------------------- 考核奖惩


def test_rewards_per_township_for_the_county_admin_only(desk: Desk, tmp_path: Path) -> None:
    villages = [
        ("灵城镇", "341323100", "城东社区", "341323100001", 1),
        ("灵城镇", "341323100", "城西社区", "341323100002", 1),
        ("韦集镇", "341323101", "韦集村", "341323101001", 5),
    ]
    import_targets(desk.engine, targets_workbook(tmp_path / "任务分解表.xlsx", villages), 2022, "t")
    enroll(desk.engine, LINGBI, "341323", "灵城镇", "a", "320")
    enroll(desk.engine, LINGBI, "341323", "灵城镇", "b", "320")
    enroll(desk.engine, LINGBI, "341323", "韦集镇", "c", "320")
    answer = desk.as_(LB_ADMIN).get("/api/v1/rewards?benefit_year=2022")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    no_float(body)
    assert (body["policy"], body["cutoff"], body["county_enrolled"]) == (LINGBI, "2021-12-31", 3)
    towns = {row["township"]: row for row in body["townships"]}
    # 003 四(二)1: 1 yuan per enrollee; nobody activated an e-voucher, so nobody completes (通报批评).
    assert towns["灵城镇"]["work_subsidy_fen"] == 200 and towns["韦集镇"]["work_subsidy_fen"] == 100
    assert body["work_subsidy_fen"] == 300 and body["prizes_fen"] == 0 and body["completed_townships"] == 0
    assert (towns["灵城镇"]["enrollment_target"], towns["灵城镇"]["enrollment_completed"]) == (2, True)
    assert (towns["灵城镇"]["enrollment_rate_bp"], towns["灵城镇"]["e_voucher_short"]) == (10000, 2)
    assert (towns["韦集镇"]["enrollment_short"], towns["韦集镇"]["enrollment_completed"]) == (4, False)
    assert towns["灵城镇"]["completed"] is False and towns["灵城镇"]["prize"] is None

    workbook = desk.as_(LB_ADMIN).get("/api/v1/rewards/workbook?benefit_year=2022")
    assert workbook.status_code == 200, workbook.text
    assert "未完成名单" in load_workbook(io.BytesIO(workbook.content)).sheetnames

    for path in ("/api/v1/rewards?benefit_year=2022", "/api/v1/rewards/workbook?benefit_year=2022"):
        assert desk.as_(LB_TAX).get(path).status_code == 403
    assert desk.as_(LIUCHENG).get("/api/v1/rewards?benefit_year=2022").status_code == 403
    # 怀远 has no policy with an assessment.
    missing = desk.as_(ADMIN).get("/api/v1/rewards?benefit_year=2025")
    assert missing.status_code == 422 and "考核奖惩" in missing.json()["detail"]


# ---------------------------------------------------------------------------------------------------- 清理


def test_cleanup_runs_as_a_job_and_keeps_its_masked_list(desk: Desk) -> None:
    dead = enroll(desk.engine, HUAIYUAN, HY, "榴城镇", "hy1", "400", paid_on="2024-10-01")
    deaths = f"身份证号码,姓名,死亡日期\n{dead},测试,2024-11-01\n".encode()
    admin = desk.as_(ADMIN)
    started = admin.post(
        "/api/v1/cleanup",
        data={"benefit_year": "2025", "as_of": "2024-12-01"},
        files={"deaths": ("死亡名单.csv", io.BytesIO(deaths), "text/csv")},
    )
    view = desk.finished(started)
    assert view["kind"] == "cleanup"
    result = view["result"]
    assert (result["policy"], result["as_of"], result["as_of_defaulted"]) == (HUAIYUAN, "2024-12-01", False)
    assert (result["terminate"], result["refund"], result["stop_chasing"]) == (1, 1, 0)
    assert result["refund_fen"] == 40000 and result["by_reason"] == {"死亡": 1}
    name = result["files"][0]
    download = admin.get(f"/api/v1/jobs/{view['job_id']}/files/{name}")
    assert download.status_code == 200
    text = workbook_text(download.content)
    assert dead not in text and mask_id_number(dead) in text
    # The list only says what to do: the enrollment is still live until someone refunds it.
    with desk.engine.connect() as c:
        assert c.execute(select(enrollments.c.live)).scalar_one() is True


def test_cleanup_refusals(desk: Desk) -> None:
    deaths = ("d.csv", io.BytesIO("身份证号码,姓名,死亡日期\n".encode()), "text/csv")
    township = desk.as_(LIUCHENG).post("/api/v1/cleanup", data={"benefit_year": "2025"}, files={"deaths": deaths})
    assert township.status_code == 403
    nothing = desk.as_(ADMIN).post("/api/v1/cleanup", data={"benefit_year": "2025"})
    assert nothing.status_code == 422 and nothing.json()["field"] == "deaths"
    many = desk.as_(Staff(9, "root", "county_admin")).post(
        "/api/v1/cleanup", data={"benefit_year": "2022"}, files={"deaths": deaths}
    )  # no county on the account: two policies of 2022
    assert many.status_code == 422 and many.json()["field"] == "policy"


# ---------------------------------------------------------------------------------------------------- 退费


def test_a_refund_by_the_county_admin_once_and_the_replay_changes_nothing(desk: Desk) -> None:
    id_number = enroll(desk.engine, HUAIYUAN, HY, "榴城镇", "hy2", "400", paid_on="2024-10-01")
    pid = person_id(desk.engine, id_number)
    body = {"benefit_year": 2025, "reason": "death", "requested_on": "2024-12-01"}
    answer = desk.as_(ADMIN).post(f"/api/v1/persons/{pid}/refund", json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["refunded"] is True and result["amount_fen"] == 40000 and result["reason_label"] == "死亡"
    assert result["id_number"] == mask_id_number(id_number) and id_number not in answer.text
    page = desk.as_(ADMIN).get(f"/api/v1/persons/{pid}").json()
    assert [(a["action"], a["detail"]) for a in page["audit"] if a["action"] == "refund"] == [
        ("refund", "2025年度 死亡：退费 400.00 元")
    ]  # the person's page lists it
    entries = ledger_count(desk.engine)

    replay = desk.as_(ADMIN).post(f"/api/v1/persons/{pid}/refund", json=body)
    assert replay.status_code == 422 and "有效参保记录" in replay.json()["detail"]
    assert id_number not in replay.text
    assert ledger_count(desk.engine) == entries


def test_refund_refusals(desk: Desk) -> None:
    id_number = enroll(desk.engine, HUAIYUAN, HY, "榴城镇", "hy3", "400", paid_on="2024-10-01")
    pid = person_id(desk.engine, id_number)
    body = {"benefit_year": 2025, "reason": "death", "requested_on": "2024-12-01"}
    for staff in (TAX, LIUCHENG, VILLAGE):
        assert desk.as_(staff).post(f"/api/v1/persons/{pid}/refund", json=body).status_code == 403
    elsewhere = Staff(8, "other", "county_admin", county="341323")
    before = refused_out_of_area(desk.engine, "other")
    assert desk.as_(elsewhere).post(f"/api/v1/persons/{pid}/refund", json=body).status_code == 404
    assert desk.as_(ADMIN).post("/api/v1/persons/999999/refund", json=body).status_code == 404
    assert refused_out_of_area(desk.engine, "other") == before + 1
    wrong = desk.as_(ADMIN).post(f"/api/v1/persons/{pid}/refund", json=body | {"reason": "bored"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "reason"
    # Benefits have started: no refund, nothing changes.
    late = desk.as_(ADMIN).post(f"/api/v1/persons/{pid}/refund", json=body | {"requested_on": "2025-03-01"})
    assert late.status_code == 200 and late.json()["refunded"] is False and late.json()["amount_fen"] == 0
    with desk.engine.connect() as c:
        assert c.execute(select(enrollments.c.live)).scalar_one() is True


# ------------------------------------------------------------------------------------------------ 先缴后补 退补


def county_subsidy_season(engine: Engine) -> dict[str, str]:
    """怀远 2025 (004 二(三)): a 子女户 parent and a veteran in 榴城镇, a veteran in 常坟镇, a plain payer."""
    kw: dict[str, Any] = {"paid_on": "2024-10-01"}
    return {
        "parent": enroll(engine, HUAIYUAN, HY, "榴城镇", "c1", "400", "son_household", household_role="parent", **kw),
        "veteran": enroll(engine, HUAIYUAN, HY, "榴城镇", "c2", "400", "key_entitled", village="城东社区", **kw),
        "other": enroll(engine, HUAIYUAN, HY, "常坟镇", "c3", "400", "key_entitled", **kw),
        "plain": enroll(engine, HUAIYUAN, HY, "榴城镇", "c4", "400", **kw),
    }


def test_each_township_lists_its_own_owed_persons_masked_the_county_all(desk: Desk) -> None:
    ids = county_subsidy_season(desk.engine)
    own = desk.as_(LIUCHENG).get("/api/v1/county-subsidy?benefit_year=2025")
    assert own.status_code == 200, own.text
    body = own.json()
    no_float(body)
    assert {i["id_number"] for i in body["items"]} == {mask_id_number(ids["parent"]), mask_id_number(ids["veteran"])}
    assert all(i not in own.text for i in ids.values())
    assert body["persons"] == 2 and body["total_fen"] == sum(i["subsidy_fen"] for i in body["items"]) == 60000
    other = desk.as_(CHANGFENG).get("/api/v1/county-subsidy?benefit_year=2025").json()
    assert [i["person_id"] for i in other["items"]] == [person_id(desk.engine, ids["other"])]
    for staff in (ADMIN, TAX):
        assert desk.as_(staff).get("/api/v1/county-subsidy?benefit_year=2025").json()["persons"] == 3
    assert desk.as_(VILLAGE).get("/api/v1/county-subsidy?benefit_year=2025").status_code == 403


def test_a_township_records_its_own_once_and_nobody_elses(desk: Desk) -> None:
    ids = county_subsidy_season(desk.engine)
    veteran, other = person_id(desk.engine, ids["veteran"]), person_id(desk.engine, ids["other"])
    clerk = desk.as_(LIUCHENG)
    done = clerk.post("/api/v1/county-subsidy/record", json={"person_id": veteran, "benefit_year": 2025})
    assert done.status_code == 200, done.text
    assert done.json() | {"outcome": ""} == {
        "person_id": veteran, "id_number": mask_id_number(ids["veteran"]), "benefit_year": 2025,
        "township": "榴城镇", "paid_fen": 40000, "outcome": "",
    }  # fmt: skip
    entries = ledger_count(desk.engine)
    replay = clerk.post("/api/v1/county-subsidy/record", json={"person_id": veteran, "benefit_year": 2025})
    assert replay.status_code == 422 and "不能重复退补" in replay.json()["detail"]
    assert ids["veteran"] not in replay.text and ledger_count(desk.engine) == entries
    listed = clerk.get("/api/v1/county-subsidy?benefit_year=2025").json()
    assert [i["id_number"] for i in listed["items"]] == [mask_id_number(ids["parent"])]

    # Another township's person: not found, audited; naming another township: refused.
    before = refused_out_of_area(desk.engine, "liucheng")
    away = clerk.post("/api/v1/county-subsidy/record", json={"person_id": other, "benefit_year": 2025})
    assert away.status_code == 404 and refused_out_of_area(desk.engine, "liucheng") == before + 1
    parent = person_id(desk.engine, ids["parent"])
    named = clerk.post(
        "/api/v1/county-subsidy/record", json={"person_id": parent, "benefit_year": 2025, "township": "常坟镇"}
    )
    assert named.status_code == 403
    assert (
        desk.as_(TAX)
        .post("/api/v1/county-subsidy/record", json={"person_id": parent, "benefit_year": 2025})
        .status_code
        == 403
    )
    assert ledger_count(desk.engine) == entries

    # The county bureau records any person of the county, as their township.
    county = desk.as_(ADMIN).post("/api/v1/county-subsidy/record", json={"person_id": other, "benefit_year": 2025})
    assert county.status_code == 200 and county.json()["township"] == "常坟镇"
    plain = person_id(desk.engine, ids["plain"])
    none_owed = desk.as_(ADMIN).post("/api/v1/county-subsidy/record", json={"person_id": plain, "benefit_year": 2025})
    assert none_owed.status_code == 422 and "先缴后补" in none_owed.json()["detail"]


def test_the_openapi_document_describes_the_money_api(desk: Desk) -> None:
    spec = desk.client.get("/api/openapi.json").json()
    for path in ("/api/v1/funds", "/api/v1/funds/workbook", "/api/v1/rewards", "/api/v1/rewards/workbook",
                 "/api/v1/cleanup", "/api/v1/persons/{person_id}/refund", "/api/v1/county-subsidy",
                 "/api/v1/county-subsidy/record"):  # fmt: skip
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    assert {"FundsSummary", "RewardsSummary", "RefundRequest", "RefundResult", "OwedList"} <= set(schemas)


def test_each_role_is_offered_only_the_work_it_may_do(desk: Desk) -> None:
    def offered(staff: Staff) -> list[str]:
        return [c["value"] for c in desk.as_(staff).get("/api/v1/money/choices").json()["work"]]

    assert offered(ADMIN) == ["funds", "rewards", "cleanup", "refund", "county_subsidy_list", "county_subsidy_record"]
    assert offered(TAX) == ["funds", "county_subsidy_list"]
    assert offered(LIUCHENG) == ["county_subsidy_list", "county_subsidy_record"]
    assert offered(VILLAGE) == []
    reasons = desk.as_(ADMIN).get("/api/v1/money/choices").json()["refund_reasons"]
    assert {"value": "death", "label": "死亡"} in reasons
