"""Content hashes of tables: what a run records of what it wrote, and compares to trust it
again (the last load, the history's newest table and revisions, an export's partitions)."""

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd


def table_sha256(rows: pd.DataFrame) -> str:
    """A content hash that changes exactly when a value, a column or the row order changes:
    of the column names and pandas' vectorised hash of each row, as a run hashes a county
    window (about 100,000 rows) several times and writing it out as text would cost seconds."""
    return rows_sha256(rows.columns, row_hashes(rows))


def row_hashes(rows: pd.DataFrame) -> np.ndarray:
    """Each row's hash, which depends on that row alone: the hashes of some rows are the same
    taken from the whole table's."""
    return pd.util.hash_pandas_object(rows, index=False).to_numpy()


def rows_sha256(columns: Sequence[str], hashes: np.ndarray) -> str:
    """``table_sha256`` of a table of ``columns`` whose rows have these ``row_hashes``."""
    digest = hashlib.sha256("\0".join(columns).encode())
    digest.update(hashes.tobytes())
    return digest.hexdigest()
