"""Reading and validating a list (pure: no database): the file through :mod:`canbao.tabular`, then every
check that needs no registry, vectorized, one reason per refused row naming the field and the rule."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from canbao.policy import Policy
from canbao.services.imports.report import KIND_DEPARTMENT, KIND_ROSTER, KIND_SCHOOL
from canbao.services.imports.words import (
    _CATEGORY_LOOKUP,
    _HOUSEHOLD_ROLE_LOOKUP,
    _RESIDENCY_LOOKUP,
    FIELD_LABELS,
    MAX_LENGTHS,
    TEXT,
    normalized,
)
from canbao.tabular.layouts import LAYOUTS, Layout
from canbao.tabular.sheets import Sheet, read_file
from canbao.tabular.values import date_problem, dates, id_numbers, name_problem, names, needs_full_width
from canbao.vocabulary import (
    CATEGORIES,
    CATEGORY_LABELS,
    DEPARTMENT_CATEGORIES,
    DEPARTMENT_LABELS,
    HOUSEHOLD_ROLE_LABELS,
)

LAYOUT_OF_KIND = {KIND_DEPARTMENT: "department_list", KIND_ROSTER: "roster", KIND_SCHOOL: "school_roster"}


@dataclass(frozen=True)
class Job:
    kind: str
    action: str
    source: str | None  # import_batches.department: the department, the school, or none for a roster
    county: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    department: str | None = None
    school: str | None = None
    policy: Policy | None = None
    benefit_year: int | None = None
    residency: str | None = None  # fixed residency of the persons on the file, if any

    @property
    def keys(self) -> list[str]:
        return ["id_number", "category"] if self.kind == KIND_DEPARTMENT else ["id_number"]

    def source_text(self) -> str:
        if self.kind == KIND_DEPARTMENT and self.department:
            return f"{DEPARTMENT_LABELS[self.department]}认定名单"
        if self.kind == KIND_SCHOOL:
            return f"学校“{self.school}”学生名册"
        return f"{self.benefit_year}年度参保名册（县区 {self.county}）"

    @property
    def layout(self) -> Layout:
        layout = LAYOUTS[LAYOUT_OF_KIND[self.kind]]
        return layout.without_required(*(f for f in layout.required if f not in self.required))


def read_list(path: Path, job: Job) -> Sheet:
    """The list's rows as text by field (canbao.tabular: header row found, 合计 rows left out); a department
    certifying one category only fills it in where the list leaves it out."""
    sheet = read_file(path, job.layout, field_name="input")
    if job.department and "category" not in job.required:
        sole = DEPARTMENT_CATEGORIES[job.department][0]
        sheet.frame = sheet.frame.with_columns(pl.col("category").fill_null(sole))
    return sheet


def _reasons(checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    joined = pl.concat_str([pl.when(c).then(m) for c, m in checks], separator="；", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def lit(text: str) -> pl.Expr:
    return pl.lit(text, dtype=TEXT)


def _lookup_values(frame: pl.DataFrame, column: str, lookup: dict[str, str]) -> pl.Expr:
    """The identifier each distinct value of `column` stands for (null when unknown); few distinct values, so
    they are normalised in Python once each."""
    distinct = frame[column].drop_nulls().unique().to_list()
    mapping = {value: lookup.get(normalized(value)) for value in distinct}
    return pl.col(column).replace_strict(mapping, default=None, return_dtype=TEXT)


def _validate_static(frame: pl.DataFrame, job: Job, today: dt.date) -> pl.DataFrame:
    """Checks that need no database: ID number, name, category, dates, lengths, fixed values."""
    frame = frame.with_columns(
        pl.lit(None, dtype=TEXT).alias(c) for c in ("township", "village", "phone") if c not in frame.columns
    )
    ids = id_numbers(pl.col("id_number"), today, full_width=needs_full_width(frame["id_number"]))
    out = frame.with_columns(_id=ids, name=names(pl.col("name"))).drop("id_number")
    out = out.with_columns(pl.col("_id").struct.unnest()).drop("_id")
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (pl.col("id_error").is_not_null(), pl.col("id_error")),
        (pl.col("name").is_null(), lit("姓名：未填写")),
        (pl.col("name").is_not_null(), name_problem(pl.col("name"))),
    ]
    for col, limit in MAX_LENGTHS.items():
        checks.append((pl.col(col).str.len_chars() > limit, lit(f"{FIELD_LABELS[col]}：超过{limit}个字（登记库限制）")))
    new_columns: dict[str, pl.Expr] = {}
    if job.kind == KIND_DEPARTMENT:
        assert job.department is not None
        own = DEPARTMENT_CATEGORIES[job.department]
        dept_label = DEPARTMENT_LABELS[job.department]
        category_text = pl.col("category")
        new_columns["category_text"] = category_text
        new_columns["category"] = _lookup_values(out, "category", _CATEGORY_LOOKUP)
        new_columns["valid_from"] = dates(pl.col("valid_from"))
        new_columns["valid_to"] = dates(pl.col("valid_to"), open_ended=True)
        new_columns["valid_from_text"] = pl.col("valid_from")
        new_columns["valid_to_text"] = pl.col("valid_to")
        new_columns["household_role_text"] = pl.col("household_role")  # 004 二(三)
        new_columns["household_role"] = _lookup_values(out, "household_role", _HOUSEHOLD_ROLE_LOOKUP)
        out = out.with_columns(**new_columns)
        foreign = {
            c: f"身份类别：{CATEGORY_LABELS[c]}不由{dept_label}认定；{dept_label}认定："
            + "、".join(CATEGORY_LABELS[o] for o in own)
            for c in CATEGORIES
            if c not in own
        }
        checks += [
            (pl.col("category_text").is_null(), lit("身份类别：未填写")),
            (
                pl.col("category_text").is_not_null() & pl.col("category").is_null(),
                pl.concat_str([lit("身份类别：“"), pl.col("category_text"), lit("”不是已知的身份类别")]),
            ),
            (
                pl.col("category").is_in(list(foreign)),
                pl.col("category").replace_strict(foreign, default=None, return_dtype=TEXT),
            ),
            (
                pl.col("valid_from_text").is_not_null() & pl.col("valid_from").is_null(),
                lit("有效期起（认定日期）：") + date_problem(pl.col("valid_from_text"), pl.col("valid_from")),
            ),
            (
                date_problem(pl.col("valid_to_text"), pl.col("valid_to"), open_ended=True).is_not_null(),
                lit("有效期止：") + date_problem(pl.col("valid_to_text"), pl.col("valid_to"), open_ended=True),
            ),
            (pl.col("valid_from") > pl.col("valid_to"), lit("有效期止：早于有效期起（认定日期）")),
            (
                pl.col("household_role_text").is_not_null() & pl.col("household_role").is_null(),
                pl.concat_str(
                    [
                        lit(f"{FIELD_LABELS['household_role']}：“"),
                        pl.col("household_role_text"),
                        lit("”不是已知的家庭角色（应为 "),
                        lit("、".join(f"{label}（{r}）" for r, label in HOUSEHOLD_ROLE_LABELS.items())),
                        lit("，或空着）"),
                    ]
                ),
            ),
        ]
    elif job.kind == KIND_ROSTER:
        out = out.with_columns(
            residency_text=pl.col("residency"),
            residency=_lookup_values(out, "residency", _RESIDENCY_LOOKUP),
            county_text=pl.col("county"),
        )
        checks += [
            (
                pl.col("residency_text").is_not_null() & pl.col("residency").is_null(),
                pl.concat_str(
                    [
                        lit("参保人员类型：“"),
                        pl.col("residency_text"),
                        lit("”不是已知类型（如 本地户籍城乡居民、在校学生、本地长期居住或流动就业人员）"),
                    ]
                ),
            ),
            (
                pl.col("county_text").is_not_null() & (pl.col("county_text") != job.county),
                pl.concat_str(
                    [lit("县（区）：“"), pl.col("county_text"), lit(f"”与导入的县（区）代码 {job.county} 不一致")]
                ),
            ),
        ]
    else:
        checks.append(
            (
                pl.col("school").is_not_null() & (pl.col("school") != job.school),
                pl.concat_str([lit("学校：“"), pl.col("school"), lit(f"”与导入的学校“{job.school}”不一致")]),
            )
        )
    return out.with_columns(reason=_reasons(checks))


def _validate_in_file(frame: pl.DataFrame, job: Job) -> pl.DataFrame:
    """One name per ID number; the first row of each person (and category) kept, later ones duplicates."""
    ok = pl.col("reason").is_null()
    # Only ID numbers given more than once can disagree: look at those rows alone (a hash pass, not a join of
    # the whole file).
    repeated = frame.filter(ok & pl.col("id_number").is_duplicated())
    firsts = repeated.group_by("id_number", maintain_order=True).agg(
        pl.col("name").first().alias("_first_name"), pl.col("row_number").first().alias("_first_name_row")
    )
    conflicts = (
        repeated.join(firsts, on="id_number")
        .filter(pl.col("name") != pl.col("_first_name"))
        .select(
            "row_number",
            _conflict=pl.concat_str(
                [
                    lit("姓名：与第"),
                    pl.col("_first_name_row").cast(TEXT),
                    lit("行同一身份证号码的姓名“"),
                    pl.col("_first_name"),
                    lit("”不一致"),
                ]
            ),
        )
    )
    if conflicts.is_empty():
        return frame
    frame = frame.join(conflicts, on="row_number", how="left", maintain_order="left")
    return frame.with_columns(reason=pl.coalesce("reason", "_conflict")).drop("_conflict")


def _outcomes(frame: pl.DataFrame, job: Job) -> pl.DataFrame:
    ok = pl.col("reason").is_null()
    first = pl.when(ok).then(pl.col("row_number")).min().over(job.keys)
    what = "同一人同一身份类别" if job.kind == KIND_DEPARTMENT else "同一人"
    frame = frame.with_columns(_first=first)
    duplicate = ok & (pl.col("row_number") != pl.col("_first"))
    return frame.with_columns(
        outcome=pl.when(~ok).then(lit("rejected")).when(duplicate).then(lit("duplicate")).otherwise(lit("accepted")),
        note=pl.when(duplicate).then(
            pl.concat_str([lit("重复：与第"), pl.col("_first").cast(TEXT), lit(f"行为{what}，只保留第一行")])
        ),
    ).drop("_first")


def _report_rows(frame: pl.DataFrame, job: Job) -> pl.DataFrame:
    """The per-row outcome the report and the feedback show."""
    columns: list[pl.Expr] = [
        pl.col("row_number"),
        pl.col("name"),
        pl.coalesce(pl.col("id_number"), pl.col("id_text")).alias("id_number"),
        pl.col("outcome"),
        pl.coalesce(pl.col("reason"), pl.col("note")).alias("reason"),
    ]
    if job.kind == KIND_DEPARTMENT:
        columns += [
            pl.col("category"),
            pl.coalesce(
                pl.col("category").replace_strict(CATEGORY_LABELS, default=None, return_dtype=TEXT),
                pl.col("category_text"),
            ).alias("category_label"),
            pl.col("resolved") if "resolved" in frame.columns else pl.lit(None, dtype=TEXT).alias("resolved"),
        ]
    elif job.kind == KIND_ROSTER:
        columns += [pl.col("township"), pl.col("village")]
    else:
        columns += [pl.col("school").fill_null(job.school or ""), pl.col("grade"), pl.col("class")]
    return frame.select(columns)


def _note_other_lists(frame: pl.DataFrame, existing: pl.DataFrame, job: Job) -> pl.DataFrame:
    """Notes on accepted rows, which do not refuse them: the person already holds the category from an earlier
    list (another file); the validity does not overlap the policy's benefit period (then the row does not
    count when the most favourable identity is resolved)."""
    earliest = (
        existing.sort("batch_id")
        .group_by("person_id", "category")
        .agg(pl.col("batch_id").first().alias("_other_batch"), pl.col("department").first().alias("_other_dept"))
    )
    frame = frame.join(earliest, on=["person_id", "category"], how="left", maintain_order="left")
    listed = (pl.col("outcome") == "accepted") & pl.col("_other_batch").is_not_null()
    dept_label = pl.col("_other_dept").replace_strict(
        DEPARTMENT_LABELS, default=pl.col("_other_dept"), return_dtype=TEXT
    )
    note = pl.concat_str(
        [lit("已在其他名单中（"), dept_label, lit("，批次 "), pl.col("_other_batch").cast(TEXT), lit("）")]
    )
    assert job.policy is not None
    period = job.policy.benefit_period
    outside = (pl.col("outcome") == "accepted") & (
        (pl.col("valid_to") < period.start) | (pl.col("valid_from") > period.end)
    ).fill_null(False)
    outside_note = lit(
        f"提示：有效期与{job.policy.benefit_year}年度待遇期（{period.start}至{period.end}）不重叠，"
        "不参与本年度资助身份认定"
    )
    return (
        frame.with_columns(
            _listed=listed,
            note=pl.concat_str(
                [pl.col("note"), pl.when(listed).then(note), pl.when(outside).then(outside_note)],
                separator="；",
                ignore_nulls=True,
            ),
        )
        .with_columns(note=pl.when(pl.col("note") != "").then(pl.col("note")))
        .drop("_other_batch", "_other_dept")
    )


def _person_updates(frame: pl.DataFrame, job: Job) -> pl.DataFrame:
    """Known persons whose registered details the roster changes: person_id and the new values."""
    known = frame.filter((pl.col("outcome") == "accepted") & pl.col("person_id").is_not_null())
    if job.kind == KIND_ROSTER:
        new = known.select(
            "person_id",
            county=pl.lit(job.county, dtype=TEXT),
            township=pl.coalesce("township", "reg_township"),
            village=pl.coalesce("village", "reg_village"),
            residency=pl.coalesce("residency", "reg_residency"),
            phone=pl.coalesce("phone", "reg_phone"),
            _changed=pl.any_horizontal(
                [
                    pl.col("reg_county") != job.county,
                    *[
                        pl.col(c).is_not_null() & (pl.col(c) != pl.col(f"reg_{c}")).fill_null(True)
                        for c in ("township", "village", "residency", "phone")
                    ],
                ]
            ),
        )
    elif job.kind == KIND_SCHOOL:
        new = known.select(
            "person_id", residency=pl.lit("student", dtype=TEXT), _changed=pl.col("reg_residency") != "student"
        )
    else:
        return pl.DataFrame(schema={"person_id": pl.Int64()})
    return new.filter(pl.col("_changed")).drop("_changed")
