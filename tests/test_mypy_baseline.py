"""tools/mypy_baseline.py: new errors fail, moved ones do not, and the baseline only shrinks.
mypy itself is stood in for: `make lint` runs the real one."""

from collections import Counter

import pytest

from tools import mypy_baseline as baseline

TODAY = """\
core/a.py:10: error: Item "None" of "dict | None" has no attribute "get"  [union-attr]
core/a.py:12: error: Item "None" of "dict | None" has no attribute "get"  [union-attr]
core/a.py:30: note: See https://mypy.readthedocs.io
storage/b.py:5: error: Name "x" already defined on line 2  [no-redef]
Found 3 errors in 2 files (checked 2 source files)
"""


@pytest.fixture
def tool(tmp_path, monkeypatch):
    """The tool with its baseline in a temporary file, and mypy's report set by the test."""
    monkeypatch.setattr(baseline, "BASELINE", tmp_path / "mypy-baseline.txt")
    monkeypatch.setattr(baseline, "ROOT", tmp_path)
    report = {"text": TODAY}
    monkeypatch.setattr(baseline, "run_mypy", lambda: report["text"])
    baseline.main(["--reset"])
    return report


def test_errors_are_counted_by_file_code_and_message_without_line_numbers():
    counts, _ = baseline.parse(TODAY)
    assert counts == Counter({
        ("core/a.py", "union-attr", 'Item "None" of "dict | None" has no attribute "get"'): 2,
        ("storage/b.py", "no-redef", 'Name "x" already defined on line N'): 1})


def test_the_same_errors_on_other_lines_pass(tool, capsys):
    tool["text"] = TODAY.replace(":10:", ":110:").replace(":5:", ":50:").replace("line 2",
                                                                                  "line 20")
    assert baseline.main([]) == 0
    assert "no new errors (3 in the baseline)" in capsys.readouterr().out


def test_a_new_error_fails_and_is_shown(tool, capsys):
    tool["text"] = TODAY + 'core/a.py:40: error: Item "None" of "dict | None" has no attribute ' \
                           '"get"  [union-attr]\ncore/c.py:1: error: Bad  [misc]\n'
    assert baseline.main([]) == 1
    out = capsys.readouterr().out
    assert "2 error(s) not in the baseline" in out and "core/c.py:1: error: Bad  [misc]" in out


def test_fixed_errors_pass_and_update_only_shrinks_the_baseline(tool, capsys):
    tool["text"] = TODAY.splitlines()[0] + "\n"  # one error of three left
    assert baseline.main([]) == 0
    assert "--update" in capsys.readouterr().out
    assert baseline.main(["--update"]) == 0
    assert sum(baseline.read_baseline().values()) == 1
    tool["text"] = TODAY  # the fixed ones come back: not accepted again by --update
    assert baseline.main(["--update"]) == 1
    assert sum(baseline.read_baseline().values()) == 1


def test_the_committed_baseline_reads_back():
    counts = baseline.read_baseline()
    assert counts and all(n >= 1 for n in counts.values())
