"""Downloads of the staff's own area: 催缴清单 and 入户排查 (services.area_lists)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import Engine

from canbao.services.access import Staff
from canbao.services.area_lists import area_due_lists, area_not_renewed
from canbao.web.deps import current_staff, get_engine, iso_date
from canbao.web.downloads import DOWNLOADS, workbooks

router = APIRouter(prefix="/api/v1/lists", tags=["清单下载"])
SignedIn = Annotated[Staff, Depends(current_staff)]
Database = Annotated[Engine, Depends(get_engine)]
Year = Annotated[int, Query(description="待遇年度，如 2022")]
Township = Annotated[str | None, Query(description="县级账户可只下载一个乡镇")]


@router.get("/due", responses=DOWNLOADS, summary="催缴清单（本区域，身份证号码已遮蔽）")
def due(benefit_year: Year, staff: SignedIn, engine: Database, township: Township = None) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        files = area_due_lists(engine, staff, benefit_year, Path(tmp), township)
        return workbooks(files, f"催缴清单-{benefit_year}年度", "本区域没有尚未缴费的人员")


@router.get("/not-renewed", responses=DOWNLOADS, summary="入户排查名单：上年度参保、本年度未续保（本区域）")
def not_renewed(
    benefit_year: Year,
    as_of: Annotated[str, Query(description="统计截止日期 YYYY-MM-DD（含当日）")],
    staff: SignedIn,
    engine: Database,
    township: Township = None,
) -> Response:
    day = iso_date(as_of, "as_of")
    with tempfile.TemporaryDirectory() as tmp:
        files = area_not_renewed(engine, staff, benefit_year, day, Path(tmp), township)
        return workbooks(files, f"未续保名单-{benefit_year}年度-截至{day.isoformat()}", "本区域上年度参保人员均已续保")
