"""The text printer speaks the parser's language: parse(to_text(e)) == e, and printing is stable."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import P, S
from matdiff.language.expr import (
    MINUS_ONE, Add, Apply, Const, Det, DiagMat, Fn, Hadamard, HadamardPow, Identity, Inverse, Kron,
    LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Pow, Softmax, Sum, Trace, Transpose, Unvec, Var, Vec, postorder,
    transform, with_children,
)
from matdiff.language import functions as F
from matdiff.language.parse import parse
from matdiff.printing.text import to_text
from seed_cases import TUTORIAL12
from test_grammar import PRECEDENCE, SPELLINGS

DECLARED = ["f", "g1"]                       # abstract functions declared for these tests
NAMES = ["A", "B", "W1", "X_2", "x", "y", "b_1", "abc", "θ", "α_2", "Σ", "T", "e"]
ELEMENTWISE = list(F.ELEMENTWISE)          # in the records' order
ABSTRACT = ["Phi", "Psi", "phi", "psi", "Φ", "Ψ", "φ", "ψ", *DECLARED]
MINUS_ONE_K = Fraction(-1)

leaves = st.one_of(
    st.sampled_from(NAMES).map(Var),
    st.integers(0, 12).map(lambda n: Const(Fraction(n))),
    st.sampled_from([Fraction(1, 2), Fraction(3, 4), Fraction(5, 2), Fraction(1, 10)]).map(Const),
    st.just(Identity()),
)
exponents = st.sampled_from([Fraction(k) for k in (0, 1, 2, 3, -2, -3)] + [Fraction(1, 2), Fraction(-3, 2)])
# unvec(v, rows, cols): a size, or a product of sizes as a Kronecker factor's shape can be (`n m`, `n (m k)`)
unvec_dims = st.sampled_from([2, 3, "n", "m", ("*", "n", "m"), ("*", 2, "n"), ("*", ("*", "n", "m"), "k"),
                              ("*", "n", ("*", "m", 3))])
hadamard_exponents = st.sampled_from([Fraction(k) for k in (2, 3, -1, -2)] + [Fraction(1, 2)])


def apply(name, order, arg):
    """What the parser builds for name^(order)(arg): log(det(A)) is logdet(A)."""
    if name == "log" and order == 0 and isinstance(arg, Det):
        return LogDet(arg.arg)
    return Apply(Fn(name, order), arg)


def divided(a, b):
    """What the parser builds for a / b: a number divided by a number is a number."""
    if isinstance(a, Const) and isinstance(b, Const) and b.value != 0:
        return Const(a.value / b.value)
    return Mul((a, HadamardPow(MINUS_ONE_K, b, "" if isinstance(b, Const) else "/")))   # marked: a scalar


def powered(k, arg):
    """What the parser builds for arg^k: ^-1 is the inverse."""
    return Inverse(arg) if k == -1 else MatPow(k, arg)


def _positive_or_not_a_number(a) -> bool:
    if isinstance(a, Const):
        return a.value > 0
    return not (isinstance(a, Mul) and all(isinstance(x, Const) for x in a.args))


def extend(children):
    """One layer of the trees the parser produces: binary, left-nested as written."""
    two = st.tuples(children, children)
    return st.one_of(
        two.map(MatMul),
        two.map(Add),
        two.map(Hadamard),
        two.map(Kron),
        children.map(lambda a: Mul((MINUS_ONE, a))),                                # -a
        two.map(lambda ab: Add((ab[0], Mul((MINUS_ONE, ab[1]))))),                  # a - b
        two.filter(lambda ab: ab[1] != Const(Fraction(0))).map(lambda ab: divided(*ab)),   # a / b (b ≠ 0)
        two.map(lambda ab: Hadamard((ab[0], HadamardPow(MINUS_ONE_K, ab[1])))),     # a ./ b
        children.map(Transpose),
        children.map(Inverse),
        st.tuples(exponents, children).map(lambda ka: powered(*ka)),
        st.tuples(hadamard_exponents, children).map(lambda ka: HadamardPow(*ka)),
        two.filter(lambda ab: not isinstance(ab[1], Const) and _positive_or_not_a_number(ab[0]))
           .flatmap(lambda ab: st.sampled_from(["^", ".^"]).map(lambda op: Pow(ab, op))),   # a^b, x .^ y
        st.tuples(st.sampled_from(ELEMENTWISE + ABSTRACT), st.integers(0, 2), children)
          .map(lambda t: apply(*t)),
        st.sampled_from([Trace, Det, LogDet, Sum, Norm, DiagMat, Vec, Softmax, LogSumExp,
                         lambda a: Norm(a, "bars"), lambda a: Norm(a, "2")])       # ||a||, ||a||_2
          .flatmap(lambda node: children.map(node)),
        st.tuples(unvec_dims, unvec_dims, children).map(lambda t: Unvec(*t)),
    )


parsed_trees = st.recursive(leaves, extend, max_leaves=12)


def nested_norms_read_alike(e):
    """e with the spelling (`written`) of every norm that holds another norm forgotten: bars in
    bars cannot be told apart (`||a ||x|| b||`), so such a norm prints as norm(...), the spelling
    that means the Frobenius norm for any shape. Only a parsed tree has spellings; inference
    checks them and clears them, so a shaped tree is unaffected."""
    def rebuild(n, kids):
        n = with_children(n, kids)
        if isinstance(n, Norm) and any(isinstance(c, Norm) for c in postorder(n.arg)):
            return Norm(n.arg)
        return n
    return transform(e, rebuild)


@settings(max_examples=400, deadline=None)
@given(parsed_trees)
def test_parse_of_printed_tree_is_the_tree(e):
    text = to_text(e)
    assert parse(text, DECLARED).result == nested_norms_read_alike(e), text


@settings(max_examples=100, deadline=None)
@given(parsed_trees)
def test_printing_is_a_fixed_point(e):
    text = to_text(e)
    assert to_text(parse(text, DECLARED).result) == text


ALL_SPELLINGS = [s for s, _ in SPELLINGS + PRECEDENCE]


@pytest.mark.parametrize("src", ALL_SPELLINGS)
def test_printed_spelling_parses_back_to_the_same_tree(src):
    e = P(src)
    text = to_text(e)
    assert P(text) == nested_norms_read_alike(e)
    assert to_text(P(text)) == text


# ---- exact printed forms ------------------------------------------------------------------------------

@pytest.mark.parametrize("src, text", [
    (TUTORIAL12,            TUTORIAL12),
    ("x' A x",              "x^T A x"),
    ("A'",                  "A^T"),
    ("Aᵀ",                  "A^T"),
    ("A^{-1}",              "A^-1"),
    ("inv(A)",              "A^-1"),
    ("inv(A)^2",            "(A^-1)^2"),
    ("A^{3}",               "A^3"),
    ("A^0.5",               "A^{1/2}"),
    ("A .* B",              "A ∘ B"),
    ("A ⊙ B",               "A ∘ B"),
    ("A ./ B",              "A ./ B"),
    ("x .^ -1 / b",         "x .^ -1 / b"),
    ("A - B",               "A - B"),
    ("A - (B - C)",         "A - (B - C)"),
    ("A (-B)",              "A (-B)"),
    ("(-A) B",              "(-A) B"),
    ("-A B",                "-A B"),
    ("-(A + B)",            "-(A + B)"),
    ("(A + B) C",           "(A + B) C"),
    ("A B / c",             "(A B) / c"),
    ("a / (b c)",           "a / (b c)"),
    ("0.5 x",               "1/2 x"),
    ("x (1/2)",             "x (1/2)"),
    ("Tr(A)",               "tr(A)"),
    ("log(det(A))",         "logdet(A)"),
    ("σ(x)",                "sigmoid(x)"),
    ("\\theta x",           "θ x"),
    ("norm(x)",             "||x||_F"),     # unshaped: the spelling that means Frobenius for any shape
    ("||X||_F^2",           "||X||_F^2"),
    ("||x||_2",             "||x||_2"),
    ("||x||",               "||x||"),
    ("|| ||x|| ||",         "norm(||x||)"),
    ("kron(A, B)",          "A ⊗ B"),
    ("Phi''(z)",            "Phi''(z)"),
    ("a^b",                 "a^b"),
    ("a^(b + 1)",           "a^(b + 1)"),
    ("a^(Tx)",              "a^(Tx)"),              # a^Tx could be a^T x
    ("(a^b)^c",             "(a^b)^c"),
    ("x.^y",                "x .^ y"),
    ("2.^x",                "2 .^ x"),
    ("x .^ exp(y)",         "x .^ (exp(y))"),
    ("(x .^ y)^T",          "(x .^ y)^T"),
    ("(e)^x",               "(e)^x"),               # e^x could be exp(x)
])
def test_printed_text(src, text):
    assert to_text(P(src)) == text


# ---- shaped trees: what shapes rewrite still prints in the language ------------------------------------

@pytest.mark.parametrize("src, text", [
    ("1 - x",           "1 - x"),                  # the number is broadcast: 1 * Ones - x
    ("2 + x - 3",       "2 + x - 3"),
    ("-2 + A",          "-2 + A"),
    ("x - 1/2",         "x - 1/2"),
    ("x .^ 2 + 1",      "x .^ 2 + 1"),
    ("A^-2",            "A^-2"),                   # MatPow(2, A^-1) after shapes
    ("inv(A)^2",        "A^-2"),
    ("A^0",             "I"),
    ("A^1 A x",         "A A x"),
    ("(x^T x)^2",       "(x^T x)^2"),              # a scalar power
    ("alpha^{-1/2} x",  "alpha^{-1/2} x"),
    ("x^T x A",         "(x^T x) A"),
    ("A / (x^T x)",     "A / (x^T x)"),
    ("diag(A)",         "diag(A)"),
    ("a^b",             "a^b"),                    # scalars: the ordinary power
    ("x .^ alpha",      "x .^ alpha"),             # a scalar exponent, broadcast
    ("2 .^ x",          "2 .^ x"),
    ("alpha .^ x",      "alpha .^ x"),
    ("x .^ (y + 1)",    "x .^ (y + 1)"),
    ("x .^ (2)",        "x .^ 2"),                 # a number exponent is a power with a number
])
def test_shaped_text_reads_back_to_the_same_shaped_tree(src, text):
    shaped = S(src)
    assert to_text(shaped.expr) == text
    assert S(text).expr == shaped.expr
