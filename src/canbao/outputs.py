"""Every file canbao writes goes through here: written whole or not at all, private, no live formulas.

- Atomic: a file is written under a temporary name in its own folder (`.<name>.<random>.canbao-tmp`, created
  0600), fsync'd, then renamed onto its final name (and the folder fsync'd), so a reader or a crash sees the
  old file or the new one, never half of one.  :class:`OutputGroup` does this for several files that must
  appear together (an import's feedback workbook and its CSV; a season's due lists).
- Leftovers: a run killed mid-write leaves only temporaries.  Whenever a writer starts writing into a folder
  it removes the temporaries *of that folder* that no live writer holds: each writer keeps an exclusive
  `flock` on its temporary until it is renamed or removed, so a concurrent writer's temporary is never taken.
- Private: outputs carry names and ID numbers, so the final files are 0600 (owner only).
- No formulas: text that a spreadsheet would run stays text (:func:`csv_safe`, and reports/xlsx.py for
  workbooks); file names made from data are made safe (:func:`safe_file_name`, :func:`unique_file_names`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

import polars as pl
import polars.selectors as cs

try:  # POSIX; elsewhere leftovers are still removed, without the guard for a concurrent writer
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

TEMP_SUFFIX = ".canbao-tmp"
FILE_MODE = 0o600

# OWASP "CSV Injection" (owasp.org/www-community/attacks/CSV_Injection): a cell beginning with equals (=),
# plus (+), minus (-), at (@), tab (0x09) or carriage return (0x0D) may be run as a formula by a spreadsheet;
# its advice: prepend a single quote (') to such a cell, wrap fields in double quotes and double the quotes
# inside them.  The prefix is what keeps the text inert; polars' CSV writer quotes a field where it must
# (a delimiter, quote or line break in it) and doubles inner quotes.  OWASP ASVS 1.2.10 lists the same
# characters for CSV and XLSX exports.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = "^[=+\\-@\t\r]"


def formula_like(text: pl.Expr) -> pl.Expr:
    """True where a text would be taken for a formula by a spreadsheet (OWASP's leading characters)."""
    return text.str.contains(_FORMULA_PATTERN)


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every text cell a spreadsheet would run prefixed with `'` (OWASP); numbers untouched.

    Categorical text columns become plain text so that the same rule applies to them; so do the headers (a
    file's own headers come back in some outputs, e.g. quote-batch's rejects)."""
    text = cs.string(include_categorical=True)
    safe = frame.with_columns(
        pl.when(formula_like(c := pl.col(name).cast(pl.String))).then(pl.lit("'") + c).otherwise(c).alias(name)
        for name in frame.select(text).columns
    )
    return safe.rename({name: "'" + name for name in frame.columns if name.startswith(FORMULA_START)})


# ------------------------------------------------------------------------------------------------ file names

_UNSAFE_NAME = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f]')
_NAME_BYTES = 200  # below the usual 255-byte limit, leaving room for a prefix, a suffix and a counter


def safe_file_name(text: str) -> str:
    """`text` usable as (part of) a file name on any system: `/ \\ : * ? " < > |`, control characters and
    leading dots become `_`; cut to 200 bytes of UTF-8."""
    name = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", text)).strip()
    name = re.sub(r"^\.+", lambda m: "_" * len(m.group()), name) or "_"
    while len(name.encode("utf-8")) > _NAME_BYTES:
        name = name[:-1]
    return name


def unique_file_names(texts: Sequence[str]) -> list[str]:
    """:func:`safe_file_name` of each text; where two different texts come to the same name (also when only
    letter case differs: some file systems ignore it), the later ones get `-2`, `-3`, … so none overwrites
    another."""
    taken: set[str] = set()
    names: list[str] = []
    for text in texts:
        base = candidate = safe_file_name(text)
        n = 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate.casefold())
        names.append(candidate)
    return names


FEEDBACK_SUFFIX = "_反馈.xlsx"


def feedback_path(source: Path) -> Path:
    """Where the feedback on a file someone sent goes unless the caller says otherwise: ``<stem>_反馈.xlsx``
    beside the source (``低保名单.csv`` → ``低保名单_反馈.xlsx``), the one convention of the CLI, the demo and
    the services."""
    source = Path(source)
    return source.with_name(f"{source.stem}{FEEDBACK_SUFFIX}")


# ---------------------------------------------------------------------------------------------- atomic files


def _is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def remove_leftovers(folder: Path) -> list[Path]:
    """Remove the temporaries a killed run left in `folder` (those no live writer holds); returns them."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        if not _is_temporary(path):
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # renamed or removed meanwhile
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer holds it
            with contextlib.suppress(OSError):
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    path.unlink()
                    removed.append(path)
        finally:
            os.close(fd)
    return removed


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every system can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class OutputGroup:
    """Files that appear together or not at all.  `temporary(final)` gives the path to write `final` to;
    :meth:`publish` moves them all into place, :meth:`discard` removes them.  As a context manager it
    publishes on success and discards on an error.

    Renaming several files is not one atomic step: should the machine stop between two renames, some final
    files are new and some old; but no final file is ever half-written, and temporaries are removed."""

    def __init__(self) -> None:
        self._pending: dict[Path, tuple[Path, int]] = {}  # final → (temporary, descriptor holding its lock)
        self._cleaned: set[Path] = set()

    def temporary(self, final: Path) -> Path:
        final = Path(final)
        if final in self._pending:
            raise ValueError(f"{final} is already part of this group")
        folder = final.parent
        folder.mkdir(parents=True, exist_ok=True)
        if folder not in self._cleaned:
            remove_leftovers(folder)
            self._cleaned.add(folder)
        while True:
            fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=TEMP_SUFFIX, dir=folder)  # 0600
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(name).st_ino == os.fstat(fd).st_ino:
                    break  # not taken by another writer's clean-up before the lock
            except FileNotFoundError:
                pass
            os.close(fd)
        os.fchmod(fd, FILE_MODE)
        self._pending[final] = (Path(name), fd)
        return Path(name)

    @property
    def finals(self) -> list[Path]:
        return list(self._pending)

    def publish(self) -> None:
        try:
            for temporary, _ in self._pending.values():
                with temporary.open("rb+") as file:
                    os.fsync(file.fileno())
            for final, (temporary, _) in self._pending.items():
                os.chmod(temporary, FILE_MODE)  # in case a writer replaced the file rather than writing into it
                os.replace(temporary, final)
            for folder in {final.parent for final in self._pending}:
                _fsync_folder(folder)
        except BaseException:
            self.discard()
            raise
        self._close()

    def discard(self) -> None:
        for temporary, _ in self._pending.values():
            temporary.unlink(missing_ok=True)
        self._close()

    def _close(self) -> None:
        for _, fd in self._pending.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._pending.clear()

    def __enter__(self) -> OutputGroup:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.publish()
        else:
            self.discard()


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """`with atomic_output(final) as temporary:` write to `temporary`; on success it becomes `final` (0600),
    on an error it is removed and `final` is left as it was."""
    with OutputGroup() as group:
        yield group.temporary(path)


@contextlib.contextmanager
def atomic_outputs(paths: Iterable[Path]) -> Iterator[list[Path]]:
    """:func:`atomic_output` for several files that appear together or not at all."""
    with OutputGroup() as group:
        yield [group.temporary(p) for p in paths]


def write_csv(frame: pl.DataFrame, path: Path, *, include_bom: bool = False) -> Path:
    """`frame` as CSV at `path`: atomic, 0600, text cells that could run as formulas prefixed (:func:`csv_safe`)."""
    with atomic_output(path) as temporary:
        csv_safe(frame).write_csv(temporary, include_bom=include_bom)
    return path
