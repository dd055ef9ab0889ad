"""Uploaded CSV files as Polars can read them, or a refusal naming the file, row and column.

Offices send what Excel saves: UTF-8 with or without BOM, GBK/GB18030, UTF-16 with BOM ("Unicode text"),
line ends CRLF, LF or CR alone (Excel for Mac). Nothing else gets through: an empty file, a binary file, a
workbook with a .csv name, a NUL character (PostgreSQL text cannot hold it) or a row longer than the header is
refused with a one-line Chinese message; so is any other C0 control character but tab, LF and
CR. The whole-file checks are byte scans; the slow, exact location of a
problem (Python's csv module) runs only once a problem is known to exist.
"""

from __future__ import annotations

import codecs
import csv
import io
import re

import polars as pl

from canbao.errors import InputError

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BLANK = re.compile(rb"(?:\s|\xef\xbb\xbf)*")
_MAGIC = {b"PK\x03\x04": "XLSX（ZIP）", b"\xd0\xcf\x11\xe0": "旧版 .xls", b"%PDF": "PDF"}


def separator_of(first_line: str) -> str:
    """Tab if the header has tabs and no comma (Excel's "Unicode text" and "tab-delimited"), else comma."""
    return "\t" if "\t" in first_line and "," not in first_line else ","


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


# C0 control characters but tab, LF and CR: PostgreSQL text refuses NUL, XLSX (XML 1.0) refuses all of them, and
# none belongs in a name or an address. In UTF-8 and GBK these bytes stand only for themselves.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def control_text(character: str) -> str:
    """How a refusal names a control character."""
    return "空字符（NUL）" if character == "\x00" else f"控制字符（U+{ord(character):04X}）"


def control_refusal(name: str, row: int, column: int, character: str, option: str = "input") -> InputError:
    """The refusal of file `name` for a control character at `row` (the header is row 1) and `column`."""
    return InputError(option, f"文件 {name} 第 {row} 行第 {column} 列含有{control_text(character)}，请删除后重新导出")


def _control_position(text: str) -> tuple[int, int, str]:
    """Row (the header is row 1), column and character of the first control character in `text`."""
    reader = csv.reader(io.StringIO(text), delimiter=separator_of(_first_line(text)))
    try:
        for row, record in enumerate(reader, start=1):
            for column, cell in enumerate(record, start=1):
                if found := CONTROL.search(cell):
                    return row, column, found.group()
    except csv.Error:
        pass
    found = CONTROL.search(text)  # the csv module gave up: count lines and separators instead
    assert found is not None
    line = text[: found.start()].rsplit("\n", 1)[-1]
    row = text.count("\n", 0, found.start()) + 1
    return row, line.count(separator_of(_first_line(text))) + 1, found.group()


def _check_utf8(data: bytes, chunk: int = 1 << 23) -> None:
    """Raise UnicodeDecodeError unless `data` is UTF-8; in pieces, so a large file is never held twice."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        decoder.decode(view[start : start + chunk])
    decoder.decode(b"", final=True)


def csv_bytes(data: bytes, name: str, option: str = "input") -> bytes:
    """`data` as UTF-8 with LF or CRLF line ends; refuses what is not a CSV table of text (see module doc)."""
    if _BLANK.fullmatch(data):
        raise InputError(option, f"文件 {name} 是空的")
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            raise InputError(option, f"文件 {name} 是 {kind} 文件，不是 CSV 文本；请另存为 CSV 或使用正确的扩展名")
    text: str | None = None
    try:
        if data.startswith(_UTF16_BOMS):
            text = data.decode("utf-16")
        else:
            _check_utf8(data)
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise InputError(
                option, f"文件 {name} 的编码无法识别（应为 UTF-8、GBK/GB18030 或带 BOM 的 UTF-16）"
            ) from None
    if text is None and _CONTROL_BYTES.search(data):
        text = data.decode("utf-8")
    if text is not None and CONTROL.search(text):
        if text.count("\x00") * 4 > len(text):
            raise InputError(option, f"文件 {name} 不是文本文件（可能是二进制文件，或没有 BOM 的 UTF-16）")
        row, column, character = _control_position(text.replace("\r\n", "\n").replace("\r", "\n"))
        raise control_refusal(name, row, column, character, option)
    if text is not None:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.encode("utf-8")
    if data.count(b"\r") != data.count(b"\r\n"):  # CR alone ends lines (Excel for Mac)
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


def _problem_row(data: bytes, separator: str, first_row: int = 1) -> str:
    """Where the csv module, reading strictly, finds a row longer than the header or broken quoting (`data`
    begins with the header, which is row `first_row` of the file)."""
    shift = first_row - 1
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=separator, strict=True)
    try:
        header = next(reader, [])
        for row, record in enumerate(reader, start=2):
            if len(record) > len(header):
                where = f"（表头在第 {first_row} 行）" if first_row != 1 else ""
                return f"第 {row + shift} 行有 {len(record)} 列，多于表头的 {len(header)} 列{where}"
    except csv.Error:
        return f"第 {reader.line_num + shift} 行附近的引号不成对"
    # Polars, unlike the csv module, refuses a quote inside a cell that does not start with one.
    for row, line in enumerate(data.decode("utf-8-sig").split("\n"), start=1):
        for column, cell in enumerate(line.split(separator), start=1):
            if '"' in cell and not cell.startswith('"'):
                return f"第 {row + shift} 行第 {column} 列的引号用法有误（引号应括住整个单元格，或写作两个引号）"
    return "格式有误"


def read_csv_text(data: bytes, name: str, option: str = "input", first_row: int = 1) -> pl.DataFrame:
    """Every column as text, headers as written; `data` as returned by :func:`csv_bytes` (or the part of it
    from the header on: the header is row `first_row` of the file, for messages)."""
    separator = separator_of(data.split(b"\n", 1)[0].decode("utf-8", "replace"))
    try:
        return pl.read_csv(io.BytesIO(data), infer_schema=False, separator=separator, has_header=True)
    except pl.exceptions.NoDataError:
        raise InputError(option, f"文件 {name} 是空的") from None
    except (pl.exceptions.PolarsError, OSError):
        # Polars's own message quotes the offending data: locate the problem ourselves instead.
        raise InputError(option, f"文件 {name} 无法按 CSV 读取：{_problem_row(data, separator, first_row)}") from None
