"""CSV that a spreadsheet opens as data: every CSV the workbench writes goes through here.

A cell that begins with =, +, -, @, a tab or a carriage return is read by Excel, LibreOffice
and Google Sheets as a formula (`=HYPERLINK(…)`, `@SUM(…)`), so a model's output or a
reviewer's comment could run one on the machine of whoever opens the download. As OWASP
advises, such text cells are prefixed with a single quote; numbers stay numbers.
"""

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell):
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV text, its formula-like text cells (and column names) neutralised."""
    safe = frame.map(neutralised).rename(columns=neutralised)
    return safe.to_csv(index=False)
