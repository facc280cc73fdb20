"""Every error matdiff raises on bad input is a MatdiffError; the CLI prints it and exits 2."""
from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager


class MatdiffError(Exception):
    """Base class of every error matdiff reports about its input."""


class ParseError(MatdiffError):
    """The text is not in the language; the message points at line and column with a caret."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


class UnknownFunctionError(ParseError):
    """A name used as a function that matdiff does not know."""


class ShapeError(MatdiffError):
    """Shapes that cannot agree: names the sub-expression and both shapes."""


class DerivativeError(MatdiffError):
    """A derivative matdiff cannot take (a variable that is not there, a non-scalar function)."""


class LimitError(MatdiffError):
    """Input past a configured limit (length, nesting, exponent, time); `limit` names it ("seconds")."""

    limit: str | None = None


class MatdiffWarning(UserWarning):
    """A note about a reading the user may not have meant (a matrix name that had to be a single
    row, an I that had to be 1x1): the answer is right for that reading, and says which it is."""


# Shown every time, not once per place: each result carries its own note (a user's filters,
# added later or given with -W, still come first).
warnings.filterwarnings("always", category=MatdiffWarning, append=True)


_listener = threading.local()


def note(message: str, stacklevel: int = 2) -> None:
    """Say a reading the user may not have meant: to the collector of this thread, if one listens
    (the web server, one per request), else as a MatdiffWarning. Not through warnings alone: its
    state is global to the process, and a server answers several requests at once."""
    notes = getattr(_listener, "notes", None)
    if notes is not None:
        if message not in notes:
            notes.append(message)
    else:
        warnings.warn(MatdiffWarning(message), stacklevel=stacklevel + 1)


@contextmanager
def collected_notes():
    """with collected_notes() as notes: the notes said in this thread meanwhile, as a list of text."""
    saved, _listener.notes = getattr(_listener, "notes", None), []
    try:
        yield _listener.notes
    finally:
        _listener.notes = saved


def caret(src: str, line: int, column: int) -> str:
    """The source line and a caret under column (both 1-based)."""
    lines = src.splitlines() or [""]
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return f"{text}\n{' ' * (column - 1)}^"
