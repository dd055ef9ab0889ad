"""Importing department lists, last year's roster and school rosters (issue 4), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine, func, select

from canbao.cli.imports import import_group
from canbao.errors import InputError
from canbao.ids import make_id_number, mask_id_number
from canbao.services import imports
from canbao.services.imports import import_department_list, import_roster, import_school_roster
from canbao.store.tables import audit_log, identity_memberships, import_batches, import_rows, persons
from conftest import TODAY

POLICY = "anhui/bengbu/2022"
COUNTY = "340322"

# Persons of the tests: valid ID numbers, distinct birth dates.
WANG = make_id_number(COUNTY, dt.date(1958, 3, 1), 11)  # on the dibao and the monitored lists
LI = make_id_number(COUNTY, dt.date(1962, 7, 9), 22)
ZHAO = make_id_number(COUNTY, dt.date(1975, 1, 30), 35)
SUN = make_id_number(COUNTY, dt.date(1990, 12, 4), 48)
CHEN = make_id_number(COUNTY, dt.date(2010, 5, 17), 51)
ZHOU = make_id_number(COUNTY, dt.date(2011, 9, 2), 64)


def bad_check_digit(id_number: str) -> str:
    last = "0" if id_number[-1] != "0" else "1"
    return id_number[:-1] + last


def write_csv(path: Path, header: list[str], rows: list[list[Any]], encoding: str = "utf-8-sig") -> Path:
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "名单"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def counts(engine: Engine) -> dict[str, int]:
    tables = (persons, import_batches, import_rows, identity_memberships, audit_log)
    return {t.name: count(engine, t) for t in tables}


def audit_lines(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(select(audit_log).order_by(audit_log.c.id)).mappings()]


def feedback_rows(path: Path) -> dict[int, dict[str, Any]]:
    """The 反馈 sheet by row number (行号)."""
    workbook = load_workbook(path, read_only=True)
    rows = list(workbook["反馈"].iter_rows(values_only=True))
    workbook.close()
    header = list(rows[0])
    padded = [tuple(r) + (None,) * (len(header) - len(r)) for r in rows[1:]]  # empty trailing cells are not stored
    return {int(r[0]): dict(zip(header, r, strict=True)) for r in padded}


def feedback_summary(path: Path) -> dict[str, Any]:
    workbook = load_workbook(path, read_only=True)
    rows = list(workbook["汇总"].iter_rows(values_only=True))
    workbook.close()
    return {r[0]: r[1] for r in rows[1:]}


def department_list(engine: Engine, path: Path, department: str, **kwargs: Any) -> imports.ImportReport:
    kwargs.setdefault("actor", "tester")
    kwargs.setdefault("feedback_path", path.with_name(path.stem + "_反馈.xlsx"))
    return import_department_list(engine, path, department, COUNTY, POLICY, today=TODAY, **kwargs)


LIST_HEADER = ["序号", "姓名", "身份证号码", "身份类别", "认定日期", "乡镇（街道）", "村（社区）"]


def civil_affairs_rows() -> list[list[Any]]:
    """Rows 2..8: WANG dibao, a bad check digit, a category of another department, an unknown category, WANG
    dibao again, LI destitute, ZHAO near-dibao."""
    return [
        [1, "王大山", WANG, "低保对象", "2021-03-01", "城关镇", "东村"],
        [2, "李四", bad_check_digit(SUN), "dibao", "2021-03-01", "城关镇", "东村"],
        [3, "赵六", ZHAO, "监测人口", "2021/03/01", "城关镇", "西村"],
        [4, "钱七", SUN, "五好家庭", "20210301", "城关镇", "西村"],
        [5, "王大山", WANG, "低保户", "2021-03-01", "城关镇", "东村"],
        [6, "李二", LI, "特困供养人员", "2021-03-01", "新集镇", "南村"],
        [7, "赵六", ZHAO, "near_dibao", "", "城关镇", "西村"],
    ]


# ------------------------------------------------------------------------------------------ department lists


def test_a_list_with_problems_names_each_row_and_resolves_the_dual_identity(engine: Engine, tmp_path: Path) -> None:
    monitored = write_csv(
        tmp_path / "监测对象.csv",
        ["姓名", "公民身份号码", "人员类别", "有效期起", "有效期止"],
        [["王大山", WANG, "防止返贫监测对象", "2021-01-01", "长期"]],
    )
    first = department_list(engine, monitored, "rural_revitalization")
    assert first.committed and first.accepted == 1 and first.rejected == 0
    assert "监测人口：医疗救助资助160元" in first.rows["resolved"][0]

    civil = write_csv(tmp_path / "民政名单.csv", LIST_HEADER, civil_affairs_rows())
    report = department_list(engine, civil, "civil_affairs", accept_valid=True)
    assert report.committed and not report.replayed
    assert (report.rows_total, report.accepted, report.rejected, report.duplicates) == (7, 3, 3, 1)
    assert report.new_persons == 2  # LI and ZHAO; WANG was registered by the first list
    assert report.dual_identities == 1 and report.already_listed == 0

    rows = feedback_rows(report.feedback_path or Path())
    assert set(rows) == {2, 3, 4, 5, 6, 7, 8}
    wang = rows[2]
    assert (wang["姓名"], wang["身份证号码"], wang["身份类别"], wang["结果"]) == ("王大山", WANG, "低保对象", "接收")
    # The most favourable of dibao (280) and monitored (160) under Bengbu 2022, paid upfront by assistance.
    assert wang["最终认定资助身份"].startswith("低保对象：医疗救助资助280元（医疗救助资金，缴费时直接抵扣）")
    assert "多重身份（低保对象、监测人口）只享受此一项" in wang["最终认定资助身份"]
    assert rows[3]["结果"] == "退回" and "身份证号码校验位错误" in rows[3]["原因"]
    assert rows[3]["身份证号码"] == bad_check_digit(SUN)  # in full: it goes back to the department
    assert rows[4]["结果"] == "退回"
    assert rows[4]["原因"].startswith("身份类别：监测人口不由民政局认定")
    assert rows[5]["结果"] == "退回" and rows[5]["原因"] == "身份类别：“五好家庭”不是已知的身份类别"
    assert rows[6]["结果"] == "重复" and "与第2行为同一人同一身份类别" in rows[6]["原因"]
    assert rows[6]["最终认定资助身份"] == wang["最终认定资助身份"]
    assert rows[7]["结果"] == "接收" and rows[7]["最终认定资助身份"].startswith(
        "特困人员：医疗救助资助320元"
    )
    # Near-dibao is not subsidised in Bengbu 2022 (unlisted: no subsidy).
    assert rows[8]["结果"] == "接收" and rows[8]["最终认定资助身份"] == "无分类资助"
    for rejected in (3, 4, 5):
        assert rows[rejected]["最终认定资助身份"] is None
    summary = feedback_summary(report.feedback_path or Path())
    assert (summary["总行数"], summary["接收"], summary["退回"], summary["重复"]) == (7, 3, 3, 1)
    assert summary["导入结果"] == f"已导入（批次 {report.batch_id}）"

    with engine.connect() as connection:
        wang_id = connection.execute(select(persons.c.id).where(persons.c.id_number == WANG)).scalar_one()
        held = connection.execute(
            select(identity_memberships.c.category, identity_memberships.c.department).where(
                identity_memberships.c.person_id == wang_id
            )
        ).all()
        assert sorted(tuple(h) for h in held) == [("dibao", "civil_affairs"), ("monitored", "rural_revitalization")]
        stored = {
            r.row_number: r
            for r in connection.execute(select(import_rows).where(import_rows.c.batch_id == report.batch_id))
        }
        li = connection.execute(select(persons).where(persons.c.id_number == LI)).mappings().one()
    assert len(stored) == 7
    assert stored[3].id_number == bad_check_digit(SUN) and stored[3].outcome == "rejected"
    assert stored[6].outcome == "duplicate" and stored[2].id_number == WANG and stored[2].reason is None
    assert (li["name"], li["sex"], li["birth_date"], li["county"]) == ("李二", "female", dt.date(1962, 7, 9), COUNTY)
    assert (li["township"], li["village"], li["residency"]) == ("新集镇", "南村", "local_hukou")


def test_a_person_already_on_a_list_of_another_file_is_noted_not_refused(engine: Engine, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", ["姓名", "身份证号码", "身份类别"], [["李二", LI, "dibao"]])
    second = write_csv(
        tmp_path / "b.csv", ["姓名", "身份证号码", "身份类别"], [["李二", LI, "低保对象"], ["赵六", ZHAO, "dibao"]]
    )
    earlier = department_list(engine, first, "civil_affairs")
    report = department_list(engine, second, "民政局")
    assert report.committed and report.accepted == 2 and report.rejected == 0 and report.already_listed == 1
    row = feedback_rows(report.feedback_path or Path())[2]
    assert row["结果"] == "接收" and row["原因"] == f"已在其他名单中（民政局，批次 {earlier.batch_id}）"
    assert count(engine, identity_memberships) == 3  # memberships belong to a batch
    assert report.dual_identities == 0  # the same category twice is one identity


def test_lookups_in_a_registry_much_larger_than_the_list(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys looked up in a temporary table (PostgreSQL) or chunked IN queries (SQLite), not a full read."""
    monkeypatch.setattr(imports.database, "FULL_SCAN_FACTOR", 0)
    monkeypatch.setattr(imports.database, "LOOKUP_CHUNK", 2)
    people = [["王大山", WANG, "dibao"], ["李二", LI, "dibao"], ["赵六", ZHAO, "destitute"], ["孙八", SUN, "orphan"]]
    department_list(engine, write_csv(tmp_path / "a.csv", ["姓名", "身份证号码", "身份类别"], people), "民政")
    path = write_csv(
        tmp_path / "b.csv",
        ["姓名", "身份证号码", "身份类别"],
        [
            ["王大山", WANG, "monitored"],
            ["李三", LI, "monitored"],
            ["赵六", ZHAO, "relapsed_poor"],
            ["陈十", CHEN, "monitored"],
        ],
    )
    report = department_list(engine, path, "rural_revitalization", accept_valid=True)
    by_row = {r["row_number"]: r for r in report.rows.iter_rows(named=True)}
    assert (
        by_row[2]["resolved"].startswith("低保对象")
        and "多重身份（低保对象、监测人口）" in by_row[2]["resolved"]
    )
    assert by_row[3]["reason"] == "姓名：与登记库中该身份证号码的姓名“李二”不一致"
    assert by_row[4]["resolved"].startswith("特困人员")
    assert by_row[5]["resolved"].startswith("监测人口") and report.new_persons == 1
    assert report.dual_identities == 2
    again = department_list(engine, path, "rural_revitalization", accept_valid=True)
    assert again.replayed and again.rows.filter(pl.col("row_number") == 2)["resolved"][0] == by_row[2]["resolved"]


def test_a_batch_with_a_bad_row_writes_nothing_but_its_audit_line(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "民政.csv", LIST_HEADER, civil_affairs_rows())
    report = department_list(engine, path, "civil_affairs")
    assert not report.committed and report.batch_id is None and report.rejected == 3
    assert counts(engine) == {
        "persons": 0,
        "import_batches": 0,
        "import_rows": 0,
        "identity_memberships": 0,
        "audit_log": 1,
    }
    (line,) = audit_lines(engine)
    assert (line["action"], line["outcome"], line["actor"]) == ("import_department_list", "refused", "tester")
    masked = mask_id_number(bad_check_digit(SUN))
    assert f"第3行 李四 {masked}：身份证号码校验位错误" in line["detail"]
    assert bad_check_digit(SUN) not in line["detail"]  # never the full number in the log
    # The department still gets its feedback, to fix the file.
    rows = feedback_rows(report.feedback_path or Path())
    assert rows[3]["结果"] == "退回" and rows[2]["结果"] == "接收" and rows[2]["最终认定资助身份"] is None
    assert feedback_summary(report.feedback_path or Path())["导入结果"].startswith("未导入")
    assert report.rejections()[0].startswith(f"第3行 李四 {masked}：")

    fixed = department_list(engine, path, "civil_affairs", accept_valid=True)
    assert fixed.committed and count(engine, persons) == 3 and count(engine, identity_memberships) == 3


def test_a_failure_while_writing_leaves_only_the_audit_line(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = imports.Writer.insert

    def failing(self: Any, table: Any, frame: pl.DataFrame) -> None:
        if table is import_rows:
            raise RuntimeError("disk full")
        original(self, table, frame)

    monkeypatch.setattr(imports.Writer, "insert", failing)
    path = write_csv(tmp_path / "民政.csv", LIST_HEADER, civil_affairs_rows())
    with pytest.raises(RuntimeError, match="disk full"):
        department_list(engine, path, "civil_affairs", accept_valid=True)
    empty = {"persons": 0, "import_batches": 0, "import_rows": 0, "identity_memberships": 0}
    assert counts(engine) == {**empty, "audit_log": 1}
    assert audit_lines(engine)[0]["outcome"] == "failed"
    assert [p.name for p in tmp_path.iterdir() if "反馈" in p.name] == []  # no feedback, no temporary file


def test_reimporting_the_same_file_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "民政.csv", LIST_HEADER, civil_affairs_rows())
    first = department_list(engine, path, "civil_affairs", accept_valid=True)
    before = counts(engine)
    again = department_list(engine, path, "civil_affairs", accept_valid=True, feedback_path=tmp_path / "again.xlsx")
    after = counts(engine)
    assert again.replayed and not again.committed and again.batch_id == first.batch_id
    assert (again.rows_total, again.accepted, again.rejected, again.duplicates) == (7, 3, 3, 1)
    assert after == {**before, "audit_log": before["audit_log"] + 1}
    assert audit_lines(engine)[-1]["outcome"] == "replayed"
    replayed_rows = feedback_rows(tmp_path / "again.xlsx")
    assert replayed_rows[3]["结果"] == "退回" and "校验位" in replayed_rows[3]["原因"]
    assert replayed_rows[6]["结果"] == "重复"
    assert replayed_rows[2]["最终认定资助身份"].startswith("低保对象")
    assert feedback_summary(tmp_path / "again.xlsx")["导入结果"].startswith("该文件此前已导入")
    # The same bytes cannot become another department's list.
    with pytest.raises(InputError, match="已于批次"):
        department_list(engine, path, "health_commission")
    assert counts(engine)["import_batches"] == before["import_batches"]


def test_xlsx_with_chinese_headers_synonyms_and_excel_dates(engine: Engine, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "乡村振兴.xlsx",
        ["姓名", "公民身份号码", "人员类别", "有效期起", "有效期止", "乡镇", "村", "联系电话"],
        [
            ["王大山", WANG, "返贫致贫人口", dt.datetime(2021, 5, 1), "长期", "城关镇", "东村", "13800000000"],
            # A 15-digit number of 1989 as a spreadsheet number: exact, converted to LI's 18 characters.
            ["李二", int(LI[:6] + LI[8:17]), "边缘易致贫户", 44317, None, "新集镇", "南村", None],
            # An 18-digit number as a spreadsheet number: Excel kept 15 digits.
            ["赵六", int(ZHAO[:17]) * 10, "监测对象", "2021-05-01", "2020-01-01", None, None, None],
            [None, None, None, None, None, None, None, None],
        ],
    )
    report = department_list(engine, path, "rural_revitalization", accept_valid=True)
    assert (report.rows_total, report.accepted, report.rejected) == (3, 2, 1)
    rows = feedback_rows(report.feedback_path or Path())
    assert rows[2]["身份类别"] == "返贫致贫人口" and rows[2]["结果"] == "接收"
    assert rows[2]["最终认定资助身份"].startswith("返贫致贫人口：医疗救助资助240元")
    assert rows[3]["身份类别"] == "监测人口" and rows[3]["结果"] == "接收"
    assert rows[4]["结果"] == "退回"
    assert "在 Excel 中被存成了数字" in rows[4]["原因"] and "有效期止：早于有效期起" in rows[4]["原因"]
    with engine.connect() as connection:
        dates = connection.execute(
            select(identity_memberships.c.valid_from, identity_memberships.c.valid_to).order_by(
                identity_memberships.c.valid_from
            )
        ).all()
        wang = connection.execute(select(persons).where(persons.c.id_number == WANG)).mappings().one()
    assert [tuple(d) for d in dates] == [(dt.date(2021, 5, 1), None), (dt.date(2021, 5, 1), None)]  # 44317 = 2021-05-01
    assert (wang["township"], wang["village"], wang["phone"]) == ("城关镇", "东村", "13800000000")


def test_gbk_csv_and_identifier_headers(engine: Engine, tmp_path: Path) -> None:
    gbk = write_csv(
        tmp_path / "卫健.csv",
        ["姓名", "身份证号码", "身份类别", "乡镇（街道）", "村（社区）"],
        [["孙八", SUN, "计划生育特殊家庭成员", "城关镇", "北村"]],
        encoding="gbk",
    )
    report = department_list(engine, gbk, "health_commission")
    assert report.committed and report.accepted == 1
    rows = feedback_rows(report.feedback_path or Path())
    # Bengbu 2022 leaves the family-planning subsidy to the counties: reported, not a failure.
    assert "计生代缴对象不在本政策覆盖范围" in rows[2]["最终认定资助身份"]
    assert report.not_covered == 1
    with engine.connect() as connection:
        sun = connection.execute(select(persons).where(persons.c.id_number == SUN)).mappings().one()
    assert (sun["name"], sun["village"]) == ("孙八", "北村")

    plain = write_csv(
        tmp_path / "veterans.csv",
        ["id_number", "name", "category", "valid_from", "valid_to"],
        [[SUN, "孙八", "key_entitled", "2021-01-01", "2021-12-31"], [LI, "李二", "重点优抚对象", "2021-13-01", None]],
    )
    veterans = department_list(engine, plain, "veterans_affairs", accept_valid=True)
    assert (veterans.accepted, veterans.rejected) == (1, 1)
    # Valid in 2021 only: accepted, but it does not count for the 2022 benefit year.
    row = veterans.rows.filter(pl.col("row_number") == 2).row(0, named=True)
    assert row["outcome"] == "accepted"
    assert row["reason"] == "提示：有效期与2022年度待遇期（2022-01-01至2022-12-31）不重叠，不参与本年度资助身份认定"
    assert "重点优抚对象" not in row["resolved"] and "计生代缴对象" in row["resolved"]
    assert veterans.rows.filter(pl.col("row_number") == 3)["reason"][0].startswith("有效期起（认定日期）：“2021-13-01”")


def test_household_lists_under_huaiyuan_need_the_role_of_adults(engine: Engine, tmp_path: Path) -> None:
    daughter = make_id_number("340321", dt.date(2012, 4, 1), 2)
    mother = make_id_number("340321", dt.date(1980, 4, 1), 4)
    path = write_csv(
        tmp_path / "独女户.csv",
        ["姓名", "身份证号码", "身份类别"],
        [["小红", daughter, "独女户"], ["刘英", mother, "双女户"]],
    )
    report = import_department_list(
        engine, path, "卫健委", "340321", "anhui/bengbu/huaiyuan/2025", "tester", today=TODAY
    )
    child, adult = report.rows["resolved"].to_list()
    assert child.startswith("农村独女户、双女户：县财政补贴（先缴后补）400元（县财政，先缴后补）")
    assert adult.startswith("无分类资助") and "成年人须注明是父母还是子女" in adult


def test_names_must_agree_in_the_file_and_with_the_registry(engine: Engine, tmp_path: Path) -> None:
    department_list(
        engine, write_csv(tmp_path / "a.csv", ["姓名", "身份证号码", "身份类别"], [["李二", LI, "dibao"]]), "民政"
    )
    path = write_csv(
        tmp_path / "b.csv",
        ["姓名", "身份证号码", "身份类别"],
        [["李三", LI, "destitute"], ["赵六", ZHAO, "dibao"], ["赵七", ZHAO, "orphan"], ["", CHEN, "orphan"]],
    )
    report = department_list(engine, path, "civil_affairs", accept_valid=True)
    by_row = {r["row_number"]: r for r in report.rows.iter_rows(named=True)}
    assert by_row[2]["reason"] == "姓名：与登记库中该身份证号码的姓名“李二”不一致"
    assert by_row[3]["outcome"] == "accepted"
    assert by_row[4]["reason"] == "姓名：与第3行同一身份证号码的姓名“赵六”不一致"
    assert by_row[5]["reason"] == "姓名：未填写"
    assert report.accepted == 1 and report.rejected == 3


def test_a_malformed_file_is_refused_before_anything_is_written(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "缺列.csv", ["姓名", "证件类型"], [["李二", "身份证"]])
    with pytest.raises(InputError) as refused:
        department_list(engine, path, "civil_affairs")
    message = str(refused.value)
    assert "缺列.csv" in message and "身份证号码（id_number" in message and "身份类别（category" in message
    with pytest.raises(InputError, match=r"只支持 \.csv 或 \.xlsx"):
        department_list(engine, write_csv(tmp_path / "x.json", ["a"], []), "civil_affairs")
    with pytest.raises(InputError, match="没有数据行"):
        department_list(engine, write_csv(tmp_path / "empty.csv", ["姓名", "身份证号码", "身份类别"], []), "民政")
    with pytest.raises(InputError, match="未知的认定部门"):
        department_list(engine, path, "教育局")
    # One audit line per refused file; an unknown department is refused before any file is read.
    empty = {"persons": 0, "import_batches": 0, "import_rows": 0, "identity_memberships": 0}
    assert counts(engine) == {**empty, "audit_log": 3}
    assert all(a["outcome"] == "refused" for a in audit_lines(engine))


def test_a_long_list_gets_a_full_csv_and_a_workbook_of_the_rows_that_need_attention(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports.feedback, "FEEDBACK_XLSX_MAX_ROWS", 3)
    path = write_csv(tmp_path / "民政.csv", LIST_HEADER, civil_affairs_rows())
    report = department_list(engine, path, "civil_affairs", accept_valid=True)
    assert report.feedback_csv_path is not None and report.feedback_csv_path.suffix == ".csv"
    full = pl.read_csv(report.feedback_csv_path, infer_schema=False)
    assert full.height == 7 and full.columns[:3] == ["行号", "姓名", "身份证号码"]
    assert full.filter(pl.col("行号") == "2")["身份证号码"][0] == WANG
    rows = feedback_rows(report.feedback_path or Path())
    assert sorted(rows) == [3, 4, 5]  # the first three rows that are not plainly accepted
    assert "CSV" in feedback_summary(report.feedback_path or Path())["说明"]


# ------------------------------------------------------------------------------------------ roster and school


ROSTER_HEADER = ["姓名", "身份证号码", "县（区）", "乡镇（街道）", "村（社区）", "参保人员类型", "联系电话"]


def test_roster_registers_and_updates_persons(engine: Engine, tmp_path: Path) -> None:
    department_list(
        engine, write_csv(tmp_path / "a.csv", ["姓名", "身份证号码", "身份类别"], [["李二", LI, "dibao"]]), "民政"
    )
    path = write_csv(
        tmp_path / "2025年参保名册.csv",
        ROSTER_HEADER,
        [
            ["李二", LI, COUNTY, "新集镇", "南村", None, "13900000000"],
            ["赵六", ZHAO, COUNTY, "城关镇", "西村", "本地长期居住或流动就业人员", None],
            ["孙八", SUN, "340321", "城关镇", "西村", None, None],
            ["钱七", CHEN, None, "城关镇", "东村", "外星人", None],
            ["赵六", ZHAO, COUNTY, "城关镇", "西村", None, None],
        ],
    )
    report = import_roster(
        engine, path, COUNTY, 2025, "tester", accept_valid=True, feedback_path=tmp_path / "fb.xlsx", today=TODAY
    )
    assert report.committed and (report.accepted, report.rejected, report.duplicates) == (2, 2, 1)
    assert (report.new_persons, report.updated_persons) == (1, 1)
    rows = feedback_rows(tmp_path / "fb.xlsx")
    assert list(rows[2])[:5] == ["行号", "姓名", "身份证号码", "乡镇（街道）", "村（社区）"]
    assert "县（区）：“340321”与导入的县（区）代码 340322 不一致" in rows[4]["原因"]
    assert rows[5]["原因"].startswith("参保人员类型：“外星人”不是已知类型")
    assert rows[6]["结果"] == "重复"
    with engine.connect() as connection:
        li = connection.execute(select(persons).where(persons.c.id_number == LI)).mappings().one()
        zhao = connection.execute(select(persons).where(persons.c.id_number == ZHAO)).mappings().one()
    assert (li["township"], li["village"], li["phone"], li["residency"]) == (
        "新集镇",
        "南村",
        "13900000000",
        "local_hukou",
    )
    assert (zhao["residency"], zhao["county"], zhao["village"]) == ("long_term_resident", COUNTY, "西村")
    assert count(engine, identity_memberships) == 1  # a roster writes no memberships
    again = import_roster(engine, path, COUNTY, 2025, "tester", accept_valid=True, today=TODAY)
    assert again.replayed and count(engine, import_batches) == 2


def test_school_roster_registers_students(engine: Engine, tmp_path: Path) -> None:
    import_roster(
        engine,
        write_csv(
            tmp_path / "roster.csv",
            ["姓名", "身份证号码"],
            [
                [
                    "周九",
                    ZHOU,
                ]
            ],
        ),
        COUNTY,
        2025,
        "tester",
        today=TODAY,
    )
    path = write_xlsx(
        tmp_path / "实验小学.xlsx",
        ["学校", "年级", "班级", "姓名", "身份证号码"],
        [
            ["实验小学", "三年级", "2班", "陈十", CHEN],
            ["实验小学", "二年级", "1班", "周九", ZHOU],
            ["第二小学", "二年级", "1班", "吴一", make_id_number(COUNTY, dt.date(2012, 2, 2), 70)],
        ],
    )
    refused = import_school_roster(
        engine, path, "实验小学", COUNTY, "county-reviewer", feedback_path=tmp_path / "fb.xlsx", today=TODAY
    )
    assert not refused.committed and refused.rejected == 1
    assert feedback_rows(tmp_path / "fb.xlsx")[4]["原因"] == "学校：“第二小学”与导入的学校“实验小学”不一致"
    report = import_school_roster(engine, path, "实验小学", COUNTY, "county-reviewer", accept_valid=True, today=TODAY)
    assert report.committed and (report.accepted, report.new_persons, report.updated_persons) == (2, 1, 1)
    with engine.connect() as connection:
        got = dict(connection.execute(select(persons.c.id_number, persons.c.residency)).all())
        batch = (
            connection.execute(select(import_batches).where(import_batches.c.id == report.batch_id)).mappings().one()
        )
    assert got[CHEN] == "student" and got[ZHOU] == "student"
    assert (batch["kind"], batch["department"], batch["rows_total"], batch["rows_rejected"]) == (
        "school",
        "实验小学",
        3,
        1,
    )


# ------------------------------------------------------------------------------------------ the command


def test_the_command_prints_a_chinese_summary(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    path = write_csv(tmp_path / "民政.csv", LIST_HEADER, civil_affairs_rows())
    args = [
        "list",
        "--department",
        "civil_affairs",
        "--county",
        COUNTY,
        "--policy",
        POLICY,
        "--file",
        str(path),
        "--actor",
        "tester",
    ]
    refused = CliRunner().invoke(import_group, args)
    assert isinstance(refused.exception, InputError) and "整批未导入" in str(refused.exception)
    assert "退回明细" in refused.output and mask_id_number(bad_check_digit(SUN)) in refused.output
    assert (tmp_path / "民政_反馈.xlsx").is_file()
    done = CliRunner().invoke(import_group, [*args, "--accept-valid"])
    assert done.exit_code == 0, done.output
    assert "接收 3 行，退回 3 行，重复 1 行" in done.output and "反馈文件" in done.output
