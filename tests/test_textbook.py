"""Answers in the form a textbook writes them (issue 15), measured on tests/textbook_corpus.py.

Each problem's textbook answer is checked as a claim: matdiff.check(..., claim=textbook) compares
it with matdiff's gradient entry by entry at random inputs, so one test proves the textbook form
and matdiff's answer equal (two independent computations: the corpus was written from the
sources, not from matdiff). A Hessian's textbook form is evaluated with matdiff's evaluator
against matdiff's Hessian at random inputs (checking.check.check_equal).

Sizes are counted by matdiff.printing.size (symbols: names, numbers, operators, function names;
parentheses and juxtaposition free; the definitions of auxiliary names count). Other parts of
issue 15 land separately, so the size test holds the line where it is: the fraction of answers
within 1.2x the textbook's size never falls below WITHIN_1_2, and every answer over 1.5x is listed
in OVER_1_5 as a strict xfail with its reason: when a change brings one within 1.5x, its xfail
turns red and the list (and WITHIN_1_2) is updated, towards the issue's goal (95% within 1.2x,
none over 1.5x).
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

# (kind, function, wrt): why matdiff's answer is more than 1.5x the textbook's today
OVER_1_5 = {
    ("g", "logdet(X^T S X)", "X"): "symmetry: (X^T S X)^-1 + (X^T S X)^-T is 2 (X^T S X)^-1",
    ("g", "sum(log(1 + exp(-y .* (X w))))", "w"): "function identities: exp(-u) ./ (1 + exp(-u)) is sigmoid(-u)",
    ("g", "sum(log(exp(-y.*(X*w))+vector(1)))", "w"): "function identities: exp(-u) ./ (exp(-u) + 1) is sigmoid(-u)",
    ("g", "logdet(X^T X)", "X"): "symmetry: (X^T X)^-1 + (X^T X)^-T is 2 (X^T X)^-1",
    ("g", "(x^T A x) / (x^T x)", "x"): "like terms: (x^T A^T / z0)^T and A^T x / z0 are not collected with A x",
    ("g", "x^T (A + A^T) x", "x"): "symmetry and like terms: (A + A^T)^T is A + A^T",
    ("g", "det(A X B)", "X"): "cancellations: A^T (A X B)^-T B^T is X^-T for square A, B",
    ("g", "log(det(inv(X)))", "X"): "cancellations: X^-T X^T X^-T is X^-T",
    ("g", "2 x^T A x + 3 x^T A^T x", "x"): "like terms modulo transposition: 5 (A + A^T)",
    ("h", "sum(log(1 + exp(-y .* (X w))))", "w"): "function identities: the logistic Hessian as sigmoid'",
    ("g", "-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))", "w"):
        "function identities: sigmoid' = sigmoid (1 - sigmoid) collapses the cross-entropy to sigmoid(X w) - y",
}
WITHIN_1_2 = 120 / 139         # measured when this test was written; raise it as answers get shorter

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
