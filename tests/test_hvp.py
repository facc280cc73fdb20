"""Hessian-vector products as generated code (lambdify(..., hvp=True); codegen/hvp.py), issue 17 item 3.

At random inputs and a random direction V (shaped like the variable), in every backend installed:
the value and the gradients equal numeric.py's evaluation of f and of the derived gradient, and
the HVP equals H vec(V) of the closed-form Hessian (hessian_of, evaluated by numeric.py) and the
central finite difference of the gradient along V. With several variables the directions move
together (the joint Hessian, cross blocks included): finite differences only. No timing here.
"""
from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.calculus.gradient import gradient_of
from matdiff.calculus.second_order import hessian_of
from matdiff.checking.numeric import Env, evaluate_many
from matdiff.checking.sampling import dimension_sizes, finite_inputs
from matdiff.codegen.generate import emit, lambdify
from matdiff.language.problem import Problem
from seed_cases import MLP003, NET002, NET004, TUTORIAL12
from test_codegen import as_given, backend_module, stand_ins

BACKENDS = ["numpy", "jax", "torch"]
LOGISTIC = "-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))"
LOGISTIC_SHAPES = dict(X=("m", "n"), y=("m",), w=("n",))

CASES = [
    (TUTORIAL12, "x", None),
    (TUTORIAL12, "W", None),                          # a matrix variable: unvec(H vec(V))
    (NET002, "x", None),
    (MLP003, "x", None),
    (NET004, "x", None),
    (NET004, "W1", None),
    ("x^T A x", "x", None),
    ("||A x - b||^2", "x", dict(A=("m", "n"), x=("n",), b=("m",))),
    ("logdet(X)", "X", None),
    (LOGISTIC, "w", LOGISTIC_SHAPES),
    ("logdet(S) + tr(A S)", "S", dict(S=("n", "n", "spd"), A=("n", "n"))),   # on the symmetric matrices
]
JOINT = [
    (NET004, ["W1", "b1", "W2", "b2"], None),
    (NET002, ["W", "U"], None),
    (TUTORIAL12, ["W", "x"], None),
]


def setup(src, wrt, shapes, seed=0):
    p = Problem.of(src, shapes)
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    g = gradient_of(p, names)
    dims = dimension_sizes(p.shaped)
    rng = np.random.default_rng(seed)
    values = finite_inputs(p.f, p.shaped, rng, dims, tuple(g.inlined.values()))
    directions = {w: rng.normal(size=values[w].shape) for w in names}
    return p, names, g, dims, values, directions


def sym(A):
    return (A + A.T) / 2


def fd_hvp(p, names, g, dims, values, directions, h=1e-6) -> list:
    """(grad(x + h V) - grad(x - h V)) / 2h for each variable's gradient, V symmetrized where
    the variable is declared symmetric (the space its Hessian lives on)."""
    moved = {w: sym(directions[w]) if p.var(w).structure else directions[w] for w in names}
    grads = [g.inlined[w] for w in names]
    plus = evaluate_many(grads, Env({**values, **{w: values[w] + h * moved[w] for w in names}}, dims))
    minus = evaluate_many(grads, Env({**values, **{w: values[w] - h * moved[w] for w in names}}, dims))
    return [(a - b) / (2 * h) for a, b in zip(plus, minus)]


def run(src, wrt, shapes, backend, request):
    torch = backend_module(backend, request)
    p, names, g, dims, values, directions = setup(src, wrt, shapes)
    fn = lambdify(src, wrt, backend=backend, shapes=shapes, hvp=True)
    assert fn.hvp == {w: f"d{w}" for w in names}
    given = as_given(values, p.shaped.inputs, torch)
    dirs = as_given({fn.hvp[w]: directions[w] for w in names}, {fn.hvp[w]: p.shaped.inputs[w] for w in names}, torch)
    value, grads, hvps = fn(**given, **dirs, **stand_ins(fn, torch))
    f, *G = evaluate_many([p.f] + [g.inlined[w] for w in names], Env(values, dims))
    assert np.allclose(as_np(value), f)
    for w, Gw in zip(names, G):
        assert np.allclose(as_np(grads[w]).reshape(Gw.shape), Gw, rtol=1e-9, atol=1e-11)
        assert np.shape(hvps[w]) == np.shape(given[w])             # shaped like the variable
    return p, names, g, dims, values, directions, {w: as_np(hvps[w]).reshape(values[w].shape) for w in names}


def as_np(a):
    return np.asarray(a.numpy() if hasattr(a, "numpy") else a, dtype=float)


def vec(A):
    return A.reshape(-1, order="F")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src, wrt, shapes", CASES, ids=[f"{s[:24]}-{w}" for s, w, _ in CASES])
def test_hvp_is_hessian_times_direction(src, wrt, shapes, backend, request):
    p, names, g, dims, values, directions, hv = run(src, wrt, shapes, backend, request)
    H, = evaluate_many([hessian_of(p, wrt).matrix], Env(values, dims))
    want = H @ vec(directions[wrt])
    assert np.allclose(vec(hv[wrt]), want, rtol=1e-8, atol=1e-10)
    fd, = fd_hvp(p, names, g, dims, values, directions)
    assert np.allclose(hv[wrt], fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src, wrt, shapes", JOINT, ids=[f"{s[:16]}-{'-'.join(w)}" for s, w, _ in JOINT])
def test_joint_hvp_is_finite_difference_of_gradients(src, wrt, shapes, backend, request):
    p, names, g, dims, values, directions, hv = run(src, wrt, shapes, backend, request)
    for w, fd in zip(names, fd_hvp(p, names, g, dims, values, directions)):
        assert np.allclose(hv[w], fd, rtol=1e-5, atol=1e-6), w


def test_hvp_never_forms_the_hessian():
    """No Kronecker product, diagonal matrix or inverse formed for the directional derivative."""
    for src, wrt, shapes in CASES[:7] + [CASES[9]]:
        code = emit(src, wrt, shapes=shapes, hvp=True)
        body = code.split("# Hessian-vector products")[1]
        assert "kron" not in body and "diagflat" not in body and "inv(" not in body, src


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_zero_second_derivative_computes_nothing(backend):
    """relu'' = 0: the HVP of the softmax-relu net wrt x has no term relu''(z) ∘ dz ∘ U^T(...), which
    would read U once more only to multiply by 0 (its values: test_hvp_is_hessian_times_direction)."""
    body = emit(NET002, "x", hvp=True, backend=backend).split("# Hessian-vector products")[1]
    assert "0 *" not in body and body.count("U") == 2        # U dh, and U^T dyhat: one product each way


def test_direction_names_avoid_the_inputs():
    fn = lambdify("x^T A x + dx^T x", "x", hvp=True)
    assert fn.hvp == {"x": "dx_1"}
    x, A, dx, v = np.array([1.0, 2.0]), np.array([[1.0, 2.0], [0.0, 3.0]]), np.array([0.5, -1.0]), np.array([1.0, 1.0])
    value, grads, hvps = fn(x=x, A=A, dx=dx, dx_1=v)
    assert np.allclose(hvps["x"], (A + A.T) @ v)


def test_hessian_and_hvp_together_is_an_error():
    with pytest.raises(matdiff.MatdiffError, match="hvp=True"):
        lambdify("x^T A x", "x", hessian=True, hvp=True)


def test_missing_direction_is_a_located_error():
    fn = lambdify("x^T A x", "x", hvp=True)
    with pytest.raises(matdiff.MatdiffError, match="no value given for dx"):
        fn(x=np.ones(2), A=np.eye(2))
