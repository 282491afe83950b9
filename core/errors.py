"""The one exception a user can act on.

Anything raised as `WorkbenchError` is the user's to fix (a bad file, an
impossible setting) and is shown as its one-line message; any other exception
is a bug or a crash and is stored with its traceback.
"""


class WorkbenchError(Exception):
    """A problem with the user's input, explained in one line."""
