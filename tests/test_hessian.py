"""Hessians (SPEC §3: n x n for a vector; for a matrix X the vec form, d²f = vec(dX)^T H vec(dX)),
each checked against this file's own second differences of a NumPy function (which trust no
gradient), through SymPy's classes and matdiff's evaluator; golden forms; textbook Hessians;
the Becker–LeCun diagonal against the exact diagonal and against eq. (10) written out in NumPy;
hypothesis-generated functions; the CLI."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matdiff
from helpers_calculus import Case, draw_all, matdiff_value, sympy_evaluate, to2d
from matdiff.cli import main
from matdiff.language.problem import Problem
from matdiff.calculus.second_order import hessian_of
from seed_cases import NET004
from test_jacobian import SCALAR_OF_VECTOR, SHAPES, matrices, sigmoid, softmax, vectors


def _flat(x):
    x = np.asarray(x, dtype=float)
    return x.reshape(-1, order="F") if x.ndim else x.reshape(1)


def _value(f, values, name, flat, shape):
    moved = flat.reshape(shape, order="F") if shape else float(flat[0])
    return float(np.asarray(f(**{**values, name: moved})).reshape(()))


def fd_hessian(f: Callable, values: dict, name: str, h: float = 1e-4) -> np.ndarray:
    """∂²f/∂vec(X)∂vec(X) by second differences of f alone, entry by entry (vec order: columns)."""
    x = np.asarray(values[name], dtype=float)
    x0 = _flat(x)
    n = x0.size
    H = np.zeros((n, n))
    for k in range(n):
        for l in range(k, n):
            acc = 0.0
            for sk, sl, sgn in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                p = x0.copy()
                p[k] += sk * h
                p[l] += sl * h
                acc += sgn * _value(f, values, name, p, x.shape)
            H[k, l] = H[l, k] = acc / (4 * h * h)
    return H


def fd_diagonal(f: Callable, values: dict, name: str, h: float = 1e-4) -> np.ndarray:
    """∂²f/∂X_ij² for each entry, shaped like X, by second differences of f."""
    x = np.asarray(values[name], dtype=float)
    x0 = _flat(x)
    out = np.zeros(x0.size)
    f0 = _value(f, values, name, x0, x.shape)
    for k in range(x0.size):
        p, m = x0.copy(), x0.copy()
        p[k] += h
        m[k] -= h
        out[k] = (_value(f, values, name, p, x.shape) - 2 * f0 + _value(f, values, name, m, x.shape)) / h**2
    return out.reshape(x.shape, order="F") if x.ndim else out


def assert_close(got, ref, tol=2e-5, what=""):
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    scale = max(1.0, float(np.max(np.abs(ref))))
    np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=tol, atol=tol * scale, err_msg=what)


M = lambda *s: tuple(s)  # noqa: E731


def logistic_nll(X, w, y):
    p = sigmoid(X @ w)
    return -(y @ np.log(p) + (1 - y) @ np.log(1 - p))


CASES = [
    # the examples
    Case("quadratic-form", "x^T A x", "x", dict(x=M(3), A=M(3, 3)), lambda x, A: x @ A @ x, golden="A + A^T"),
    Case("least-squares", "||A x - b||^2", "x", dict(A=M(4, 3), x=M(3), b=M(4)),
         lambda A, x, b: np.sum((A @ x - b) ** 2), golden="2 A^T A"),
    Case("logsumexp", "logsumexp(x)", "x", dict(x=M(4)), lambda x: np.log(np.sum(np.exp(x))),
         golden="diag(softmax(x)) - softmax(x) softmax(x)^T"),
    Case("softplus-glm", "sum(softplus(X w))", "w", dict(X=M(5, 3), w=M(3)),
         lambda X, w: np.sum(np.logaddexp(0, X @ w)), golden="X^T diag(sigmoid'(X w)) X"),
    Case("trace-quadratic", "tr(X^T A X)", "X", dict(X=M(3, 2), A=M(3, 3)), lambda X, A: np.trace(X.T @ A @ X),
         golden="I ⊗ (A + A^T)"),
    Case("logdet", "logdet(X)", "X", dict(X=M(3, 3)), lambda X: np.linalg.slogdet(X)[1],
         golden="-K_{3,3} (X^-T ⊗ X^-1)", kinds=dict(X="wellcond")),
    # textbook Hessians: Matrix Cookbook, ML objectives
    Case("half-least-squares", "1/2 ||X w - y||^2", "w", dict(X=M(5, 3), w=M(3), y=M(5)),
         lambda X, w, y: 0.5 * np.sum((X @ w - y) ** 2), golden="X^T X"),
    Case("logistic-regression", "-(y^T log(sigmoid(X w)) + (1 - y)^T log(1 - sigmoid(X w)))", "w",
         dict(X=M(6, 3), w=M(3), y=M(6)), logistic_nll, kinds=dict(y="simplex")),
    Case("gaussian-mu", "-1/2 (x - mu)^T inv(S) (x - mu)", "mu", dict(x=M(3), mu=M(3), S=M(3, 3)),
         lambda x, mu, S: -0.5 * (x - mu) @ np.linalg.inv(S) @ (x - mu), kinds=dict(S="spd")),
    Case("gaussian-logdet", "-1/2 logdet(S) - 1/2 (x - mu)^T inv(S) (x - mu)", "S",
         dict(x=M(2), mu=M(2), S=M(2, 2)),
         lambda x, mu, S: -0.5 * np.linalg.slogdet(S)[1] - 0.5 * (x - mu) @ np.linalg.inv(S) @ (x - mu),
         kinds=dict(S="spd")),
    Case("linear-is-flat", "a^T X b", "X", dict(a=M(2), X=M(2, 3), b=M(3)), lambda a, X, b: a @ X @ b, golden="0"),
    Case("frobenius", "||X||_F^2", "X", dict(X=M(2, 3)), lambda X: np.sum(X ** 2), golden="2 I"),
    Case("trace-XAXtB", "tr(X A X^T B)", "X", dict(X=M(3, 2), A=M(2, 2), B=M(3, 3)),
         lambda X, A, B: np.trace(X @ A @ X.T @ B), golden="A^T ⊗ B + A ⊗ B^T"),
    Case("trace-XtAXB", "tr(X^T A X B)", "X", dict(X=M(3, 2), A=M(3, 3), B=M(2, 2)),
         lambda X, A, B: np.trace(X.T @ A @ X @ B)),
    Case("det", "det(X)", "X", dict(X=M(3, 3)), lambda X: np.linalg.det(X)),
    Case("trace-inverse", "tr(inv(X))", "X", dict(X=M(3, 3)), lambda X: np.trace(np.linalg.inv(X)),
         kinds=dict(X="wellcond")),
    Case("exp-linear", "exp(a^T x)", "x", dict(a=M(3), x=M(3)), lambda a, x: np.exp(a @ x)),
    Case("rayleigh-num", "x^T A x / (x^T x)", "x", dict(x=M(3), A=M(3, 3)), lambda x, A: x @ A @ x / (x @ x)),
    Case("norm", "||x||", "x", dict(x=M(3)), lambda x: np.linalg.norm(x)),
    # issue 13's words: abs'' = sign' = 0 away from 0; arcsin and arccos inside (-1, 1)
    Case("abs-sign", "sum(abs(X w - y)) + sum(sign(X w) .* (X w) .^ 2) + ||w||_1", "w",
         dict(X=M(5, 3), w=M(3), y=M(5)),
         lambda X, w, y: np.sum(np.abs(X @ w - y)) + np.sum(np.sign(X @ w) * (X @ w) ** 2) + np.sum(np.abs(w))),
    Case("norm1-norm2", "norm1(X w - y) + norm2(w)^2 + norm2(X)", "w", dict(X=M(5, 3), w=M(3), y=M(5)),
         lambda X, w, y: np.sum(np.abs(X @ w - y)) + w @ w + np.linalg.norm(X), golden="2 I"),
    Case("tan-arctan", "sum(tan(X w)) + atan(a^T w)", "w", dict(X=M(4, 3), w=M(3), a=M(3)),
         lambda X, w, a: np.sum(np.tan(X @ w)) + np.arctan(a @ w), kinds=dict(X="small", w="small")),
    Case("arcsin-arccos", "sum(arcsin(X w)) + acos(a^T w)", "w", dict(X=M(4, 3), w=M(3), a=M(3)),
         lambda X, w, a: np.sum(np.arcsin(X @ w)) + np.arccos(a @ w), kinds=dict(X="small", w="small", a="small")),
    Case("sinh-cosh", "sum(sinh(X w)) + cosh(a^T w)", "w", dict(X=M(4, 3), w=M(3), a=M(3)),
         lambda X, w, a: np.sum(np.sinh(X @ w)) + np.cosh(a @ w)),
    Case("scalar-variable", "(alpha x)^T (alpha x)", "alpha", dict(alpha=(), x=M(3)),
         lambda alpha, x: alpha**2 * (x @ x), golden="2 (x^T x)"),
    Case("cross-entropy", "-t^T log(softmax(W x))", "W", dict(t=M(3), W=M(3, 2), x=M(2)),
         lambda t, W, x: -t @ np.log(softmax(W @ x)), kinds=dict(t="simplex")),
    # powers with a variable exponent (a positive base)
    Case("pow-scalars-exponent", "a^b", "b", dict(a=(), b=()), lambda a, b: a ** b, kinds=dict(a="pos")),
    Case("pow-scalars-base", "a^b", "a", dict(a=(), b=()), lambda a, b: a ** b, kinds=dict(a="pos")),
    Case("pow-vector-exponent", "c^T (x .^ y)", "y", dict(c=M(3), x=M(3), y=M(3)), lambda c, x, y: c @ x ** y,
         kinds=dict(x="pos")),
    Case("pow-vector-base", "c^T (x .^ y)", "x", dict(c=M(3), x=M(3), y=M(3)), lambda c, x, y: c @ x ** y,
         kinds=dict(x="pos")),
    Case("pow-scalar-exponent", "sum(X .^ p)", "p", dict(X=M(2, 3), p=()), lambda X, p: np.sum(X ** p),
         kinds=dict(X="pos")),
    Case("pow-constant-base", "sum(2 .^ (A x))", "x", dict(A=M(2, 3), x=M(3)), lambda A, x: np.sum(2.0 ** (A @ x))),
    Case("pow-same-variable", "sum(x .^ x)", "x", dict(x=M(3)), lambda x: np.sum(x ** x), kinds=dict(x="pos")),
    # through a Kronecker product of the variable (issue 13 item 6)
    Case("kron-trace", "tr(kron(X, X))", "X", dict(X=M(3, 3)), lambda X: np.trace(np.kron(X, X))),
    Case("kron-bilinear", "a^T kron(X, X) b", "X", dict(a=M(4), X=M(2, 3), b=M(9)),
         lambda a, X, b: a @ np.kron(X, X) @ b),
    Case("kron-transposed", "tr(kron(X^T, X) B)", "X", dict(X=M(2, 3), B=M(6, 6)),
         lambda X, B: np.trace(np.kron(X.T, X) @ B)),
    Case("kron-vectors", "c^T kron(x, x)", "x", dict(c=M(9), x=M(3)), lambda c, x: c @ np.kron(x, x)),
    Case("kron-tanh", "sum(tanh(kron(A, X)))", "X", dict(A=M(2, 3), X=M(3, 2)),
         lambda A, X: np.sum(np.tanh(np.kron(A, X)))),
    Case("vec-quadratic", "vec(X)^T A vec(X)", "X", dict(A=M(6, 6), X=M(3, 2)),
         lambda A, X: X.reshape(-1, order="F") @ A @ X.reshape(-1, order="F"), golden="A + A^T"),
    Case("network-W1", NET004, "W1",
         dict(W1=M(3, 2), b1=M(3), W2=M(2, 3), b2=M(2), x=M(2), t=M(2)),
         lambda W1, b1, W2, b2, x, t: 0.5 * np.sum((W2 @ sigmoid(W1 @ x + b1) + b2 - t) ** 2)),
    Case("network-b1", NET004, "b1",
         dict(W1=M(3, 2), b1=M(3), W2=M(2, 3), b2=M(2), x=M(2), t=M(2)),
         lambda W1, b1, W2, b2, x, t: 0.5 * np.sum((W2 @ sigmoid(W1 @ x + b1) + b2 - t) ** 2)),
]


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_hessian_against_second_differences(c: Case, rng):
    d = hessian_of(Problem.of(c.src, c.shapes), c.wrt)
    values = draw_all(c.shapes, rng, c.kinds)
    ref = fd_hessian(c.f, values, c.wrt)
    got = matdiff_value(d.matrix, values)
    assert got.shape == ref.shape, f"{c.src}: H is {got.shape}, expected {ref.shape}"
    assert_close(got, ref, what=c.src)
    via_sympy = sympy_evaluate(matdiff.hessian(c.src, wrt=c.wrt, shapes=c.shapes), values)
    assert_close(via_sympy, ref, what=c.src + " (SymPy)")
    if c.golden is not None:
        assert d.formula() == c.golden


def test_logistic_regression_hessian_is_the_textbook_form(rng):
    """H = X^T diag(p ∘ (1 - p)) X with p = σ(X w), whatever form matdiff prints."""
    shapes = dict(X=(6, 3), w=(3,), y=(6,))
    c = next(c for c in CASES if c.id == "logistic-regression")
    d = hessian_of(Problem.of(c.src, shapes), "w")
    values = draw_all(shapes, rng, dict(y="simplex"))
    X, w = values["X"], values["w"]
    p = sigmoid(X @ w)
    assert_close(matdiff_value(d.matrix, values), X.T @ np.diag(p * (1 - p)) @ X, tol=1e-9)


def test_gaussian_mean_hessian_is_minus_the_precision(rng):
    shapes = dict(x=(3,), mu=(3,), S=(3, 3))
    d = hessian_of(Problem.of("-1/2 (x - mu)^T inv(S) (x - mu)", shapes), "mu")
    values = draw_all(shapes, rng, dict(S="spd"))
    assert_close(matdiff_value(d.matrix, values), -np.linalg.inv(values["S"]), tol=1e-9)


def test_hessian_is_symmetric_and_the_jacobian_of_the_gradient(rng):
    """d²f = vec(dX)^T H vec(dX): H is the Jacobian of vec(∇f)."""
    src, shapes = "sum(tanh(A X B))", dict(A=(2, 3), X=(3, 4), B=(4, 2))
    d = hessian_of(Problem.of(src, shapes), "X")
    values = draw_all(shapes, rng)
    H = matdiff_value(d.matrix, values)
    assert H.shape == (12, 12)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    from matdiff.calculus.jacobian import jacobian_expr
    assert_close(matdiff_value(jacobian_expr(d.gradient, d.problem.vars["X"]), values), H, tol=1e-12)


def test_hessian_needs_a_scalar():
    with pytest.raises(matdiff.MatdiffError, match="scalar"):
        matdiff.hessian("W x", wrt="x")


def test_hessian_of_several_variables_is_a_dict():
    assert set(matdiff.hessian("x^T A x", wrt=["x", "A"])) == {"x", "A"}


# ---- the diagonal: Becker–LeCun (exercise series 4, Solution 2) ----------------------------------

ONE_LAYER = [
    ("squared-error", "1/2 ||sigmoid(W x + b) - t||^2", dict(W=(3, 4), x=(4,), b=(3,), t=(3,)),
     lambda W, x, b, t: 0.5 * np.sum((sigmoid(W @ x + b) - t) ** 2)),
    ("cross-entropy", "-t^T log(softmax(W x))", dict(t=(3,), W=(3, 4), x=(4,)),
     lambda t, W, x: -t @ np.log(softmax(W @ x))),
    ("logsumexp", "logsumexp(W x)", dict(W=(3, 2), x=(2,)), lambda W, x: np.log(np.sum(np.exp(W @ x)))),
    ("tanh-sum", "sum(tanh(W x))", dict(W=(2, 3), x=(3,)), lambda W, x: np.sum(np.tanh(W @ x))),
    ("norm", "||W x||", dict(W=(3, 2), x=(2,)), lambda W, x: np.linalg.norm(W @ x)),
    ("two-layer-linear-output", "1/2 ||W2 tanh(W1 x) - t||^2",
     dict(W1=(3, 2), W2=(2, 3), x=(2,), t=(2,)),
     lambda W1, W2, x, t: 0.5 * np.sum((W2 @ np.tanh(W1 @ x) - t) ** 2)),
]


@pytest.mark.parametrize("name, src, shapes, ref", ONE_LAYER, ids=[c[0] for c in ONE_LAYER])
def test_diagonal_is_exact_for_one_layer(name, src, shapes, ref, rng):
    """Eq. (5) is exact: ∂²L/∂w_ji² = ∂²L/∂a_j² z_i²; equal to the exact Hessian's diagonal."""
    wrt = "W1" if "W1" in shapes else "W"
    p = Problem.of(src, shapes)
    d = hessian_of(p, wrt, diagonal=True)
    assert d.exact
    values = draw_all(shapes, rng, dict(t="simplex") if "log(" in src else {})
    D = matdiff_value(d.matrix, values)
    assert D.shape == to2d(values[wrt]).shape
    assert_close(D, fd_diagonal(ref, values, wrt), tol=1e-4)
    H = matdiff_value(hessian_of(p, wrt).matrix, values)          # the full Hessian's diagonal
    assert_close(D, np.diag(H).reshape(D.shape, order="F"), tol=1e-9)
    S = matdiff.hessian(src, wrt=wrt, shapes=shapes, diagonal=True)
    assert_close(sympy_evaluate(S, values), D, tol=1e-9)


MLP3 = "1/2 ||W3 tanh(W2 tanh(W1 x)) - t||^2"
MLP3_SHAPES = dict(W1=(4, 3), W2=(3, 4), W3=(2, 3), x=(3,), t=(2,))


def becker_lecun_numpy(W1, W2, W3, x, t):
    """Exercise series 4, Solution 2, eq. (10), by hand: ∂²L/∂a² back-propagated with the
    off-diagonal terms dropped, then ∂²L/∂w_ji² = ∂²L/∂a_j² z_i² (eq. 5)."""
    dtanh = lambda a: 1 - np.tanh(a) ** 2                      # noqa: E731
    d2tanh = lambda a: -2 * np.tanh(a) * (1 - np.tanh(a) ** 2)  # noqa: E731
    a1 = W1 @ x
    z1 = np.tanh(a1)
    a2 = W2 @ z1
    z2 = np.tanh(a2)
    y = W3 @ z2
    g_y, h_y = y - t, np.ones_like(y)                 # the output layer: L = 1/2 ||y - t||^2
    g_a2 = dtanh(a2) * (W3.T @ g_y)
    h_a2 = dtanh(a2) ** 2 * ((W3 ** 2).T @ h_y) + d2tanh(a2) * (W3.T @ g_y)
    h_a1 = dtanh(a1) ** 2 * ((W2 ** 2).T @ h_a2) + d2tanh(a1) * (W2.T @ g_a2)
    return np.outer(h_a1, x ** 2)


def test_diagonal_for_hidden_layers_is_becker_lecun_eq10(rng):
    """Two hidden layers down: the approximation of eq. (10), exactly as written out by hand;
    it is not the exact diagonal, and matdiff says so."""
    d = hessian_of(Problem.of(MLP3, MLP3_SHAPES), "W1", diagonal=True)
    assert not d.exact
    values = draw_all(MLP3_SHAPES, rng)
    D = matdiff_value(d.matrix, values)
    assert_close(D, becker_lecun_numpy(**values), tol=1e-10)
    exact = fd_diagonal(lambda **v: 0.5 * np.sum((v["W3"] @ np.tanh(v["W2"] @ np.tanh(v["W1"] @ v["x"]))
                                                   - v["t"]) ** 2), values, "W1")
    assert np.max(np.abs(D - exact)) > 1e-3, "the approximation neglects ∂²L/∂a_k∂a_k'"
    assert "approximation" in d.text()
    report = d.check()
    assert report.ok and "expected" in str(report)


@pytest.mark.parametrize("wrt, exact", [("W3", True), ("W2", True), ("W1", False)])
def test_diagonal_exactness_by_layer(wrt, exact, rng):
    d = hessian_of(Problem.of(MLP3, MLP3_SHAPES), wrt, diagonal=True)
    assert d.exact is exact
    if exact:
        values = draw_all(MLP3_SHAPES, rng)
        ref = fd_diagonal(lambda **v: 0.5 * np.sum((v["W3"] @ np.tanh(v["W2"] @ np.tanh(v["W1"] @ v["x"]))
                                                     - v["t"]) ** 2), values, wrt)
        assert_close(matdiff_value(d.matrix, values), ref, tol=1e-4)


def test_diagonal_of_a_softmax_network_program():
    """NET002 of the seeds: exact for the output weights U, approximate for W (through U h)."""
    src = "z = W x\nh = tanh(z)\ntheta = U h\nyhat = softmax(theta)\nJ = -y^T log(yhat)"
    shapes = dict(W=(3, 4), x=(4,), U=(2, 3), y=(2,))
    p = Problem.of(src, shapes)
    assert hessian_of(p, "U", diagonal=True).exact
    assert not hessian_of(p, "W", diagonal=True).exact
    assert hessian_of(p, "U", diagonal=True).check().ok


SINGLE_RULES = [   # one node kind at a time, each where the diagonal is exact
    ("Inverse", "tr(inv(X))", "X", dict(X=(3, 3)), lambda X: np.trace(np.linalg.inv(X)), dict(X="wellcond")),
    ("Inverse-bilinear", "a^T inv(X) b", "X", dict(a=(3,), X=(3, 3), b=(3,)),
     lambda a, X, b: a @ np.linalg.inv(X) @ b, dict(X="wellcond")),
    ("Det", "det(X)", "X", dict(X=(3, 3)), lambda X: np.linalg.det(X), {}),
    ("LogDet", "logdet(X)", "X", dict(X=(3, 3)), lambda X: np.linalg.slogdet(X)[1], dict(X="wellcond")),
    ("DiagMat", "sum(exp(diag(x)))", "x", dict(x=(3,)), lambda x: np.sum(np.exp(np.diag(x))), {}),
    ("DiagOf", "sum(exp(diag(X)))", "X", dict(X=(3, 3)), lambda X: np.sum(np.exp(np.diag(X))), {}),
    ("Vec", "sum(tanh(vec(X)))", "X", dict(X=(3, 2)), lambda X: np.sum(np.tanh(X)), {}),
    ("Hadamard", "sum(tanh(A .* X))", "X", dict(A=(3, 2), X=(3, 2)), lambda A, X: np.sum(np.tanh(A * X)), {}),
    ("Mul-scalar", "sum(tanh((a^T x) B))", "x", dict(a=(3,), x=(3,), B=(2, 2)),
     lambda a, x, B: np.sum(np.tanh((a @ x) * B)), {}),
    ("HadamardPow", "sum(x .^ 3)", "x", dict(x=(3,)), lambda x: np.sum(x ** 3), {}),
    ("Transpose", "sum(sin(X^T A))", "X", dict(X=(3, 2), A=(3, 4)), lambda X, A: np.sum(np.sin(X.T @ A)), {}),
    ("Trace", "tr(exp(X))", "X", dict(X=(3, 3)), lambda X: np.trace(np.exp(X)), {}),
    ("Norm", "||X||_F", "X", dict(X=(3, 2)), lambda X: np.linalg.norm(X), {}),
    ("Softmax", "c^T softmax(x)", "x", dict(c=(3,), x=(3,)), lambda c, x: c @ softmax(x), {}),
    ("LogSumExp", "logsumexp(x)", "x", dict(x=(3,)), lambda x: np.log(np.sum(np.exp(x))), {}),
    ("Pow-base", "c^T (x .^ y)", "x", dict(c=(3,), x=(3,), y=(3,)), lambda c, x, y: c @ x ** y, dict(x="pos")),
    ("Pow-exponent", "c^T (x .^ y)", "y", dict(c=(3,), x=(3,), y=(3,)), lambda c, x, y: c @ x ** y, dict(x="pos")),
    ("Pow-scalar-exponent", "sum(X .^ p)", "p", dict(X=(2, 3), p=()), lambda X, p: np.sum(X ** p), dict(X="pos")),
    ("Pow-scalar-base", "sum(alpha .^ (A x))", "alpha", dict(alpha=(), A=(2, 3), x=(3,)),
     lambda alpha, A, x: np.sum(alpha ** (A @ x)), dict(alpha="pos")),
    ("Pow-scalars", "a^b", "b", dict(a=(), b=()), lambda a, b: a ** b, dict(a="pos")),
    ("Kron", "sum(tanh(kron(A, X)))", "X", dict(A=(2, 3), X=(3, 2)), lambda A, X: np.sum(np.tanh(np.kron(A, X))), {}),
    ("Kron-left", "sum(tanh(kron(X, A)))", "X", dict(A=(2, 3), X=(3, 2)), lambda A, X: np.sum(np.tanh(np.kron(X, A))),
     {}),
    ("Kron-vectors", "sum(sin(kron(x, y)))", "y", dict(x=(3,), y=(2,)), lambda x, y: np.sum(np.sin(np.kron(x, y))), {}),
    ("Kron-scalar", "sum(tanh(kron(alpha, X)))", "X", dict(alpha=(), X=(3, 2)),
     lambda alpha, X: np.sum(np.tanh(alpha * X)), {}),
    ("MatPow", "a^T X^2 b", "X", dict(a=(3,), X=(3, 3), b=(3,)), lambda a, X, b: a @ X @ X @ b, {}),
]


@pytest.mark.parametrize("kind, src, wrt, shapes, ref, kinds", SINGLE_RULES, ids=[c[0] for c in SINGLE_RULES])
def test_each_diagonal_rule(kind, src, wrt, shapes, ref, kinds, rng):
    d = hessian_of(Problem.of(src, shapes), wrt, diagonal=True)
    values = draw_all(shapes, rng, kinds)
    D = matdiff_value(d.matrix, values)
    exact = fd_diagonal(ref, values, wrt)
    if kind == "MatPow":              # X X uses X twice: the cross term is neglected, and flagged
        assert not d.exact
        return
    assert d.exact, d.text()
    assert_close(D, exact, tol=1e-4, what=d.text())


def test_diagonal_rules_cover_every_node_kind():
    from matdiff.calculus.curvature import DIAG_RULES
    from matdiff.language.expr import NODE_TYPES, Leaf, MatPow
    wanted = {t for t in NODE_TYPES if not issubclass(t, Leaf)} - {MatPow}   # MatPow: rewritten
    assert wanted <= set(DIAG_RULES), wanted - set(DIAG_RULES)


def test_diagonal_of_a_quadratic_form_is_flagged_approximate():
    """x^T A x uses x twice: the cross term between the two uses is what Becker–LeCun drop."""
    d = hessian_of(Problem.of("x^T A x", dict(x=(3,), A=(3, 3))), "x", diagonal=True)
    assert not d.exact


# ---- hypothesis -----------------------------------------------------------------------------

HSET = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scalar_of_vector(draw):
    t, f = draw(st.integers(1, 2).flatmap(vectors))
    outer, g = draw(st.sampled_from(SCALAR_OF_VECTOR))
    return outer.format(t), lambda v: g(v, f(v))


@st.composite
def scalar_of_matrix(draw):
    t, f = draw(st.integers(1, 2).flatmap(matrices))
    outer, g = draw(st.sampled_from([
        ("sum(tanh({}))", lambda v, Y: np.sum(np.tanh(Y))),
        ("||{}||_F^2", lambda v, Y: np.sum(Y ** 2)),
        ("tr(W ({}))", lambda v, Y: np.trace(v["W"] @ Y)),
        ("a^T ({}) c", lambda v, Y: v["a"] @ Y @ v["c"]),
        ("logsumexp(({}) c)", lambda v, Y: np.log(np.sum(np.exp(Y @ v["c"])))),
    ]))
    return outer.format(t), lambda v: g(v, f(v))


SHAPES2 = {**SHAPES, "c": (2,)}


def _values(p, wrt, seed):
    rng = np.random.default_rng(seed)
    used = {k: SHAPES2[k] for k in p.vars}
    return {k: (0.5 * v if k != wrt else v) for k, v in draw_all(used, rng).items()}


def _check_hessian(src, fn, wrt, seed):
    p = Problem.of(src, SHAPES2)
    values = _values(p, wrt, seed)
    d = hessian_of(p, wrt)
    got = matdiff_value(d.matrix, values)
    assert_close(got, fd_hessian(lambda **v: fn(v), values, wrt), tol=1e-4, what=f"{src}\nH = {d.formula()}")


@HSET
@given(e=scalar_of_vector(), seed=st.integers(0, 2**16))
def test_random_vector_hessians(e, seed):
    _check_hessian(*e, "x", seed)


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=scalar_of_matrix(), seed=st.integers(0, 2**16))
def test_random_matrix_hessians(e, seed):
    _check_hessian(*e, "X", seed)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=st.one_of(scalar_of_vector().map(lambda e: (*e, "x")), scalar_of_matrix().map(lambda e: (*e, "X"))),
       seed=st.integers(0, 2**16))
def test_random_diagonals_are_exact_where_they_say_so(e, seed):
    """The exactness flag is sound: wherever it says exact, the diagonal is the exact one."""
    src, fn, wrt = e
    p = Problem.of(src, SHAPES2)
    d = hessian_of(p, wrt, diagonal=True)
    values = _values(p, wrt, seed)
    D = matdiff_value(d.matrix, values)
    assert D.shape == to2d(values[wrt]).shape and np.all(np.isfinite(D))
    if d.exact:
        assert_close(D, fd_diagonal(lambda **v: fn(v), values, wrt), tol=1e-4, what=f"{src}\n{d.text()}")


# ---- the command line ------------------------------------------------------------------------

def test_cli_hessian_prints_and_checks(capsys):
    status = main(["hessian", "x^T A x", "--wrt", "x", "--check"])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    assert out.splitlines()[0] == "H = A + A^T"
    assert "check passed" in out and "f''" in out


def test_cli_hessian_commutation_matrix(capsys):
    status = main(["hessian", "logdet(X)", "--wrt", "X", "--latex"])
    out, _ = capsys.readouterr()
    assert status == 0
    assert out.splitlines()[0] == "H = -K_{n,n} (X^-T ⊗ X^-1)"
    assert "commutation matrix" in out and r"\otimes" in out


def test_cli_hessian_diagonal(capsys):
    status = main(["hessian", "1/2 ||sigmoid(W x) - t||^2", "--wrt", "W", "--diagonal", "--check"])
    out, _ = capsys.readouterr()
    assert status == 0
    # W x printed three times costs 6 symbols, a name z1 = W x costs 7 (issue 15: names only where they pay)
    assert out.startswith("diag H = (sigmoid'(W x) .^ 2 + ")
    assert "exact here" in out and "check passed" in out


def test_cli_hessian_check_exits_1_on_a_wrong_hessian(capsys, monkeypatch):
    import matdiff.calculus.second_order as so
    from matdiff.language.algebra import const, mul
    right = so.jacobian_expr
    monkeypatch.setattr(so, "jacobian_expr", lambda G, X, gradient=None: mul(const(2), right(G, X)))
    status = main(["hessian", "x^T A x", "--wrt", "x", "--check"])
    out, _ = capsys.readouterr()
    assert status == 1 and "check FAILED" in out


def test_cli_hessian_of_a_vector_is_an_error(capsys):
    status = main(["hessian", "W x", "--wrt", "x"])
    _, err = capsys.readouterr()
    assert status == 2 and "scalar" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["jacobian", "hessian", "diagonal"])
def test_check_with_respect_to_a_variable_that_cancels(kind):
    """Found by fuzzing: b is an input of the program, but the result does not use it (y reads
    W2h, not h): the Jacobian, Hessian and diagonal are 0, and their check says so (it raised
    KeyError: 'b'). The finite differences of f along b are computed, not assumed."""
    src = "z = W1 x + b\nh = sigmoid(z)\ny = W2h + b2\nL = 1/2 ||y - t||^2"
    p = Problem.of(src)
    from matdiff.calculus.second_order import jacobian_of
    d = jacobian_of(p, "b") if kind == "jacobian" else hessian_of(p, "b", diagonal=kind == "diagonal")
    report = d.check()
    assert report.ok and report.rows
    assert all(r.numeric == 0 and r.symbolic == 0 for r in report.rows)


def test_diagonal_of_a_power_whose_base_and_exponent_share_a_variable_is_flagged_approximate():
    """x .^ (W x): x is the base and inside the exponent; the cross terms between the two uses are
    what the Becker–LeCun diagonal drops, and it says so (with a scalar base it is exact)."""
    d = hessian_of(Problem.of("sum(x .^ (W x))", dict(x=(3,), W=(3, 3))), "x", diagonal=True)
    assert not d.exact
    d = hessian_of(Problem.of("sum(alpha .^ (W x))", dict(alpha=(), x=(3,), W=(3, 3))), "alpha", diagonal=True)
    assert d.exact and d.check().ok
