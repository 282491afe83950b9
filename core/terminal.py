"""User text shown on a terminal as text: a run name, a file name, a data value or a model's
output holding an escape sequence, a carriage return or a bidirectional override could
otherwise recolour, rewrite or reorder what the terminal shows (a forged row in `runs`).
"""

import re
import sys
from contextlib import contextmanager

# C0 and C1 controls, DEL, the line and paragraph separators, the bidirectional embeddings,
# overrides and isolates.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escaped(text: str, keep: str = "") -> str:
    """`text` with each control character but those in `keep` written as its escape (\\x1b)."""
    return CONTROLS.sub(lambda m: m.group() if m.group() in keep else
                        m.group().encode("unicode_escape").decode("ascii"), text)


class EscapingWriter:
    """A text stream whose writes keep their line breaks, tabs and carriage returns (the
    progress line's) and escape every other control character."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(escaped(text, keep="\n\t\r"))

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextmanager
def escaping_output():
    """Standard output and error escaped while a command runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = EscapingWriter(sys.stdout), EscapingWriter(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
