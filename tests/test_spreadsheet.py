"""Every CSV the workbench writes opens in a spreadsheet as data, never as a formula."""

import subprocess
from pathlib import Path

import pandas as pd

from core.spreadsheet import csv_text

ROOT = Path(__file__).resolve().parents[1]


def test_formula_like_text_is_quoted_and_numbers_stay_numbers():
    frame = pd.DataFrame({"output": ['=HYPERLINK("http://x","click")', "+1+1", "-2+3",
                                     "@SUM(A1)", "\tindented", "\rreturn", "plain -text"],
                          "score": [-1.5, 2, 3, 4, 5, 6, 7], "=name": ["a"] * 7})
    lines = csv_text(frame).splitlines()
    assert lines[0] == "output,score,'=name"
    assert lines[1].startswith("\"'=HYPERLINK(") and lines[1].endswith(",-1.5,a")
    assert [line.split(",")[0] for line in lines[2:5]] == ["'+1+1", "'-2+3", "'@SUM(A1)"]
    assert csv_text(frame).count("'\t") == 1 and "plain -text" in lines[-1]


def test_no_csv_is_written_but_through_it():
    """A new download that writes CSV itself would skip the neutralising."""
    hits = subprocess.run(["grep", "-rn", "to_csv(\\|csv.writer(", "core", "ui", "app_pages"],
                          cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    assert [h for h in hits if not h.startswith("core/spreadsheet.py")] == []
