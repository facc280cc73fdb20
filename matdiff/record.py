"""Rule applications as data: what the drivers report when asked to (`record=`), for solution sheets.

`diff.differential` and `canon.pullback` take an optional `record` callback; each
rule application then reports a `Step`: the rule's name, its identity (written
once, in the rule's docstring or the comment on its `def` line), the node before
and what the rule made of it. This is sympy's `strategies.debug`
(`Rule: %s / In: %s / Out: %s`) as values instead of prints. Off by default: the
drivers' results are the same with or without a recorder.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Step:
    """One rule application. For a differential rule `before` is the node and `after` its
    differential; for a pull-back rule `before` is the pair (M, E) of <M, E> = Tr(M^T E)
    and `after` the pairs the rule passed on."""
    rule: str
    identity: str
    before: object
    after: object


@lru_cache(maxsize=None)
def identity(rule) -> str:
    """The identity a rule implements: the first line of its docstring, else the comment on
    its first source line (canon's pull-back rules keep their identity there)."""
    doc = rule.__doc__
    if doc and doc.strip():
        return doc.strip().splitlines()[0].strip()
    try:
        first = inspect.getsourcelines(rule)[0][0]
    except (OSError, TypeError):
        return ""
    return first.split("#", 1)[1].strip() if "#" in first else ""


class Recorder(list):
    """A list that is also a `record` callback: `differential(e, wrt, record=rec)`, then read rec."""

    def __call__(self, step: Step) -> None:
        self.append(step)
