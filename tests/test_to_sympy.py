"""The SymPy results (SPEC §3): made only of the listed classes, abstract derivatives as
`Derivative` inside the `Lambda` body, concrete ones already evaluated, `dA` a MatrixSymbol.
Every structural claim is backed by a numerical one."""
from __future__ import annotations

import time

import numpy as np
import pytest
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

import matdiff
from matdiff.language.functions import ELEMENTWISE
from helpers_calculus import (
    as_natural, assert_close, draw_all, fd_directional, fd_gradient, matdiff_value, sympy_evaluate,
)
from test_cookbook import ALL as COOKBOOK_CASES
from test_diff_rules import CASES as RULE_CASES
from seed_cases import SEEDS, TUTORIAL12, TUTORIAL12_SPELLINGS
from test_seeds import DIMS

# SPEC §3's list, plus the scalar algebra any SymPy expression is made of
SPEC_CLASSES = (
    sp.MatrixSymbol, sp.Symbol, sp.MatAdd, sp.MatMul, sp.Transpose, sp.Inverse, sp.HadamardProduct,
    sp.HadamardPower, sp.Trace, sp.Determinant, sp.KroneckerProduct, DiagMatrix, sp.OneMatrix, sp.Identity,
    ElementwiseApplyFunction, sp.Lambda,
)
SCALAR_ALGEBRA = (
    sp.Integer, sp.Rational, sp.Add, sp.Mul, sp.Pow, sp.Derivative, sp.Subs, AppliedUndef,
    sp.exp, sp.log, sp.sin, sp.cos, sp.tanh, sp.cosh, sp.Heaviside, sp.Max, sp.MatPow, DiagonalOf, sp.ZeroMatrix,
    sp.tan, sp.sinh, sp.asin, sp.acos, sp.atan,
    sp.Dummy,
    sp.Tuple, sp.core.symbol.Str,       # the argument containers of Lambda, Derivative and MatrixSymbol
)
ALLOWED = SPEC_CLASSES + SCALAR_ALGEBRA

T = sp.Symbol("t")


def dim(d):
    return sp.Symbol(d) if isinstance(d, str) else sp.Integer(d)


def foreign_classes(e) -> set:
    return {type(n).__name__ for n in sp.preorder_traversal(e) if not isinstance(n, ALLOWED)}


def corpus():
    out = []
    for c in RULE_CASES:
        if not (c.xfail or c.sympy_xfail):
            out.append(pytest.param(c.src, c.wrt, c.shapes, id=f"rule-{c.id}"))
    for c in COOKBOOK_CASES:
        if not c.xfail:
            out.append(pytest.param(c.src, c.wrt, c.shapes, id=f"cookbook-{c.id}"))
    for c in SEEDS:
        out.append(pytest.param(c.src, c.wrt, dict(c.shapes), id=c.id))
    return out


@pytest.mark.parametrize("src, wrt, shapes", corpus())
def test_result_is_made_of_spec_classes(src, wrt, shapes):
    g = matdiff.gradient(src, wrt, shapes=shapes)
    assert not foreign_classes(g), f"{src}: {g} uses {foreign_classes(g)}"
    shape = shapes[wrt]
    if shape == ():
        assert not isinstance(g, sp.MatrixExpr), f"the gradient for a scalar is a scalar, got {type(g).__name__}"
    else:
        assert isinstance(g, sp.MatrixExpr)
        rows, cols = (shape[0], 1) if len(shape) == 1 else shape
        assert (g.shape[0], g.shape[1]) == (dim(rows), dim(cols)), \
            f"{src}: gradient shape {g.shape}, variable {shape} (a vector's gradient is a column)"


def test_result_with_symbolic_dimensions_uses_symbols():
    g = matdiff.gradient("a^T X b", "X", shapes=dict(a=("m",), X=("m", "n"), b=("n",)))
    assert g.shape == (sp.Symbol("m"), sp.Symbol("n"))
    assert {s.name for s in g.free_symbols if isinstance(s, sp.MatrixSymbol)} == {"a", "b"}


def test_several_variables_give_a_dict_of_sympy():
    gs = matdiff.gradient("x^T A y", wrt=["A", "x", "y"], shapes=dict(x=(3,), A=(3, 2), y=(2,)))
    assert set(gs) == {"A", "x", "y"} and all(isinstance(g, sp.Basic) for g in gs.values())
    assert gs["A"].shape == (3, 2) and gs["x"].shape == (3, 1) and gs["y"].shape == (2, 1)
    rng = np.random.default_rng(0)
    vals = draw_all(dict(x=(3,), A=(3, 2), y=(2,)), rng)
    f = lambda x, A, y: x @ A @ y  # noqa: E731
    for k, g in gs.items():
        assert_close(as_natural(sympy_evaluate(g, vals), np.shape(vals[k])), fd_gradient(f, vals, k))


# ---- abstract functions: Phi' is a Derivative inside the Lambda body -----------------------------

def lambda_bodies(e) -> list:
    return [n.function for n in sp.preorder_traversal(e) if isinstance(n, ElementwiseApplyFunction)]


def test_phi_prime_is_a_derivative_in_the_lambda_body():
    g = matdiff.gradient("c^T Phi(W x)", "W", shapes=dict(c=(3,), W=(3, 4), x=(4,)))
    bodies = [lam for lam in lambda_bodies(g) if lam.expr.has(sp.Derivative)]
    assert len(bodies) == 1, g
    lam = bodies[0]
    (t,) = lam.variables
    Phi = sp.Function("Phi")
    assert lam.expr == sp.Derivative(Phi(t), t)
    # replace Phi by a concrete function and evaluate the body: the concrete derivative
    assert sp.simplify(lam.expr.replace(Phi, sp.tanh).doit() - (1 - sp.tanh(t) ** 2)) == 0
    assert lam.expr.replace(Phi, sp.sin).doit() == sp.cos(t)


def test_phi_double_prime_is_a_higher_derivative():
    """The gradient of Phi'' applied elementwise holds Phi''' as Derivative(Phi(t), (t, 3))."""
    g = matdiff.gradient("c^T Phi''(W x)", "W", shapes=dict(c=(3,), W=(3, 4), x=(4,)))
    Phi = sp.Function("Phi")
    orders = sorted(lam.expr.derivative_count for lam in lambda_bodies(g) if isinstance(lam.expr, sp.Derivative))
    assert orders == [3], g
    body = next(lam.expr for lam in lambda_bodies(g) if isinstance(lam.expr, sp.Derivative))
    (t,) = body.variables[:1]
    assert body.replace(Phi, sp.sin).doit() == -sp.cos(t)
    assert sp.simplify(body.replace(Phi, sp.exp).doit() - sp.exp(t)) == 0


def test_phi_and_psi_stay_distinct():
    g = matdiff.gradient(TUTORIAL12, "W")
    names = {type(f).__name__ for f in g.atoms(AppliedUndef)}
    assert names == {"Phi", "Psi"}
    derivs = {d.expr.func.__name__ for d in g.atoms(sp.Derivative)}
    assert derivs == {"Phi", "Psi"}


def test_declared_function_is_an_undefined_sympy_function():
    g = matdiff.gradient("c^T f(W x)", "W", functions=["f"], shapes=dict(c=(3,), W=(3, 2), x=(2,)))
    assert {type(a).__name__ for a in g.atoms(AppliedUndef)} == {"f"}
    vals = draw_all(dict(c=(3,), W=(3, 2), x=(2,)), np.random.default_rng(1))
    got = sympy_evaluate(g, vals, functions={"f": sp.Lambda(T, T ** 3)})
    ref = fd_gradient(lambda c, W, x: c @ (W @ x) ** 3, vals, "W")
    assert_close(got, ref)


def test_phi_of_a_scalar_substitutes_and_evaluates():
    """Phi(a^T x) is a scalar function: its derivative still becomes concrete after replacing Phi."""
    g = matdiff.gradient("Phi(a^T x)", "x", shapes=dict(a=(3,), x=(3,)))
    assert g.has(sp.Derivative)
    vals = draw_all(dict(a=(3,), x=(3,)), np.random.default_rng(2))
    got = sympy_evaluate(g, vals, functions={"Phi": sp.tanh})
    assert_close(got.ravel(), fd_gradient(lambda a, x: np.tanh(a @ x), vals, "x"))


def test_nested_phi_becomes_concrete_after_replacing_phi():
    """SPEC §3: replacing Phi by a concrete function and calling doit() gives the concrete derivative,
    also for Phi(Phi(x)) under a scalar coefficient: (c^T Phi(Phi(x)))^2."""
    shapes = dict(c=(3,), x=(3,))
    g = matdiff.gradient("(c^T Phi(Phi(x)))^2", "x", shapes=shapes)
    concrete = g.replace(sp.Function("Phi"), sp.tanh)
    vals = draw_all(shapes, np.random.default_rng(8))
    got = sympy_evaluate(concrete, vals)
    assert_close(got.ravel(), fd_gradient(lambda c, x: (c @ np.tanh(np.tanh(x))) ** 2, vals, "x"))


# ---- concrete functions: derivatives already evaluated -------------------------------------------

def test_tanh_derivative_is_already_evaluated():
    g = matdiff.gradient("c^T tanh(W x)", "W", shapes=dict(c=(3,), W=(3, 4), x=(4,)))
    assert not g.has(sp.Derivative) and not g.atoms(AppliedUndef)
    bodies = lambda_bodies(g)
    assert any(lam.expr == 1 - sp.tanh(lam.variables[0]) ** 2 for lam in bodies), [b.expr for b in bodies]
    # and it needs no doit(): ElementwiseApplyFunction.doit() never evaluates its body
    assert all(lam.expr.doit() == lam.expr for lam in bodies)


@pytest.mark.parametrize("fn", list(ELEMENTWISE))
def test_builtin_derivatives_are_evaluated(fn):
    shapes = dict(c=(3,), W=(3, 4), x=(4,))
    g = matdiff.gradient(f"c^T {fn}(W x)", "W", shapes=shapes)
    assert not g.has(sp.Derivative, sp.Subs), f"{fn}: {g}"
    assert not g.atoms(AppliedUndef), f"{fn}: {g}"
    assert not foreign_classes(g)


@pytest.mark.parametrize("fn", ["tanh", "sigmoid", "sin"])
def test_second_derivative_of_builtin_is_evaluated(fn):
    g = matdiff.gradient(f"c^T {fn}'(W x)", "W", shapes=dict(c=(3,), W=(3, 4), x=(4,)))
    assert not g.has(sp.Derivative), g
    np_fn = {"tanh": lambda z: 1 - np.tanh(z) ** 2, "sin": np.cos,
             "sigmoid": lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2}[fn]
    vals = draw_all(dict(c=(3,), W=(3, 4), x=(4,)), np.random.default_rng(3))
    assert_close(sympy_evaluate(g, vals), fd_gradient(lambda c, W, x: c @ np_fn(W @ x), vals, "W"))


# ---- functions of a 1x1 matrix expression (a^T x): the body must not be called on a matrix ----

NP_DERIV = {
    "exp": (np.exp, np.exp), "log": (np.log, lambda z: 1 / z), "sin": (np.sin, np.cos),
    "cos": (np.cos, lambda z: -np.sin(z)), "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: float(z > 0)),
    "softplus": (lambda z: np.logaddexp(0, z), lambda z: 1 / (1 + np.exp(-z))),
    "sqrt": (np.sqrt, lambda z: 0.5 / np.sqrt(z)),
    "sign": (np.sign, lambda z: 0.0), "abs": (np.abs, np.sign),
    "tan": (np.tan, lambda z: 1 / np.cos(z) ** 2), "arctan": (np.arctan, lambda z: 1 / (1 + z * z)),
    "arcsin": (np.arcsin, lambda z: 1 / np.sqrt(1 - z * z)), "arccos": (np.arccos, lambda z: -1 / np.sqrt(1 - z * z)),
    "sinh": (np.sinh, np.cosh), "cosh": (np.cosh, np.sinh),
    "Phi": (np.sin, np.cos),                          # Phi = sin when the result is evaluated
}


def one_by_one_cases():
    for fn in NP_DERIV:
        for order in (0, 1):
            yield pytest.param(fn, order, id=f"{fn}{chr(39) * order}")


@pytest.mark.parametrize("fn, order", list(one_by_one_cases()))
def test_function_of_a_1x1_matrix_expression(fn, order):
    """f(a^T x) b^T x wrt x: the SymPy result exists, has only SPEC classes, and is the gradient."""
    shapes = dict(a=(3,), x=(3,), b=(3,))
    spelled = fn + "'" * order
    g = matdiff.gradient(f"{spelled}(a^T x) b^T x", "x", shapes=shapes)
    assert not foreign_classes(g), foreign_classes(g)
    # positive arguments (log, sqrt); small ones inside arcsin's (-1, 1) and short of tan's pole
    small = fn in ("tan", "arcsin", "arccos")
    vals = draw_all(shapes, np.random.default_rng(7), dict(a="small", x="small") if small else dict(a="pos", x="pos"))
    h = NP_DERIV[fn][order]
    got = sympy_evaluate(g, vals, functions={"Phi": sp.sin})
    ref = fd_gradient(lambda a, x, b: h(a @ x) * (b @ x), vals, "x")
    assert_close(got.ravel(), ref)


# ---- differentials -----------------------------------------------------------------------------

def test_differential_of_inverse_holds_dA():
    d = matdiff.differential("inv(A)")
    dA = [s for s in d.atoms(sp.MatrixSymbol) if s.name == "dA"]
    assert len(dA) == 1 and dA[0].shape[0] == dA[0].shape[1]
    assert not foreign_classes(d)
    A = sp.MatrixSymbol("A", *dA[0].shape)
    assert d == -sp.Inverse(A) * dA[0] * sp.Inverse(A)          # -A^-1 dA A^-1
    # numerically: d(A^-1)[dA] = lim (inv(A + h dA) - inv(A - h dA)) / 2h
    n = 3
    rng = np.random.default_rng(4)
    Av = 2 * np.eye(n) + 0.3 * rng.normal(size=(n, n))
    dAv = rng.normal(size=(n, n))
    dims = {s.name: n for s in dA[0].shape if isinstance(s, sp.Symbol)}
    got = sympy_evaluate(d, {"A": Av, "dA": dAv}, dims)
    h = 1e-6
    ref = (np.linalg.inv(Av + h * dAv) - np.linalg.inv(Av - h * dAv)) / (2 * h)
    assert_close(got, ref)


def test_differential_of_a_scalar_function_all_variables():
    shapes = dict(x=(3,), A=(3, 3))
    d = matdiff.differential("x^T A x", shapes=shapes)
    names = {s.name for s in d.atoms(sp.MatrixSymbol)}
    assert {"dx", "dA"} <= names
    rng = np.random.default_rng(5)
    vals = draw_all(shapes, rng)
    dirs = {k: rng.normal(size=s) for k, s in shapes.items()}
    got = sympy_evaluate(d, {**vals, **{"d" + k: v for k, v in dirs.items()}})
    assert_close(got, fd_directional(lambda x, A: x @ A @ x, vals, dirs))


def test_differential_wrt_a_scalar_is_a_symbol():
    d = matdiff.differential("alpha x^T x", wrt="alpha", shapes=dict(alpha=(), x=(3,)))
    assert sp.Symbol("dalpha") in d.free_symbols
    vals = draw_all(dict(alpha=(), x=(3,)), np.random.default_rng(6))
    got = sympy_evaluate(d, {**vals, "dalpha": 0.7})
    assert_close(got, 0.7 * vals["x"] @ vals["x"])


@pytest.mark.parametrize("src, wrt, shapes, f", [
    pytest.param("a^T vec(X)", "X", dict(a=(6,), X=(3, 2)), lambda a, X: a @ X.reshape(-1, order="F"), id="vec"),
    pytest.param("vec(X)^T A vec(X)", "X", dict(A=(6, 6), X=(3, 2)),
                 lambda A, X: X.reshape(-1, order="F") @ A @ X.reshape(-1, order="F"), id="vec-quadratic"),
    pytest.param("c^T kron(x, y)", "x", dict(c=(6,), x=(3,), y=(2,)), lambda c, x, y: c @ np.kron(x, y),
                 id="unvec-of-kron"),
    pytest.param("tr(kron(A, X) B)", "X", dict(A=(2, 3), X=(3, 2), B=(6, 6)),
                 lambda A, X, B: np.trace(np.kron(A, X) @ B), id="kron-block-sum"),
    pytest.param("c^T kron(x, y)", "y", dict(c=(6,), x=(3,), y=(2,)), lambda c, x, y: c @ np.kron(x, y),
                 id="unvec-of-kron-right"),
    pytest.param("x^T kron(A, B) x", "x", dict(x=(6,), A=(2, 3), B=(3, 2)), lambda x, A, B: x @ np.kron(A, B) @ x,
                 id="constant-kron"),
])
def test_gradient_through_vec_unvec_and_kron_is_sympy(src, wrt, shapes, f):
    """vec and unvec have no SymPy class: the SymPy result writes them with Kronecker products of
    ones and identities (to_sympy._vec, _unvec); evaluated independently, it is the gradient."""
    g = matdiff.gradient(src, wrt, shapes=shapes)
    vals = draw_all(shapes, np.random.default_rng(13))
    assert_close(np.asarray(sympy_evaluate(g, vals), dtype=float).reshape(np.shape(vals[wrt])),
                 fd_gradient(f, vals, wrt))


@pytest.mark.parametrize("src, shapes, sizes, f", [
    pytest.param("a^T vec(X)", dict(X=("m", "n")), dict(a=(6,), X=(3, 2)),
                 lambda a, X: a @ X.reshape(-1, order="F"), id="vec"),
    pytest.param("vec(X)^T A vec(X)", dict(X=("m", "n")), dict(A=(6, 6), X=(3, 2)),
                 lambda A, X: X.reshape(-1, order="F") @ A @ X.reshape(-1, order="F"), id="vec-quadratic"),
    pytest.param("tr(kron(A, X) B)", dict(A=("p", "q"), X=("m", "n")), dict(A=(2, 3), X=(3, 2), B=(6, 6)),
                 lambda A, X, B: np.trace(np.kron(A, X) @ B), id="kron"),
])
def test_vec_and_unvec_in_sympy_with_symbolic_sizes(src, shapes, sizes, f):
    """The SymPy forms hold for symbolic sizes: the result has X's shape, and at sizes it is the gradient."""
    g = matdiff.gradient(src, "X", shapes=shapes)
    assert g.shape == (sp.Symbol("m"), sp.Symbol("n"))
    vals = draw_all(sizes, np.random.default_rng(14))
    dims = dict(m=3, n=2, p=2, q=3)
    assert_close(np.asarray(sympy_evaluate(g, vals, dims), dtype=float), fd_gradient(f, vals, "X"))


def test_seed_dims_cover_results():
    """Sanity for the seed corpus: every symbolic dimension of a seed result has a size."""
    for c in TUTORIAL12_SPELLINGS:
        g = matdiff.gradient(c.src, c.wrt, shapes=dict(c.shapes))
        assert {s.name for s in g.free_symbols if type(s) is sp.Symbol} <= set(DIMS) | set(c.shapes)


# ---- conversion cost, overflow, scalar Kronecker factors (issue 11) ---------------------------------

def sympy_and_matdiff(src, wrt, shapes, values):
    """The SymPy gradient's value and matdiff's own evaluation of its gradient, at values."""
    grad = matdiff.derive_gradient(src, wrt, shapes=shapes)
    theirs = sympy_evaluate(grad.sympy()[wrt], values)
    return np.asarray(theirs, dtype=float), matdiff_value(grad.inlined[wrt], values)


@pytest.mark.parametrize("src, wrt, shapes", [
    pytest.param("g1 = sin(sigmoid(sqrt(softplus(b))))\nz2 = sqrt(sigmoid(g1))\nL = log(sigmoid(z2 + b))^T (c + z2)",
                 "b", dict(b=(4,), c=(4,)), id="sigmoid-chain"),       # 44 s in SymPy's MatMul.doit once
    pytest.param("||inv(2 I + tanh(diag(y .^ 3 + y + sin(y) - sin(x))) / 4)||_F^2",
                 "y", dict(y=(3,), x=(3,)), id="inv-diag"),             # 6 s in DiagonalOf.doit once
])
def test_conversion_is_quick_and_right(src, wrt, shapes):
    """Each node is built by its class's constructor, once: no SymPy doit() during the conversion.
    (A hang guard, not a benchmark: it takes well under a second.)"""
    start = time.monotonic()
    matdiff.gradient(src, wrt, shapes=shapes)
    assert time.monotonic() - start < 5.0
    vals = draw_all(shapes, np.random.default_rng(11))
    theirs, ours = sympy_and_matdiff(src, wrt, shapes, vals)
    assert np.all(np.isfinite(theirs))
    assert_close(theirs, ours, 1e-9)


def test_conversion_checks_the_time_limit(monkeypatch):
    """The conversion's loop looks at the call's clock (a budget already spent stops it)."""
    from matdiff.errors import LimitError
    from matdiff.limits import budgeted
    grad = matdiff.derive_gradient("x^T A x", "x")
    monkeypatch.setattr(matdiff.LIMITS, "max_seconds", 1e-9)
    with pytest.raises(LimitError):
        budgeted(lambda: (time.sleep(0.01), grad.sympy()))()


@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_softmax_result_has_no_overflow(scale):
    """exp of (X (y ./ exp(y))) .^ 3 overflows at ordinary y; the softmax is written with
    differences x_j - x_i, so the gradient (0: the entries sum to 1) evaluates to finite numbers."""
    shapes = dict(X=(3, 3), y=(3,))
    rng = np.random.default_rng(12)
    vals = {"X": scale * rng.normal(size=(3, 3)), "y": rng.normal(size=3) - 1.0}
    with np.errstate(over="ignore"):       # exp(x_j - x_i) past exp's range is 1/inf = 0 in a term: right
        theirs, ours = sympy_and_matdiff("sum(softmax((X (y ./ exp(y))) .^ 3))", "y", shapes, vals)
    assert np.all(np.isfinite(theirs)), theirs
    assert_close(theirs, ours, 1e-9)


STABLE_CASES = ["sum(softplus(x))", "sum(sigmoid(x))", "c^T sigmoid'(x)", "c^T sigmoid''(x)", "c^T softplus''(x)",
                "logsumexp(x)", "c^T softmax(x)", "logsumexp(x) + c^T softmax(x)"]


@pytest.mark.parametrize("src, scale", [(src, scale) for src in STABLE_CASES for scale in (1.0, 50.0, 800.0)]
                         # the gradient sigmoid'(x) ./ sigmoid(x) is 0/0 at -800 in any evaluator
                         + [("sum(log(sigmoid(x)))", 1.0), ("sum(log(sigmoid(x)))", 50.0)])
def test_stable_forms_at_large_inputs(src, scale):
    """Where the function is finite the SymPy result is finite and equals matdiff's evaluator,
    also at entries of +-800, past exp's range."""
    shapes = dict(x=(4,), c=(4,))
    rng = np.random.default_rng(13)
    vals = {"x": scale * np.array([1.0, -1.0, 0.5, -0.25]) + rng.normal(size=4), "c": rng.normal(size=4)}
    with np.errstate(over="ignore"):       # an entry whose exponent overflows is 1/inf = 0: right
        theirs, ours = sympy_and_matdiff(src, "x", shapes, vals)
    assert np.all(np.isfinite(ours))
    assert np.all(np.isfinite(theirs)), f"{src}: {theirs.ravel()}"
    assert_close(theirs, ours, 1e-9)


def test_stable_forms_are_the_functions():
    """softplus, sigmoid and sigmoid's derivatives as written equal their textbook formulas."""
    from matdiff.language.expr import Fn
    from matdiff.printing.to_sympy import T as t
    from matdiff.printing.to_sympy import function_body
    sig = 1 / (1 + sp.exp(-t))
    textbook = {("softplus", 0): sp.log(1 + sp.exp(t)), ("sigmoid", 0): sig}
    for k in range(1, 4):
        textbook["sigmoid", k] = sp.diff(sig, t, k)
        textbook["softplus", k] = sp.diff(sig, t, k - 1)
    for (name, k), ref in textbook.items():
        for level in (False, True):
            body = function_body(Fn(name, k), scalar_level=level)
            assert not body.has(sp.Derivative)
            for point in (-3.5, -0.2, 0.7, 4.0):
                assert abs(float(body.subs(t, point)) - float(ref.subs(t, point))) < 1e-12, (name, k, level, point)


@pytest.mark.parametrize("src, shapes", [
    ("kron(A, alpha)", dict(A=(2, 3), alpha=())),
    ("kron(alpha, A)", dict(A=(2, 3), alpha=())),
    ("kron(A, a^T x)", dict(A=(2, 3), a=(2,), x=(2,))),
])
def test_kronecker_with_a_scalar_factor(src, shapes):
    """kron with a 1x1 factor is scaling; SymPy's KroneckerProduct refuses a scalar (a traceback once)."""
    d = matdiff.differential(src, shapes=shapes)
    rng = np.random.default_rng(14)
    vals = draw_all(shapes, rng)
    dirs = {k: rng.normal(size=s) if s else float(rng.normal()) for k, s in shapes.items()}
    got = sympy_evaluate(d, {**vals, **{"d" + k: v for k, v in dirs.items()}})

    def f(**v):
        scal = v["alpha"] if "alpha" in v else v["a"] @ v["x"]
        return np.kron(v["A"], np.array([[scal]])) if src.startswith("kron(A") else scal * v["A"]
    h = 1e-6
    plus = f(**{k: vals[k] + h * dirs[k] for k in vals})
    minus = f(**{k: vals[k] - h * dirs[k] for k in vals})
    assert_close(got, (plus - minus) / (2 * h))


@pytest.mark.parametrize("src, ref", [
    ("abs(a^T (y - x))", lambda a, x, y: abs(a @ (y - x))),
    ("sign(a^T (y - x)) (a^T x)^2", lambda a, x, y: np.sign(a @ (y - x)) * (a @ x) ** 2),
    ("sum(abs(y - x)) + ||x - y||_1 abs(a^T x)", lambda a, x, y: np.sum(np.abs(y - x)) * (1 + abs(a @ x))),
])
def test_abs_and_sign_of_a_matrix_expression_build_in_sympy(src, ref):
    """abs and sign are built without sp.Abs and sp.sign (Max(t, -t) and 2 H(t) - 1), whose
    constructors run signsimp into the Trace of a^T (y - x) and break on the MatAdd."""
    shapes = dict(a=(3,), x=(3,), y=(3,))
    g = matdiff.gradient(src, "x", shapes=shapes)
    assert not foreign_classes(g), foreign_classes(g)
    vals = draw_all(shapes, np.random.default_rng(3))
    got = sympy_evaluate(g, vals)
    assert_close(np.ravel(got), fd_gradient(ref, vals, "x"))


def test_sympy_failure_is_a_matdiff_error():
    """SymPy's Pow of a Pow runs signsimp into the Trace and breaks on the MatAdd y - x (a
    NotImplementedError once): either a SymPy result or a MatdiffError that names the place."""
    try:
        g = matdiff.gradient("(sigmoid(a^T (y - x))) .^ {1/2}", "x", shapes=dict(a=(3,), x=(3,), y=(3,)))
    except matdiff.MatdiffError as err:
        assert "SymPy cannot build" in str(err) and "a^T" in str(err)
    else:
        assert isinstance(g, sp.MatrixExpr)


def test_a_scalar_power_of_a_big_sum_is_built_unevaluated():
    """Found by fuzzing: the Hessian's SymPy form here ran for minutes inside SymPy's Pow(Add, k)
    (every term's assumptions asked, recursively, outside any clock). Scalar powers and inverses
    are built unevaluated; the Hessian is right (against differences of the gradient)."""
    import warnings
    src = "z1 = tanh(W1 x + b1)\nz2 =(W2 z1 + b2)\nz3 = tanh(W3 z2 + b10^400 )\nR = 1/2 ||z3 - t||^2"
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matdiff.MatdiffWarning)      # W3 is read as a row
        H = matdiff.hessian(src, "b1")
        tex = matdiff.latex(H)
        small = "z1 = tanh(W1 x + b1)\nz2 =(W2 z1 + b2)\nz3 = tanh(W3 z2 + b10^3)\nR = 1/2 ||z3 - t||^2"
        shapes = dict(W1=(3, 2), x=(2,), b1=(3,), W2=(2, 3), b2=(2,), W3=(1, 2), b10=(), t=(1,))
        H = matdiff.hessian(small, "b1", shapes=shapes)
        G = matdiff.gradient(small, "b1", shapes=shapes)
    assert time.perf_counter() - t0 < 10 and tex
    vals = draw_all(shapes, np.random.default_rng(3))
    got = np.asarray(sympy_evaluate(H, vals), dtype=float)
    h, want = 1e-6, np.zeros((3, 3))
    for j in range(3):
        up, down = dict(vals), dict(vals)
        up["b1"] = vals["b1"] + h * np.eye(3)[j]
        down["b1"] = vals["b1"] - h * np.eye(3)[j]
        want[:, j] = (np.asarray(sympy_evaluate(G, up), dtype=float) - np.asarray(sympy_evaluate(G, down), dtype=float)).ravel() / (2 * h)
    assert_close(got, want, tol=1e-5)


def test_powers_with_a_variable_exponent_are_pow_and_hadamard_power():
    """a^b of scalars is SymPy's Pow; elementwise, HadamardPower, which takes a symbolic or a
    matrix exponent and a scalar on either side."""
    a, b = sp.Symbol("a"), sp.Symbol("b")
    assert matdiff.gradient("a^b", "b") == sp.log(a) * a ** b
    x, y = sp.MatrixSymbol("x", sp.Symbol("n"), 1), sp.MatrixSymbol("y", sp.Symbol("n"), 1)
    g = matdiff.gradient("sum(x .^ y)", "x")
    assert g.has(sp.HadamardPower(x, y))
    g = matdiff.gradient("sum(alpha .^ x)", "x")
    assert g.has(sp.HadamardPower(sp.Symbol("alpha"), x))


# ---- SymPy results simplified as the text is (issue 15, item 7) -------------------------------------

V3, M33, M43 = (3,), (3, 3), (4, 3)
SIMPLIFIED_CASES = [   # (function, wrt, shapes, kinds): programs inline their steps in the SymPy result
    ("B = A^T\nf = x^T B x", "x", dict(A=M33, x=V3), {}),                  # was (A.T + A.T.T)*x
    ("B = A^T\nf = tr(X^T B X)", "X", dict(A=M33, X=M33), {}),
    ("s = sum(y)\nf = s x^T x", "x", dict(y=V3, x=V3), {}),                # was Trace(1*y*1)
    ("-y^T log(softmax(W x))", "W", dict(y=(4,), W=(4, 3), x=V3), {}),
    ("y = 1^T x\nf = y^2", "x", dict(x=V3), {}),
    ("x^T A x", "x", dict(A=M33, x=V3), {}),
    ("2 x^T A x + 3 x^T A^T x", "x", dict(A=M33, x=V3), {}),
    ("(x^T A x) / (x^T x)", "x", dict(A=M33, x=V3), {}),
    ("exp(x^T A x)", "x", dict(A=M33, x=(3,)), dict(x="small", A="small")),
    ("logdet(X^T X)", "X", dict(X=M43), {}),
    ("Y = X^T\nf = tr(Y^T A Y) + sum(Y)", "X", dict(X=M33, A=M33), {}),
    ("sum(y) + sum(Z) + sum(r)", "Z", dict(y=V3, Z=M43, r=(1, 3)), {}),
    ("h1 = tanh(W x)\nh2 = tanh(W^T h1)\nf = c^T h2", "W", dict(W=M33, x=V3, c=V3), {}),
]


def _no_leftovers(e) -> None:
    """No transpose of a transpose, no matrix of ones of size 1 (1*y*1 inside a Trace)."""
    for n in sp.preorder_traversal(e):
        assert not (isinstance(n, sp.Transpose) and isinstance(n.arg, sp.Transpose)), f"{n} in {e}"
        assert not (isinstance(n, sp.OneMatrix) and n.shape == (1, 1)), f"a 1x1 matrix of ones in {e}"
    assert ".T.T" not in str(e) and "*1*" not in str(e), str(e)


@pytest.mark.parametrize("src, wrt, shapes, kinds", SIMPLIFIED_CASES, ids=[c[0] for c in SIMPLIFIED_CASES])
def test_sympy_gradient_is_the_simplified_one(src, wrt, shapes, kinds):
    """gradient(), jacobian() and hessian(): clean SymPy, equal to matdiff's own numbers."""
    values = draw_all(shapes, np.random.default_rng(5), kinds)
    g = matdiff.derive_gradient(src, wrt, shapes=shapes)
    ours = matdiff_value(g.inlined[wrt], values)
    for result in (matdiff.gradient(src, wrt, shapes=shapes), g.sympy()[wrt]):
        _no_leftovers(result)
        assert_close(np.asarray(sympy_evaluate(result, values), dtype=float).reshape(ours.shape), ours, 1e-9)
    for derive, api in ((matdiff.derive_jacobian, matdiff.jacobian), (matdiff.derive_hessian, matdiff.hessian)):
        M = derive(src, wrt, shapes=shapes)
        result = api(src, wrt, shapes=shapes)
        _no_leftovers(result)
        theirs = np.asarray(sympy_evaluate(result, values), dtype=float)
        ours = np.asarray(matdiff_value(M.matrix, values), dtype=float)
        assert_close(theirs.reshape(ours.shape), ours, 1e-9, what=f"{api.__name__}: ")


def test_sympy_result_of_an_inlined_transpose():
    """B = A^T; x^T B x: the text says (B + B^T) x, SymPy the same inline and simplified, (A + A^T) x."""
    A, x = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("x", 3, 1)
    got = matdiff.gradient("B = A^T\nf = x^T B x", "x", shapes=dict(A=M33, x=V3))
    assert str(got) == str(sp.MatMul(sp.MatAdd(A, A.T), x)) == "(A + A.T)*x"


@pytest.mark.parametrize("program, line, wrt, shapes", [
    ("y = A X\nf = tr(X^T y)", "tr(X^T A X)", "X", dict(A=M33, X=M33)),
    ("B = A^T\nf = x^T B x", "x^T A^T x", "x", dict(A=M33, x=V3)),
    ("u = A x\nf = u^T u", "x^T A^T A x", "x", dict(A=M33, x=V3)),
])
def test_program_and_one_line_give_one_sympy_result(program, line, wrt, shapes):
    """A program's steps inline, simplified: the SymPy result of the function written on one line
    (the program's was A*X + A.T*X where the line's is (A + A.T)*X)."""
    assert str(matdiff.gradient(program, wrt, shapes=shapes)) == str(matdiff.gradient(line, wrt, shapes=shapes))


def test_printing_a_hessian_never_asks_sympys_assumptions(monkeypatch):
    """SymPy's printers call doit() on every product, and SymPy's own DiagMatrix.doit() asks
    Q.diagonal(v), a satisfiability problem over the whole of v: str() of the Hessian of a tanh
    net eight deep took seconds, sixteen deep it ran out of memory. matdiff's diag(v) never asks
    (to_sympy.DiagMatrix); it is still a DiagMatrix, prints as one, and keeps its value."""
    import sympy.assumptions
    src = "sum(tanh(tanh(tanh(W x))))"
    H = matdiff.hessian(src, "x", shapes=dict(W=(3, 3), x=(3,)))

    def refuse(*args, **kwargs):
        raise AssertionError("the printer asked SymPy's assumptions")
    monkeypatch.setattr(sympy.assumptions, "ask", refuse)
    text, tex = str(H), sp.latex(H)
    assert "DiagMatrix(" in text and any(isinstance(n, DiagMatrix) for n in sp.preorder_traversal(H))
    assert r"\operatorname{DiagMatrix}" in tex                     # as SymPy prints its own
    monkeypatch.undo()
    rng = np.random.default_rng(14)
    W, x = rng.normal(size=(3, 3)), rng.normal(size=3)

    def gradient(v):
        return fd_gradient(lambda x: np.sum(np.tanh(np.tanh(np.tanh(W @ x)))), {"x": v}, "x")
    want = np.column_stack([(gradient(x + 1e-5 * e) - gradient(x - 1e-5 * e)) / 2e-5 for e in np.eye(3)])
    assert_close(sympy_evaluate(H, {"W": W, "x": x}), want, 1e-4)


def test_a_trace_is_real_so_a_deep_chain_never_reduces_modulo_pi(monkeypatch):
    """tr(M) of real matrices is real (to_sympy.RealTrace). SymPy's own Trace is not known real,
    so whether tanh of it is real was asked of its argument's imaginary part modulo pi/2 (a Mod:
    polynomial gcds) at every level: the SymPy gradient of tanh(...(w^T x)) eight deep took
    seconds, ten deep minutes. Here no level takes a Mod, in building or in printing; it is still
    a Trace, prints as one, and keeps its value."""
    src = "tanh(" * 12 + "w^T x" + ")" * 12
    matdiff.gradient("tanh(w^T x)", "x", shapes=dict(w=(3,), x=(3,)))   # tanh's body and tanh', once

    def refuse(cls, *args, **kwargs):
        raise AssertionError("SymPy reduced an imaginary part modulo pi")
    monkeypatch.setattr(sp.Mod, "eval", classmethod(refuse))
    g = matdiff.gradient(src, "x", shapes=dict(w=(3,), x=(3,)))
    text = str(g)
    monkeypatch.undo()
    assert "Trace(" in text and any(isinstance(n, sp.Trace) for n in sp.preorder_traversal(g))
    rng = np.random.default_rng(15)
    w, x = rng.normal(size=3), rng.normal(size=3)

    def f(x):
        y = w @ x
        for _ in range(12):
            y = np.tanh(y)
        return y
    assert_close(sympy_evaluate(g, {"w": w, "x": x}), fd_gradient(f, {"x": x}, "x").reshape(-1, 1), 1e-5)
