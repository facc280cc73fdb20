"""Limits on what one call may ask for, so that no input crashes, hangs or exhausts memory.

Each is a plain number in LIMITS; change it for a session (`matdiff.LIMITS.max_depth = 500`)
or for one command (`matdiff grad ... --limit depth=500`). Past a limit matdiff raises
LimitError, a MatdiffError, that names the limit and how to raise it.
"""
from __future__ import annotations

import functools
import math
import sys
import threading
import time
from dataclasses import dataclass, fields

from matdiff.errors import LimitError


@dataclass
class Limits:
    max_length: int = 100_000     # characters of input
    max_lines: int = 2_000        # lines of a program
    max_depth: int = 250          # nesting of the expression, parentheses or operators
    max_power: int = 64           # |k| of an integer matrix power A^k (d(A^k) has k terms)
    max_seconds: float = 60.0     # one derivation, from text to result
    max_entries: int = 1_000_000  # entries of one array a numerical check draws or computes

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
        if not number > 0:              # also NaN, which compares false with everything
            raise LimitError(f"--limit {name}={value}: a limit is positive")
        setattr(self, key, number)


LIMITS = Limits()


def refuse(what: str, limit: str, value) -> LimitError:
    error = LimitError(f"{what} (the limit is {value}; raise it with matdiff.LIMITS.max_{limit} "
                       f"or --limit {limit}=N)")
    error.limit = limit             # which one: the web server answers 504 for time, 413 for size
    return error


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


# The largest number matdiff works with: numerator and denominator below 10^300, so that every
# number converts to floating point (up to ~1.8e308) for the numerical checks and prints (Python
# refuses to print an int over 4,300 digits). A fixed bound, not a LIMITS field: past it the
# checks would break, whatever the user asked for.
MAX_DIGITS = 300
_BOUND = 10 ** MAX_DIGITS


def check_number(value, what: str = "a number") -> None:
    """Refuse an exact number (int or Fraction) of more than MAX_DIGITS digits."""
    num, den = getattr(value, "numerator", value), getattr(value, "denominator", 1)
    if abs(num) >= _BOUND or den >= _BOUND:
        digits = int(math.log10(max(abs(num), den))) + 1      # without printing it
        raise LimitError(f"{what} of about {digits:,} digits: matdiff's numbers have at most "
                         f"{MAX_DIGITS} digits (numerator and denominator), so that they convert to "
                         "floating point for the numerical checks")


def check_power_size(base, k) -> None:
    """Before computing base ** k: refuse when the result would be past MAX_DIGITS. Exact powers
    would otherwise be computed first (((10^60)^60)^60 has 216,000 digits, deeper ones billions)
    and float powers overflow. The exact bound is check_number's, on the result; half a digit of
    slack here keeps float rounding from refusing what it accepts."""
    num, den = abs(getattr(base, "numerator", base)), getattr(base, "denominator", 1)
    if num == 0:
        return
    if abs(float(k)) * max(math.log10(num), math.log10(den)) > MAX_DIGITS + 0.5:
        digits = int(max(math.log10(num), math.log10(den))) + 1
        raise LimitError(f"a power {k} of a number of {digits:,} digits: matdiff's numbers have "
                         f"at most {MAX_DIGITS} digits (numerator and denominator)")


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
