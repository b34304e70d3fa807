"""A source file read as text: pyarrow's fast parser where it reads exactly what pandas' C
parser reads, the C parser (the reference) everywhere else."""

import re
from pathlib import Path

import pandas as pd
import pytest

from covid_assets.domain import reading
from covid_assets.domain.reading import FieldCountError, read_csv_text

pytestmark = pytest.mark.unit

EDGE_CASES = {
    "blank line": b"date,cases\n2021-03-01,1\n\n2021-03-02,2\n",
    "blank first line": b"\ndate,cases\n2021-03-01,1\n",
    "blank line, CRLF endings": b"date,cases\r\n2021-03-01,1\r\n\r\n2021-03-02,2\r\n",
    "blank line, CR endings": b"date,cases\r2021-03-01,1\r\r2021-03-02,2\r",
    "blank last line": b"date,cases\n2021-03-01,1\n\n",
    "line of spaces": b"date,cases\n  \n2021-03-01,1\n",
    "CR endings": b"date,cases\r2021-03-01,1\r",
    "byte order mark": "\ufeffdate,cases\n2021-03-01,1\n".encode(),
    "quoted comma and newline": b'date,note\n2021-03-01,"a, b"\n2021-03-02,"c\nd"\n',
    "texts pandas would call missing": b"date,cases\nNA,null\nn/a,NaN\n",
    "no final line ending": b"date,cases\n2021-03-01,1",
    "header only": b"date,cases\n",
    "repeated column name": b"date,date\n2021-03-01,2021-03-02\n",
}

REJECTED = {
    "extra field on the first row": b"date,cases\n2021-03-01,1,5\n2021-03-02,2\n",
    "extra field on a later row": b"date,cases\n2021-03-01,1\n2021-03-02,2,3\n",
    "too few fields on a row": b"date,cases\n2021-03-01\n2021-03-02,2\n",
    "too few fields on the last row": b"date,cases\n2021-03-01,1\n2021-03-02",
    "too few fields after a blank line": b"date,cases\n2021-03-01,1\n\n2021-03-02\n",
    "too few fields, CR endings": b"date,cases\r2021-03-01,1\r2021-03-02\r",
    "bad UTF-8": b"date,cases\n\xff,1\n",
    "empty file": b"",
}


def assert_reads_as_the_c_parser_reads_it(content: bytes) -> None:
    """The same rows and cells (both readings number the rows by line the same way)."""
    pd.testing.assert_frame_equal(
        read_csv_text(content).reset_index(drop=True), reading._read_with_c_parser(content)
    )


def engines_used(monkeypatch: pytest.MonkeyPatch, content: bytes) -> list[str]:
    engines: list[str] = []
    read_csv = pd.read_csv

    def recording_read_csv(*args, **kwargs):
        engines.append(kwargs.get("engine", "c"))
        return read_csv(*args, **kwargs)

    monkeypatch.setattr(reading.pd, "read_csv", recording_read_csv)
    read_csv_text(content)
    return engines


@pytest.mark.parametrize("content", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_any_file_reads_as_the_c_parser_reads_it(content: bytes):
    assert_reads_as_the_c_parser_reads_it(content)


@pytest.mark.parametrize("content", REJECTED.values(), ids=REJECTED.keys())
def test_a_file_the_c_parser_rejects_is_rejected_with_its_error(content: bytes):
    try:
        reading._read_with_c_parser(content)
    except ValueError as error:  # pandas' parser errors and UnicodeDecodeError
        reference = error
    else:
        pytest.fail("the C parser read the file")
    with pytest.raises(type(reference), match=re.escape(str(reference))):
        read_csv_text(content)


def test_real_snapshots_read_as_the_c_parser_reads_them(snapshots_dir: Path):
    for csv_file in sorted(snapshots_dir.glob("*/*.csv")):
        assert_reads_as_the_c_parser_reads_it(csv_file.read_bytes())


def test_a_file_without_blank_lines_is_read_by_pyarrow_alone(monkeypatch: pytest.MonkeyPatch):
    content = b"date,cases\n2021-03-01,1\n2021-03-02,2\n"
    assert engines_used(monkeypatch, content) == ["pyarrow"]


def test_a_file_with_a_blank_line_goes_straight_to_the_c_parser(monkeypatch: pytest.MonkeyPatch):
    assert engines_used(monkeypatch, EDGE_CASES["blank line"]) == ["c"]


def test_a_blank_line_keeps_its_line_number():
    table = read_csv_text(EDGE_CASES["blank line"])
    assert table.loc[3].tolist() == ["", ""]
    assert table.loc[4].tolist() == ["2021-03-02", "2"]


def test_extra_fields_on_the_first_row_are_an_error_naming_the_line():
    with pytest.raises(FieldCountError, match="line 2 has 3 fields; expected 2 fields"):
        read_csv_text(REJECTED["extra field on the first row"])


@pytest.mark.parametrize(
    ("case", "line"),
    [
        ("too few fields on the last row", 3),
        ("too few fields after a blank line", 4),
        ("too few fields, CR endings", 3),
    ],
)
def test_a_row_with_too_few_fields_is_an_error_naming_the_line(case: str, line: int):
    with pytest.raises(FieldCountError, match=f"line {line} has 1 fields; expected 2 fields"):
        read_csv_text(REJECTED[case])
