"""Rows left out of a data set, said in one line: nothing is dropped in silence."""


def left_out(count: int, total: int, what: str) -> str:
    """'10 of 40 rows have an empty text and were left out'."""
    have, were = ("has", "was") if count == 1 else ("have", "were")
    return f"{count:,} of {total:,} rows {have} {what} and {were} left out"
