"""Every differential rule, one at a time, against finite differences of hand-written NumPy.

For each node type an expression that exercises its rule, with a NumPy function written
here by hand. Three checks per case:

- the gradient matdiff derives (evaluated with matdiff's evaluator) equals the full
  entrywise central-difference gradient of the hand-written function;
- the SymPy result of `matdiff.gradient` (evaluated by the independent SymPy walker in
  helpers_calculus) equals it too;
- the differential `df` along random directions equals the directional derivative.

Then the rules alone: each DIFF_RULES entry applied to a node whose children are
variables, and each PULLBACK_RULES identity <M, E> = sum <g_X, dX>, both numerically.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import matdiff
from helpers_calculus import (
    PHI, Case, as_natural, assert_close, draw_all, fd_directional, fd_gradient, matdiff_value, sigmoid, softmax,
    sympy_evaluate, to2d,
)
from matdiff.language import functions as F
from matdiff.api import derive_differential
from matdiff.calculus.canon import PULLBACK_RULES, pullback
from matdiff.calculus.diff import DIFF_RULES, depends_on, local_differential
from matdiff.language.expr import (
    NODE_TYPES, Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Fn, Hadamard, HadamardPow, Identity,
    Inverse, Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Softmax, Sum, Trace, Transpose, Unvec,
    Var, Vec, Zero,
)
from matdiff.calculus.record import identity
from matdiff.language.shapes import shape_of



V34 = dict(a=(3,), X=(3, 4), b=(4,))                  # a^T X b with a rectangular X
SQ = dict(a=(3,), X=(3, 3), b=(3,))

ELEMENTWISE = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "sigmoid": sigmoid,
    "relu": lambda z: np.maximum(z, 0), "softplus": lambda z: np.logaddexp(0, z), "sqrt": np.sqrt,
    "sign": np.sign, "abs": np.abs, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos,
    "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
}
POSITIVE_ARG = {name for name, r in F.ELEMENTWISE.items() if r.domain == "positive"}
UNIT_ARG = {name for name, r in F.ELEMENTWISE.items() if r.domain == "unit"}       # arcsin: in (-1, 1)

CASES = [
    # sum, difference, negation
    Case("add", "a^T (X + Y) b", "X", dict(a=(3,), X=(3, 4), Y=(3, 4), b=(4,)),
         lambda a, X, Y, b: a @ (X + Y) @ b),
    Case("sub", "a^T (Y - X) b - a^T X b", "X", dict(a=(3,), X=(3, 4), Y=(3, 4), b=(4,)),
         lambda a, X, Y, b: a @ (Y - X) @ b - a @ X @ b),
    Case("neg", "-(a^T X b)", "X", V34, lambda a, X, b: -(a @ X @ b)),
    # products
    Case("matmul-left", "a^T X Y b", "X", dict(a=(3,), X=(3, 4), Y=(4, 2), b=(2,)),
         lambda a, X, Y, b: a @ X @ Y @ b),
    Case("matmul-right", "a^T X Y b", "Y", dict(a=(3,), X=(3, 4), Y=(4, 2), b=(2,)),
         lambda a, X, Y, b: a @ X @ Y @ b),
    Case("matmul-twice", "a^T X B X b", "X", dict(a=(3,), X=(3, 4), B=(4, 3), b=(4,)),
         lambda a, X, B, b: a @ X @ B @ X @ b),
    Case("scalar-times", "alpha a^T X b", "alpha", dict(alpha=(), **V34),
         lambda alpha, a, X, b: alpha * (a @ X @ b)),
    Case("scalar-times-X", "alpha a^T X b", "X", dict(alpha=(), **V34),
         lambda alpha, a, X, b: alpha * (a @ X @ b)),
    Case("number-times", "3 a^T X b", "X", V34, lambda a, X, b: 3 * (a @ X @ b)),
    Case("scalar-expr-times-matrix", "a^T ((x^T x) X) b", "x", dict(x=(2,), **V34),
         lambda x, a, X, b: (x @ x) * (a @ X @ b)),
    # transpose, inverse, powers
    Case("transpose", "a^T X^T b", "X", dict(a=(4,), X=(3, 4), b=(3,)), lambda a, X, b: a @ X.T @ b),
    Case("inverse", "a^T inv(X) b", "X", SQ, lambda a, X, b: a @ np.linalg.inv(X) @ b, kinds=dict(X="wellcond")),
    Case("inverse-caret", "a^T X^-1 b", "X", SQ, lambda a, X, b: a @ np.linalg.inv(X) @ b, kinds=dict(X="wellcond")),
    Case("matpow-2", "a^T X^2 b", "X", SQ, lambda a, X, b: a @ X @ X @ b),
    Case("matpow-3", "a^T X^3 b", "X", SQ, lambda a, X, b: a @ np.linalg.matrix_power(X, 3) @ b),
    Case("matpow-of-transpose", "a^T (X^T)^2 b", "X", SQ, lambda a, X, b: a @ X.T @ X.T @ b),
    # elementwise algebra
    Case("hadamard", "a^T (X ∘ Y) b", "X", dict(a=(3,), X=(3, 4), Y=(3, 4), b=(4,)),
         lambda a, X, Y, b: a @ (X * Y) @ b),
    Case("hadamard-self", "a^T (X .* X .* Y) b", "X", dict(a=(3,), X=(3, 4), Y=(3, 4), b=(4,)),
         lambda a, X, Y, b: a @ (X * X * Y) @ b),
    Case("hadamard-div-num", "a^T (X ./ Y) b", "X", dict(a=(3,), X=(3, 4), Y=(3, 4), b=(4,)),
         lambda a, X, Y, b: a @ (X / Y) @ b, kinds=dict(Y="pos")),
    Case("hadamard-div-den", "a^T (X ./ Y) b", "Y", dict(a=(3,), X=(3, 4), Y=(3, 4), b=(4,)),
         lambda a, X, Y, b: a @ (X / Y) @ b, kinds=dict(Y="pos")),
    Case("hadamard-pow-3", "a^T (X .^ 3) b", "X", V34, lambda a, X, b: a @ X ** 3 @ b),
    Case("hadamard-pow-half", "a^T (X .^ {1/2}) b", "X", V34, lambda a, X, b: a @ np.sqrt(X) @ b, kinds=dict(X="pos")),
    Case("hadamard-pow-neg", "a^T (X .^ -2) b", "X", V34, lambda a, X, b: a @ X ** -2.0 @ b, kinds=dict(X="pos")),
    Case("div-by-number", "a^T X b / 2", "X", V34, lambda a, X, b: a @ X @ b / 2),
    Case("div-by-scalar-var", "(a^T X b) / alpha", "alpha", dict(alpha=(), **V34),
         lambda alpha, a, X, b: a @ X @ b / alpha, kinds=dict(alpha="pos")),
    Case("matrix-div-by-scalar", "a^T (X / alpha) b", "X", dict(alpha=(), **V34),
         lambda alpha, a, X, b: a @ (X / alpha) @ b, kinds=dict(alpha="pos")),
    # elementwise functions, builtin and abstract
    *[Case(f"apply-{name}", f"a^T {name}(X b)", "X", V34,
           (lambda fn: lambda a, X, b: a @ fn(X @ b))(fn),
           kinds=dict(X="pos", b="pos") if name in POSITIVE_ARG else dict(X="small", b="small")
           if name in UNIT_ARG else {})
      for name, fn in ELEMENTWISE.items()],
    Case("apply-sigma", "a^T σ(X b)", "b", V34, lambda a, X, b: a @ sigmoid(X @ b)),
    Case("apply-Phi", "a^T Phi(X b)", "X", V34, lambda a, X, b: a @ PHI(X @ b)),
    Case("apply-Phi-wrt-inner", "a^T Phi(X b)", "b", V34, lambda a, X, b: a @ PHI(X @ b)),
    Case("apply-Phi''", "a^T Phi''(X b)", "X", V34, lambda a, X, b: a @ PHI(X @ b, 2)),
    Case("apply-Phi-matrix", "sum(Phi(A X))", "X", dict(A=(2, 3), X=(3, 4)), lambda A, X: np.sum(PHI(A @ X))),
    # powers with a variable exponent, of a positive base: d(A .^ B) = B ∘ A .^ (B-1) ∘ dA + A .^ B ∘ log(A) ∘ dB
    Case("pow-scalars-base", "a^b", "a", dict(a=(), b=()), lambda a, b: a ** b, kinds=dict(a="pos")),
    Case("pow-scalars-exponent", "a^b", "b", dict(a=(), b=()), lambda a, b: a ** b, kinds=dict(a="pos")),
    Case("pow-scalars-exponent-expression", "a^(b c + 1) c", "c", dict(a=(), b=(), c=()),
         lambda a, b, c: a ** (b * c + 1) * c, kinds=dict(a="pos")),
    Case("hpow-scalar-exponent-wrt-base", "a^T (X .^ p) b", "X", dict(p=(), **V34),
         lambda p, a, X, b: a @ X ** p @ b, kinds=dict(X="pos")),
    Case("hpow-scalar-exponent-wrt-exponent", "a^T (X .^ p) b", "p", dict(p=(), **V34),
         lambda p, a, X, b: a @ X ** p @ b, kinds=dict(X="pos")),
    Case("hpow-matrix-exponent-wrt-base", "a^T (X .^ Y) b", "X", dict(a=(3,), X=(3, 4), Y=(3, 4), b=(4,)),
         lambda a, X, Y, b: a @ X ** Y @ b, kinds=dict(X="pos")),
    Case("hpow-matrix-exponent-wrt-exponent", "a^T (X .^ Y) b", "Y", dict(a=(3,), X=(3, 4), Y=(3, 4), b=(4,)),
         lambda a, X, Y, b: a @ X ** Y @ b, kinds=dict(X="pos")),
    Case("hpow-constant-base", "a^T (2 .^ X) b", "X", V34, lambda a, X, b: a @ 2.0 ** X @ b),
    Case("hpow-scalar-base", "a^T (alpha .^ X) b", "alpha", dict(alpha=(), **V34),
         lambda alpha, a, X, b: a @ alpha ** X @ b, kinds=dict(alpha="pos")),
    Case("hpow-same-variable", "sum(x .^ x)", "x", dict(x=(3,)), lambda x: np.sum(x ** x), kinds=dict(x="pos")),
    Case("hpow-vector-exponent-expression", "c^T (x .^ (W x))", "x", dict(c=(3,), x=(3,), W=(3, 3)),
         lambda c, x, W: c @ x ** (W @ x), kinds=dict(x="pos")),
    # trace, determinant
    Case("trace", "tr(A X)", "X", dict(A=(4, 3), X=(3, 4)), lambda A, X: np.trace(A @ X)),
    Case("trace-alone", "tr(X)", "X", dict(X=(3, 3)), lambda X: np.trace(X)),
    Case("det", "det(X)", "X", dict(X=(3, 3)), lambda X: np.linalg.det(X)),
    Case("det-of-product", "det(A X)", "X", dict(A=(3, 3), X=(3, 3)), lambda A, X: np.linalg.det(A @ X)),
    Case("logdet", "logdet(X)", "X", dict(X=(3, 3)), lambda X: np.linalg.slogdet(X)[1], kinds=dict(X="wellcond")),
    Case("log-det", "log(det(X))", "X", dict(X=(3, 3)), lambda X: np.log(np.linalg.det(X)), kinds=dict(X="wellcond")),
    # vector functions
    Case("softmax", "a^T softmax(X b)", "X", V34, lambda a, X, b: a @ softmax(X @ b)),
    Case("softmax-wrt-b", "a^T softmax(X b)", "b", V34, lambda a, X, b: a @ softmax(X @ b)),
    Case("logsumexp", "logsumexp(X b)", "X", dict(X=(3, 4), b=(4,)),
         lambda X, b: np.log(np.sum(np.exp(X @ b)))),
    # norms and sums
    Case("norm", "norm(x)", "x", dict(x=(3,)), lambda x: np.linalg.norm(x)),
    Case("norm-bars", "||X b - a||", "X", V34, lambda a, X, b: np.linalg.norm(X @ b - a)),
    Case("norm-squared", "||x||^2", "x", dict(x=(3,)), lambda x: x @ x),
    Case("norm-squared-affine", "||X b - a||^2", "b", V34, lambda a, X, b: np.sum((X @ b - a) ** 2)),
    Case("frobenius", "||X||_F", "X", dict(X=(3, 4)), lambda X: np.linalg.norm(X)),
    Case("frobenius-squared", "||X||_F^2", "X", dict(X=(3, 4)), lambda X: np.sum(X ** 2)),
    Case("frobenius-squared-product", "||A X||_F^2", "X", dict(A=(2, 3), X=(3, 4)), lambda A, X: np.sum((A @ X) ** 2)),
    Case("sum", "sum(X)", "X", dict(X=(3, 4)), lambda X: np.sum(X)),
    Case("sum-of-product", "sum(A X)", "X", dict(A=(2, 3), X=(3, 4)), lambda A, X: np.sum(A @ X)),
    # diagonal both ways
    Case("diag-of-vector", "a^T diag(x) b", "x", dict(a=(3,), x=(3,), b=(3,)), lambda a, x, b: a @ np.diag(x) @ b),
    Case("diag-of-vector-in-product", "tr(diag(x) A)", "x", dict(x=(3,), A=(3, 3)),
         lambda x, A: np.trace(np.diag(x) @ A)),
    Case("diag-of-matrix", "a^T diag(X)", "X", dict(a=(3,), X=(3, 3)), lambda a, X: a @ np.diag(X)),
    Case("diag-of-matrix-product", "a^T diag(A X)", "X", dict(a=(2,), A=(2, 3), X=(3, 2)),
         lambda a, A, X: a @ np.diag(A @ X)),
    # Kronecker product, vec
    Case("kron-right", "tr(kron(A, X) B)", "X", dict(A=(2, 3), X=(3, 2), B=(6, 6)),
         lambda A, X, B: np.trace(np.kron(A, X) @ B)),
    Case("kron-left", "c^T kron(x, y)", "x", dict(c=(6,), x=(3,), y=(2,)),
         lambda c, x, y: c @ np.kron(x, y)),
    Case("kron-left-matrix", "tr(kron(X, A) B)", "X", dict(A=(2, 3), X=(3, 2), B=(6, 6)),
         lambda A, X, B: np.trace(np.kron(X, A) @ B)),
    Case("kron-both", "a^T kron(X, X) b", "X", dict(a=(4,), X=(2, 3), b=(9,)),
         lambda a, X, b: a @ np.kron(X, X) @ b),
    Case("kron-transposed", "tr(kron(X^T, X) B)", "X", dict(X=(2, 3), B=(6, 6)),
         lambda X, B: np.trace(np.kron(X.T, X) @ B)),
    Case("kron-nested", "tr(kron(kron(A, X), C) B)", "X", dict(A=(2, 3), X=(3, 2), C=(2, 2), B=(12, 12)),
         lambda A, X, C, B: np.trace(np.kron(np.kron(A, X), C) @ B)),
    Case("kron-sum", "sum(kron(A, X))", "X", dict(A=(2, 3), X=(3, 2)), lambda A, X: np.sum(np.kron(A, X))),
    Case("kron-trace", "tr(kron(A, X))", "X", dict(A=(2, 2), X=(3, 3)), lambda A, X: np.trace(np.kron(A, X))),
    Case("kron-right-vector", "c^T kron(x, y)", "y", dict(c=(6,), x=(3,), y=(2,)), lambda c, x, y: c @ np.kron(x, y)),
    Case("kron-vector-matrix", "tr(kron(x, X) B)", "x", dict(x=(2,), X=(3, 2), B=(2, 6)),
         lambda x, X, B: np.trace(np.kron(x[:, None], X) @ B)),
    Case("kron-rows", "kron(x^T, y^T) c", "x", dict(c=(6,), x=(3,), y=(2,)), lambda c, x, y: np.kron(x, y) @ c),
    Case("kron-scalar", "sum(kron(alpha, X))", "alpha", dict(alpha=(), X=(3, 2)), lambda alpha, X: alpha * np.sum(X)),
    Case("kron-of-scalar-variable", "tr(kron(A, alpha B))", "alpha", dict(alpha=(), A=(2, 2), B=(3, 3)),
         lambda alpha, A, B: alpha * np.trace(A) * np.trace(B)),
    Case("kron-const", "a^T kron(A, B) b + a^T kron(A, B) X b", "X", dict(a=(6,), A=(2, 3), B=(3, 2), X=(6, 6), b=(6,)),
         lambda a, A, B, X, b: a @ np.kron(A, B) @ b + a @ np.kron(A, B) @ X @ b),
    Case("vec", "a^T vec(X)", "X", dict(a=(6,), X=(3, 2)), lambda a, X: a @ X.reshape(-1, order="F")),
    Case("vec-of-product", "a^T vec(A X B)", "X", dict(a=(4,), A=(2, 3), X=(3, 4), B=(4, 2)),
         lambda a, A, X, B: a @ (A @ X @ B).reshape(-1, order="F")),
    Case("vec-norm", "||vec(X)||^2", "X", dict(X=(3, 2)), lambda X: np.sum(X ** 2)),
    # identity
    Case("identity", "a^T (X + I) b", "X", SQ, lambda a, X, b: a @ (X + np.eye(3)) @ b),
    Case("inverse-shifted", "a^T inv(X + I) b", "X", SQ, lambda a, X, b: a @ np.linalg.inv(X + np.eye(3)) @ b,
         kinds=dict(X="wellcond")),
    # scalar functions of 1x1 expressions
    Case("exp-of-scalar", "exp(a^T X b)", "X", V34, lambda a, X, b: np.exp(a @ X @ b), kinds=dict(X="small")),
    Case("tanh-of-scalar", "tanh(a^T X b)", "X", V34, lambda a, X, b: np.tanh(a @ X @ b), kinds=dict(X="small")),
    Case("log-of-scalar", "log(x^T x)", "x", dict(x=(3,)), lambda x: np.log(x @ x)),
    Case("sqrt-of-scalar", "sqrt(x^T x)", "x", dict(x=(3,)), lambda x: np.sqrt(x @ x)),
    Case("Phi-of-scalar", "Phi(a^T X b)", "X", V34, lambda a, X, b: PHI(a @ X @ b)),
    Case("square-of-scalar", "(x^T x)^2", "x", dict(x=(3,)), lambda x: (x @ x) ** 2),
    Case("cube-of-scalar", "(a^T X b)^3", "X", V34, lambda a, X, b: (a @ X @ b) ** 3),
    Case("ratio", "(a^T X b)/(c^T X d)", "X", dict(a=(3,), X=(3, 4), b=(4,), c=(3,), d=(4,)),
         lambda a, X, b, c, d: (a @ X @ b) / (c @ X @ d)),
    Case("scalar-variable-poly", "alpha^2 x^T x + alpha", "alpha", dict(alpha=(), x=(3,)),
         lambda alpha, x: alpha ** 2 * (x @ x) + alpha),
    Case("scalar-times-scalar", "(a^T X b) (c^T X d)", "X", dict(a=(3,), X=(3, 4), b=(4,), c=(3,), d=(4,)),
         lambda a, X, b, c, d: (a @ X @ b) * (c @ X @ d)),
]


def _values(c: Case, seed: int = 0) -> dict:
    return draw_all(c.shapes, np.random.default_rng(seed), c.kinds)


def _grad_params():
    return [pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=c.xfail))
            if c.xfail else pytest.param(c, id=c.id) for c in CASES]


def _sympy_params():
    out = []
    for c in CASES:
        reason = c.xfail or c.sympy_xfail
        out.append(pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=reason))
                   if reason else pytest.param(c, id=c.id))
    return out


@pytest.mark.parametrize("c", _grad_params())
def test_gradient_against_finite_differences(c: Case):
    """matdiff's gradient, evaluated with matdiff's evaluator, vs the entrywise FD gradient."""
    values = _values(c)
    g = matdiff.derive_gradient(c.src, c.wrt, shapes=c.shapes).inlined[c.wrt]
    got = as_natural(matdiff_value(g, values), c.shapes[c.wrt])
    assert_close(got, fd_gradient(c.f, values, c.wrt))


@pytest.mark.parametrize("c", _sympy_params())
def test_sympy_gradient_against_finite_differences(c: Case):
    """The SymPy result of matdiff.gradient, evaluated by an independent walker, vs FD."""
    values = _values(c, seed=1)
    g = matdiff.gradient(c.src, c.wrt, shapes=c.shapes)
    got = as_natural(sympy_evaluate(g, values, functions={"Phi": PHI.sympy()}), c.shapes[c.wrt])
    assert_close(got, fd_gradient(c.f, values, c.wrt))


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id) for c in CASES])
def test_differential_against_directional_derivative(c: Case):
    """df(X; V) from matdiff.differential's Expr vs (f(X + hV) - f(X - hV)) / 2h, three directions."""
    values = _values(c, seed=2)
    _, d = derive_differential(c.src, c.wrt, shapes=c.shapes)
    rng = np.random.default_rng(3)
    for _ in range(3):
        V = rng.normal(size=c.shapes[c.wrt]) if c.shapes[c.wrt] else float(rng.normal())
        got = float(matdiff_value(d, values, directions={c.wrt: V}).reshape(()))
        assert_close(got, fd_directional(c.f, values, {c.wrt: V}))


def test_differential_wrt_everything_at_once():
    """Without wrt every variable varies: d(a^T X^-1 b) along (da, dX, db) together."""
    shapes = dict(a=(3,), X=(3, 3), b=(3,))
    f = lambda a, X, b: a @ np.linalg.inv(X) @ b  # noqa: E731
    rng = np.random.default_rng(5)
    values = draw_all(shapes, rng, dict(X="wellcond"))
    dirs = {k: rng.normal(size=s) for k, s in shapes.items()}
    _, d = derive_differential("a^T X^-1 b", shapes=shapes)
    got = float(matdiff_value(d, values, directions=dirs).reshape(()))
    assert_close(got, fd_directional(f, values, dirs))


# ---- completeness ---------------------------------------------------------------------------------

def test_every_node_type_has_a_differential_rule():
    assert set(DIFF_RULES) == set(NODE_TYPES) - {Var}, \
        f"missing: {set(NODE_TYPES) - {Var} - set(DIFF_RULES)}, extra: {set(DIFF_RULES) - set(NODE_TYPES)}"


def test_differential_rules_state_their_identity():
    """Each rule's docstring is its identity (DESIGN §5): shown on solution sheets and in review."""
    missing = [t.__name__ for t, r in DIFF_RULES.items() if not (r.__doc__ or "").strip()]
    assert not missing, f"rules without an identity docstring: {missing}"


# ---- each rule alone: children are variables, the placeholders d(child) are directions ----------

def var(name, *shape):
    return Var(name, tuple(shape))


# distinct names for distinct shapes: a name is one variable
X34, Y34, X33, Y33 = var("X", 3, 4), var("Y", 3, 4), var("S", 3, 3), var("P", 3, 3)
x3, s, t = var("x", 3), var("s"), var("t")
A23, B32 = var("A", 2, 3), var("B", 3, 2)
x6 = var("x", 6)

NODES = {
    "Const": Const(Fraction(3)),
    "Identity": Identity(3),
    "Zero": Zero((3, 4)),
    "Ones": Ones((3, 4)),
    "Add": Add((X34, Y34)),
    "Mul": Mul((s, X34)),
    "Mul-scalars": Mul((s, t, s)),
    "MatMul": MatMul((A23, X33, B32)),
    "MatMul-repeated": MatMul((X33, X33)),
    "Hadamard": Hadamard((X34, Y34, X34)),
    "Kron": Kron((A23, B32)),
    "Transpose": Transpose(X34),
    "Inverse": Inverse(X33),
    "MatPow": MatPow(Fraction(3), X33),
    "HadamardPow": HadamardPow(Fraction(3), X34),
    "HadamardPow-neg": HadamardPow(Fraction(-1), Y34),
    "HadamardPow-frac": HadamardPow(Fraction(3, 2), Y34),
    "Pow": Pow((Y34, X34)),
    "Pow-scalar-exponent": Pow((Y34, s)),
    "Pow-scalar-base": Pow((var("q"), X34)),
    "Pow-scalars": Pow((var("q"), s)),
    **{f"Apply-{n}": Apply(Fn(n), var("U", 3, 4) if n in UNIT_ARG else Y34) for n in ELEMENTWISE},
    "Apply-Phi": Apply(Fn("Phi"), X34),
    "Apply-Phi''": Apply(Fn("Phi", 2), X34),
    "Trace": Trace(X33),
    "Det": Det(X33),
    "LogDet": LogDet(Y33),
    "Sum": Sum(X34),
    "Norm-vector": Norm(x3),
    "Norm-matrix": Norm(X34),
    "DiagMat": DiagMat(x3),
    "DiagOf": DiagOf(X33),
    "Vec": Vec(X34),
    "Unvec": Unvec(2, 3, x6),
    "Softmax": Softmax(x3),
    "LogSumExp": LogSumExp(x3),
}
POSITIVE_VARS = {"Y", "P", "q"}   # positive entries (log, sqrt, .^ -1, a base of Pow); P is also near 2 I (logdet)


def _rule_values(e, rng):
    values = {}
    for v in {n for n in _walk(e) if isinstance(n, Var)}:
        shape = v.shape
        if v.name in POSITIVE_VARS and len(shape) == 2 and shape[0] == shape[1]:
            values[v.name] = 2 * np.eye(shape[0]) + 0.3 * rng.uniform(size=shape)
        elif v.name in POSITIVE_VARS:
            values[v.name] = rng.uniform(0.5, 1.5, size=shape)
        elif v.name == "S":
            values[v.name] = 2 * np.eye(3) + 0.3 * rng.normal(size=shape)
        elif v.name == "U":                                     # inside (-1, 1): arcsin, arccos
            values[v.name] = rng.uniform(-0.8, 0.8, size=shape)
        else:
            values[v.name] = rng.normal(size=shape) if shape else float(rng.normal())
    return values


def _walk(e):
    from matdiff.language.expr import postorder
    return postorder(e)


@pytest.mark.parametrize("name", list(NODES))
def test_rule_alone(name):
    """DIFF_RULES[type(e)] on e with variable children: sum over children of the rule's
    placeholder terms, evaluated with directions, equals the directional derivative of e,
    evaluated entrywise (e may be a matrix)."""
    e = NODES[name]
    rng = np.random.default_rng(11)
    values = _rule_values(e, rng)
    dirs = {k: (rng.normal(size=np.shape(v)) if np.ndim(v) else float(rng.normal())) for k, v in values.items()}
    vars_ = {n for n in _walk(e) if isinstance(n, Var)}
    dep = depends_on(e, vars_)
    d = local_differential(e, dep)
    assert shape_of(d) == shape_of(e), f"d{name} has shape {shape_of(d)}, the node {shape_of(e)}"
    got = matdiff_value(d, values, directions=dirs)
    h = 1e-6
    plus = matdiff_value(e, {k: values[k] + h * dirs[k] for k in values})
    minus = matdiff_value(e, {k: values[k] - h * dirs[k] for k in values})
    assert_close(got, (plus - minus) / (2 * h), tol=1e-6)


def test_rule_alone_values_are_hand_checked():
    """The node values the rule-alone test differentiates are the right functions (a few by hand)."""
    rng = np.random.default_rng(4)
    S = rng.normal(size=(3, 3)) + 2 * np.eye(3)
    x = rng.normal(size=3)
    assert_close(matdiff_value(NODES["Inverse"], {"S": S}), np.linalg.inv(S), tol=1e-12)
    assert_close(matdiff_value(NODES["Softmax"], {"x": x}).ravel(), softmax(x), tol=1e-12)
    Xr = rng.normal(size=(3, 4))
    assert_close(matdiff_value(NODES["Apply-Phi''"], {"X": Xr}), PHI(Xr, 2), tol=1e-12)
    assert_close(matdiff_value(NODES["Vec"], {"X": Xr}).ravel(), Xr.T.ravel(), tol=1e-12)


# ---- pull-back identities: <M, E> = sum_X <g_X, dX> ------------------------------------------------

def dX(v):
    return Differential(v)


M34, M33 = var("M", 3, 4), var("M", 3, 3)
PULLBACK_CASES = {
    "Add": (M34, Add((dX(X34), Mul((Const(Fraction(2)), dX(Y34)))))),
    "MatMul": (var("M", 2, 4), MatMul((A23, dX(X33), X34))),
    "MatMul-last": (var("M", 3, 3), MatMul((X34, Transpose(Y34), dX(X33)))),
    "MatMul-first": (var("M", 3, 2), MatMul((dX(X34), Transpose(Y34), B32))),
    "Mul": (M34, Mul((s, Trace(Y33), dX(X34)))),
    "Mul-scalar-differential": (M34, Mul((dX(s), X34))),
    "Hadamard": (M34, Hadamard((Y34, dX(X34), Y34))),
    "Transpose": (var("M", 4, 3), Transpose(dX(X34))),
    "Trace": (var("M"), Trace(MatMul((X33, dX(Y33))))),
    "Sum": (var("M"), Sum(dX(X34))),
    "DiagMat": (M33, DiagMat(dX(x3))),
    "DiagOf": (var("M", 3), DiagOf(dX(X33))),
    "Vec": (var("M", 12), Vec(dX(X34))),
    "Unvec": (var("M", 2, 3), Unvec(2, 3, dX(x6))),
    "Kron": (var("M", 6, 12), Kron((A23, dX(var("X", 3, 2)), var("C", 1, 2)))),
    "Kron-left": (var("M", 9, 8), Kron((dX(X34), B32))),
    "Kron-right": (var("M", 9, 8), Kron((B32, dX(X34)))),
    "Kron-trace": (Mul((s, Identity(9))), Kron((X33, dX(Y33)))),
    "Kron-sum": (Mul((s, Ones((9, 8)))), Kron((dX(X34), B32))),
    "Kron-columns": (var("M", 6), Kron((dX(x3), var("y", 2)))),
    "Kron-columns-right": (var("M", 6), Kron((var("y", 2), dX(x3)))),
    "Kron-scalar-differential": (var("M", 3, 2), Kron((dX(s), B32))),
    "Kron-scalar-factor": (M34, Kron((s, dX(X34)))),
    "Zero": (M34, Zero((3, 4))),
}


def test_every_pullback_rule_is_tested():
    names = {k.split("-")[0] for k in PULLBACK_CASES}
    assert names == {t.__name__ for t in PULLBACK_RULES}


def test_pullback_rules_state_their_identity():
    """As the differential rules do: the docstring's first line is the identity a sheet quotes."""
    missing = [t.__name__ for t, r in PULLBACK_RULES.items() if not identity(r).startswith(("<M, ", "<m, "))]
    assert not missing, f"pull-back rules without an identity docstring: {missing}"


@pytest.mark.parametrize("name", list(PULLBACK_CASES))
def test_pullback_identity(name):
    """The trace identity behind each pull-back rule, at random M, inputs and directions."""
    M, E = PULLBACK_CASES[name]
    rng = np.random.default_rng(21)
    leaves = {n for n in [*_walk(E), *_walk(M)] if isinstance(n, Var)}     # M may be s I, s 1 1^T
    values = {}
    for v in leaves:
        values[v.name] = rng.normal(size=v.shape) if v.shape else float(rng.normal())
    targets = {n.of for n in _walk(E) if isinstance(n, Differential)}
    dirs = {v.name: (rng.normal(size=v.shape) if v.shape else float(rng.normal())) for v in targets}
    lhs = float(np.sum(matdiff_value(M, values) * matdiff_value(E, values, directions=dirs)))
    terms = pullback(M, E)
    rhs = 0.0
    for v, g in terms:
        G = matdiff_value(g, values)
        D = to2d(dirs[v.name])
        assert G.shape == D.shape, f"cotangent of {v.name} has shape {G.shape}, the variable {D.shape}"
        rhs += float(np.sum(G * D))
    assert_close(rhs, lhs, tol=1e-10)
    if name != "Zero":
        assert terms, "the pull-back lost the differential"
