"""Limits on what one call may ask for, so that no input crashes, hangs or exhausts memory.

Each is a plain number in LIMITS; change it for a session (`matdiff.LIMITS.max_depth = 500`)
or for one command (`matdiff grad ... --limit depth=500`). Past a limit matdiff raises
LimitError, a MatdiffError, that names the limit and how to raise it.
"""
from __future__ import annotations

import functools
import sys
import threading
import time
from dataclasses import dataclass, fields

from .errors import LimitError


@dataclass
class Limits:
    max_length: int = 100_000     # characters of input
    max_lines: int = 2_000        # lines of a program
    max_depth: int = 250          # nesting of the expression, parentheses or operators
    max_power: int = 64           # |k| of an integer matrix power A^k (d(A^k) has k terms)
    max_seconds: float = 60.0     # one derivation, from text to result

    def set(self, name: str, value) -> None:
        """`depth=500` on the command line: the name without max_, the value a number."""
        key = name if name.startswith("max_") else f"max_{name}"
        kinds = {f.name: f.type for f in fields(self)}
        if key not in kinds:
            raise LimitError(f"no limit called {name}; the limits: "
                             + ", ".join(k[4:] for k in kinds))
        try:
            number = float(value) if kinds[key] in (float, "float") else int(value)
        except (TypeError, ValueError):
            raise LimitError(f"--limit {name}={value}: expected a number") from None
        if number <= 0:
            raise LimitError(f"--limit {name}={value}: a limit is positive")
        setattr(self, key, number)


LIMITS = Limits()


def refuse(what: str, limit: str, value) -> LimitError:
    return LimitError(f"{what} (the limit is {value}; raise it with matdiff.LIMITS.max_{limit} "
                      f"or --limit {limit}=N)")


def check_text(src: str) -> None:
    if len(src) > LIMITS.max_length:
        raise refuse(f"the input is {len(src)} characters long", "length", LIMITS.max_length)
    lines = src.count("\n") + src.count(";") + 1
    if lines > LIMITS.max_lines:
        raise refuse(f"the program has {lines} lines", "lines", LIMITS.max_lines)


def check_depth(depth: int) -> None:
    if depth > LIMITS.max_depth:
        raise refuse(f"the expression is nested {depth} deep", "depth", LIMITS.max_depth)


def check_power(k) -> None:
    if abs(k) > LIMITS.max_power:
        raise refuse(f"the matrix power {k} is too large to expand", "power", LIMITS.max_power)


class Deadline:
    """A derivation's time budget; `tick()` in the loops that could run long."""

    def __init__(self):
        self.start = time.monotonic()

    def tick(self) -> None:
        if time.monotonic() - self.start > LIMITS.max_seconds:
            raise refuse(f"the derivation took longer than {LIMITS.max_seconds:g} s", "seconds",
                         LIMITS.max_seconds)


# The budget of the call under way in this thread, if any. Per thread: a call that finishes in
# one thread must neither clear nor share the budget of a call running in another.
_local = threading.local()


def current() -> Deadline | None:
    """The budget of the call under way in this thread (None outside any)."""
    return getattr(_local, "deadline", None)


def too_deep() -> LimitError:
    """What a RecursionError means to the user: some walk over the expression went too deep."""
    return LimitError(f"the expression is nested too deeply to work with: Python's recursion limit "
                      f"({sys.getrecursionlimit()} frames) was reached. A SymPy result writes a program's "
                      f"steps out in full, where derive_gradient (matdiff grad) keeps them named. The "
                      f"depth limit is {LIMITS.max_depth} (matdiff.LIMITS.max_depth or --limit depth=N)")


def budgeted(fn):
    """Run fn under one time budget (the API's entry points). A call inside another (in the same
    thread) shares the outer budget; outside any, tick() costs nothing, so internal functions stay
    usable alone. The outermost call also turns a RecursionError, from any walk that user input
    drove too deep, into a LimitError: no entry point lets a traceback out."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if current() is not None:
            return fn(*args, **kwargs)
        _local.deadline = Deadline()
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise too_deep() from None
        finally:
            _local.deadline = None
    return wrapper


def tick() -> None:
    deadline = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.tick()
