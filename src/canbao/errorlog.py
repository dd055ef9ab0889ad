"""The internal-error log: where a bug is recorded when the user is shown only a short line and a reference.

An entry is one JSON line: time, reference, the exception types of the chain and the traceback's frames
(file, line, function). Never the exception's message, arguments or local values: those may carry ID numbers
or a database driver's SQL parameters. Writing the log never fails the command.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import traceback
from pathlib import Path
from typing import Any

LOG_FILE_ENV = "CANBAO_LOG_FILE"


def log_path() -> Path:
    """`CANBAO_LOG_FILE`, else `errors.log` in canbao's folder of the user's state directory (XDG)."""
    explicit = os.environ.get(LOG_FILE_ENV)
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "canbao" / "errors.log"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _frames(exc: BaseException) -> list[dict[str, Any]]:
    return [
        {"file": frame.filename, "line": frame.lineno, "function": frame.name}
        for frame in traceback.extract_tb(exc.__traceback__)
    ]


def entry(exc: BaseException, reference: str) -> dict[str, Any]:
    """What is recorded of `exc`: types and frames only."""
    return {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "reference": reference,
        "exceptions": [
            {"type": f"{type(e).__module__}.{type(e).__qualname__}", "frames": _frames(e)} for e in _chain(exc)
        ],
    }


def record(exc: BaseException) -> str:
    """Log `exc` (see module docstring) and return its reference, 8 hex digits; best effort."""
    reference = secrets.token_hex(4).upper()
    try:
        line = json.dumps(entry(exc, reference), ensure_ascii=False) + "\n"
        path = log_path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
    except Exception:  # the log is a courtesy: the user already has the reference
        pass
    return reference
