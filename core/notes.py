"""Rows left out of a data set, and columns not read, said in one line: nothing is dropped in
silence."""


def left_out(count: int, total: int, what: str) -> str:
    """'10 of 40 rows have an empty text and were left out'."""
    have, were = ("has", "was") if count == 1 else ("have", "were")
    return f"{count:,} of {total:,} rows {have} {what} and {were} left out"


def not_used(columns: list) -> str | None:
    """'not used: id, source (columns this reading of the file does not read)', or None."""
    if not columns:
        return None
    return f"not used: {', '.join(map(str, columns))} (columns this reading of the file does not read)"
