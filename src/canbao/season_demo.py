"""`make demo`: a whole county's season end to end on the embedded SQLite database.

Builds a synthetic county (canbao synth), imports last year's roster, the schools' rosters and every
department's identity list (with their feedback workbooks), opens the season, applies the season's payment
files day by day, writes the due lists of those who still owe (催缴清单, per township), prints a Chinese
summary, and ends in the control room: reconciliation, progress, the assessment and the funds, as workbooks
and charts in reports/.  Everything it makes stays in one output folder.

The database is a new SQLite file ``canbao.db`` in that folder (or the one ``url`` names).  A rerun never
deletes the previous run's database: it is kept beside it, renamed after the time it was last written
(``canbao-2026-12-01-193000.db``, China Standard Time), and the output says so and which database the run
uses.  Each list's feedback workbook is written beside the list, ``<list>_反馈.xlsx``, as ``canbao import``
writes it.

A front end: it prints with rich, and passes the actor and the date ("today", in China Standard Time unless
given) to every service it calls.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from canbao.bootstrap import today as campaign_today
from canbao.clock import CAMPAIGN_ZONE
from canbao.money import to_yuan
from canbao.outputs import OutputGroup, csv_safe, feedback_path
from canbao.policy import Policy, load_policy
from canbao.services import imports
from canbao.services.payment_batch import CHANNEL_LABELS, apply_payments
from canbao.services.season import due_list, open_season, write_due_lists
from canbao.services.summary import SeasonSummary, season_summary
from canbao.services.targets import import_targets, read_targets
from canbao.store.db import make_engine, upgrade
from canbao.synth import PART_SIZE, Manifest, build_county
from canbao.vocabulary import CATEGORY_LABELS, SUBSIDY_KIND_LABELS

ACTOR = "demo"
"""The campaign's calendar (UTC+8, no daylight saving): "today" and the times shown to officials."""
SQLITE_FILES = ("", "-wal", "-shm")
"""A SQLite database is its file and, while or after it is written, these companions (moved with it)."""


def keep_previous_database(database: Path) -> Path | None:
    """Move a previous run's SQLite database (with its -wal and -shm companions) aside, renamed after the time
    it was last written (China Standard Time): ``canbao.db`` → ``canbao-2026-12-01-193000.db``, ``-2`` … when
    that name is taken.  Returns the new name, or None when there was none.  Nothing is deleted."""
    present = [Path(f"{database}{suffix}") for suffix in SQLITE_FILES if Path(f"{database}{suffix}").exists()]
    if not present:
        return None
    written = max(p.stat().st_mtime for p in present)
    stamp = dt.datetime.fromtimestamp(written, CAMPAIGN_ZONE).strftime("%Y-%m-%d-%H%M%S")
    for n in range(1, 1000):
        kept = database.with_name(f"{database.stem}-{stamp}{'' if n == 1 else f'-{n}'}{database.suffix}")
        if not any(Path(f"{kept}{suffix}").exists() for suffix in SQLITE_FILES):
            break
    else:  # pragma: no cover - a thousand runs within one second
        raise FileExistsError(kept)
    for suffix in SQLITE_FILES:
        old = Path(f"{database}{suffix}")
        if old.exists():
            old.rename(Path(f"{kept}{suffix}"))
    return kept


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


@contextmanager
def _step(console: Console, words: str, timings: dict[str, float]) -> Iterator[None]:
    console.print(f"[bold]▶ {words}[/bold]")
    started = time.perf_counter()
    yield
    timings[words] = time.perf_counter() - started


def _has_rows(path: Path) -> bool:
    """A list with its header only (a school without students, a category nobody holds) is not imported."""
    with path.open("rb") as f:
        return sum(1 for _ in zip(range(2), f, strict=False)) > 1


def _targets(engine: Engine, benefit_year: int) -> pl.DataFrame:
    """The enrollment targets imported from the 任务分解表 (canbao targets import)."""
    with engine.connect() as c:
        goals = read_targets(c, benefit_year)
    return goals.filter(pl.col("kind") == "enrollment").select("township", "target")


def import_county(
    engine: Engine,
    data: Path,
    county: str,
    policy_id: str,
    actor: str,
    today: dt.date,
    feedback: bool = True,
) -> list[tuple[str, int, list[str]]]:
    """A synthetic county's lists into the registry: last year's roster, the schools' rosters, every
    department's list (with `feedback`, each list's feedback workbook beside it: :func:`feedback_path`), part
    by part when the county was written in parts, and the targets.  Returns the files with refused rows:
    (file name, rows refused, the first few reasons)."""
    policy = load_policy(policy_id)
    rejected: list[tuple[str, int, list[str]]] = []
    folders = Manifest.load(data).folders
    for folder in folders:
        prefix = f"{folder.relative_to(data)}/" if len(folders) > 1 else ""
        listed = _import_lists(engine, folder, county, policy, actor, today, feedback)
        rejected += [(prefix + name, count, reasons) for name, count, reasons in listed]
    import_targets(engine, data / "targets.xlsx", policy.benefit_year, actor)
    return rejected


def _import_lists(
    engine: Engine, data: Path, county: str, policy: Policy, actor: str, today: dt.date, feedback: bool
) -> list[tuple[str, int, list[str]]]:
    def answer(source: Path) -> Path | None:
        return feedback_path(source) if feedback else None

    rejected: list[tuple[str, int, list[str]]] = []
    roster = next(data.glob("roster_*.csv"))
    report = imports.import_roster(
        engine, roster, county, policy.benefit_year - 1, actor, accept_valid=True, feedback_path=answer(roster),
        today=today,
    )  # fmt: skip
    rejected.append((roster.name, report.rejected, report.rejections(3)))
    for school in filter(_has_rows, sorted((data / "schools").glob("*.csv"))):
        report = imports.import_school_roster(
            engine, school, school.stem, county, actor, accept_valid=True, feedback_path=answer(school), today=today
        )
        if report.rejected:
            rejected.append((school.name, report.rejected, report.rejections(3)))
    for listing in filter(_has_rows, sorted((data / "lists").glob("*.csv"))):
        report = imports.import_department_list(
            engine, listing, listing.stem, county, policy.policy, actor, accept_valid=True,
            feedback_path=answer(listing), today=today,
        )  # fmt: skip
        rejected.append((listing.name, report.rejected, report.rejections(3)))
    return rejected


def run(
    persons: int,
    seed: int,
    out: Path,
    county: str = "341323",
    console: Console | None = None,
    url: str | None = None,
    part_size: int = PART_SIZE,
    *,
    actor: str = ACTOR,
    today: dt.date | None = None,
) -> dict[str, float]:
    """Run the season as `actor` on `today` (default: the campaign's today, :func:`canbao.bootstrap.today`);
    `url` is the database (default: a new SQLite file canbao.db in `out`, a previous run's kept aside by
    :func:`keep_previous_database`)."""
    console = console or Console(width=max(Console().width, 120))
    today = today or campaign_today()
    timings: dict[str, float] = {}
    out.mkdir(parents=True, exist_ok=True)
    data = out / "county"
    if url is None:
        database = (out / "canbao.db").resolve()
        kept = keep_previous_database(database)
        url = f"sqlite:///{database}"
        console.print(f"数据库：[bold]{database}[/bold]（本次新建）")
        if kept is not None:
            console.print(f"上次运行的数据库未删除，已改名保留为 [bold]{kept}[/bold]（不再需要时可自行删除）")
    else:
        console.print(f"数据库：[bold]{_shown(url)}[/bold]")

    with _step(console, f"生成模拟县 {county}：{persons:,} 人（种子 {seed}）", timings):
        manifest = build_county(county, persons, seed, data, part_size=part_size)
    policy_id: str = manifest.data["policy"]
    policy = load_policy(policy_id)
    upgrade(url)
    engine = make_engine(url)

    with _step(console, "导入上年度参保名册、学校名册、各部门认定名单和任务分解表", timings):
        rejected = import_county(engine, data, county, policy_id, actor, today)

    with _step(console, f"开征 {policy_id}：按上年度名册和认定名单测算应缴", timings), _progress(console) as bar:
        task = bar.add_task("测算", total=None)
        season = open_season(
            engine, policy_id, actor, today=today, on_chunk=lambda done, n: bar.update(task, completed=done, total=n)
        )

    days = payment_days(manifest)
    with (
        _step(console, f"按日入账：{len(days)} 个缴费日", timings),
        _progress(console) as bar,
        Applied(out / "payments_outcome.csv") as applied,
    ):
        task = bar.add_task("入账", total=len(days))
        for files in days.values():
            frames = [pl.read_parquet(f) for f in files]
            result = apply_payments(engine, policy_id, pl.concat(frames), actor, today=today)
            sizes = [(str(f.relative_to(data)), frame.height) for f, frame in zip(files, frames, strict=True)]
            applied.add(by_file(result, sizes))
            bar.advance(task)
    with _step(console, "写出各乡镇尚未缴费人员的催缴清单", timings):
        write_due_lists(due_list(engine, policy.benefit_year, unpaid_only=True), out / "due_lists")

    with _step(console, "汇总：按乡镇的参保进度、按渠道的收缴、按身份的资助", timings):
        summary = season_summary(engine, policy.benefit_year, _targets(engine, policy.benefit_year))
    _print_summary(console, policy_id, season.due, applied, summary, rejected)
    if len(manifest.folders) == 1:
        with _step(console, "对账、进度、考核和资金报表", timings):
            checks = _control_room(engine, policy_id, data, out / "reports", actor, today)
        console.print(checks)
    else:
        # The control room reads one set of tax, bank and collecting-unit files: a county in parts has one per part.
        console.print(f"分 {len(manifest.folders)} 片生成的县：对账、进度、考核和资金报表未运行（按片对账尚未实现）")
    with _step(console, "建立门户的演示账户（每个角色一个，密码本次生成）", timings):
        accounts = demo_accounts(engine, county, actor)
    engine.dispose()
    console.print(
        f"\n模拟县的名单和各名单的反馈工作簿（<名单>_反馈.xlsx，在名单旁）、催缴清单、入账结果和报表（reports/）"
        f"都在 [bold]{out.resolve()}[/bold]；数据库：[bold]{_shown(url)}[/bold]"
    )
    for words, seconds in timings.items():
        console.print(f"  {seconds:7.1f} 秒  {words}")
    _print_portal(console, url, accounts)
    return timings


PORTAL_ADDRESS = "http://127.0.0.1:8000/"
"""Where `canbao serve` (its defaults) and so `make demo SERVE=1` put the staff portal."""


def demo_accounts(engine: Engine, county: str, actor: str) -> list[tuple[str, str, str, str]]:
    """One portal account per role on the demo county (canbao.services.accounts.create_demo_accounts), each
    with a password generated now: (username, role, area label, password); none when the county lacks a
    village, a school roster or a department list to give them (accounts.demo_places)."""
    from canbao.services.accounts import create_demo_accounts, demo_places

    places = demo_places(engine, county)
    if places is None:
        return []
    return create_demo_accounts(engine, actor=actor, now=dt.datetime.now(dt.UTC), places=places)


def _print_portal(console: Console, url: str, accounts: list[tuple[str, str, str, str]]) -> None:
    """The demo's last words: how to open the portal on this database, and the demo accounts."""
    from canbao.vocabulary import ROLE_LABELS

    shown = _shown(url)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    database = f"CANBAO_DATABASE_URL={'sqlite:///' if sqlite else ''}{shown}"  # never a password
    console.print(f"\n[bold]工作人员门户[/bold]：{PORTAL_ADDRESS}")
    console.print(f"  启动：[bold]make demo SERVE=1[/bold]（演示结束后即启动），或 {database} canbao serve")
    if not accounts:
        console.print("没有建立演示账户：模拟县缺少村、学校名册或认定名单（可用 canbao users add 添加账户）")
        return
    table = Table(title="演示账户（密码本次生成，只显示这一次）", title_justify="left")
    for header in ("角色", "用户名", "辖区", "密码"):
        table.add_column(header, no_wrap=True)
    for username, role, area, password in accounts:
        table.add_row(ROLE_LABELS.get(role, role), username, area, password)
    console.print(table)


def _shown(url: str) -> str:
    """The database as told to a person: a SQLite file's path, another database's URL without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def payment_days(manifest: Manifest) -> dict[str, list[Path]]:
    """The season's payment files by day (YYYY-MM-DD), each day's files from every part of the county."""
    days: dict[str, list[Path]] = {}
    for folder in manifest.folders:
        for path in sorted((folder / "payments").glob("*.parquet")):
            days.setdefault(path.stem, []).append(path)
    return dict(sorted(days.items()))


def by_file(result: pl.DataFrame, files: list[tuple[str, int]]) -> pl.DataFrame:
    """A day's outcome (one frame of every part's file) with the file each row came from first, and
    `payment_row` counted within that file, as `canbao season apply-payments` reports one file."""
    where = pl.concat(
        [pl.DataFrame({"file": [name] * rows, "row": range(rows)}, schema={"file": pl.String, "row": pl.Int64})
         for name, rows in files]
    )  # fmt: skip
    return pl.concat([where, result], how="horizontal").select(
        "file",
        pl.col("row").cast(result.schema["payment_row"]).alias("payment_row"),
        pl.exclude("file", "row", "payment_row"),
    )


class Applied:
    """The answers to the season's payments: written to a CSV file day by day, counted as they come (a city's
    season does not fit in memory as one frame).  `with Applied(path) as applied:` writes under a temporary
    name (canbao.outputs), flushed to disk after each day, and renames it onto `path` at the end: a killed
    run leaves only the temporary, which the next run removes, never a final file that looks complete."""

    def __init__(self, path: Path) -> None:
        self._group = OutputGroup()
        self._file = self._group.temporary(path).open("wb")
        self.outcomes: dict[str, int] = {}
        self.refusals: dict[str, int] = {}

    def __enter__(self) -> Applied:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._file.close()
        if kind is None:
            self._group.publish()
        else:
            self._group.discard()

    @property
    def rows(self) -> int:
        return sum(self.outcomes.values())

    def add(self, result: pl.DataFrame) -> None:
        csv_safe(result).write_csv(self._file, include_header=self._file.tell() == 0)
        self._file.flush()
        os.fsync(self._file.fileno())
        for outcome, n in result["outcome"].value_counts().rows():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n
        refused = result.filter(pl.col("outcome") == "refused")
        for reason, n in refused.group_by("error_field").len().rows():
            self.refusals[reason] = self.refusals.get(reason, 0) + n


def _control_room(engine: Engine, policy_id: str, data: Path, out: Path, actor: str, today: dt.date) -> str:
    """The season's end in the control room: e-voucher records in, then reconciliation (with the police's
    deaths), progress at the window's end, the assessment where the policy has one, and the funds."""
    from canbao.services import reconcile as r
    from canbao.services.assessment import rewards, write_rewards
    from canbao.services.funds import fund_report, write_fund_report
    from canbao.services.progress import progress, write_progress
    from canbao.services.targets import import_activations

    policy = load_policy(policy_id)
    import_activations(engine, data / "e_voucher_activations.csv", actor, today=today)
    end = policy.benefit_period.end
    run = r.run_reconciliation(
        engine, end, policy.benefit_year, out, tax=data / "tax_records.csv", bank=data / "bank_statement.csv",
        collections=[data / "collections"], other_counties=[data / "other_county_roster.csv"],
        deaths=data / "deaths.csv", policy_id=policy_id,
    )  # fmt: skip
    result, dead = run.result, run.cleanup.height if run.cleanup is not None else 0
    write_progress(progress(engine, policy.benefit_year, policy.collection_window.end), out / "progress")
    if policy.assessment is not None:
        write_rewards(rewards(engine, policy_id), out / "rewards")
    write_fund_report(fund_report(engine, policy.benefit_year, policy_id), out / "funds")
    tests = "，".join(f"{label}{'✓' if result.tests[t] else '✗'}" for t, label in r.TEST_LABELS.items())
    found = "，".join(f"{r.KIND_LABELS[k]} {n}" for k, n in result.by_kind().items() if n) or "无差异"
    return f"对账（截至 {end}）：{tests}；{found}；死亡人员待清理 {dead} 人"


def _print_summary(
    console: Console,
    policy_id: str,
    due: int,
    applied: Applied,
    summary: SeasonSummary,
    rejected: list[tuple[str, int, list[str]]],
) -> None:
    towns = Table(title=f"参保进度（{policy_id}）", title_justify="left")
    for header in ("乡镇", "已参保", "任务数", "完成率", "上年参保", "未续保"):
        towns.add_column(header, justify="left" if header == "乡镇" else "right")
    rows = summary.by_township.sort("rate_bp", descending=True, nulls_last=True)
    for r in rows.iter_rows(named=True):
        rate = f"{r['rate_bp'] / 100:.2f}%" if r["rate_bp"] is not None else "—"
        towns.add_row(r["township"], f"{r['enrolled']:,}", f"{r['target'] or 0:,}", rate, f"{r['last_year']:,}",
                      f"{r['not_renewed']:,}")  # fmt: skip
    total_target = int(rows["target"].sum() or 0)
    towns.add_row("合计", f"{summary.enrolled:,}", f"{total_target:,}", "", "", f"{int(rows['not_renewed'].sum()):,}")
    console.print(towns)

    channels = Table(title="按渠道收缴", title_justify="left")
    for header in ("渠道", "笔数", "金额（元）"):
        channels.add_column(header, justify="left" if header == "渠道" else "right")
    for r in summary.by_channel.iter_rows(named=True):
        name = CHANNEL_LABELS.get(r["channel"] or "", r["channel"] or "")
        detail = f"（{r['channel_name']}）" if r["channel_name"] else ""
        channels.add_row(name + detail, f"{r['payments']:,}", f"{to_yuan(r['amount_fen']):,}")
    channels.add_row("合计", "", f"{to_yuan(summary.collected_fen):,}")
    console.print(channels)

    subsidies = Table(title="按身份资助", title_justify="left")
    for header in ("身份", "资助方式", "人数", "金额（元）"):
        subsidies.add_column(header, justify="left" if header in ("身份", "资助方式") else "right")
    for r in summary.by_category.iter_rows(named=True):
        subsidies.add_row(CATEGORY_LABELS.get(r["subsidy_category"], r["subsidy_category"]),
                          SUBSIDY_KIND_LABELS.get(r["subsidy_kind"], r["subsidy_kind"]),
                          f"{r['persons']:,}", f"{to_yuan(r['amount_fen']):,}")  # fmt: skip
    console.print(subsidies)

    counts = applied.outcomes
    console.print(
        f"开征应缴 {due:,} 人；缴费通知 {applied.rows:,} 笔：入账 {counts.get('enrolled', 0):,}，"
        f"重复 {counts.get('replayed', 0):,}，退回 {counts.get('refused', 0):,}"
    )
    if applied.refusals:
        console.print("退回的缴费（按原因）：")
        for reason, n in sorted(applied.refusals.items(), key=lambda item: -item[1]):
            console.print(f"  {reason}: {n:,} 笔")
    console.print("名单导入退回：")
    for name, count, examples in rejected:
        if count:
            console.print(f"  {name}: {count:,} 行，例如 {'；'.join(examples[:2])}")
