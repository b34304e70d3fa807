"""A source file as downloaded, and its CSV read with every cell as text.

Plain pandas and pyarrow: no HTTP, Dagster or AWS. Rows are indexed by the line number they
have in the file (the header is line 1), so that every problem the rules find names the line a
person would open in an editor.
"""

import contextlib
import csv
import io
import warnings
from dataclasses import dataclass, field

import pandas as pd

from covid_assets.domain.rules import Problem


@dataclass(frozen=True)
class RawSourceFile:
    """A source file exactly as downloaded, and its CSV read with every cell as text.

    ``table`` is None when the bytes are not a readable CSV (empty, cut, not CSV at all); the
    reason is then in ``read_problems``. The raw assets keep such files instead of failing, so
    that validation can report on them and keep them for inspection.

    ``last_modified`` is when its source published it, as an HTTP date: the server's
    Last-Modified, or a local file's modification time (None when neither is known).
    """

    url: str
    content: bytes
    table: pd.DataFrame | None = field(repr=False)
    read_problems: list[Problem]
    last_modified: str | None = None

    @classmethod
    def from_bytes(
        cls, url: str, content: bytes, last_modified: str | None = None
    ) -> "RawSourceFile":
        try:
            return cls(url, content, read_csv_text(content), [], last_modified)
        except FieldCountError as error:
            problem = Problem(url, error.line, None, f"{error.found} fields", error.expected)
        except (ValueError, UnicodeDecodeError) as error:  # pandas' parser errors are ValueErrors
            problem = Problem(url, None, None, None, f"a readable CSV file ({error})".strip())
        return cls(url, content, None, [problem], last_modified)


class FieldCountError(ValueError):
    """A row with more or fewer fields than the header."""

    def __init__(self, line: int, found: int, header_fields: int) -> None:
        self.line, self.found = line, found
        self.expected = f"{header_fields} fields, as in the header"
        super().__init__(f"line {line} has {found} fields; expected {self.expected}")


def has_blank_line(content: bytes) -> bool:
    """A line ending right after another one (or at the very start) makes a blank line, which
    pyarrow's reader would drop, renumbering every line after it. Byte searches, because this
    runs on every download and a regular expression costs more than the read it guards."""
    if content.startswith((b"\n", b"\r")) or b"\n\n" in content:
        return True
    return b"\r" in content and (b"\n\r" in content or b"\r\r" in content)


def read_csv_text(content: bytes) -> pd.DataFrame:
    """Every cell as text, blank cells as "", indexed by the row's line number in the file (the
    header is line 1). Blank lines are kept as rows so the numbering stays true. A row with more
    or fewer fields than the header is an error: pandas would otherwise drop the extra values, or
    fill the missing ones with blanks (a file cut inside a row would pass as a row of zeros).

    pandas' C parser is the reference. A file without blank lines is first given to pyarrow's
    parser, which is faster on the large JHU file and gives the same table; it rejects every
    file the two would read differently (rows with too few or too many fields, bad UTF-8), and
    those go to the C parser, so the faster path never changes a result."""
    table = None
    if not has_blank_line(content):
        with contextlib.suppress(ValueError):  # pandas' and pyarrow's parser errors
            table = pd.read_csv(
                io.BytesIO(content), dtype=str, keep_default_na=False, engine="pyarrow"
            )
    if table is None:
        table = _read_with_c_parser(content)
    table.index = pd.RangeIndex(2, len(table) + 2, name="line")
    return table


def _read_with_c_parser(content: bytes) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            table = pd.read_csv(
                io.BytesIO(content),
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                index_col=False,
                encoding="utf-8",
            )
        except pd.errors.ParserWarning:  # pandas warns of a row with too many fields
            raise _first_row_with_wrong_field_count(content) or ValueError(
                "a row has more fields than the header"
            ) from None
    # A row with too few fields is padded with blank cells, silently.
    short_row = _first_row_with_wrong_field_count(content)
    if short_row is not None:
        raise short_row
    return table


def _first_row_with_wrong_field_count(content: bytes) -> FieldCountError | None:
    """The first row whose fields are not as many as the header's. A blank line (or one of
    spaces only) is a blank row, not a short one; a file whose first line is blank has no header
    (pandas reads no columns from it, and the column rule reports that)."""
    rows = csv.reader(io.StringIO(content.decode("utf-8"), newline=""))
    header_fields = len(next(rows, []))
    if header_fields == 0:
        return None
    for line, row in enumerate(rows, start=2):
        blank = len(row) <= 1 and not "".join(row).strip()
        if len(row) != header_fields and not blank:
            return FieldCountError(line, len(row), header_fields)
    return None
