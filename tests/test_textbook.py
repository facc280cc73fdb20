"""Answers in the form a textbook writes them (issue 15), measured on tests/textbook_corpus.py.

Each problem's textbook answer is checked as a claim: matdiff.check(..., claim=textbook) compares
it with matdiff's gradient entry by entry at random inputs, so one test proves the textbook form
and matdiff's answer equal (two independent computations: the corpus was written from the
sources, not from matdiff). A Hessian's textbook form is evaluated with matdiff's evaluator
against matdiff's Hessian at random inputs (checking.check.check_equal).

Sizes are counted by matdiff.printing.size (symbols: names, numbers, operators, function names;
parentheses and juxtaposition free; the definitions of auxiliary names count). The issue's goal
is 95% within 1.2x the textbook's size and none over 1.5x; the test holds the line where it is:
the fraction within 1.2x never falls below WITHIN_1_2 (every answer, today), and an answer over
1.5x fails unless OVER_1_5 lists it, as a strict xfail with its reason.
"""
from __future__ import annotations

import warnings

import pytest

import matdiff
from matdiff.checking.check import check_equal
from matdiff.language.expr import Hadamard, Program, Var
from matdiff.language.inference import infer_shapes
from matdiff.language.parse import parse
from matdiff.language.problem import Problem
from matdiff.printing.size import answer_size, expression_size

from textbook_corpus import GRADIENTS, HESSIANS

# (kind, function, wrt): why matdiff's answer is more than 1.5x the textbook's today (none now;
# a problem a change makes longer goes here only with its reason, and the goal fails)
OVER_1_5: dict = {}
WITHIN_1_2 = 139 / 139         # every answer within 1.2x the textbook's size (issue 15 asks 95%)

PROBLEMS = [("g", *p) for p in GRADIENTS] + [("h", *p) for p in HESSIANS]


def _id(p) -> str:
    kind, src, wrt, _, _ = p
    return f"{'H ' if kind == 'h' else ''}{src} wrt {wrt}"


def _derive(kind, src, wrt, shapes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "h":
            return matdiff.derive_hessian(src, wrt, shapes=shapes)
        return matdiff.derive_gradient(src, wrt, shapes=shapes)


def ratio(p) -> float:
    """matdiff's printed answer's size over the textbook's."""
    kind, src, wrt, shapes, textbook = p
    return answer_size(_derive(kind, src, wrt, shapes).text()) / expression_size(textbook)


def test_corpus_is_what_it_says():
    assert len(PROBLEMS) == len({(k, s, w, str(sh)) for k, s, w, sh, _ in PROBLEMS}) == 139
    assert all(key in {(k, s, w) for k, s, w, _, _ in PROBLEMS} for key in OVER_1_5)


@pytest.mark.parametrize("p", [p for p in PROBLEMS if p[0] == "g"], ids=_id)
def test_textbook_gradient_is_matdiffs(p):
    _, src, wrt, shapes, textbook = p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = matdiff.check(src, wrt, shapes=shapes, claim=textbook)
    assert report.ok, str(report)


def _shaped_claim(text: str, p: Problem, wrt: str, rows):
    """The textbook Hessian shaped with the problem's inputs; its size, left open by `2 I` or
    `lambda I`, is the Hessian's (rows x rows), as a claimed gradient's is its variable's."""
    parsed = parse(text)
    inputs = dict(p.shaped.inputs)
    shaped = infer_shapes(Program(parsed.defs, Hadamard((parsed.result, Var("H__")))),
                          {**inputs, "H__": (rows, rows)})
    return shaped.expr.args[0]


@pytest.mark.parametrize("p", [p for p in PROBLEMS if p[0] == "h"], ids=_id)
def test_textbook_hessian_is_matdiffs(p):
    _, src, wrt, shapes, textbook = p
    problem = Problem.of(src, shapes)
    H = _derive("h", src, wrt, shapes)
    assert len(problem.shaped.inputs[wrt]) == 1, "the corpus's Hessians are of vectors"
    claim = _shaped_claim(textbook, problem, wrt, problem.shaped.inputs[wrt][0])
    ok, error, worst, _ = check_equal(claim, H.matrix, problem.shaped, problem.f, seed=0)
    assert ok, f"{_id(p)}: relative error {error:.2e} at {worst}"


def test_share_within_1_2():
    within = sum(ratio(p) <= 1.2 for p in PROBLEMS) / len(PROBLEMS)
    assert within >= WITHIN_1_2 - 1e-9, f"{within:.3f} of the answers within 1.2x, was {WITHIN_1_2:.3f}"


@pytest.mark.parametrize("p", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=OVER_1_5[p[:3]])) if p[:3] in OVER_1_5 else p
    for p in PROBLEMS], ids=_id)
def test_no_answer_over_1_5(p):
    r = ratio(p)
    assert r <= 1.5, f"{_id(p)}: {r:.2f}x the textbook's size\n{_derive(*p[:4]).text()}\n  textbook: {p[4]}"
