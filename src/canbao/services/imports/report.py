"""What an import did (:class:`ImportReport`), the kinds of lists and the progress phases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from canbao.ids import mask_id_numbers
from canbao.vocabulary import DEPARTMENT_LABELS

KIND_DEPARTMENT = "department_list"
KIND_ROSTER = "roster"
KIND_SCHOOL = "school"

ProgressHook = Callable[[str, int, int], None]
"""Called as (phase, done, total); phases are 读取文件, 校验, 写入数据库, 写反馈文件."""

PHASE_READ = "读取文件"
PHASE_VALIDATE = "校验"
PHASE_WRITE = "写入数据库"
PHASE_FEEDBACK = "写反馈文件"


@dataclass
class ImportReport:
    """What an import did. ``rows`` has one row per file row: row_number, name, id_number (as given when
    invalid), category (list imports), outcome (accepted/rejected/duplicate), reason, resolved (the most
    favourable identity, list imports)."""

    kind: str
    source: str | None
    file: Path
    file_sha256: str
    batch_id: int | None
    committed: bool
    replayed: bool
    rows_total: int
    accepted: int
    rejected: int
    duplicates: int
    already_listed: int = 0
    new_persons: int = 0
    updated_persons: int = 0
    dual_identities: int = 0
    not_covered: int = 0
    feedback_path: Path | None = None
    feedback_csv_path: Path | None = None
    rows: pl.DataFrame = field(default_factory=pl.DataFrame)
    timings: dict[str, float] = field(default_factory=dict)
    header_row: int = 1  # the spreadsheet row of the header (title rows above it are passed over)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (row, why): 合计 and signature rows

    def skipped_text(self) -> str:
        """第 12 行（合计行）、… or empty."""
        return "、".join(f"第 {r} 行（{why}）" for r, why in self.skipped)

    def rejections(self, limit: int | None = 20) -> list[str]:
        """Refused rows, one line each: row, name, masked ID number, field and rule."""
        if self.rows.is_empty():
            return []
        bad = self.rows.filter(pl.col("outcome") == "rejected")
        if limit is not None:
            bad = bad.head(limit)
        bad = bad.with_columns(masked=mask_id_numbers(pl.col("id_number").fill_null("")))
        return [
            f"第{r['row_number']}行 {r['name'] or '（无姓名）'} {r['masked'] or '（无身份证号码）'}：{r['reason']}"
            for r in bad.iter_rows(named=True)
        ]

    def summary(self, files: bool = True) -> str:
        """A few Chinese lines for the CLI; without the feedback files' paths when `files` is false (the portal
        offers them as downloads and shows no server path)."""
        what = {KIND_DEPARTMENT: "认定名单", KIND_ROSTER: "参保名册", KIND_SCHOOL: "学生名册"}[self.kind]
        source = self.source or ""
        if self.kind == KIND_DEPARTMENT and self.source:
            source = DEPARTMENT_LABELS.get(self.source, self.source)
        lines = [
            f"{source}{what} {self.file.name}：共 {self.rows_total} 行，接收 {self.accepted} 行，"
            f"退回 {self.rejected} 行，重复 {self.duplicates} 行"
        ]
        if self.header_row != 1:
            lines.append(f"表头在第 {self.header_row} 行，其上的标题行未读取")
        if self.skipped:
            lines.append(f"跳过 {len(self.skipped)} 行（不是人员）：{self.skipped_text()}")
        if self.replayed:
            lines.append(f"该文件已于此前导入（批次 {self.batch_id}），本次未写入任何数据")
        elif self.committed:
            extra = f"已写入批次 {self.batch_id}：新登记人员 {self.new_persons} 人"
            if self.kind != KIND_DEPARTMENT:
                extra += f"，更新人员信息 {self.updated_persons} 人"
            lines.append(extra)
        else:
            lines.append(f"存在 {self.rejected} 行退回，整批未导入（修正后重新导入，或选择只导入有效行）")
        if self.kind == KIND_DEPARTMENT and (self.committed or self.replayed):
            lines.append(
                f"已在其他名单中 {self.already_listed} 行；双重（多重）身份按最优资助认定 {self.dual_identities} 人；"
                f"身份不在政策资助范围 {self.not_covered} 人"
            )
        if files and self.feedback_path is not None:
            lines.append(f"反馈文件：{self.feedback_path}")
        if files and self.feedback_csv_path is not None:
            lines.append(f"完整反馈清单（CSV）：{self.feedback_csv_path}")
        return "\n".join(lines)
