"""Jacobians (SPEC §3: m x n for y in R^m, x in R^n; vec of both for matrices), each checked
against this file's own central differences of a NumPy function, through SymPy's classes
(tests/helpers_calculus.sympy_evaluate) and matdiff's evaluator; golden strings where the
result has a textbook form; hypothesis-generated expressions; the CLI."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matdiff
from helpers_calculus import PHI, Case, draw_all, matdiff_value, sigmoid, softmax, sympy_evaluate, to2d
from matdiff.cli import main
from matdiff.calculus.jacobian import jacobian_expr
from matdiff.calculus.kronecker import commutation, unvec_explicit, vec_explicit
from matdiff.checking.numeric import Env, evaluate
from matdiff.language.problem import Problem
from matdiff.calculus.second_order import jacobian_of


def vec(a) -> np.ndarray:
    """Columns stacked (a vector stays a column, a scalar a 1-vector)."""
    return to2d(a).reshape(-1, 1, order="F")


def fd_jacobian(f: Callable, values: dict, name: str, h: float = 1e-6) -> np.ndarray:
    """d vec(f) / d vec(values[name]) by central differences, one column per entry of the variable."""
    x = np.array(values[name], dtype=float)
    flat = x.reshape(-1, order="F") if x.ndim else x.reshape(1)
    cols = []
    for k in range(flat.size):
        out = []
        for sgn in (1, -1):
            p = flat.copy()
            p[k] += sgn * h
            moved = p.reshape(x.shape, order="F") if x.ndim else float(p[0])
            out.append(vec(f(**{**values, name: moved})))
        cols.append((out[0] - out[1]) / (2 * h))
    return np.hstack(cols)


M = lambda *s: tuple(s)  # noqa: E731 - shapes read as W=M(3, 4)

CASES = [
    # the examples
    Case("tanh-layer", "tanh(W x)", "x", dict(W=M(3, 4), x=M(4)), lambda W, x: np.tanh(W @ x),
         golden="diag(tanh'(W x)) W"),
    Case("softmax", "softmax(x)", "x", dict(x=M(4)), lambda x: softmax(x),
         golden="diag(softmax(x)) - softmax(x) softmax(x)^T"),
    Case("x-times-Ax", "x .* (A x)", "x", dict(A=M(3, 3), x=M(3)), lambda A, x: x * (A @ x),
         golden="diag(A x) + diag(x) A"),
    Case("linear-wrt-W", "W x", "W", dict(W=M(3, 4), x=M(4)), lambda W, x: W @ x, golden="x^T ⊗ I"),
    # textbook Jacobians (Magnus & Neudecker, Matrix Cookbook §2)
    Case("linear", "A x", "x", dict(A=M(2, 3), x=M(3)), lambda A, x: A @ x, golden="A"),
    Case("affine-b", "sigmoid(W x + b)", "b", dict(W=M(3, 2), x=M(2), b=M(3)),
         lambda W, x, b: sigmoid(W @ x + b), golden="diag(sigmoid'(W x + b))"),
    Case("AXB", "A X B", "X", dict(A=M(2, 3), X=M(3, 4), B=M(4, 2)), lambda A, X, B: A @ X @ B, golden="B^T ⊗ A"),
    Case("transpose", "X^T", "X", dict(X=M(2, 3)), lambda X: X.T, golden="K_{2,3}"),
    Case("AXtB", "A X^T B", "X", dict(A=M(2, 4), X=M(3, 4), B=M(3, 2)), lambda A, X, B: A @ X.T @ B),
    Case("inverse", "inv(X)", "X", dict(X=M(3, 3)), lambda X: np.linalg.inv(X), golden="-X^-T ⊗ X^-1",
         kinds=dict(X="wellcond")),
    Case("square", "X X", "X", dict(X=M(3, 3)), lambda X: X @ X),
    Case("hadamard-square", "X .* X", "X", dict(X=M(2, 3)), lambda X: X * X),
    Case("exp", "exp(x)", "x", dict(x=M(3)), lambda x: np.exp(x), golden="diag(exp(x))"),
    Case("log", "log(x)", "x", dict(x=M(3)), lambda x: np.log(x), kinds=dict(x="pos")),
    Case("scaled", "(x^T x) a", "x", dict(x=M(3), a=M(2)), lambda x, a: (x @ x) * a, golden="2 a x^T"),
    Case("normalize", "x / ||x||", "x", dict(x=M(3)), lambda x: x / np.linalg.norm(x)),
    Case("softmax-layer-W", "softmax(W x)", "W", dict(W=M(3, 2), x=M(2)), lambda W, x: softmax(W @ x)),
    Case("abstract", "Phi(W x)", "W", dict(W=M(2, 3), x=M(3)), lambda W, x: PHI(W @ x),
         golden="x^T ⊗ diag(Phi'(W x))", functions=dict(Phi=PHI.sympy())),
    # issue 13's words (abs' = sign; arcsin on (-1, 1))
    Case("abs", "abs(W x - y)", "x", dict(W=M(3, 4), x=M(4), y=M(3)), lambda W, x, y: np.abs(W @ x - y),
         golden="diag(sign(W x - y)) W"),
    Case("sign-times", "sign(x) .* tan(x)", "x", dict(x=M(3)), lambda x: np.sign(x) * np.tan(x),
         kinds=dict(x="small")),
    Case("arc", "arcsin(W x) + acos(W x) .* atan(W x)", "W", dict(W=M(3, 2), x=M(2)),
         lambda W, x: np.arcsin(W @ x) + np.arccos(W @ x) * np.arctan(W @ x), kinds=dict(W="small", x="small")),
    Case("hyperbolic", "sinh(A X) + cosh(X)", "X", dict(A=M(2, 2), X=M(2, 3)), lambda A, X: np.sinh(A @ X) + np.cosh(X)),
    Case("norm1", "norm1(X) x + ||x||_1 x", "x", dict(X=M(2, 3), x=M(3)),
         lambda X, x: np.sum(np.abs(X)) * x + np.sum(np.abs(x)) * x),
    Case("relu-rect", "W2 relu(W1 x)", "W1", dict(W2=M(2, 3), W1=M(3, 4), x=M(4)),
         lambda W2, W1, x: W2 @ np.maximum(W1 @ x, 0)),
    Case("kron", "kron(A, X)", "X", dict(A=M(2, 3), X=M(2, 2)), lambda A, X: np.kron(A, X)),
    Case("kron-left", "kron(X, A)", "X", dict(A=M(2, 1), X=M(3, 2)), lambda A, X: np.kron(X, A)),
    Case("kron-vectors", "kron(x, y)", "y", dict(x=M(3), y=M(2)), lambda x, y: np.kron(x, y)),
    Case("kron-square", "kron(X, X)", "X", dict(X=M(2, 3)), lambda X: np.kron(X, X)),
    Case("kron-scalar-trace", "tr(kron(A, X) B)", "X", dict(A=M(2, 3), X=M(3, 2), B=M(6, 6)),
         lambda A, X, B: np.trace(np.kron(A, X) @ B)),
    Case("kron-scalar-inner", "tanh(kron(A, X)) c", "X", dict(A=M(2, 3), X=M(3, 2), c=M(6)),
         lambda A, X, c: np.tanh(np.kron(A, X)) @ c),
    Case("diag-of", "diag(X)", "X", dict(X=M(3, 3)), lambda X: np.diag(X).reshape(-1, 1)),
    Case("diag-mat", "diag(x)", "x", dict(x=M(3)), lambda x: np.diag(x)),
    Case("vec", "vec(X)", "X", dict(X=M(3, 2)), lambda X: vec(X), golden="I"),
    Case("scalar-variable", "alpha x", "alpha", dict(alpha=(), x=M(3)), lambda alpha, x: alpha * x, golden="x"),
    Case("scalar-valued", "x^T A x", "x", dict(x=M(3), A=M(3, 3)), lambda x, A: x @ A @ x),
    Case("scalar-wrt-matrix", "a^T X b", "X", dict(a=M(2), X=M(2, 3), b=M(3)), lambda a, X, b: a @ X @ b,
         golden="b^T ⊗ a^T"),
    Case("trace", "tr(A X)", "X", dict(A=M(3, 2), X=M(2, 3)), lambda A, X: np.trace(A @ X), golden="vec(A^T)^T"),
    # powers with a variable exponent (a positive base)
    Case("pow-vector-exponent", "x .^ y", "y", dict(x=M(3), y=M(3)), lambda x, y: x ** y, kinds=dict(x="pos"),
         golden="diag(x .^ y ∘ log(x))"),
    Case("pow-vector-base", "x .^ y", "x", dict(x=M(3), y=M(3)), lambda x, y: x ** y, kinds=dict(x="pos")),
    Case("pow-scalar-exponent", "x .^ p", "p", dict(x=M(3), p=()), lambda x, p: x ** p, kinds=dict(x="pos")),
    Case("pow-scalar-exponent-wrt-x", "x .^ p", "x", dict(x=M(3), p=()), lambda x, p: x ** p, kinds=dict(x="pos")),
    Case("pow-constant-base", "2 .^ (W x)", "x", dict(W=M(2, 3), x=M(3)), lambda W, x: 2.0 ** (W @ x)),
    Case("pow-scalar-base", "alpha .^ X", "alpha", dict(alpha=(), X=M(2, 3)), lambda alpha, X: alpha ** X,
         kinds=dict(alpha="pos")),
    Case("pow-of-scalars", "a^b", "b", dict(a=(), b=()), lambda a, b: a ** b, kinds=dict(a="pos")),
    Case("program", "z = W x\nh = tanh(z)\ny = U h", "x", dict(W=M(3, 2), U=M(4, 3), x=M(2)),
         lambda W, U, x: U @ np.tanh(W @ x), golden="U diag(tanh'(z)) W"),
    Case("program-wrt-W", "z = W x\nh = tanh(z)\ny = U h", "W", dict(W=M(3, 2), U=M(4, 3), x=M(2)),
         lambda W, U, x: U @ np.tanh(W @ x)),
]


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_jacobian_against_finite_differences(c: Case, rng):
    d = jacobian_of(Problem.of(c.src, c.shapes, list(c.functions)), c.wrt)
    values = draw_all(c.shapes, rng, c.kinds)
    ref = fd_jacobian(c.f, values, c.wrt)
    got = matdiff_value(d.matrix, values)
    assert got.shape == ref.shape, f"{c.src}: J is {got.shape}, expected {ref.shape}"
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    S = matdiff.jacobian(c.src, wrt=c.wrt, shapes=c.shapes, functions=list(c.functions) or None)
    via_sympy = np.asarray(sympy_evaluate(S, values, functions=c.functions), dtype=float)
    np.testing.assert_allclose(via_sympy.reshape(ref.shape), ref, rtol=1e-5, atol=1e-6)
    if c.golden is not None:
        assert d.formula() == c.golden


# ---- the commutation matrix and vec without vec -------------------------------------------------

@pytest.mark.parametrize("m, n", [(2, 3), (3, 2), (1, 4), (3, 3)])
def test_commutation_matrix_transposes_vec(m, n, rng):
    A = rng.normal(size=(m, n))
    K = evaluate(commutation(m, n), Env({}))
    assert K.shape == (m * n, m * n)
    np.testing.assert_array_equal(K @ vec(A), vec(A.T))


def test_commutation_matrix_in_sympy_with_symbolic_sizes():
    """K_{m,n} is a valid SymPy expression for symbolic m, n and evaluates to the permutation."""
    import sympy as sp
    from matdiff.printing.to_sympy import to_sympy
    S = to_sympy(commutation("m", "n"))
    assert S.shape == (sp.Symbol("m") * sp.Symbol("n"),) * 2
    K = sympy_evaluate(S, {}, dict(m=2, n=3))
    A = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(K @ vec(A), vec(A.T))


def test_vec_and_unvec_written_without_vec(rng):
    from matdiff.language.expr import Var
    G = Var("G", ("m", "n"))
    values = {"G": rng.normal(size=(3, 2))}
    dims = dict(m=3, n=2)
    v = evaluate(vec_explicit(G), Env(values, dims))
    np.testing.assert_array_equal(v, vec(values["G"]))
    g = Var("g", (6,))
    U = evaluate(unvec_explicit(g, 3, 2), Env({"g": vec(values["G"])}, dims))
    np.testing.assert_array_equal(U, values["G"])


def test_symbolic_shapes_and_sizes():
    """With symbolic sizes J is size(y) x size(X), whatever the order of the dimensions' product."""
    from matdiff.language.shapes import shape_of
    p = Problem.of("A X^T B", dict(A=("k", "n"), X=("m", "n"), B=("m", "l")))
    J = jacobian_expr(p.f, p.vars["X"])
    rows, cols = shape_of(J)
    assert sorted(map(str, rows[1:])) == ["k", "l"] and sorted(map(str, cols[1:])) == ["m", "n"]


def test_jacobian_of_several_variables_is_a_dict():
    J = matdiff.jacobian("tanh(W x)", wrt=["x", "W"])
    assert set(J) == {"x", "W"}


def test_jacobian_of_a_scalar_is_a_row():
    d = jacobian_of(Problem.of("x^T A x", dict(x=(3,), A=(3, 3))), "x")
    from matdiff.language.shapes import shape_of
    assert shape_of(d.matrix) == (1, 3)


def test_unknown_variable_is_a_matdiff_error():
    with pytest.raises(matdiff.MatdiffError):
        matdiff.jacobian("tanh(W x)", wrt="q")


# ---- hypothesis: random vector and matrix expressions -----------------------------------------

N = 3
SHAPES = dict(x=(N,), a=(N,), A=(N, N), B=(N, N), W=(2, N), X=(N, 2), C=(2, 2), D=(N, N))


def _leaf_vectors():
    return st.sampled_from([
        ("x", lambda v: v["x"]),
        ("A x", lambda v: v["A"] @ v["x"]),
        ("x + a", lambda v: v["x"] + v["a"]),
    ])


VEC_UNARY = [
    ("tanh({})", np.tanh), ("sin({})", np.sin), ("sigmoid({})", sigmoid),
    ("softmax({})", softmax), ("A ({})", None), ("W^T tanh(W ({}))", None),
]


@st.composite
def vectors(draw, depth):
    """(text, fn) of an N-vector expression in x."""
    if depth == 0:
        return draw(_leaf_vectors())
    op = draw(st.sampled_from(["unary", "add", "hadamard", "scale", "unary", "matvec"]))
    a_t, a_f = draw(vectors(depth - 1))
    if op == "unary":
        t, f = draw(st.sampled_from(VEC_UNARY))
        if t == "A ({})":
            return f"A ({a_t})", lambda v: v["A"] @ a_f(v)
        if t.startswith("W^T"):
            return f"W^T tanh(W ({a_t}))", lambda v: v["W"].T @ np.tanh(v["W"] @ a_f(v))
        return t.format(a_t), lambda v: f(a_f(v))
    if op == "matvec":
        return f"B ({a_t}) - ({a_t})", lambda v: v["B"] @ a_f(v) - a_f(v)
    b_t, b_f = draw(vectors(depth - 1))
    if op == "add":
        return f"({a_t}) + ({b_t})", lambda v: a_f(v) + b_f(v)
    if op == "hadamard":
        return f"({a_t}) .* ({b_t})", lambda v: a_f(v) * b_f(v)
    return f"(a^T ({b_t})) ({a_t})", lambda v: (v["a"] @ b_f(v)) * a_f(v)


SCALAR_OF_VECTOR = [
    ("a^T ({})", lambda v, y: v["a"] @ y),
    ("({0})^T ({0})", lambda v, y: y @ y),
    ("sum(sin({}))", lambda v, y: np.sum(np.sin(y))),
    ("logsumexp({})", lambda v, y: np.log(np.sum(np.exp(y)))),
    ("||{}||^2", lambda v, y: np.sum(y ** 2)),
    ("({0})^T D ({0})", lambda v, y: y @ v["D"] @ y),
    ("sum(softplus({}))", lambda v, y: np.sum(np.logaddexp(0, y))),
]


@st.composite
def matrices(draw, depth):
    """(text, fn) of an N x 2 matrix expression in X."""
    if depth == 0:
        return draw(st.sampled_from([("X", lambda v: v["X"]), ("A X", lambda v: v["A"] @ v["X"]),
                                     ("X C", lambda v: v["X"] @ v["C"])]))
    op = draw(st.sampled_from(["fn", "add", "hadamard", "left", "right", "transpose2"]))
    a_t, a_f = draw(matrices(depth - 1))
    if op == "fn":
        name, f = draw(st.sampled_from([("tanh", np.tanh), ("sin", np.sin), ("sigmoid", sigmoid)]))
        return f"{name}({a_t})", lambda v: f(a_f(v))
    if op == "left":
        return f"B ({a_t})", lambda v: v["B"] @ a_f(v)
    if op == "right":
        return f"({a_t}) C", lambda v: a_f(v) @ v["C"]
    if op == "transpose2":
        return f"(({a_t})^T B^T)^T", lambda v: (a_f(v).T @ v["B"].T).T
    b_t, b_f = draw(matrices(depth - 1))
    if op == "add":
        return f"({a_t}) + ({b_t})", lambda v: a_f(v) + b_f(v)
    return f"({a_t}) .* ({b_t})", lambda v: a_f(v) * b_f(v)


def _check_jacobian(src, fn, wrt, rng):
    p = Problem.of(src, SHAPES)
    used = {k: SHAPES[k] for k in p.vars}
    values = draw_all(used, rng)
    values = {k: (0.5 * v if k != wrt else v) for k, v in values.items()}
    J = jacobian_expr(p.f, p.vars[wrt])
    got = matdiff_value(J, values)
    ref = fd_jacobian(lambda **v: fn(v), values, wrt)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6, err_msg=f"{src}\nJ = {J}")


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(e=st.integers(1, 3).flatmap(vectors), seed=st.integers(0, 2**16))
def test_random_vector_jacobians(e, seed):
    src, fn = e
    _check_jacobian(src, fn, "x", np.random.default_rng(seed))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=st.integers(1, 3).flatmap(matrices), seed=st.integers(0, 2**16))
def test_random_matrix_jacobians(e, seed):
    src, fn = e
    _check_jacobian(src, fn, "X", np.random.default_rng(seed))


# ---- the command line ------------------------------------------------------------------------

def test_cli_jacobian_prints_and_checks(capsys):
    status = main(["jacobian", "tanh(W x)", "--wrt", "x", "--check"])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    assert out.splitlines()[0] == "J = diag(tanh'(W x)) W"
    assert "check passed" in out


def test_cli_jacobian_wrt_matrix_with_shapes_and_latex(capsys):
    status = main(["jacobian", "W x", "--wrt", "W", "--shape", "W=2,3", "--latex"])
    out, _ = capsys.readouterr()
    assert status == 0
    assert out.splitlines()[0] == "J = x^T ⊗ I"
    assert r"\otimes" in out


def test_cli_jacobian_with_declared_function(capsys):
    status = main(["jacobian", "f(W x)", "--wrt", "x", "--fn", "f", "--check"])
    out, _ = capsys.readouterr()
    assert status == 0 and out.splitlines()[0] == "J = diag(f'(W x)) W"


def test_cli_jacobian_bad_input_is_an_error_not_a_traceback(capsys):
    status = main(["jacobian", "tanh(W x", "--wrt", "x"])
    _, err = capsys.readouterr()
    assert status == 2 and "Traceback" not in err


def test_check_fails_on_a_wrong_jacobian():
    """The check is a real oracle: a Jacobian that is off by a transpose fails it."""
    from dataclasses import replace
    from matdiff.language.algebra import transpose
    d = jacobian_of(Problem.of("A x", dict(A=(3, 3), x=(3,))), "x")
    wrong = replace(d, matrix=transpose(d.matrix))
    assert d.check().ok and not wrong.check().ok


# ---- each Kronecker simplification keeps the value where it fires --------------------------------

def _rule_cases():
    from matdiff.calculus import kronecker as jm
    from matdiff.language.expr import Identity, Kron, MatMul, Transpose, Var
    b = Var("b", (3,))
    yield "mixed_product", jm.mixed_product, "kron(A, B) kron(C, D)", \
        dict(A=(2, 3), B=(2, 2), C=(3, 2), D=(2, 3))
    yield "absorb-row", jm.absorb_into_kron, "M kron(x^T, B)", dict(M=(2, 2), x=(3,), B=(2, 4))
    yield "absorb-column", jm.absorb_into_kron, "kron(x, B) M", dict(M=(2, 3), x=(3,), B=(2, 2))
    yield "kron_times_vec", jm.kron_times_vec, "kron(B^T, A) vec(X)", dict(A=(2, 3), X=(3, 4), B=(4, 2))
    yield "kron_times_vec-sum", jm.kron_times_vec, "kron(B^T, A) (vec(X) - 2 vec(Y))", \
        dict(A=(2, 3), X=(3, 4), Y=(3, 4), B=(4, 2))
    yield "row_kron_selector", jm.row_kron_selector, \
        MatMul((Kron((Transpose(b), Identity(3))), jm.diag_selector(3))), {}
    yield "diag_products", jm.diag_products, "diag(a) diag(c)", dict(a=(3,), c=(3,))
    yield "negated_sum", jm.negated_sum, "-(-A - B) C", dict(A=(2, 2), B=(2, 2), C=(2, 3))
    yield "kron_identities", jm.kron_identities, Kron((Identity(2), Identity(3))), {}
    yield "kron_common_factor", jm.kron_common_factor, "kron(P, A) + 2 kron(P, B)", \
        dict(P=(2, 1), A=(2, 3), B=(2, 3))
    yield "flatten_scaled_sums", jm.flatten_scaled_sums, "2 (A + B) + A", dict(A=(2, 3), B=(2, 3))
    yield "diag_of_diag", jm.diag_of_diag, "diag(diag(x))", dict(x=(3,))
    yield "transpose_of_commutation", jm.transpose_of_commutation, Transpose(commutation(2, 3)), {}


RULE_CASES = list(_rule_cases())


@pytest.mark.parametrize("name, rule, src, shapes", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_kronecker_rule_keeps_the_value(name, rule, src, shapes, rng):
    from matdiff.language.expr import postorder, Var
    e = Problem.of(src, shapes).f if isinstance(src, str) else src
    target = next((n for n in postorder(e) if rule.__name__ and _fires(rule, n)), None)
    assert target is not None, f"{name} does not fire on {e}"
    new = rule(target)
    names = {v.name: v.shape for v in postorder(e) if isinstance(v, Var)}
    values = {k: rng.normal(size=tuple(s) if len(s) != 1 else (s[0], 1)) for k, s in names.items()}
    np.testing.assert_allclose(evaluate(new, Env(values)), evaluate(target, Env(values)), atol=1e-12)


def _fires(rule, node) -> bool:
    try:
        return rule(node) is not None
    except (AttributeError, TypeError):
        return False           # a rule meets only its own node type in the simplifier
