"""Limits on what one call may ask for, so that no input crashes, hangs or exhausts memory.

Each is a plain number in LIMITS; change it for a session (`matdiff.LIMITS.max_depth = 500`)
or for one command (`matdiff grad ... --limit depth=500`). Past a limit matdiff raises
LimitError, a MatdiffError, that names the limit and how to raise it.
"""
from __future__ import annotations

import functools
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


_current: list = [None]      # the budget of the derivation under way, if any


def budgeted(fn):
    """Run fn under one time budget (the API's entry points). A call inside another shares the
    outer budget; outside any, tick() costs nothing, so internal functions stay usable alone."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _current[0] is not None:
            return fn(*args, **kwargs)
        _current[0] = Deadline()
        try:
            return fn(*args, **kwargs)
        finally:
            _current[0] = None
    return wrapper


def tick() -> None:
    if _current[0] is not None:
        _current[0].tick()
