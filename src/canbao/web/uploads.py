"""Files sent through the portal: stored under the settings' files folder (uploads/<random>/<name>) before a
job reads them; the name is the sender's own, made safe; a file larger than MAX_UPLOAD_BYTES is refused."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from fastapi import Request, UploadFile

from canbao.errors import InputError

MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # a county's largest list (a million rows of CSV) is well below this
CONTROL_OR_PATH = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def safe_name(name: str | None, default: str = "名单.xlsx") -> str:
    """The sent file's own name, safe as a file name (no folder, no control character), its suffix kept."""
    base = CONTROL_OR_PATH.sub("_", Path(name or "").name).strip(" .")[-120:]
    return base or default


def store(request: Request, file: UploadFile, field: str = "file") -> Path:
    """Copy the upload to a folder of its own; the stored file's path."""
    files: Path = request.app.state.settings.files()
    folder = files / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True, mode=0o700)
    path = folder / safe_name(file.filename)
    written = 0
    with path.open("wb") as out:
        while chunk := file.file.read(1024 * 1024):
            written += len(chunk)
            if written > MAX_UPLOAD_BYTES:
                out.close()
                shutil.rmtree(folder, ignore_errors=True)
                raise InputError(field, f"文件超过 {MAX_UPLOAD_BYTES // 1024 // 1024} MB，请分批报送")
            out.write(chunk)
    return path
