"""Downloads of the staff's own area: 催缴清单 and 入户排查 (services.area_lists)."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.services.access import Staff
from canbao.services.area_lists import area_due_lists, area_not_renewed
from canbao.web.deps import current_staff, get_engine

router = APIRouter(prefix="/api/v1/lists", tags=["清单下载"])
SignedIn = Annotated[Staff, Depends(current_staff)]
Database = Annotated[Engine, Depends(get_engine)]
Year = Annotated[int, Query(description="待遇年度，如 2022")]
Township = Annotated[str | None, Query(description="县级账户可只下载一个乡镇")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {"description": "一个工作簿（XLSX），或多个工作簿的 ZIP 压缩包", "content": {XLSX: {}, "application/zip": {}}},
    404: {"description": "本区域没有需要列出的人员"},
}


def _date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(field, f"应为日期 YYYY-MM-DD，而不是“{text}”") from None


def _download(files: list[Path], archive: str, nobody: str) -> Response:
    """One workbook as it is; several as a ZIP named `archive`; none as 404 with the reason."""
    if not files:
        return JSONResponse({"detail": nobody}, status_code=404)
    if len(files) == 1:
        name, body, kind = files[0].name, files[0].read_bytes(), XLSX
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for f in files:
                z.write(f, f.name)
        name, body, kind = f"{archive}.zip", buffer.getvalue(), "application/zip"
    disposition = f"attachment; filename*=UTF-8''{quote(name)}"
    return Response(body, media_type=kind, headers={"Content-Disposition": disposition})


@router.get("/due", responses=DOWNLOADS, summary="催缴清单（本区域，身份证号码已遮蔽）")
def due(
    benefit_year: Year, staff: SignedIn, engine: Database, township: Township = None
) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        files = area_due_lists(engine, staff, benefit_year, Path(tmp), township)
        return _download(files, f"催缴清单-{benefit_year}年度", "本区域没有尚未缴费的人员")


@router.get("/not-renewed", responses=DOWNLOADS, summary="入户排查名单：上年度参保、本年度未续保（本区域）")
def not_renewed(
    benefit_year: Year,
    as_of: Annotated[str, Query(description="统计截止日期 YYYY-MM-DD（含当日）")],
    staff: SignedIn,
    engine: Database,
    township: Township = None,
) -> Response:
    day = _date(as_of, "as_of")
    with tempfile.TemporaryDirectory() as tmp:
        files = area_not_renewed(engine, staff, benefit_year, day, Path(tmp), township)
        return _download(files, f"未续保名单-{benefit_year}年度-截至{day.isoformat()}", "本区域上年度参保人员均已续保")
