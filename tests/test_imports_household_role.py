"""The household role on the health commission's daughter/son household lists (004 二(三)): read from the list,
stored on the membership, and used when the list import resolves each person's subsidy; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from canbao.ids import make_id_number, mask_id_number
from canbao.services.imports import ImportReport, import_department_list
from canbao.store.tables import identity_memberships, import_batches, persons
from conftest import TODAY

HUAIYUAN = "anhui/bengbu/huaiyuan/2025"
COUNTY = "340321"

DAUGHTER = make_id_number(COUNTY, dt.date(2012, 4, 1), 2)  # under 18 on 2025-01-01
MOTHER = make_id_number(COUNTY, dt.date(1980, 4, 1), 4)
GROWN_DAUGHTER = make_id_number(COUNTY, dt.date(2000, 6, 1), 6)  # 24 on 2025-01-01
FATHER = make_id_number(COUNTY, dt.date(1978, 8, 8), 7)
SON_FATHER = make_id_number(COUNTY, dt.date(1970, 2, 2), 9)
GROWN_SON = make_id_number(COUNTY, dt.date(1998, 3, 3), 11)

DAUGHTER_SUBSIDY = "农村独女户、双女户：县财政补贴（先缴后补）400元（县财政，先缴后补）"
SON_SUBSIDY = "农村独男户：县财政补贴（先缴后补）200元（县财政，先缴后补）"


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8-sig"))
    return path


def health_list(engine: Engine, path: Path, department: str = "health_commission", **kwargs: Any) -> ImportReport:
    return import_department_list(engine, path, department, COUNTY, HUAIYUAN, "tester", today=TODAY, **kwargs)


def resolved(report: ImportReport) -> dict[int, str]:
    return {r["row_number"]: r["resolved"] for r in report.rows.iter_rows(named=True)}


def stored_roles(engine: Engine) -> dict[tuple[str, str], str | None]:
    m, p = identity_memberships.c, persons.c
    with engine.connect() as c:
        rows = c.execute(select(p.id_number, m.category, m.household_role).join(persons, p.id == m.person_id)).all()
    return {(r.id_number, r.category): r.household_role for r in rows}


def test_the_role_column_is_stored_and_decides_the_household_subsidy(engine: Engine, tmp_path: Path) -> None:
    # The health commission's own layout (synth.py writes it): 姓名, 身份证号, 类别, 家庭角色, 乡镇.
    path = write_csv(
        tmp_path / "卫健委.csv",
        ["姓名", "身份证号", "类别", "家庭角色", "乡镇"],
        [
            ["小红", DAUGHTER, "农村独女户", "子女", "城关镇"],  # row 2: a child, subsidised
            ["刘英", MOTHER, "农村双女户", "父母", "城关镇"],  # row 3: an adult parent, subsidised
            ["刘芳", GROWN_DAUGHTER, "农村独女户", "女儿", "城关镇"],  # row 4: the child, past the age
            ["张强", FATHER, "农村独女户", "", "城关镇"],  # row 5: an adult, role not given
            ["张强", FATHER, "计划生育特殊家庭成员", "父母", "城关镇"],  # row 6: a role on another list
        ],
    )
    report = health_list(engine, path)
    assert report.committed and (report.accepted, report.rejected) == (5, 0)

    assert stored_roles(engine) == {
        (DAUGHTER, "daughter_household"): "child",
        (MOTHER, "daughter_household"): "parent",
        (GROWN_DAUGHTER, "daughter_household"): "child",
        (FATHER, "daughter_household"): None,
        (FATHER, "family_planning"): "parent",
    }
    by_row = resolved(report)
    assert by_row[2].startswith(DAUGHTER_SUBSIDY)
    # 004 二(三): parents at any age; no longer asked for a role the list gave.
    assert by_row[3] == DAUGHTER_SUBSIDY
    assert by_row[4].startswith("无分类资助")
    assert "农村独女户、双女户的子女已满18周岁，不享受该项资助（004 二(三)" in by_row[4]
    assert "须注明" not in by_row[4]
    # A role given on the family-planning list does not say which he is on the household list.
    assert by_row[5].startswith("无分类资助") and "成年人须注明是父母还是子女（名单的“家庭角色”列）" in by_row[5]
    assert by_row[6] == by_row[5]


def test_role_words_and_headers_as_officials_write_them(engine: Engine, tmp_path: Path) -> None:
    # Another header (与持证人关系), full-width letters in the identifier, spaces: NFKC like every header.
    path = write_csv(
        tmp_path / "独男户.csv",
        ["姓名", "身份证号码", "身份类别", "与持证人关系 "],
        [["王军", SON_FATHER, "独男户", "父亲"], ["王小军", GROWN_SON, "son_household", "ｃｈｉｌｄ"]],
    )
    report = health_list(engine, path)
    assert report.committed
    assert stored_roles(engine) == {(SON_FATHER, "son_household"): "parent", (GROWN_SON, "son_household"): "child"}
    by_row = resolved(report)
    assert by_row[2] == SON_SUBSIDY
    assert by_row[3].startswith("无分类资助") and "农村独男户的子女已满18周岁" in by_row[3]


def test_an_unknown_role_word_is_a_row_error(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "卫健委.csv",
        ["姓名", "身份证号", "类别", "家庭角色"],
        [["刘英", MOTHER, "农村双女户", "父母"], ["张强", FATHER, "农村独女户", "配偶"]],
    )
    report = health_list(engine, path)
    assert not report.committed and report.rejected == 1
    reason = "家庭角色：“配偶”不是已知的家庭角色（应为 父母（parent）、子女（child），或空着）"
    row = report.rows.filter(report.rows["row_number"] == 3).row(0, named=True)
    assert (row["outcome"], row["reason"]) == ("rejected", reason)
    assert report.rejections() == [f"第3行 张强 {mask_id_number(FATHER)}：{reason}"]
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(identity_memberships)).scalar_one() == 0

    accepted = health_list(engine, path, accept_valid=True)
    assert accepted.committed and (accepted.accepted, accepted.rejected) == (1, 1)
    assert stored_roles(engine) == {(MOTHER, "daughter_household"): "parent"}


def test_a_later_list_resolves_with_the_role_an_earlier_list_gave(engine: Engine, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "卫健委.csv", ["姓名", "身份证号", "类别", "家庭角色"], [["刘英", MOTHER, "农村双女户", "父母"]]
    )
    health_list(engine, first)
    monitored = write_csv(
        tmp_path / "监测.csv", ["姓名", "身份证号码", "人员类别"], [["刘英", MOTHER, "防止返贫监测对象"]]
    )
    report = health_list(engine, monitored, "rural_revitalization")
    # Full county subsidy (400) as a parent beats the monitored assistance (200): one subsidy only.
    by_row = resolved(report)
    assert by_row[2].startswith(DAUGHTER_SUBSIDY + "；多重身份（")
    assert "须注明" not in by_row[2]

    # The same file again: the earlier batch's answer, resolved with the stored role.
    again = health_list(engine, first)
    assert again.replayed and resolved(again)[2].startswith(DAUGHTER_SUBSIDY)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(import_batches)).scalar_one() == 2


@pytest.mark.parametrize("header", ["家庭角色", "household_role"])
def test_a_list_without_roles_still_imports_and_asks_for_them(engine: Engine, tmp_path: Path, header: str) -> None:
    path = write_csv(
        tmp_path / "卫健委.csv", ["姓名", "身份证号", "类别", header], [["刘英", MOTHER, "农村双女户", None]]
    )
    report = health_list(engine, path)
    assert report.committed and stored_roles(engine) == {(MOTHER, "daughter_household"): None}
    assert "成年人须注明是父母还是子女" in resolved(report)[2]
