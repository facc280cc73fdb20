"""Rule applications as data: what the drivers report when asked to (`record=`), for solution sheets.

`diff.differential` and `canon.pullback` take an optional `record` callback; each
rule application then reports a `Step`: the rule's name, its identity (written
once, as the first line of the rule's docstring), the node before and what the
rule made of it. This is sympy's `strategies.debug`
(`Rule: %s / In: %s / Out: %s`) as values instead of prints. Off by default: the
drivers' results are the same with or without a recorder.
"""
from __future__ import annotations

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
    """The identity a rule implements: the first line of its docstring ("" if it has none)."""
    doc = rule.__doc__
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


class Recorder(list):
    """A list that is also a `record` callback: `differential(e, wrt, record=rec)`, then read rec."""

    def __call__(self, step: Step) -> None:
        self.append(step)
