"""Files the API answers with: one workbook as it is, several as a ZIP, none as 404 with the reason; the
Content-Disposition that keeps a Chinese file name (RFC 5987 `filename*`)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.responses import JSONResponse, Response

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {"description": "一个工作簿（XLSX），或多个工作簿的 ZIP 压缩包", "content": {XLSX: {}, "application/zip": {}}},
    404: {"description": "本区域没有需要列出的人员"},
}


def attachment(name: str) -> dict[str, str]:
    """The header that makes the browser save the answer as `name`."""
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}


def media_type(name: str) -> str:
    if name.endswith(".csv"):
        return "text/csv; charset=utf-8"
    if name.endswith(".zip"):
        return "application/zip"
    return XLSX


def workbooks(files: list[Path], archive: str, nobody: str) -> Response:
    """One workbook as it is; several as a ZIP named `archive`; none as 404 with the reason `nobody`."""
    if not files:
        return JSONResponse({"detail": nobody}, status_code=404)
    if len(files) == 1:
        name, body = files[0].name, files[0].read_bytes()
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for f in files:
                z.write(f, f.name)
        name, body = f"{archive}.zip", buffer.getvalue()
    return Response(body, media_type=media_type(name), headers=attachment(name))
