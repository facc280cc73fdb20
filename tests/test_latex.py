"""The LaTeX printer: every node type, precedence (checked by reading the LaTeX back), Greek
names, names that cannot inject LaTeX, matdiff.latex for every kind of result, `grad --latex`,
and that all of it compiles with pdflatex."""
from __future__ import annotations

import re
import shutil
from fractions import Fraction

import pytest

import matdiff
from matdiff.cli import main
from matdiff.language.expr import (
    NODE_TYPES, Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Fn, Hadamard, HadamardPow, Identity,
    Inverse, Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Softmax, Sum, Trace, Transpose, Unvec,
    Var, Vec, Zero,
)
from matdiff.printing.latex import LATEX, function_name, latex_name, to_latex
from matdiff.sheets.document import compile_pdf, identity_latex
from matdiff.language.problem import Problem
from seed_cases import TUTORIAL12, TUTORIAL12_CONCRETE

A, B, C, X = (Var(n, ("n", "n")) for n in "ABCX")
x, y = Var("x", ("n",)), Var("y", ("n",))
a = Var("alpha", ())
k = Const(Fraction(1, 2))


def test_every_node_type_has_a_latex_rule():
    assert set(LATEX) == set(NODE_TYPES)


@pytest.mark.parametrize("e, want", [
    (A,                                   "A"),
    (Const(Fraction(3)),                  "3"),
    (k,                                   r"\frac{1}{2}"),
    (Identity("n"),                       "I"),
    (Zero(("n", "n")),                    "0"),
    (Ones(("n", 1)),                      r"\mathbf{1}"),
    (Ones(("n", "n")),                    r"\mathbf{1}\mathbf{1}^{\top}"),
    (Differential(X),                     "dX"),
    (Differential(MatMul((A, X))),        r"d(A \, X)"),
    (Add((A, B)),                         "A + B"),
    (Add((A, Mul((Const(Fraction(-1)), B)))), "A - B"),
    (MatMul((A, X, B)),                   r"A \, X \, B"),
    (Mul((Const(Fraction(2)), a, X)),     r"2 \alpha \, X"),
    (Mul((x, HadamardPow(Fraction(-1), Norm(x)))), r"\frac{x}{\lVert x \rVert}"),
    (Hadamard((x, y)),                    r"x \odot y"),
    (Hadamard((x, HadamardPow(Fraction(-1), y))), r"x \oslash y"),
    (Kron((A, B)),                        r"A \otimes B"),
    (Transpose(A),                        r"A^{\top}"),
    (Transpose(Inverse(A)),               r"A^{-\top}"),
    (Inverse(A),                          r"A^{-1}"),
    (Inverse(Transpose(A)),               r"(A^{\top})^{-1}"),
    (MatPow(Fraction(3), A),              r"A^{3}"),
    (HadamardPow(Fraction(2), x),         r"x^{\circ 2}"),
    (Pow((a, Var("beta", ()))),          r"\alpha^{\beta}"),
    (Pow((x, y)),                         r"x^{\circ y}"),
    (Pow((x, a)),                         r"x^{\circ \alpha}"),
    (Pow((Const(Fraction(2)), x)),        r"2^{\circ x}"),
    (Pow((x, Add((y, x)))),               r"x^{\circ (y + x)}"),
    (Pow((a, Add((a, Const(Fraction(1)))))), r"\alpha^{\alpha + 1}"),
    (Trace(A),                            r"\operatorname{tr}(A)"),
    (Det(A),                              r"\det(A)"),
    (LogDet(A),                           r"\log\det(A)"),
    (Sum(A),                              r"\operatorname{sum}(A)"),
    (Norm(x),                             r"\lVert x \rVert"),
    (Norm(A),                             r"\lVert A \rVert_{F}"),
    (DiagMat(x),                          r"\operatorname{diag}(x)"),
    (DiagOf(A),                           r"\operatorname{diag}(A)"),
    (Vec(A),                              r"\operatorname{vec}(A)"),
    (Unvec("n", "n", Vec(A)),             r"\operatorname{unvec}_{n \times n}(\operatorname{vec}(A))"),
    (Softmax(x),                          r"\operatorname{softmax}(x)"),
    (LogSumExp(x),                        r"\operatorname{logsumexp}(x)"),
    (Apply(Fn("Phi"), x),                 r"\Phi(x)"),
    (Apply(Fn("Phi", 1), x),              r"\Phi'(x)"),
    (Apply(Fn("psi", 2), x),              r"\psi''(x)"),
    (Apply(Fn("θ"), x),                   r"\theta(x)"),
    (Apply(Fn("sigmoid", 1), x),          r"\sigma'(x)"),
    (Apply(Fn("tanh"), x),                r"\tanh(x)"),
    (Apply(Fn("exp"), x),                 r"\exp(x)"),
    (Apply(Fn("log"), x),                 r"\log(x)"),
    (Apply(Fn("relu", 1), x),             r"\operatorname{relu}'(x)"),
    (Apply(Fn("sqrt"), x),                r"\sqrt{x}"),
    (Apply(Fn("gelu"), x),                r"\operatorname{gelu}(x)"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_each_node(e, want):
    assert to_latex(e) == want


@pytest.mark.parametrize("name, want", [
    ("W1", "W_{1}"), ("b_2", "b_{2}"), ("z4", "z_{4}"), ("Z3", "Z_{3}"), ("delta_z", r"\delta_{z}"),
    ("delta_z1", r"\delta_{z_{1}}"), ("theta", r"\theta"), ("θ", r"\theta"), ("alpha", r"\alpha"),
    ("Phi", r"\Phi"), ("Ψ", r"\Psi"), ("alpha_1", r"\alpha_{1}"), ("yhat", r"\hat{y}"), ("x_hat", r"\hat{x}"),
    ("W1_a", "W_{1,a}"), ("loss", r"\mathit{loss}"), ("x", "x"),
])
def test_names_as_a_sheet_writes_them(name, want):
    assert latex_name(name) == want


def test_function_names():
    assert function_name("sigmoid") == r"\sigma"
    assert function_name("Phi") == r"\Phi"
    assert function_name("psi") == r"\psi"
    assert function_name("f") == "f"


ALLOWED = {r"\mathrm", r"\backslash", r"\wedge", r"\sim"}


@pytest.mark.parametrize("name", [
    "a\\input{/etc/passwd}", "x}y", "{", "}", "\\", "$x$", "a&b", "a%b", "a#b", "a^b", "a~b",
    "\\def\\x{1}", "é", "a b", "\\catcode`\\^^@=11",
])
def test_names_cannot_inject_latex(name):
    s = latex_name(name)
    assert set(re.findall(r"\\[A-Za-z]+", s)) <= ALLOWED
    depth = 0
    for i, c in enumerate(s):                  # braces balance, escaped ones aside
        if c in "{}" and (i == 0 or s[i - 1] != "\\"):
            depth += 1 if c == "{" else -1
            assert depth >= 0
    assert depth == 0
    # and the same name inside an expression
    e = to_latex(MatMul((Var(name, ("n", "n")), x)))
    assert "\\input" not in e and "\\def" not in e and "\\catcode" not in e


# ---- precedence: reading the LaTeX back as matdiff text gives the same expression ----------------

_BACK = [
    (r"\\operatorname\{([a-z]+)\}", r"\1"), (r"\\log\\det", "logdet"), (r"\\det", "det"), (r"\\tanh", "tanh"),
    (r"\\exp", "exp"), (r"\\log", "log"), (r"\\sigma", "sigmoid"), (r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)"),
    (r"\\left", ""), (r"\\right", ""), (r"\\lVert", "||"), (r"\\rVert_\{F\}", "||_F"), (r"\\rVert", "||"),
    (r"\^\{\\top\}", "^T"), (r"\^\{-\\top\}", "^-T"), (r"\^\{-1\}", "^-1"), (r"\^\{\\circ ([^{}]*)\}", r" .^ \1"),
    (r"\^\{([^{}]*)\}", r"^\1"), (r"\\odot", "∘"), (r"\\oslash", "./"), (r"\\otimes", "⊗"), (r"\\,", " "),
    (r"\\mathbf\{1\}", "1"), (r"\\([A-Za-z]+)", r"\1"),
    (r"_\{(\d+)\}", r"\1"),
]


def from_latex(s: str) -> str:
    """matdiff text from the LaTeX of the constructs below (enough to test the parentheses)."""
    while r"\frac" in s:                       # \frac{a}{b} -> (a) / (b), braces balanced
        i = s.index(r"\frac")
        parts, j = [], i + len(r"\frac")
        for _ in range(2):
            depth, start = 0, j
            while True:
                depth += {"{": 1, "}": -1}.get(s[j], 0)
                j += 1
                if depth == 0:
                    break
            parts.append(s[start + 1:j - 1])
        s = s[:i] + f"({parts[0]}) / ({parts[1]})" + s[j:]
    for pat, rep in _BACK:
        s = re.sub(pat, rep, s)
    return s


@pytest.mark.parametrize("src", [
    "A - (B - C)", "(A + B)^T", "(A B)^T", "A (B + C)", "(A + B) (C + X)", "(A ∘ B) C", "A ∘ (B C)",
    "(A ∘ B) ∘ C", "A ∘ (B + C)", "-(A + B)", "-A B", "2 (A + B)", "(x^T x) A", "inv(A + B)",
    "inv(A)^T", "(A^T)^-1", "tr(A X B) + det(X)", "logdet(X)", "exp(A x) ∘ y", "Phi'(W x + b)",
    TUTORIAL12, "1/2 ||X W - Y||_F^2", "x^T A x / (x^T x)", "kron(A, B) C",
    "diag(x) y", "sigmoid(x) ./ x", "x .^ 2", "A^3", "alpha^2 x", "sqrt(x) + tanh(x)",
    "x .^ y", "2 .^ x", "(x .^ y)^T", "x .^ (y + x)", "alpha^beta x", "x .^ alpha", "(A .^ B)^2",
])
def test_precedence_round_trips_through_latex(src):
    f = Problem.of(src).f
    text = from_latex(to_latex(f))
    assert Problem.of(text).f == f, (to_latex(f), text)


# ---- matdiff.latex and the CLI ---------------------------------------------------------------------

def test_latex_of_every_kind_of_result():
    g = matdiff.derive_gradient(TUTORIAL12, "W")
    assert matdiff.latex(g.inlined["W"]).startswith(r"(\Psi'(")                 # an Expr
    assert r"\frac{\partial f}{\partial W}" in matdiff.latex(g)               # a Gradient
    s = matdiff.latex(matdiff.gradient(TUTORIAL12, wrt="W"))                  # a SymPy expression
    assert r"\Psi'" in s and r"\Phi'" in s and "mapsto" not in s
    assert r"\nabla_{x}" in matdiff.latex(matdiff.gradient("x^T A x", wrt=["x", "A"]))    # a dict
    assert matdiff.latex("x^T A x") == r"x^{\top} \, A \, x"                              # text
    assert matdiff.latex("z = W x\nJ = z^T z").startswith(r"\begin{aligned} z &= W \, x")
    with pytest.raises(matdiff.MatdiffError):
        matdiff.latex(object())


def test_sympy_latex_of_concrete_functions():
    s = matdiff.latex(matdiff.gradient(TUTORIAL12_CONCRETE, wrt="W"))
    assert r"\tanh'" in s and r"\sigma'" in s


@pytest.mark.parametrize("src, want", [
    ("abs(x)", r"\left|x\right|"), ("abs(W x - y)", r"\left|W \, x - y\right|"),
    ("sign(x)", r"\operatorname{sign}(x)"), ("tan(x)", r"\tan(x)"), ("asin(x)", r"\arcsin(x)"),
    ("acos(x)", r"\arccos(x)"), ("atan(x)", r"\arctan(x)"), ("sinh(x)", r"\sinh(x)"), ("cosh(x)", r"\cosh(x)"),
    ("||x||_1", r"\operatorname{sum}(\left|x\right|)"), ("norm2(x)", r"\lVert x \rVert"),
])
def test_issue13_words_in_latex(src, want):
    assert to_latex(Problem.of(src).f) == want


def test_sympy_latex_of_issue13_words():
    """abs' = sign is printed sign, arcsin' as arcsin': each Lambda body named as the sheets write it."""
    s = matdiff.latex(matdiff.gradient("sum(abs(W x)) + sum(arcsin(x)) + sum(sinh(x))", wrt="x"))
    assert r"\operatorname{sign}\left(" in s and r"\arcsin'\left(" in s and r"\cosh\left(" in s
    assert "mapsto" not in s


def test_repr_latex_for_jupyter():
    out = matdiff.derive_gradient("z = W x\nh = relu(z)\nJ = sum(h)", "W")._repr_latex_()
    assert out.startswith("$$\\begin{aligned}") and out.endswith("\\end{aligned}$$")
    assert r"\operatorname{relu}'(z)" in out


def test_cli_grad_latex(capsys):
    assert main(["grad", TUTORIAL12, "--wrt", "W", "--latex"]) == 0
    out = capsys.readouterr().out
    assert "∂f/∂W = " in out                                   # the text, then the LaTeX
    assert r"\begin{aligned} z_{1} &= W \, x + b" in out
    assert r"\frac{\partial f}{\partial W} &=" in out


# ---- it compiles ---------------------------------------------------------------------------------

def test_every_node_and_identity_compiles():
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (CI installs it)")
    from matdiff.calculus.canon import PULLBACK_RULES
    from matdiff.calculus.diff import DIFF_RULES
    from matdiff.calculus.record import identity
    exprs = [e for e, _ in test_each_node.pytestmark[0].args[1]]
    lines = [to_latex(e) for e in exprs]
    lines += [to_latex(Problem.of(s).f) for s in test_precedence_round_trips_through_latex.pytestmark[0].args[1]]
    lines += [identity_latex(identity(r)) for r in {*DIFF_RULES.values(), *PULLBACK_RULES.values()}]
    lines += [latex_name(n) for n in test_names_cannot_inject_latex.pytestmark[0].args[1]]
    body = "\n".join(f"\\[ {s} \\]" for s in lines)
    pdf = compile_pdf("\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
                      + body + "\n\\end{document}\n")
    assert pdf.startswith(b"%PDF")


# ---- printing a SymPy result stays linear (no doit per product) ----------------------------------

def test_latex_and_cli_print_a_big_sympy_result_quickly(capsys):
    """sympy.latex of this Hessian took 142 s and str() 70 s: SymPy's printers ask every MatMul
    could_extract_minus_sign, which is -self, a deep doit (DiagonalOf.doit asks the SAT solver).
    matdiff's printers look at the first factor; the text is SymPy's own."""
    import time

    import sympy as sp
    from sympy.matrices.expressions.matmul import MatMul

    from matdiff.printing.sympy_latex import sympy_str
    src = "||(B23 A33)^T softmax(a2 .^ 2)||"
    h = matdiff.hessian(src, wrt="a2")
    t = time.perf_counter()
    tex, text = matdiff.latex(h), sympy_str(h)
    assert time.perf_counter() - t < 5
    assert r"\operatorname{softmax}" in tex or "exp" in tex
    assert "could_extract_minus_sign" not in MatMul.__dict__          # SymPy's method is back
    t = time.perf_counter()
    assert main(["hessian", src, "--wrt", "a2", "--sympy", "--latex"]) == 0
    assert time.perf_counter() - t < 5 and "sympy: " in capsys.readouterr().out
    # the same text as SymPy's own printers, and the same sign decisions
    X, Y = sp.MatrixSymbol("X", 3, 3), sp.MatrixSymbol("Y", 3, 3)
    for e in (MatMul(-2, X, Y), MatMul(X, Y), sp.MatAdd(X, MatMul(-1, X, Y)), matdiff.gradient("x^T A x - 3 b^T x", wrt="x")):
        assert sympy_str(e) == str(e) and matdiff.latex(e) == sp.latex(e)


def test_printing_a_kronecker_hessian_does_not_call_sympys_doit():
    """matdiff.latex of this Hessian raised AttributeError ('Mul' object has no attribute
    'is_Identity') from KroneckerProduct.doit, which the printer's -term called."""
    import sympy as sp
    from sympy.matrices.expressions.matexpr import MatrixExpr

    from matdiff.printing.sympy_latex import sympy_str
    neg = MatrixExpr.__neg__
    h = matdiff.hessian("logdet((2 A)(4 A)^T)", wrt="A", shapes={"A": (2, 2)})
    tex, text = matdiff.latex(h), sympy_str(h)
    assert r"\otimes" in tex and "- 8" in tex and "KroneckerProduct" in text
    assert MatrixExpr.__neg__ is neg
    # the result printed is the Hessian: evaluated, against second differences
    import numpy as np
    A = np.array([[1.3, 0.2], [-0.4, 0.9]])
    Asym = sp.MatrixSymbol("A", 2, 2)
    got = np.array(h.subs(Asym, sp.Matrix(A)).as_explicit().evalf(), dtype=float)
    f = lambda M: np.log(np.linalg.det(8 * M @ M.T))
    eps, want = 1e-5, np.zeros((4, 4))
    E = [np.eye(4)[k].reshape(2, 2, order="F") for k in range(4)]
    for i in range(4):
        for j in range(4):
            want[i, j] = (f(A + eps * E[i] + eps * E[j]) - f(A + eps * E[i] - eps * E[j])
                          - f(A - eps * E[i] + eps * E[j]) + f(A - eps * E[i] - eps * E[j])) / (4 * eps ** 2)
    assert np.allclose(got, want, atol=1e-4)
