"""The use cases: a department's list, last year's roster, a school's roster (see the package docstring).

Each reads and validates the file (:mod:`.validation`), looks the persons up and writes the batch in one
transaction (:mod:`.database`), resolves the most favourable subsidy (:mod:`.resolution`) and writes the
feedback workbook (:mod:`.feedback`) on a second thread while the rows are written."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from canbao.errors import CanbaoError, InputError
from canbao.outputs import OutputGroup
from canbao.outputs import feedback_path as default_feedback_path
from canbao.policy import load_policy
from canbao.services.imports.database import (
    _MEMBERSHIP_SCHEMA,
    Writer,
    _find_batch,
    _memberships,
    _registered,
    _select_all,
)
from canbao.services.imports.feedback import write_feedback_files
from canbao.services.imports.report import (
    KIND_DEPARTMENT,
    KIND_ROSTER,
    KIND_SCHOOL,
    PHASE_READ,
    PHASE_VALIDATE,
    ImportReport,
    ProgressHook,
)
from canbao.services.imports.resolution import with_resolution
from canbao.services.imports.validation import (
    Job,
    _note_other_lists,
    _outcomes,
    _person_updates,
    _report_rows,
    _validate_in_file,
    _validate_static,
    lit,
    read_list,
)
from canbao.services.imports.words import TEXT, resolve_department
from canbao.store.db import refresh_statistics
from canbao.store.tables import audit_log, identity_memberships, import_batches, import_rows, persons
from canbao.store.uow import UnitOfWork, audit, now
from canbao.tabular.textfiles import CONTROL
from canbao.vocabulary import DEPARTMENT_CATEGORIES, DEPARTMENT_LABELS


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, phase: str, into: str | None = None) -> None:
        """Add the time since the last lap to `phase` (and to `into`, a phase it is part of)."""
        t = time.perf_counter()
        for key in (phase, into) if into else (phase,):
            self.timings[key] = self.timings.get(key, 0.0) + (t - self._start)
        self._start = t


def _subject(sha: str) -> str:
    return f"sha256:{sha[:16]}"


def _refusal_detail(job: Job, path: Path, report: ImportReport) -> str:
    head = (
        f"{job.source_text()} {path.name}：共 {report.rows_total} 行，退回 {report.rejected} 行，"
        f"重复 {report.duplicates} 行，整批未导入"
    )
    lines = report.rejections(limit=20)
    more = report.rejected - len(lines)
    return "\n".join([head, *lines, *([f"……另有 {more} 行退回，见反馈文件"] if more > 0 else [])])


def _run(
    engine: Engine,
    path: Path,
    job: Job,
    actor: str,
    accept_valid: bool,
    feedback_path: Path | None,
    today: dt.date,
    progress: ProgressHook | None,
    write_feedback: bool = True,
) -> ImportReport:
    path = Path(path)
    if feedback_path is None and write_feedback:
        feedback_path = default_feedback_path(path)
    timer = _Timer()
    if progress is not None:
        progress(PHASE_READ, 0, 1)
    try:
        sheet = read_list(path, job)
        sha = hashlib.sha256(sheet.data).hexdigest()
    except CanbaoError as exc:
        message = exc.message if isinstance(exc, InputError) else str(exc)
        audit(engine, actor, job.action, None, "refused", f"{job.source_text()} {path.name}：{message}")
        raise
    frame, layout_of_file = sheet.frame, (sheet.header_row, sheet.skipped)
    del sheet
    if progress is not None:
        progress(PHASE_READ, 1, 1)
    timer.lap("read")

    earlier = _find_batch(engine, job.kind, sha)
    if earlier is not None:
        return _replay(engine, path, job, actor, earlier, frame, feedback_path, today, timer, progress, layout_of_file)

    if progress is not None:
        progress(PHASE_VALIDATE, 0, 3)
    frame = _validate_in_file(_validate_static(frame, job, today), job)
    if progress is not None:
        progress(PHASE_VALIDATE, 1, 3)
    timer.lap("validate")

    committed = False
    report: ImportReport
    feedback = OutputGroup()  # feedback files written beside the database write, published after commit
    try:
        with UnitOfWork(engine, actor) as uow:
            connection = uow.connection
            refresh_statistics(connection, "persons", "identity_memberships", "import_rows")
            ok_ids = frame.filter(pl.col("reason").is_null())["id_number"]
            registered = _registered(connection, ok_ids, job.kind)
            frame = frame.join(registered, on="id_number", how="left", maintain_order="left")
            mismatch = (
                pl.col("reason").is_null() & pl.col("reg_name").is_not_null() & (pl.col("name") != pl.col("reg_name"))
            )
            frame = frame.with_columns(
                reason=pl.when(mismatch)
                .then(pl.concat_str([lit("姓名：与登记库中该身份证号码的姓名“"), pl.col("reg_name"), lit("”不一致")]))
                .otherwise(pl.col("reason"))
            )
            frame = _outcomes(frame, job)
            timer.lap("lookup")
            if progress is not None:
                progress(PHASE_VALIDATE, 2, 3)

            existing = pl.DataFrame(schema=_MEMBERSHIP_SCHEMA).with_columns(
                pl.col("valid_from").cast(pl.Date), pl.col("valid_to").cast(pl.Date)
            )
            if job.kind == KIND_DEPARTMENT:
                known = frame.filter(pl.col("outcome") != "rejected")["person_id"].drop_nulls()
                existing = _memberships(connection, known)
                frame = _note_other_lists(frame, existing, job)
            timer.lap("lookup")

            counts = frame["outcome"].value_counts()
            by_outcome = dict(zip(counts["outcome"].to_list(), counts["count"].to_list(), strict=True))
            rejected = int(by_outcome.get("rejected", 0))
            report = ImportReport(
                kind=job.kind,
                source=job.source,
                file=path,
                file_sha256=sha,
                batch_id=None,
                committed=False,
                replayed=False,
                rows_total=frame.height,
                accepted=int(by_outcome.get("accepted", 0)),
                rejected=rejected,
                duplicates=int(by_outcome.get("duplicate", 0)),
                header_row=layout_of_file[0],
                skipped=layout_of_file[1],
            )
            if job.kind == KIND_DEPARTMENT:
                report.already_listed = int(frame["_listed"].sum())
            if progress is not None:
                progress(PHASE_VALIDATE, 3, 3)
            if rejected and not accept_valid:
                report.rows = _report_rows(frame, job)
                timer.lap("validate")
            else:
                _write(connection, frame, existing, job, report, actor, feedback_path, feedback, progress, timer)
                uow.commit()
                committed = True
                timer.lap("write.commit", into="write")
    except IntegrityError:
        feedback.discard()
        audit(engine, actor, job.action, _subject(sha), "failed", f"{job.source_text()} {path.name}：写入冲突，已回滚")
        raise InputError(
            "input", f"文件 {path.name} 写入时与另一次导入冲突（可能是同一文件正在导入），已回滚，请稍后重试"
        ) from None
    except BaseException as exc:
        feedback.discard()
        audit(
            engine,
            actor,
            job.action,
            _subject(sha),
            "failed",
            # The type only: an exception's text may quote rows or a driver's SQL parameters.
            f"{job.source_text()} {path.name}：{type(exc).__name__}"[:2000],
        )
        raise

    if committed:
        feedback.publish()  # after the commit: a failure here is not the batch's (its audit line says done)
    else:
        audit(engine, actor, job.action, _subject(sha), "refused", _refusal_detail(job, path, report))
        if feedback_path is not None:
            with OutputGroup() as files:
                write_feedback_files(report, job, Path(feedback_path), progress, files)
            timer.lap("feedback")
    report.timings = timer.timings
    return report


def _write(
    connection: Connection,
    frame: pl.DataFrame,
    existing: pl.DataFrame,
    job: Job,
    report: ImportReport,
    actor: str,
    feedback_path: Path | None,
    feedback: OutputGroup,
    progress: ProgressHook | None,
    timer: _Timer,
) -> None:
    """Everything of one batch, in the caller's transaction; the caller commits.

    Once person ids are known, the resolution, the report rows and the feedback files (under temporary names)
    are computed on a second thread while the rows are written: the database does its share of the work
    (PostgreSQL's per-row foreign-key triggers, SQLite's b-trees with the GIL released) meanwhile, into
    `feedback`, which the caller publishes after the commit.
    """
    kept = pl.col("outcome") == "accepted"
    new_people = (
        frame.filter(kept & pl.col("person_id").is_null())
        .unique("id_number", keep="first", maintain_order=True)
        .sort("id_number")
    )
    if job.residency is not None:
        residency = pl.lit(job.residency, dtype=TEXT)
    else:
        residency = pl.col("residency").fill_null("local_hukou")
    updates = _person_updates(frame, job)
    memberships_count = int(frame.select(kept.sum()).item()) if job.kind == KIND_DEPARTMENT else 0
    writer = Writer(connection, new_people.height + updates.height + memberships_count + frame.height, progress)

    batch_id: int = connection.execute(
        insert(import_batches)
        .values(
            kind=job.kind,
            department=job.source,
            file_name=report.file.name[:255],
            file_sha256=report.file_sha256,
            rows_total=report.rows_total,
            rows_accepted=report.accepted,
            rows_rejected=report.rejected,
            actor=actor,
            created_at=writer.created,
            benefit_year=job.benefit_year if job.kind == KIND_ROSTER else None,
        )
        .returning(import_batches.c.id)
    ).scalar_one()
    ids = writer.allocate_person_ids(new_people.height)
    new_people = new_people.with_columns(ids.alias("new_person_id"))
    frame = frame.join(
        new_people.select("id_number", "new_person_id"), on="id_number", how="left", maintain_order="left"
    ).with_columns(person_id=pl.coalesce("person_id", "new_person_id"))
    new_memberships = pl.DataFrame()
    if job.kind == KIND_DEPARTMENT:
        assert job.department is not None
        new_memberships = (
            frame.filter(kept)
            .select(
                "person_id",
                "category",
                department=pl.lit(job.department, dtype=TEXT),
                valid_from=pl.col("valid_from"),
                valid_to=pl.col("valid_to"),
                batch_id=pl.lit(batch_id, dtype=pl.Int64),
                household_role=pl.col("household_role"),  # 004 二(三)
            )
            .sort("person_id")
        )
    report.batch_id = batch_id
    report.new_persons = new_people.height
    report.updated_persons = updates.height
    report.committed = True  # what the feedback says; it is published only once the commit succeeded
    timer.lap("write")

    side_timer = _Timer()

    def beside() -> None:
        side_timer.lap("write")  # not counted: waiting to start
        rows = frame
        if job.kind == KIND_DEPARTMENT:
            everything = pl.concat([existing, new_memberships], how="vertical_relaxed")
            rows = with_resolution(frame, everything, job, report)
        report.rows = _report_rows(rows, job)
        side_timer.lap("resolve")
        if feedback_path is not None:
            write_feedback_files(report, job, Path(feedback_path), progress, feedback)
        side_timer.lap("feedback")

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="canbao-feedback") as pool:
        side = pool.submit(beside)
        try:
            writer.insert(
                persons,
                new_people.select(
                    pl.col("new_person_id").alias("id"),
                    "id_number",
                    "name",
                    "sex",
                    "birth_date",
                    county=pl.lit(job.county, dtype=TEXT),
                    township=pl.col("township"),
                    village=pl.col("village"),
                    residency=residency,
                    phone=pl.col("phone"),
                    created_at=pl.lit(writer.created_at()),
                ),
            )
            writer.update_persons(updates)
            writer.insert(identity_memberships, new_memberships)
            stored_id = pl.coalesce(
                pl.col("id_number"), pl.when(pl.col("id_text").str.len_chars() <= 18).then(pl.col("id_text"))
            )
            writer.insert(
                import_rows,
                frame.select(
                    batch_id=pl.lit(batch_id, dtype=pl.Int64),
                    row_number=pl.col("row_number"),
                    id_number=stored_id,
                    outcome=pl.col("outcome"),
                    reason=pl.coalesce(pl.col("reason"), pl.col("note")),
                    person_id=pl.when(pl.col("outcome") == "accepted").then(pl.col("person_id")),
                ),
            )
            timer.lap("write")
        except BaseException:
            wait([side])
            feedback.discard()
            raise
        try:
            side.result()
        except BaseException:
            feedback.discard()
            raise
        timer.lap("write.wait_for_feedback")
    for phase in ("resolve", "feedback"):
        timer.timings[phase] = timer.timings.get(phase, 0.0) + side_timer.timings.get(phase, 0.0)
    timer.timings.update(writer.timings)
    try:
        connection.execute(
            insert(audit_log).values(
                at=now(),
                actor=actor,
                action=job.action,
                subject=f"batch:{batch_id}",
                outcome="done",
                detail=(
                    f"{job.source_text()} {report.file.name}（{_subject(report.file_sha256)}）："
                    f"共 {report.rows_total} 行，接收 {report.accepted}，退回 {report.rejected}，"
                    f"重复 {report.duplicates}，"
                    f"新登记 {report.new_persons}，更新 {report.updated_persons}"
                    + (f"，多重身份 {report.dual_identities} 人" if job.kind == KIND_DEPARTMENT else "")
                ),
            )
        )
    except BaseException:
        feedback.discard()
        raise


def _replay(
    engine: Engine,
    path: Path,
    job: Job,
    actor: str,
    earlier: dict[str, Any],
    frame: pl.DataFrame,
    feedback_path: Path | None,
    today: dt.date,
    timer: _Timer,
    progress: ProgressHook | None,
    layout_of_file: tuple[int, list[tuple[int, str]]],
) -> ImportReport:
    """The same file again: nothing written but the audit line; the earlier batch's outcome per row."""
    batch_id = int(earlier["id"])
    if earlier["department"] != job.source:
        was = earlier["department"]
        if job.kind == KIND_DEPARTMENT and was in DEPARTMENT_LABELS:
            was = DEPARTMENT_LABELS[was]
        message = f"文件 {path.name} 已于批次 {batch_id} 作为“{was}”的名单导入，不能再作为“{job.source_text()}”导入"
        audit(engine, actor, job.action, _subject(earlier["file_sha256"]), "refused", message)
        raise InputError("input", message)
    frame = _validate_static(frame, job, today)
    with engine.connect() as connection:
        r = import_rows.c
        stored = _select_all(
            connection,
            select(r.row_number, r.id_number, r.outcome, r.reason).where(r.batch_id == batch_id),
            {"row_number": pl.Int64(), "stored_id": TEXT, "outcome": TEXT, "stored_reason": TEXT},
        )
        frame = frame.join(stored, on="row_number", how="left", maintain_order="left").with_columns(
            reason=pl.when(pl.col("outcome") == "rejected").then(pl.col("stored_reason")),
            note=pl.when(pl.col("outcome") != "rejected").then(pl.col("stored_reason")),
            outcome=pl.col("outcome").fill_null("rejected"),
        )
        report = ImportReport(
            kind=job.kind,
            source=job.source,
            file=path,
            file_sha256=earlier["file_sha256"],
            batch_id=batch_id,
            committed=False,
            replayed=True,
            rows_total=int(earlier["rows_total"]),
            accepted=int(earlier["rows_accepted"]),
            rejected=int(earlier["rows_rejected"]),
            duplicates=int(earlier["rows_total"]) - int(earlier["rows_accepted"]) - int(earlier["rows_rejected"]),
            header_row=layout_of_file[0],
            skipped=layout_of_file[1],
        )
        if job.kind == KIND_DEPARTMENT:
            report.already_listed = int(
                frame.select((pl.col("outcome") == "accepted") & pl.col("note").str.starts_with("已在其他名单中"))
                .to_series()
                .sum()
            )
            registered = _registered(connection, frame.filter(pl.col("outcome") != "rejected")["id_number"], job.kind)
            frame = frame.join(
                registered.select("person_id", "id_number"), on="id_number", how="left", maintain_order="left"
            )
            memberships = _memberships(connection, registered["person_id"])
            frame = with_resolution(frame, memberships, job, report)
    report.rows = _report_rows(frame, job)
    audit(
        engine,
        actor,
        job.action,
        f"batch:{batch_id}",
        "replayed",
        f"{job.source_text()} {path.name}：与批次 {batch_id} 为同一文件，未重复写入",
    )
    timer.lap("validate")
    if feedback_path is not None:
        with OutputGroup() as files:
            write_feedback_files(report, job, Path(feedback_path), progress, files)
        timer.lap("feedback")
    report.timings = timer.timings
    return report


def _check_county(county: str) -> str:
    county = county.strip()
    if len(county) != 6 or not county.isascii() or not county.isdigit():
        raise InputError("county", f"县（区）应为6位行政区划代码，而不是“{county}”")
    return county


def _check_actor(actor: str) -> str:
    """The actor is who the front end says (the CLI: the OS login; the portal: the signed-in official)."""
    actor = (actor or "").strip()
    if not actor:
        raise InputError("actor", "须填写操作人")
    if len(actor) > 64:
        raise InputError("actor", "操作人不能超过64个字符")
    if CONTROL.search(actor):
        raise InputError("actor", "操作人含有控制字符（如 NUL）")
    return actor


def import_department_list(
    engine: Engine,
    path: Path,
    department: str,
    county: str,
    policy_id: str,
    actor: str,
    accept_valid: bool = False,
    feedback_path: Path | None = None,
    *,
    today: dt.date,
    progress: ProgressHook | None = None,
    write_feedback: bool = True,
) -> ImportReport:
    """Import one certifying department's list of identity categories (see the package docstring).

    `actor`: who imports (required: the front end knows, e.g. the CLI's OS login); `today`: the day ID numbers'
    birth dates are checked against; the feedback workbook goes to `feedback_path`, else beside the file
    (:func:`canbao.outputs.feedback_path`), unless `write_feedback` is false."""
    department = resolve_department(department)
    county = _check_county(county)
    policy = load_policy(policy_id)
    if county not in policy.region.counties:
        known = "、".join(f"{c} {n}" for c, n in policy.region.counties.items())
        raise InputError("county", f"县（区）{county} 不在政策 {policy_id} 的地区内（{known}）")
    # A department that certifies one category only (残联: 重度残疾人) may send its list without a category
    # column: every row is that category.
    sole = DEPARTMENT_CATEGORIES[department] if len(DEPARTMENT_CATEGORIES[department]) == 1 else None
    job = Job(
        kind=KIND_DEPARTMENT,
        action="import_department_list",
        source=department,
        county=county,
        required=("id_number", "name") if sole else ("id_number", "name", "category"),
        optional=(
            "valid_from",
            "valid_to",
            "household_role",  # 004 二(三)
            "township",
            "village",
            "phone",
            *(("category",) if sole else ()),
        ),
        department=department,
        policy=policy,
        residency="local_hukou",
    )
    actor = _check_actor(actor)
    return _run(engine, Path(path), job, actor, accept_valid, feedback_path, today, progress, write_feedback)


def import_roster(
    engine: Engine,
    path: Path,
    county: str,
    benefit_year: int,
    actor: str,
    accept_valid: bool = False,
    feedback_path: Path | None = None,
    *,
    today: dt.date,
    progress: ProgressHook | None = None,
    write_feedback: bool = True,
) -> ImportReport:
    """Import last year's enrollees of `county` (the roster of `benefit_year`): registers new persons and
    updates county, township, village, residency and phone of known ones. No enrollment is written."""
    county = _check_county(county)
    if not 2000 <= int(benefit_year) <= 2100:
        raise InputError("benefit_year", f"待遇年度应为四位年份，而不是“{benefit_year}”")
    job = Job(
        kind=KIND_ROSTER,
        action="import_roster",
        source=None,
        county=county,
        required=("id_number", "name"),
        optional=("county", "township", "village", "residency", "phone"),
        benefit_year=int(benefit_year),
    )
    actor = _check_actor(actor)
    return _run(engine, Path(path), job, actor, accept_valid, feedback_path, today, progress, write_feedback)


def import_school_roster(
    engine: Engine,
    path: Path,
    school: str,
    county: str,
    actor: str,
    accept_valid: bool = False,
    feedback_path: Path | None = None,
    *,
    today: dt.date,
    progress: ProgressHook | None = None,
    write_feedback: bool = True,
) -> ImportReport:
    """Import a school's students (entered by the school, reviewed by the county): registered with residency
    ``student``; known persons' residency becomes ``student``."""
    county = _check_county(county)
    school = (school or "").strip()
    if not school or len(school) > 40 or CONTROL.search(school):
        raise InputError("school", "须填写学校名称（不超过40个字，不含控制字符）")
    job = Job(
        kind=KIND_SCHOOL,
        action="import_school",
        source=school,
        county=county,
        required=("id_number", "name"),
        optional=("school", "grade", "class"),
        school=school,
        residency="student",
    )
    actor = _check_actor(actor)
    return _run(engine, Path(path), job, actor, accept_valid, feedback_path, today, progress, write_feedback)
