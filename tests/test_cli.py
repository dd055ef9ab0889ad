"""The `canbao` command as later tooling uses it: JSON out, exit 0; one plain line on stderr, exit 2."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import click
import polars as pl
import pytest

from canbao.policy import policy_dir
from conftest import application, invoke

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


def test_a_missing_payment_date_is_named_as_missing_not_as_a_bad_date() -> None:
    app = {k: v for k, v in EXAMPLE.items() if k != "paid_on"}
    done = run("quote", "--policy", "anhui/bengbu/2022", "--input", "-", stdin=json.dumps(app))
    assert done.returncode == 2 and done.stderr.strip().endswith("paid_on: 缺少日期 paid_on（YYYY-MM-DD）")
    app["paid_on"] = 20220415
    done = run("quote", "--policy", "anhui/bengbu/2022", "--input", "-", stdin=json.dumps(app))
    assert done.returncode == 2 and "日期须为 YYYY-MM-DD 格式的文本" in done.stderr


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


# ------------------------------------------------------------------------------------- which database (issue 13)


def run_in(
    folder: Path, *args: str, url: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CANBAO_DATABASE_URL"}
    if url is not None:
        env["CANBAO_DATABASE_URL"] = url
    return subprocess.run(
        [*CANBAO, *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=folder, env=env
    )


def _pay_args(txn: str) -> list[str]:
    return ["pay", "--policy", "anhui/bengbu/2022", "--input", "-", "--channel", "online", "--txn", txn,
            "--amount", "40"]  # fmt: skip


def test_a_read_never_creates_a_database_and_says_which_it_looked_for(tmp_path: Path) -> None:
    done = run_in(tmp_path, "ledger", "--id-number", EXAMPLE["person"]["id_number"])
    assert done.returncode == 2 and done.stdout == ""
    assert f"数据库：sqlite:///{tmp_path}/canbao.db" in done.stderr
    assert "错误：没有数据库" in done.stderr and "canbao db upgrade" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no empty canbao.db left behind
    explicit = tmp_path / "elsewhere.db"
    for read in (["county-subsidy", "list", "--benefit-year", "2025"], ["season", "due-lists", "--benefit-year",
                 "2022", "--out", str(tmp_path / "due")]):  # fmt: skip
        done = run_in(tmp_path, *read, url=f"sqlite:///{explicit}")
        assert done.returncode == 2 and "没有数据库" in done.stderr and "CANBAO_DATABASE_URL" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_write_creates_the_embedded_default_once_and_says_so(tmp_path: Path) -> None:
    first = run_in(tmp_path, *_pay_args("w-1"), stdin=json.dumps(EXAMPLE))
    assert first.returncode == 0, first.stderr
    assert f"已新建数据库并完成迁移：sqlite:///{tmp_path}/canbao.db" in first.stderr
    assert stat.S_IMODE((tmp_path / "canbao.db").stat().st_mode) == 0o600
    again = run_in(tmp_path, *_pay_args("w-1"), stdin=json.dumps(EXAMPLE))
    assert again.returncode == 0 and "重复通知" in again.stdout
    assert again.stderr.strip() == f"数据库：sqlite:///{tmp_path}/canbao.db"  # named, not created again


def test_a_database_given_by_url_is_created_only_by_db_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'given.db'}"
    refused = run_in(tmp_path, *_pay_args("u-1"), url=url, stdin=json.dumps(EXAMPLE))
    assert refused.returncode == 2 and "canbao db upgrade" in refused.stderr and not (tmp_path / "given.db").exists()
    upgraded = run_in(tmp_path, "db", "upgrade", url=url)
    assert upgraded.returncode == 0 and f"sqlite:///{tmp_path}/given.db" in upgraded.stdout
    paid = run_in(tmp_path, *_pay_args("u-1"), url=url, stdin=json.dumps(EXAMPLE))
    assert paid.returncode == 0, paid.stderr
    assert "已新建" not in paid.stderr and paid.stderr.strip() == f"数据库：{url}"


def test_a_postgresql_url_is_shown_without_its_password() -> None:
    from canbao.bootstrap import shown_url

    assert shown_url("postgresql+psycopg://clerk:s3cret@db.example:5432/canbao") == (
        "postgresql+psycopg://clerk:***@db.example:5432/canbao"
    )
    done = run("ledger", "--id-number", "1")
    assert "s3cret" not in done.stderr


def test_settings_come_from_the_environment_and_today_is_the_campaigns() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from canbao.bootstrap import DEFAULT_URL, Settings, today

    plain = Settings.from_environment({})
    assert (plain.database_url, plain.url_given, plain.policy_dir, plain.fixed_today) == (
        DEFAULT_URL,
        False,
        None,
        None,
    )
    given = Settings.from_environment({"CANBAO_DATABASE_URL": "sqlite:///x.db", "CANBAO_TODAY": "2021-12-01"})
    assert given.url_given and given.today() == dt.date(2021, 12, 1)
    shanghai = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert today() in (shanghai, dt.datetime.now(ZoneInfo("Asia/Shanghai")).date())


# ------------------------------------------------------------------------------------- Chinese (issue 13)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["season", "open"], "错误：缺少必需的选项 --policy（帮助：canbao season open --help）"),
        (["season", "open", "--polcy", "x"], "错误：没有选项 --polcy，是否想用 --policy"),
        (
            ["season", "due-lists", "--benefit-year", "abc", "--out", "x"],
            "错误：--benefit-year: 取值“abc”无效，应为整数",
        ),
        (["season", "due-lists", "--benefit-year", "1", "--out", "x", "--by", "town"], "可选：township、village"),
        (["sason"], "错误：没有命令“sason”，是否想用 season"),
        (["quote", "--policy"], "错误：选项 --policy 需要一个值"),
        (["policy", "list", "extra"], "错误：多余的参数：extra"),
        (["targets", "import"], "错误：缺少参数 FILE"),
    ],
)
def test_clicks_own_refusals_are_one_chinese_line_naming_the_option(argv: list[str], expected: str) -> None:
    code, out, err = invoke(argv)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("错误：") and expected in line, line
    assert "Error" not in err and "Usage" not in err and "Missing" not in err


def test_a_group_without_its_command_shows_its_chinese_help() -> None:
    code, out, err = invoke(["season"])
    assert code == 2 and out == "" and err.startswith("用法：canbao season [选项] 命令 [参数]...")
    assert "命令：" in err and "due-lists" in err and "Error" not in err


def _commands(command: click.Command, path: str = "canbao") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")


HAN = re.compile(r"[\u4e00-\u9fff]")


def test_every_command_and_option_has_a_chinese_help_text() -> None:
    from canbao.cli import cli

    missing = []
    for path, command in _commands(cli):
        if not HAN.search(command.help or ""):
            missing.append(path)
        missing += [f"{path} {p.opts[0]}" for p in command.params if isinstance(p, click.Option)
                    and not HAN.search(p.help or "")]  # fmt: skip
    assert missing == []
    code, out, _ = invoke(["season", "apply-payments", "--help"])
    assert code == 0 and out.startswith("用法：canbao season apply-payments [选项]") and "选项：" in out
    assert "显示本帮助并退出" in out and "Options" not in out and "Show this message" not in out


def test_a_domain_field_is_shown_as_the_commands_option() -> None:
    from canbao.cli.chinese import option_for
    from canbao.cli.policy import quote
    from canbao.cli.reconcile import reconcile_command
    from canbao.cli.registry import enroll

    assert option_for(reconcile_command, "as_of") == "--date"  # the option's dest
    assert option_for(enroll, "paid_on") == "--paid-on" and option_for(enroll, "policy_id") == "--policy"
    assert option_for(quote, "input") == "--input"  # the option's name (its dest is `source`)
    assert option_for(quote, "person.name") is None
    code, _, err = invoke(["enrollment", "terminate", "--id-number", "1", "--benefit-year", "2022",
                           "--reason", "other", "--on", "2022-13-01"])  # fmt: skip
    assert code == 2 and err.strip() == "错误：--on: “2022-13-01”不是有效日期（格式 YYYY-MM-DD）"
    done = run("quote", "--policy", "anhui/bengbu/2022", "--input", "-", stdin="{")
    assert done.stderr.startswith("错误：--input: 不是有效的 JSON")


def test_the_end_of_an_enrollment_is_told_by_its_label_not_its_code(tmp_path: Path) -> None:
    paid = run_in(tmp_path, *_pay_args("e-1"), stdin=json.dumps(EXAMPLE))
    assert paid.returncode == 0, paid.stderr
    args = ["--id-number", EXAMPLE["person"]["id_number"], "--benefit-year", "2022", "--reason", "moved_away",
            "--on", "2022-05-01"]  # fmt: skip
    done = run_in(tmp_path, "enrollment", "terminate", *args)
    assert done.returncode == 0, done.stderr
    assert "已终止（迁出本地）" in done.stdout and "moved_away" not in done.stdout


def test_the_ledger_shows_times_in_china_standard_time(tmp_path: Path) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    before = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    assert run_in(tmp_path, *_pay_args("t-1"), stdin=json.dumps(EXAMPLE)).returncode == 0
    after = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    done = run_in(tmp_path, "ledger", "--id-number", EXAMPLE["person"]["id_number"])
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first[:16] in {f"{before:%Y-%m-%d %H:%M}", f"{after:%Y-%m-%d %H:%M}"} and "缴费" in first


# ------------------------------------------------------------------------------------- CLI findings (issue 13)


def test_cleanup_defaults_as_of_to_the_campaigns_today_within_the_collection_window(tmp_path: Path) -> None:
    """Years after a season, the machine's date made every refund lapse (requested after the benefit period
    began): the default is the campaign's today, no later than the end of the collection window."""
    person = {**EXAMPLE["person"], "categories": []}
    app = {"person": person, "situation": "regular", "paid_on": "2021-10-01"}
    args = [*_pay_args("c-1")[:-1], "320"]
    paid = run_in(tmp_path, *args, stdin=json.dumps(app))
    assert paid.returncode == 0, paid.stderr
    deaths = tmp_path / "deaths.csv"
    deaths.write_text(f"姓名,身份证号码,死亡日期\n张三,{person['id_number']},2021-11-11\n", encoding="utf-8")
    args = ["cleanup", "--benefit-year", "2022", "--policy", "anhui/bengbu/2022", "--deaths", str(deaths)]
    done = run_in(tmp_path, *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "清理清单截至 2021-12-31（默认日期）" in done.stdout and "应退费 1 人 320.00 元" in done.stdout


def test_county_subsidy_list_writes_chinese_headers_and_yuan_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openpyxl import load_workbook

    from canbao.services.payments import Payment, pay
    from canbao.store.db import make_engine
    from conftest import fresh_database

    veteran = application("340321", "1950-01-01", "regular", "2024-10-02", ["key_entitled"], name="李四")
    with fresh_database("sqlite", tmp_path) as url:
        monkeypatch.setenv("CANBAO_DATABASE_URL", url)
        engine = make_engine(url)
        pay(engine, Payment("anhui/bengbu/huaiyuan/2025", veteran, "online", "hy-1", Decimal("400"),
                            township="榴城镇"), "clerk")  # fmt: skip
        engine.dispose()
        listing = ["county-subsidy", "list", "--benefit-year", "2025", "--output"]
        code, out, err = invoke([*listing, str(tmp_path / "owed.xlsx")])
        assert code == 0, err
        assert f"退补清单（1 人）已写入 {tmp_path / 'owed.xlsx'}" in out
        rows = list(load_workbook(tmp_path / "owed.xlsx")["先缴后补退补清单"].iter_rows(values_only=True))
        assert rows[0] == ("乡镇", "村（社区）", "姓名", "身份证号码", "补贴身份", "应退补金额（元）", "参保记录号")
        assert rows[1][0] == "榴城镇" and rows[1][4] == "重点优抚对象" and rows[1][5] == 400
        code, out, err = invoke([*listing, str(tmp_path / "owed.csv")])
        assert code == 0 and "已写入" in out
        text = (tmp_path / "owed.csv").read_text(encoding="utf-8-sig")
        assert text.startswith("乡镇,") and text.splitlines()[1].split(",")[5] == "400.00"
        code, out, err = invoke([*listing, str(tmp_path / "owed.txt")])
        refused = "错误：--output: 退补清单只能写为 .xlsx 或 .csv 文件，而不是“owed.txt”"
        assert code == 2 and refused in err and not (tmp_path / "owed.txt").exists()


def test_payment_outcomes_name_their_file_and_count_rows_within_it(tmp_path: Path) -> None:
    from canbao.season_demo import by_file

    result = pl.DataFrame({"payment_row": [0, 1, 2], "outcome": ["enrolled", "refused", "enrolled"]},
                          schema={"payment_row": pl.UInt32, "outcome": pl.String})  # fmt: skip
    out = by_file(result, [("parts/00/payments/2021-12-01.parquet", 2), ("parts/01/payments/2021-12-01.parquet", 1)])
    assert out.columns == ["file", "payment_row", "outcome"]
    assert out.rows() == [("parts/00/payments/2021-12-01.parquet", 0, "enrolled"),
                          ("parts/00/payments/2021-12-01.parquet", 1, "refused"),
                          ("parts/01/payments/2021-12-01.parquet", 0, "enrolled")]  # fmt: skip


def test_quote_batch_reports_progress_through_a_hook(tmp_path: Path) -> None:
    from canbao.services.quote_batch import run as run_batch

    app = application("340322", "1970-01-01", "regular", "2021-10-01")
    source = tmp_path / "persons.csv"
    pl.DataFrame([{**app["person"], "categories": "", "situation": "regular", "paid_on": "2021-10-01"}]).write_csv(
        source
    )
    calls: list[tuple[str, int, int]] = []
    summary = run_batch("anhui/bengbu/2022", source, tmp_path / "q.parquet", progress=lambda *c: calls.append(c))
    assert calls == [("测算", 1, 1)] and "测算 1 人" in summary
