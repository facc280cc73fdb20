"""Symmetry known and used, and cancellations (issue 15, items 3 and 4).

Each rewrite is an identity, checked as one: both sides evaluated with NumPy at random inputs,
square invertible matrices well-conditioned (2 I + a small random matrix), symmetric ones drawn
as B + B^T, positive definite ones as B B^T + n I. Where an answer has a form to reach, it is
compared as an AST with the same answer spelled out by hand (two spellings, one tree), and the
gradient is checked against finite differences. And the other way round: a matrix that is not
symmetric is never taken for one (property-based, over random expressions), and a product whose
factors are not square keeps its inverse whole.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import matdiff
from matdiff.api import understand
from matdiff.calculus import simplify as S
from matdiff.calculus.structure import det_of_inverse, inverse_of_square_product, logdet_of_inverse
from matdiff.checking.numeric import Env, evaluate
from matdiff.errors import MatdiffError
from matdiff.language.algebra import is_symmetric, normalize, transpose
from matdiff.language.expr import Inverse, MatMul, postorder
from matdiff.printing.text import to_text
from test_properties import SETTINGS, n_examples

N, M = 3, 2
DIMS = {"n": N, "m": M}
# A, B, C, X square (invertible), S symmetric, T positive definite, P n×m, Q m×n, x a vector
SHAPES = dict(A=("n", "n"), B=("n", "n"), C=("n", "n"), X=("n", "n"), S=("n", "n", "sym"),
              T=("n", "n", "spd"), P=("n", "m"), Q=("m", "n"), x=("n",), y=("n",))


def values(rng) -> dict:
    v = {k: 2 * np.eye(N) + 0.3 * rng.normal(size=(N, N)) for k in "ABCX"}
    G = rng.normal(size=(N, N))
    v["S"] = G + G.T
    H = rng.normal(size=(N, N))
    v["T"] = H @ H.T + N * np.eye(N)
    v["P"], v["Q"] = rng.normal(size=(N, M)), rng.normal(size=(M, N))
    v["x"], v["y"] = rng.normal(size=(N, 1)), rng.normal(size=(N, 1))
    return v


def raw(src: str, shapes=SHAPES):
    return understand(src, shapes=shapes).expr


def tree(src: str, shapes=SHAPES):
    return normalize(raw(src, shapes))


def assert_same_value(a, b, seed=0, what=""):
    rng = np.random.default_rng(seed)
    for _ in range(3):
        env = Env(values(rng), DIMS)
        np.testing.assert_allclose(evaluate(a, env), evaluate(b, env), rtol=1e-9, atol=1e-11, err_msg=what)


# ---- each rewrite an identity ---------------------------------------------------------------------

# src -> the rule (or smart constructor) that must change it; the value never changes
IDENTITIES = [
    ("A^T inv(A X B)^T B^T", inverse_of_square_product),
    ("B inv(A X B)", inverse_of_square_product),
    ("inv(A X B) A", inverse_of_square_product),
    ("x^T X inv(X^T X) y", inverse_of_square_product),
    ("A^T inv(A X^T B)^T B^T C", inverse_of_square_product),
    ("det(inv(X))", det_of_inverse),
    ("det(X^T)", det_of_inverse),
    ("det(inv(X)) det(X)", det_of_inverse),
    ("logdet(inv(T))", logdet_of_inverse),
    ("logdet((T A T A^T)^T)", logdet_of_inverse),
    ("X^T inv(X)^T", None),
    ("inv(X)^T X^T A", None),
    ("-inv(X)^T X^T inv(X)^T", None),
    ("A inv(X) X", None),
    ("inv(X^T) B", None),
    ("inv(X^T X) + inv(X^T X)^T", None),
    ("(A + A^T)^T + A + A^T", None),
    ("inv(S)^T + inv(S)", None),
    ("(inv(A)^T + inv(A^T)^T)^T", None),
    ("(X^T S X)^T - X^T S X", None),
    ("(exp(S) + S .^ 2)^T", None),
    ("(A B + B^T A^T)^T", None),
    ("(inv(P^T S P) + Q S Q^T)^T", None),
]


@pytest.mark.parametrize("src, rule", IDENTITIES, ids=[s for s, _ in IDENTITIES])
def test_rewrite_is_an_identity(src, rule):
    before = raw(src)
    after = S.simplify(normalize(before))
    assert_same_value(after, before, what=f"{src} -> {after}")
    assert len(to_text(after)) <= len(to_text(normalize(before))), f"{src} -> {after}: longer"
    if rule is not None:       # the rule itself fires where it is meant to
        node_type = next(t for t, rules in S.RULES.items() if rule in rules)
        assert any(rule(n) is not None for n in postorder(normalize(before)) if isinstance(n, node_type)), \
            f"{rule.__name__} on {src}"


@pytest.mark.parametrize("src, simpler", [
    ("A^T inv(A X B)^T B^T", "inv(X)^T"),
    ("X^T inv(X)^T B", "B"),
    ("-inv(X)^T X^T inv(X)^T", "-inv(X)^T"),
    ("inv(X^T X) + inv(X^T X)^T", "2 inv(X^T X)"),
    ("(A + A^T)^T", "A + A^T"),
    ("inv(A + A^T)^T x", "inv(A + A^T) x"),
    ("(X^T S X)^-T", "inv(X^T S X)"),
    ("inv(S)^T + inv(S)", "2 inv(S)"),
    ("det(inv(X)) det(X)", "1"),
    ("logdet(inv(T))", "-logdet(T)"),
    ("inv(X^T) B", "inv(X)^T B"),
])
def test_two_spellings_one_tree(src, simpler):
    assert S.simplify(tree(src)) == S.simplify(tree(simpler))


@pytest.mark.parametrize("src", ["P^T inv(P Q)^T", "Q inv(P Q)", "A^T inv(A P Q)^T", "inv(A X B)"])
def test_a_product_not_all_square_or_with_nothing_to_cancel_keeps_its_inverse(src):
    """(P Q)^-1 has no split into P^-1 and Q^-1 for a non-square P (n×m, m < n: P Q is singular
    there, and for m > n P^-1 does not exist); the rule leaves it, and so does simplify."""
    e = tree(src)
    assert all(inverse_of_square_product(n) is None for n in postorder(e) if isinstance(n, MatMul))
    assert any(isinstance(n, Inverse) and isinstance(n.arg, MatMul) for n in postorder(S.simplify(e)))


# ---- the issue's examples, end to end ------------------------------------------------------------------

SQUARE = {"A": ("n", "n"), "X": ("n", "n"), "B": ("n", "n")}
TALL = {"X": (5, 3)}


@pytest.mark.parametrize("src, wrt, shapes, answer", [
    ("log(det(inv(X)))", "X", {"X": ("n", "n")}, "-inv(X)^T"),
    ("logdet(X^T X)", "X", TALL, "2 X inv(X^T X)"),
    ("logdet(X^T S X)", "X", {"X": (5, 3), "S": (5, 5, "sym")}, "2 S X inv(X^T S X)"),
    ("det(A X B)", "X", SQUARE, "det(A X B) inv(X)^T"),
    ("logdet(X^T X)", "X", {"X": ("n", "n")}, "2 inv(X)^T"),
    ("x^T (A + A^T) x", "x", {"A": ("n", "n")}, "2 (A + A^T) x"),
    ("det(inv(X))", "X", {"X": ("n", "n")}, "-inv(X)^T / det(X)"),
])
def test_issue_examples(src, wrt, shapes, answer):
    g = matdiff.derive_gradient(src, wrt, shapes=shapes)
    assert g.stepwise[wrt] == S.simplify(tree(answer, shapes)), g.text()
    assert g.check().ok, g.text()


def test_det_of_a_product_with_non_square_factors_stays():
    shapes = {"A": (2, 3), "X": (3, 4), "B": (4, 2)}
    g = matdiff.derive_gradient("det(A X B)", "X", shapes=shapes)
    assert any(isinstance(n, Inverse) and isinstance(n.arg, MatMul) for n in postorder(g.stepwise["X"])), g.text()
    assert g.check().ok


@pytest.mark.parametrize("src, wrt, shapes, line", [
    ("Z = X^T X\nlogdet(Z)", "X", TALL, "∂f/∂X = 2 X delta_Z"),
    ("Z = X^T S X\nf = logdet(Z)", "X", {"X": (5, 3), "S": (5, 5, "sym")}, "∂f/∂X = 2 S X delta_Z"),
    ("Z = A + A^T\nf = x^T Z x", "x", {"A": ("n", "n")}, "∂f/∂x = 2 Z x"),
])
def test_a_name_bound_to_a_symmetric_matrix_is_symmetric(src, wrt, shapes, line):
    g = matdiff.derive_gradient(src, wrt, shapes=shapes)
    assert line in g.text().splitlines(), g.text()
    assert g.check().ok


def test_a_name_bound_to_a_matrix_that_is_not_symmetric_is_not():
    g = matdiff.derive_gradient("Z = A + 2 A^T\nf = x^T Z x", "x", shapes={"A": ("n", "n")})
    assert "∂f/∂x = (Z + Z^T) x" in g.text().splitlines(), g.text()
    p = matdiff.api.Problem.of("Z = A + 2 A^T\nf = x^T Z x", {"A": ("n", "n")})
    assert not p.steps[0][0].structure


# ---- never symmetric by mistake ----------------------------------------------------------------------

@pytest.mark.parametrize("src", ["A", "A B", "2 A + 3 A^T", "A + B^T", "A^T S B", "S A", "A S A", "inv(A)",
                                 "exp(A)", "A .^ 2", "A ∘ S", "A^2", "A + A^T + B", "P Q", "A B + A^T B^T",
                                 "inv(A)^T + 2 inv(A)", "P Q S P Q", "inv(A) S inv(A)"])
def test_not_symmetric(src):
    e = S.simplify(tree(src))
    assert not is_symmetric(e) and transpose(e) != e, e


LEAVES = ["A", "C", "S", "T", "(P P^T + T)", "(Q^T Q - S)"]


def _extend(children):
    one = children
    two = st.tuples(children, children)
    return st.one_of(
        one.map(lambda a: f"({a})^T"),
        one.map(lambda a: f"inv({a})"),
        one.map(lambda a: f"exp({a})"),
        one.map(lambda a: f"({a}) .^ 2"),
        one.map(lambda a: f"3 ({a})"),
        one.map(lambda a: f"({a})^2"),
        one.map(lambda a: f"(({a}) + ({a})^T)"),
        one.map(lambda a: f"({a})^T ({a})"),
        one.map(lambda a: f"({a})^T S ({a})"),
        one.map(lambda a: f"P Q ({a}) Q^T P^T"),
        one.map(lambda a: f"P Q ({a}) P Q"),
        two.map(lambda ab: f"(({ab[0]}) + ({ab[1]}))"),
        two.map(lambda ab: f"(({ab[0]}) - 2 ({ab[1]}))"),
        two.map(lambda ab: f"({ab[0]}) ({ab[1]})"),
        two.map(lambda ab: f"({ab[0]}) .* ({ab[1]})"),
        two.map(lambda ab: f"({ab[0]}) ({ab[1]}) ({ab[0]})^T"),
    )


SQUARE_EXPRS = st.recursive(st.sampled_from(LEAVES), _extend, max_leaves=6)


@settings(max_examples=n_examples(300), **SETTINGS)
@given(src=SQUARE_EXPRS, seed=st.integers(0, 2**16))
def test_known_symmetric_is_symmetric(src, seed):
    """is_symmetric(e) (and so transpose(e) = e) only for a value that is symmetric at every input,
    the declared symmetric S and spd T drawn so; simplify keeps the value."""
    try:
        e = tree(src)
        s = S.simplify(e)
    except MatdiffError:
        assume(False)
    env = Env(values(np.random.default_rng(seed)), DIMS)
    for n in postorder(e):                    # an inverse of a (nearly) singular matrix has no value to test
        if isinstance(n, Inverse):
            V = evaluate(n.arg, env)
            assume(np.all(np.isfinite(V)) and np.linalg.cond(V) < 1e6)
    for expr in (e, s):
        if not (is_symmetric(expr) or transpose(expr) == expr):
            continue
        V = evaluate(expr, env)
        assume(np.all(np.isfinite(V)) and np.max(np.abs(V)) < 1e6)
        assert np.allclose(V, V.T, rtol=1e-6, atol=1e-6 * max(1.0, np.max(np.abs(V)))), f"{src}: {expr}"
    V0, V1 = evaluate(e, env), evaluate(s, env)
    assume(np.all(np.isfinite(V0)) and np.max(np.abs(V0)) < 1e6)
    assert np.allclose(V1, V0, rtol=1e-6, atol=1e-6 * max(1.0, np.max(np.abs(V0)))), f"{src}: {e} -> {s}"


@pytest.mark.parametrize("src, shapes, answer", [
    ("logdet(X^T X)", TALL, "2 X inv(X^T X)"),
    ("logdet(X^T S X)", {"X": (5, 3), "S": (5, 5, "sym")}, "2 S X inv(X^T S X)"),
])
def test_the_sheets_auxiliary_name_for_a_symmetric_matrix_is_symmetric(src, shapes, answer):
    """The sheet names X^T X as Z0: Z0^-1 + Z0^-T is 2 Z0^-1 there too, and substituted back it
    is the answer the gradient gives."""
    from matdiff.language.problem import Problem
    from matdiff.sheets.derivation import derive
    d = derive(Problem.of(src, shapes), "X")
    assert [type(n).__name__ for n in postorder(d.g)].count("Add") == 0, to_text(d.g)
    assert d.g_inline == S.simplify(tree(answer, shapes))
