"""Auxiliary names only where they pay (issue 15, item 6): calculus/gradient.auto_names.

A name (z0 = x^T x) is printed only when the answer is shorter with it, its definition counted
(printing.size); never unused, never used once. Each printed answer, its names and all, is checked
numerically as a claim (its definitions read back as the claim's own), so a name can never make
an answer wrong; and every name kept is shown to pay by printing the answer without it.
"""
from __future__ import annotations

import dataclasses
import re
import warnings

import pytest
import sympy as sp

import matdiff
from matdiff.printing.size import answer_size

from seed_cases import SEED000, TUTORIAL12
from textbook_corpus import GRADIENTS, HESSIANS

NAMED = [  # one-line functions whose answers repeat a part (the sheets name them z0, Z3, ...)
    ("(x^T A x) / (x^T x)", "x", None, {}),
    ("exp(x^T A x)", "x", None, {}),
    (TUTORIAL12, "W", SEED000, dict(Psi=sp.sin, Phi=sp.tanh)),
    (TUTORIAL12, "V", SEED000, dict(Psi=sp.sin, Phi=sp.tanh)),
    (TUTORIAL12, "b", SEED000, dict(Psi=sp.sin, Phi=sp.tanh)),
    ("sum(log(1 + exp(-y .* (X w))))", "w", None, {}),
    ("c^T tanh(W2 tanh(W1 x + b1) + b2)", "W1", None, {}),
    ("sin(x^T x) + cos(x^T x) + exp(x^T x)", "x", None, {}),
    ("log(det(X^T X)) + tr(inv(X^T X))", "X", None, {}),
]
CASES = NAMED + [(src, wrt, shapes, {}) for src, wrt, shapes, _ in GRADIENTS]


def _gradient(src, wrt, shapes, functions):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return matdiff.derive_gradient(src, wrt, shapes=shapes, functions=functions or None)


def _defined(text: str) -> list:
    """The auxiliary names a printed answer defines: `z0 = ...` lines before the answer."""
    return [m.group(1) for m in re.finditer(r"^(\w+) = ", text, re.M)]


def _ids(cases):
    return [f"{c[0]} wrt {c[1]}" for c in cases]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_every_name_is_used_twice(case):
    """A defined name shows at least twice in the other lines of what is printed."""
    text = _gradient(*case).text()
    for name in _defined(text):
        uses = sum(len(re.findall(rf"(?<![\w']){name}(?![\w])", line)) for line in text.splitlines()
                   if not line.startswith(f"{name} = "))
        assert uses >= 2, f"{name} is used {uses} time(s) in\n{text}"


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_every_name_pays(case):
    """Printed without any one of its names, the answer is longer (a tie is printed inline)."""
    g = _gradient(*case)
    size = answer_size(g.text())
    for node, name in g.names.items():
        without = dataclasses.replace(g, names={k: v for k, v in g.names.items() if k is not node})
        assert answer_size(without.text()) > size, f"{name} does not pay:\n{g.text()}\nwithout it:\n{without.text()}"


@pytest.mark.parametrize("case", NAMED, ids=_ids(NAMED))
def test_printed_answer_with_its_names_is_right(case):
    """The printed lines (definitions, then the answer) as a claim: equal to the gradient at random inputs."""
    src, wrt, shapes, functions = case
    lines = _gradient(*case).text().splitlines()
    claim = "\n".join(re.sub(r"^∂\w+/∂\w+ = ", "", line) for line in lines if not line.startswith("("))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = matdiff.check(src, wrt, shapes=shapes, functions=functions or None, claim=claim)
    assert report.ok, f"{claim}\n{report}"


def test_no_unused_name_in_a_quotient():
    """(x^T A x) / (x^T x) printed z1 = z0^-1 and never used it (the answer prints / z0)."""
    text = _gradient("(x^T A x) / (x^T x)", "x", None, {}).text()
    assert "z1" not in text and "^-1 ;" not in text
    assert _defined(text) in ([], ["z0"])          # z0 = x^T x only where it pays (the sum's normal form made it not)


def test_a_name_used_once_is_inlined():
    """exp(x^T A x): x^T A x inside exp(.) printed once or twice costs less than a name and its line."""
    text = _gradient("exp(x^T A x)", "x", None, {}).text()
    assert _defined(text) == [] and text.startswith("∂f/∂x = ") and "exp(x^T A x)" in text


def test_hessian_names_pay_too():
    """The Hessian of the logistic loss: no z4 = 1_n + z3; each name it keeps pays (with the entrywise
    algebra it is X^T diag(y .^ 2 ∘ sigmoid'(y ∘ X w)) X, and keeps none)."""
    src, wrt, shapes, _ = next(h for h in HESSIANS if h[0].startswith("sum(log(1 + exp"))
    H = matdiff.derive_hessian(src, wrt, shapes=shapes)
    size = answer_size(H.text())
    assert "z4" not in H.text()
    for node in H.names:
        assert answer_size(dataclasses.replace(H, names={k: v for k, v in H.names.items() if k is not node}).text()) > size
