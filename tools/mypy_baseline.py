"""Run mypy over core/ and storage/ and fail on any error that is not in the baseline.

    .venv/bin/python tools/mypy_baseline.py            # the check `make lint` runs
    .venv/bin/python tools/mypy_baseline.py --update   # after fixing errors: shrink the baseline

The baseline (tools/mypy-baseline.txt) lists the errors mypy found when the check came in
(126), so that the check could pass without fixing them all first. It may only shrink:
`--update` drops the errors that are gone and never adds one. A new error is fixed in the
code (or, for a false alarm, silenced on its line with `# type: ignore[code]` and a reason).

Errors are compared without line numbers: one baseline line is a count of identical errors
(same file, same error code, same message), so code moving up or down a file does not
break the check, while a new error of any kind does.
"""

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tools" / "mypy-baseline.txt"
HEADER = ("# mypy errors accepted for now (tools/mypy_baseline.py): count, file, code, message.\n"
          "# May only shrink. Fix an error, then run: .venv/bin/python tools/mypy_baseline.py "
          "--update\n")

# path:line: error: message  [code]
ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):\d+: error: (?P<message>.*?)\s+\[(?P<code>[\w-]+)\]$")

Key = tuple[str, str, str]


def key_of(line: str) -> Key | None:
    found = ERROR.match(line.strip())
    if found is None:
        return None
    # Some messages cite another line ("defined on line 12"): that number moves too.
    message = re.sub(r"\bline \d+\b", "line N", found["message"])
    return found["path"], found["code"], message


def parse(output: str) -> tuple[Counter, dict[Key, list[str]]]:
    """Counts of each error, and the lines that reported them (to show the new ones)."""
    counts: Counter = Counter()
    lines: dict[Key, list[str]] = {}
    for line in output.splitlines():
        key = key_of(line)
        if key is not None:
            counts[key] += 1
            lines.setdefault(key, []).append(line.strip())
    return counts, lines


def run_mypy() -> str:
    """mypy's report, with the settings in pyproject.toml ([tool.mypy])."""
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True)
    output = done.stdout + done.stderr
    # 0: clean, 1: errors found; anything else (a crash, a bad setting) is no report at all.
    if done.returncode not in (0, 1) or not re.search(r"^(Found \d+ error|Success)", output, re.M):
        raise SystemExit(f"mypy did not run (exit {done.returncode}):\n{output}")
    return output


def read_baseline(path: Path | None = None) -> Counter:
    path = path or BASELINE  # looked up at call time: the tests point it elsewhere
    counts: Counter = Counter()
    if not path.exists():
        return counts
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            count, file, code, message = line.split("\t", 3)
            counts[(file, code, message)] = int(count)
    return counts


def write_baseline(counts: Counter, path: Path | None = None) -> None:
    path = path or BASELINE
    rows = [f"{n}\t{file}\t{code}\t{message}" for (file, code, message), n in sorted(counts.items())
            if n > 0]
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")


def compare(current: Counter, baseline: Counter) -> tuple[Counter, Counter]:
    """(errors beyond the baseline, baseline errors no longer found), as counts per key."""
    new = Counter({k: n - baseline[k] for k, n in current.items() if n > baseline[k]})
    fixed = Counter({k: n - current[k] for k, n in baseline.items() if n > current[k]})
    return new, fixed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true",
                        help="drop fixed errors from the baseline (it never adds any)")
    parser.add_argument("--reset", action="store_true",
                        help="write every error found now into the baseline: only when mypy's "
                             "version or settings change, never to let a new error in")
    args = parser.parse_args(argv)
    current, lines = parse(run_mypy())
    baseline = read_baseline()
    if args.reset:
        write_baseline(current)
        print(f"baseline reset: {sum(current.values())} errors")
        return 0
    new, fixed = compare(current, baseline)
    if new:
        print(f"mypy: {sum(new.values())} error(s) not in the baseline "
              f"({BASELINE.relative_to(ROOT)}); fix them:")
        for key in sorted(new):
            # Which of a key's lines are the new ones cannot be told apart: show them all.
            for line in lines[key]:
                print(f"  {line}")
        if args.update:
            print("--update only removes fixed errors; it does not add new ones")
        return 1
    total = sum(current.values())
    if fixed and args.update:
        write_baseline(Counter({k: min(n, current[k]) for k, n in baseline.items()}))
        print(f"baseline shrunk by {sum(fixed.values())} to {total} errors")
    elif fixed:
        print(f"mypy: no new errors; {sum(fixed.values())} baseline error(s) fixed: run "
              ".venv/bin/python tools/mypy_baseline.py --update to shrink the baseline")
    else:
        print(f"mypy: no new errors ({total} in the baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
