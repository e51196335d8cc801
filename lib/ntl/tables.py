"""Tables handed to people: CSV that is safe to open in a spreadsheet.

Customer IDs and other text come from the utility's own file, so a cell could hold a formula
(``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``) that a spreadsheet would run on opening. Every
CSV that ``ntl`` writes for people (``ntl score``'s list, the web app's downloads) goes through
:func:`spreadsheet_safe`: text cells beginning with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return, which some spreadsheets skip before such a character) get a leading apostrophe, which
spreadsheets show as text. Numbers are left alone: ``-0.5`` in a numeric column is not a formula.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_PREFIX = "'"


def neutralise_cells(values: pd.Series) -> pd.Series:
    """Cells that a spreadsheet would read as a formula, prefixed with an apostrophe.

    For a column of text (numbers never pass through here); missing cells stay missing.
    """
    text = values.astype(object)
    present = text.notna().to_numpy()
    strings = text[present].astype(str)
    risky = strings.str.startswith(FORMULA_STARTS).to_numpy(dtype=bool)
    if not risky.any():
        return values
    result = text.copy()
    result.iloc[np.flatnonzero(present)[risky]] = TEXT_PREFIX + strings[risky]
    return result


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot run as spreadsheet formulas."""
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):  # bool is numeric too
            safe[column] = neutralise_cells(safe[column])
    return safe


def write_safe_csv(frame: pd.DataFrame, path: str | Path | io.TextIOBase) -> None:
    """Write `frame` (without its index) as spreadsheet-safe CSV to a path or text buffer."""
    spreadsheet_safe(frame).to_csv(path, index=False)


def safe_csv_text(frame: pd.DataFrame) -> str:
    """`frame` (without its index) as spreadsheet-safe CSV text."""
    buffer = io.StringIO()
    write_safe_csv(frame, buffer)
    return buffer.getvalue()
