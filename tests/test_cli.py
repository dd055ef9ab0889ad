"""The `canbao` command as later tooling uses it: JSON out, exit 0; one plain line on stderr, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from canbao.policy import policy_dir
from conftest import application

CANBAO = [sys.executable, "-m", "canbao.cli"]
EXAMPLE = {
    "person": {
        "id_number": "34032219850615121X",
        "name": "张三",
        "county": "340322",
        "residency": "local_hukou",
        "categories": ["dibao"],
        "employee_insurance_active": False,
        "employee_insurance_years": 3,
        "employee_insurance_gap_months": 5,
        "lapsed_years": 0,
        "repaid_years": 0,
    },
    "situation": "from_employee_insurance",
    "paid_on": "2022-04-15",
}


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CANBAO, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_quote_reads_stdin_and_prints_the_contract() -> None:
    done = run("quote", "--policy", "anhui/bengbu/2022", "--input", "-", stdin=json.dumps(EXAMPLE))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["policy"] == "anhui/bengbu/2022" and out["eligible"] is True and out["benefit_year"] == 2022
    assert out["amount_due"] == 40 and out["net_personal"] == 40
    assert out["subsidies"][0]["category"] == "dibao" and out["subsidies"][0]["amount"] == 280
    assert out["fiscal_subsidy"] == {"central": 348, "province": 174, "city": 0, "county": 58, "total": 580}
    assert (out["benefit_start"], out["benefit_end"], out["waiting_months"]) == ("2022-07-01", "2022-12-31", 2)
    assert out["additional_dues"] == [] and out["rule"].startswith("000 三(二)2(1)")
    assert out["id_number"] == "340322********121X"


def test_quote_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(EXAMPLE, ensure_ascii=False), encoding="utf-8")
    assert run("quote", "--policy", "anhui/bengbu/2022", "--input", str(path)).returncode == 0


def test_an_ineligible_person_is_an_answer() -> None:
    app = json.loads(json.dumps(EXAMPLE))
    app["person"]["employee_insurance_active"] = True
    done = run("quote", "--policy", "anhui/bengbu/2022", "--input", "-", stdin=json.dumps(app))
    assert done.returncode == 0
    out = json.loads(done.stdout)
    assert out["eligible"] is False and out["reasons"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda a: a["person"].update(id_number="340322198506151213"), "person.id_number"),
        (lambda a: a["person"].update(id_number="34032219850231121X"), "person.id_number"),
        (lambda a: a["person"].update(categories=["rich"]), "person.categories"),
        (lambda a: a["person"].update(county="110101"), "person.county"),
        (lambda a: a["person"].update(residency="martian"), "person.residency"),
        (lambda a: a.update(situation="flying"), "situation"),
        (lambda a: a.update(paid_on="2022-02-30"), "paid_on"),
        (lambda a: a.update(situation="regular"), "paid_on"),  # outside the collection window
        (lambda a: a["person"].update(employee_insurance_years="three"), "person.employee_insurance_years"),
        (lambda a: a["person"].update(name="@SUM(A1)"), "person.name"),  # not a person's name
        (lambda a: a["person"].update(name="张\n三"), "person.name"),  # the message stays one line
    ],
)
def test_bad_input_is_one_line_naming_the_field(change: object, field: str) -> None:
    app = json.loads(json.dumps(EXAMPLE))
    change(app)  # type: ignore[operator]
    done = run("quote", "--policy", "anhui/bengbu/2022", "--input", "-", stdin=json.dumps(app))
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in done.stderr
    assert "34032219850615121" not in lines[0]  # never the whole ID number


def test_unknown_policy_and_broken_json_are_refused_plainly() -> None:
    done = run("quote", "--policy", "anhui/nowhere/2022", "--input", "-", stdin=json.dumps(EXAMPLE))
    assert done.returncode == 2 and "anhui/bengbu/2022" in done.stderr
    done = run("quote", "--policy", "anhui/bengbu/2022", "--input", "-", stdin="{broken")
    assert done.returncode == 2 and "JSON" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_situation_the_policy_does_not_cover_exits_2() -> None:
    app = application("341323", "1985-01-01", "lapsed", "2022-03-10")
    done = run("quote", "--policy", "anhui/suzhou/lingbi/2022", "--input", "-", stdin=json.dumps(app))
    assert done.returncode == 2 and "不覆盖" in done.stderr


def test_refund_quote() -> None:
    app = {**EXAMPLE, "situation": "regular", "paid_on": "2021-10-10", "requested_on": "2021-11-01", "reason": "death"}
    done = run("refund-quote", "--policy", "anhui/bengbu/2022", "--input", "-", stdin=json.dumps(app))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["refundable"] is True and out["amount"] == 40 and "000 四(二)" in out["why"]
    bad = {**app, "reason": "bored"}
    done = run("refund-quote", "--policy", "anhui/bengbu/2022", "--input", "-", stdin=json.dumps(bad))
    assert done.returncode == 2 and done.stderr.startswith("错误：reason")


def test_policy_list_show_and_check() -> None:
    listed = run("policy", "list")
    assert listed.returncode == 0 and len(listed.stdout.strip().splitlines()) == 4
    shown = run("policy", "show", "anhui/bengbu/huaiyuan/2025")
    assert shown.returncode == 0 and "先缴后补" in shown.stdout and "国办发〔2024〕38号" in shown.stdout
    checked = run("policy", "check")
    assert checked.returncode == 0 and "4" in checked.stdout


def test_policy_check_fails_on_a_broken_copy_with_file_key_and_reason(tmp_path: Path) -> None:
    broken = tmp_path / "2022.yaml"
    text = (policy_dir() / "anhui/bengbu/2022.yaml").read_text(encoding="utf-8")
    broken.write_text(
        text.replace("personal_contribution: 320", "personal_contribution: lots").replace(
            "rule: nth_month_after_payment_month, n: 7", "rule: seventh_month"
        ),
        encoding="utf-8",
    )
    done = run("policy", "check", str(broken))
    assert done.returncode == 1
    assert f"{broken}: personal_contribution:" in done.stderr
    assert f"{broken}: situations.lapsed.cases.0.start.rule:" in done.stderr


def test_policy_check_catches_inconsistent_values(tmp_path: Path) -> None:
    broken = tmp_path / "2022.yaml"
    text = (policy_dir() / "anhui/bengbu/2022.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("central: 464", "central: 465"), encoding="utf-8")
    done = run("policy", "check", str(broken))
    assert done.returncode == 1 and "fiscal_subsidy.splits.0" in done.stderr and "580" in done.stderr


def test_quote_batch_quotes_the_good_rows_and_rejects_the_bad(tmp_path: Path) -> None:
    rows = []
    for i, (sit, paid) in enumerate([("regular", "2021-10-01"), ("lapsed", "2022-04-15"), ("regular", "2022-05-01")]):
        app = application("340322", f"19{70 + i}-01-01", sit, paid, ["dibao"] if i == 0 else [])
        rows.append(
            {**app["person"], "categories": ";".join(app["person"]["categories"]), "situation": sit, "paid_on": paid}
        )
    rows.append({**rows[0], "id_number": rows[0]["id_number"][:-1] + "0"})  # wrong check digit (unless it is 0)
    if rows[0]["id_number"].endswith("0"):
        rows[-1]["id_number"] = rows[0]["id_number"][:-1] + "1"
    source = tmp_path / "persons.csv"
    pl.DataFrame(rows).write_csv(source)
    output = tmp_path / "quotes.parquet"
    done = run("quote-batch", "--policy", "anhui/bengbu/2022", "--input", str(source), "--output", str(output))
    assert done.returncode == 0, done.stderr
    quoted = pl.read_parquet(output)
    assert quoted.height == 2 and quoted["amount_due_fen"].to_list() == [4000, 32000]
    rejects = pl.read_csv(tmp_path / "quotes.rejects.csv")
    assert rejects["source_row"].to_list() == [3, 4]
    assert rejects["error_field"].to_list() == ["paid_on", "person.id_number"]


def test_quote_batch_refuses_a_missing_file(tmp_path: Path) -> None:
    done = run(
        "quote-batch",
        "--policy",
        "anhui/bengbu/2022",
        "--input",
        str(tmp_path / "none.csv"),
        "--output",
        str(tmp_path / "q.parquet"),
    )
    assert done.returncode == 2 and "文件不存在" in done.stderr


def test_quote_demo_prints_every_policy() -> None:
    done = run("quote-demo")
    assert done.returncode == 0, done.stderr
    for region in ("蚌埠市", "宿州市", "灵璧县", "怀远县"):
        assert region in done.stdout
