"""Every spelling of SPEC §1 parses to the AST the parser builds as written; precedence; programs."""
from __future__ import annotations

from fractions import Fraction

import pytest

from conftest import C, P, T, V, add, div, had, mm, neg, sub
from matdiff import ParseError
from matdiff.language.expr import (
    Apply, Assign, Det, DiagMat, Fn, Hadamard, HadamardPow, Identity, Inverse, Kron, LogDet, LogSumExp,
    MatPow, Norm, Pow, Program, Softmax, Sum, Trace, Unvec, Vec,
)
from matdiff.language.functions import ELEMENTWISE
from matdiff.language.parse import parse, parse_expression
from seed_cases import SOFTMAX_NET, TUTORIAL12, TUTORIAL12_UNICODE

A, B, W, X, x, y, z, b, c, t, v = (V(n) for n in "ABWXxyzbctv")


def Bars(arg):
    """A norm written with bars and no subscript: a vector's norm (refused for a matrix later)."""
    return Norm(arg, "bars")


def fn(name, arg, order=0):
    return Apply(Fn(name, order), arg)


# ---- SPEC §1, row by row ------------------------------------------------------------------------

SPELLINGS = [
    # matrix product
    ("W x",                 mm(W, x)),
    ("A*B",                 mm(A, B)),
    ("A * B",               mm(A, B)),
    ("2*A",                 mm(C(2), A)),
    ("2 A",                 mm(C(2), A)),
    ("2x",                  mm(C(2), x)),
    ("A B x",               mm(A, B, x)),
    # transpose
    ("A^T",                 T(A)),
    ("A'",                  T(A)),
    ("Aᵀ",                  T(A)),
    ("A^{T}",               T(A)),
    ("A ^T",                T(A)),
    ("A^T'",                T(T(A))),
    ("A''",                 T(T(A))),
    # inverse
    ("A^-1",                Inverse(A)),
    ("A^{-1}",              Inverse(A)),
    ("A^ -1",               Inverse(A)),
    ("A^{ - 1 }",           Inverse(A)),
    ("inv(A)",              Inverse(A)),
    # matrix power
    ("A^2",                 MatPow(Fraction(2), A)),
    ("A^{3}",               MatPow(Fraction(3), A)),
    ("A^-2",                MatPow(Fraction(-2), A)),
    ("inv(A)^2",            MatPow(Fraction(2), Inverse(A))),
    ("A^0.5",               MatPow(Fraction(1, 2), A)),
    ("A^{1/2}",             MatPow(Fraction(1, 2), A)),
    # sum, difference, negation
    ("A + B",               add(A, B)),
    ("A - B",               sub(A, B)),
    ("-A",                  neg(A)),
    ("A + B + x",           add(A, B, x)),
    ("A - B - x",           sub(sub(A, B), x)),
    ("-A + B",              add(neg(A), B)),
    # Hadamard product
    ("A .* B",              had(A, B)),
    ("A.*B",                had(A, B)),
    ("A ∘ B",               had(A, B)),
    ("A ⊙ B",               had(A, B)),
    ("A ∘ B ∘ x",           had(A, B, x)),
    # elementwise division and power
    ("A ./ B",              Hadamard((A, HadamardPow(Fraction(-1), B)))),
    ("A./B",                Hadamard((A, HadamardPow(Fraction(-1), B)))),
    ("A .^ 2",              HadamardPow(Fraction(2), A)),
    ("A.^2",                HadamardPow(Fraction(2), A)),
    ("x .^ {1/2}",          HadamardPow(Fraction(1, 2), x)),
    # a power with a variable exponent: `^` of scalars, `.^` elementwise (inference checks which)
    ("a^b",                 Pow((V("a"), b), "^")),
    ("a^(b + 1)",           Pow((V("a"), add(b, C(1))), "^")),
    ("a^exp(b)",            Pow((V("a"), fn("exp", b)), "^")),
    ("x .^ y",              Pow((x, y), ".^")),
    ("x.^y",                Pow((x, y), ".^")),
    ("2 .^ x",              Pow((C(2), x), ".^")),
    ("2.^x",                Pow((C(2), x), ".^")),        # as in MATLAB: not 2. ^ x
    ("2.^3",                HadamardPow(Fraction(3), C(2))),
    ("x .^ (2)",            HadamardPow(Fraction(2), x)),   # a number in parentheses is a number
    ("a^(1/2)",             MatPow(Fraction(1, 2), V("a"))),
    ("(a^b)^c",             Pow((Pow((V("a"), b), "^"), c), "^")),
    ("a^(b^c)",             Pow((V("a"), Pow((b, c), "^")), "^")),
    ("a^b c",               mm(Pow((V("a"), b), "^"), c)),
    ("a^b'",                T(Pow((V("a"), b), "^"))),
    ("x .^ -1",             HadamardPow(Fraction(-1), x)),
    # division by a scalar
    ("A / 2",               div(A, C(2))),
    ("(a^T X b) / (c^T X d)", div(mm(T(V("a")), X, b), mm(T(c), X, V("d")))),
    ("a / b / c",           div(div(V("a"), b), c)),
    # numbers
    ("2",                   C(2)),
    ("0.5",                 C(Fraction(1, 2))),
    (".25",                 C(Fraction(1, 4))),
    ("1/2",                 C(Fraction(1, 2))),
    ("3/4 x",               mm(C(Fraction(3, 4)), x)),
    # trace, determinant
    ("tr(A)",               Trace(A)),
    ("Tr(A)",               Trace(A)),
    ("det(A)",              Det(A)),
    ("logdet(A)",           LogDet(A)),
    ("log(det(A))",         LogDet(A)),
    ("log(x)",              fn("log", x)),
    # builtin elementwise functions
    *[(f"{f}(z)",           fn(f, z)) for f in ELEMENTWISE],
    ("σ(z)",                fn("sigmoid", z)),
    ("tanh'(z)",            fn("tanh", z, 1)),
    # abstract elementwise functions and their derivatives
    *[(f"{f}(z)",           fn(f, z)) for f in ("Phi", "Psi", "phi", "psi", "Φ", "Ψ", "φ", "ψ")],
    ("Phi'(z)",             fn("Phi", z, 1)),
    ("Φ'(z)",               fn("Φ", z, 1)),
    ("Phi''(z)",            fn("Phi", z, 2)),
    ("\\Phi(z)",            fn("Φ", z)),
    # vector functions
    ("softmax(x)",          Softmax(x)),
    ("logsumexp(x)",        LogSumExp(x)),
    # norms and sums
    ("norm(x)",             Norm(x)),
    ("||x||",               Bars(x)),
    ("||x||^2",             MatPow(Fraction(2), Bars(x))),
    ("||X||_F",             Norm(X)),
    ("||X||_F^2",           MatPow(Fraction(2), Norm(X))),
    ("||x||_2",             Norm(x, "2")),
    ("‖x‖",                 Bars(x)),
    ("‖x‖^2",               MatPow(Fraction(2), Bars(x))),
    ("||x - t||",           Bars(sub(x, t))),
    ("sum(X)",              Sum(X)),
    # diagonal
    ("diag(x)",             DiagMat(x)),
    ("diag(X)",             DiagMat(X)),      # shapes decide: the diagonal of a matrix
    # Kronecker, vectorisation
    ("kron(A, B)",          Kron((A, B))),
    ("A ⊗ B",               Kron((A, B))),
    ("vec(X)",              Vec(X)),
    ("unvec(v, n, m)",      Unvec("n", "m", v)),
    ("unvec(v, 2, 3)",      Unvec(2, 3, v)),
    ("unvec(W x, n m, k)",  Unvec(("*", "n", "m"), "k", mm(W, x))),
    # identity
    ("I",                   Identity()),
    ("I + A",               add(Identity(), A)),
    # names
    ("W1 x",                mm(V("W1"), x)),
    ("b_2",                 V("b_2")),
    ("theta",               V("theta")),
    ("x_10",                V("x_10")),
    ("θ",                   V("θ")),
    ("\\theta",             V("θ")),
    ("\\alpha x",           mm(V("α"), x)),
    ("\\Sigma",             V("Σ")),
    ("\\alpha_1",           V("α_1")),
    ("Σ x",                 mm(V("Σ"), x)),
]


@pytest.mark.parametrize("src, expected", SPELLINGS, ids=[s for s, _ in SPELLINGS])
def test_spelling(src, expected):
    assert P(src) == expected


def test_seed_expression():
    expected = mm(T(c), fn("Psi", mm(add(W, V("V")), fn("Phi", add(mm(W, x), b)))))
    assert P(TUTORIAL12) == expected
    assert P(TUTORIAL12_UNICODE) == mm(
        T(c), fn("Ψ", mm(add(W, V("V")), fn("Φ", add(mm(W, x), b)))))


# ---- precedence ------------------------------------------------------------------------------------

PRECEDENCE = [
    ("A - B",              sub(A, B)),                         # a difference, never A (-B)
    ("A (-B)",             mm(A, neg(B))),
    ("-A B",               neg(mm(A, B))),                     # -(A B)
    ("-x^T x",             neg(mm(T(x), x))),
    ("-2 A",               neg(mm(C(2), A))),
    ("2 -A",               sub(C(2), A)),
    ("A^T B^-1",           mm(T(A), Inverse(B))),
    ("x' A x",             mm(T(x), A, x)),
    ("A' B",               mm(T(A), B)),
    ("x'*A*x",             mm(T(x), A, x)),
    ("Phi'(z) ∘ W^T v",    had(fn("Phi", z, 1), mm(T(W), v))),
    ("A ∘ B C",            had(A, mm(B, V("C")))),
    ("A B ∘ C",            had(mm(A, B), V("C"))),
    ("A + B ∘ C",          add(A, had(B, V("C")))),
    ("-A ∘ B",             neg(had(A, B))),
    ("A ∘ B ⊗ C",          Kron((had(A, B), V("C")))),
    ("W (x)",              mm(W, x)),
    ("W(x)",               mm(W, x)),
    ("(A)(B)",             mm(A, B)),
    # a parenthesis after a variable is a factor, not a call: postfix binds to it alone
    ("x^T (A + B)^-1 x",   mm(T(x), Inverse(add(A, B)), x)),
    ("A (B)^T",            mm(A, T(B))),
    ("W (x)'",             mm(W, T(x))),
    ("2 (A + B)^2",        mm(C(2), MatPow(Fraction(2), add(A, B)))),
    ("a b (c)",            mm(V("a"), b, c)),
    ("1/2 (x + y)",        mm(C(Fraction(1, 2)), add(x, y))),
    ("a / b (c + x)",      mm(div(V("a"), b), add(c, x))),
    ("Phi (z)",            fn("Phi", z)),
    ("Phi' (z)",           fn("Phi", z, 1)),
    ("1/2 ||y - t||^2",    mm(C(Fraction(1, 2)), MatPow(Fraction(2), Bars(sub(y, t))))),
    ("||W x||^2",          MatPow(Fraction(2), Bars(mm(W, x)))),
    ("a ||x|| b",          mm(V("a"), Bars(x), b)),
    ("||x|| ||y||",        mm(Bars(x), Bars(y))),
    ("||x|| + ||y||",      add(Bars(x), Bars(y))),
    ("|| ||x|| ||",        Bars(Bars(x))),
    ("‖x - ‖y‖‖",          Bars(sub(x, Bars(y)))),
    ("A^T^-1",             Inverse(T(A))),
    ("A^-1^T",             T(Inverse(A))),
    ("A^2^T",              T(MatPow(Fraction(2), A))),
    ("x^T A x / 2",        div(mm(T(x), A, x), C(2))),
    ("A B / c d",          mm(div(mm(A, B), c), V("d"))),
    ("A / 2 B",            mm(div(A, C(2)), B)),
    ("x .^ -1 / b",        div(HadamardPow(Fraction(-1), x), b)),
    ("(A + B)^T",          T(add(A, B))),
    ("Phi(z)^T",           T(fn("Phi", z))),
    ("Phi'(z)'",           T(fn("Phi", z, 1))),
    ("exp(x)^T y",         mm(T(fn("exp", x)), y)),
    ("x^T (A + B) x",      mm(T(x), add(A, B), x)),
    ("x^T(A + B) x",       mm(T(x), add(A, B), x)),
    ("tr(A X B)",          Trace(mm(A, X, B))),
    ("1 - x",              sub(C(1), x)),
    ("-1/2 x",             neg(mm(C(Fraction(1, 2)), x))),
]


@pytest.mark.parametrize("src, expected", PRECEDENCE, ids=[s for s, _ in PRECEDENCE])
def test_precedence(src, expected):
    assert P(src) == expected


def test_difference_is_not_a_product_with_a_negation():
    assert P("A - B") != mm(A, neg(B))
    assert P("A -B") == P("A - B")


@pytest.mark.parametrize("src", ["A + B", " A+B ", "A\t+ B", "A + B  # a comment", "(A + B)", "((A) + (B))"])
def test_whitespace_comments_and_parentheses_do_not_matter(src):
    assert P(src) == add(A, B)


# ---- programs ----------------------------------------------------------------------------------------

NET = SOFTMAX_NET


def test_program_lines_are_assignments_and_the_last_is_the_function():
    prog = parse(NET)
    assert prog == Program(
        defs=(Assign("z", mm(W, x)),
              Assign("h", fn("relu", z)),
              Assign("theta", mm(V("U"), V("h")))),
        result=neg(mm(T(y), fn("log", Softmax(V("theta"))))),
        name="J")


@pytest.mark.parametrize("src", [
    "z = W x; h = relu(z); theta = U h; J = -y^T log(softmax(theta))",
    "# a network\nz = W x\n\nh = relu(z)   # hidden layer\ntheta = U h\r\nJ = -y^T log(softmax(theta))\n",
    "\n\nz = W x;\nh = relu(z)\n;theta = U h\nJ = -y^T log(softmax(theta));;\n",
])
def test_program_separators_and_comments(src):
    assert parse(src) == parse(NET)


def test_program_without_a_name_for_the_last_line():
    prog = parse("z = W x\nsum(tanh(z))")
    assert prog.name is None
    assert prog.defs == (Assign("z", mm(W, x)),)
    assert prog.result == Sum(fn("tanh", z))


def test_a_single_expression_is_a_program_without_definitions():
    prog = parse("x^T A x")
    assert prog == Program((), mm(T(x), A, x), None)
    assert parse_expression("x^T A x") == prog.result


def test_program_with_latex_names():
    prog = parse("\\theta = W x\nJ = \\theta^T \\theta")
    assert prog.defs == (Assign("θ", mm(W, x)),)
    assert prog.result == mm(T(V("θ")), V("θ"))


def test_program_line_with_norm_after_a_comment_holding_bars():
    prog = parse("# ||x\ny = W x  # a || b\nL = ||y||^2")
    assert prog.result == MatPow(Fraction(2), Bars(y))


# ---- abstract functions, declared --------------------------------------------------------------------

@pytest.mark.parametrize("src, functions, expected", [
    ("f(x)",            ["f"],        fn("f", x)),
    ("f'(x)",           ["f"],        fn("f", x, 1)),
    ("f''(W x)",        ["f"],        fn("f", mm(W, x), 2)),
    ("g(f(x)) + f(y)",  ["f", "g"],   add(fn("g", fn("f", x)), fn("f", y))),
    ("Gamma(x)",        ["Gamma"],    fn("Gamma", x)),
    ("h (x)",           ["h"],        fn("h", x)),
    ("h (x)",           [],           mm(V("h"), x)),
    ("W(x)",            ["W"],        fn("W", x)),
    ("W'(x)",           ["W"],        fn("W", x, 1)),
    ("W' x",            [],           mm(T(W), x)),
])
def test_declared_functions(src, functions, expected):
    assert P(src, functions) == expected


def test_declaring_a_function_changes_only_that_name():
    assert P("f(x) g(y)", ["f"]) == mm(fn("f", x), V("g"), y)


def test_parse_rejects_what_is_not_text():
    with pytest.raises(ParseError, match="expected the text"):
        parse(None)
