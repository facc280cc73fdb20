"""Generated Hessians in Gram form and laid-out Kronecker products (codegen/gram.py), issue 17 item 3.

The generated Hessian (lambdify(..., hessian=True)) against the closed form evaluated by numeric.py
at random inputs, in every backend installed, for the shapes the rewrites touch: nested sandwiches
(networks), weights of both signs and zero, a dense middle left alone, rectangular Kronecker
layouts (m != n, so that a transposed layout cannot pass). Also the NumPy helper _gram itself.
No timing here (benchmarks/hessians.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from matdiff.codegen.generate import emit, lambdify
from seed_cases import MLP003, NET002, NET004, TUTORIAL12
from test_codegen import as_given, backend_module, close, reference, stand_ins

BACKENDS = ["numpy", "jax", "torch"]
CASES = [
    ("-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))", "w", dict(X=("m", "n"), y=("m",), w=("n",))),
    ("||A x - b||^2", "x", dict(A=("m", "n"), x=("n",), b=("m",))),
    ("(W x)^T A (W x)", "x", dict(W=("m", "n"), A=("m", "m"), x=("n",))),          # a dense middle
    ("sum(tanh(W2 tanh(W1 x)))", "x", dict(W1=("m", "n"), W2=("k", "m"), x=("n",))),
    ("tr(A X B X^T)", "X", dict(A=("m", "m"), X=("m", "n"), B=("n", "n"))),
    ("logdet(X^T A X)", "X", dict(A=(5, 5), X=(5, 3))),                   # X^T A X invertible: m > n
    ("logdet(X)", "X", None),
    ("c^T tanh(W x)", "W", dict(c=("m",), W=("m", "n"), x=("n",))),
    (MLP003, "x", None),
    (NET002, "x", None),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src, wrt, shapes", CASES, ids=[s[:24] for s, _, _ in CASES])
def test_generated_hessian_equals_closed_form(src, wrt, shapes, backend, request):
    torch = backend_module(backend, request)
    p, values, (f, G, H) = reference(src, wrt, shapes, hessian=True)
    fn = lambdify(src, wrt, backend=backend, shapes=shapes, hessian=True)
    value, grads, hessians = fn(**as_given(values, p.shaped.inputs, torch), **stand_ins(fn, torch))
    assert close(value, f) and close(grads[wrt], G)
    assert close(hessians[wrt], H, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("src, wrt", [(TUTORIAL12, "x"), (MLP003, "x"), (NET002, "x"), (NET004, "x")])
def test_network_hessians_are_gram_products(src, wrt):
    """Nested sandwiches distributed: Gram products, no diagonal matrix, no Kronecker product formed."""
    code = emit(src, wrt, hessian=True, functions={"Phi": "tanh", "Psi": "sin"} if "Phi" in src else None)
    body = code.split("# Hessians")[1]
    assert "_gram(" in body and "diagflat" not in body and "kron" not in body


def test_logdet_hessian_is_laid_out_once():
    body = emit("logdet(X)", "X", hessian=True).split("# Hessians")[1]
    assert "kron" not in body and "transpose" not in body and body.count("reshape") == 1


def _gram_helper():
    fn = lambdify("-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))", "w", hessian=True,
                  shapes=dict(X=("m", "n"), y=("m",), w=("n",)))
    assert "_gram(" in fn.source
    return fn.raw.__globals__["_gram"]


@pytest.mark.parametrize("split_from", [0, 512])          # mixed signs: as syrk on the rows apart, or one product
@pytest.mark.parametrize("signs", ["positive", "mixed", "zeros", "negative"])
def test_gram_helper(signs, split_from, rng):
    gram = _gram_helper()
    L = rng.normal(size=(7, 4))
    a = {"positive": rng.random(7) + 0.1, "mixed": rng.normal(size=7), "zeros": np.zeros(7),
         "negative": -rng.random(7)}[signs]
    a[:2] = 0.0 if signs == "mixed" else a[:2]
    got = gram(L, a.reshape(-1, 1), split_from)
    assert np.allclose(got, L.T @ np.diag(a) @ L, rtol=1e-12, atol=1e-12)
    assert got.shape == (4, 4)


def test_gram_helper_keeps_nan_and_inf(rng):
    gram = _gram_helper()
    L = rng.normal(size=(5, 3))
    for bad in (np.nan, np.inf):
        a = rng.random(5)
        a[2] = bad
        with np.errstate(invalid="ignore"):
            want = L.T @ (a[:, None] * L)
            got = gram(L, a.reshape(-1, 1))
        assert np.array_equal(np.isnan(got), np.isnan(want)) and np.allclose(got[np.isfinite(want)], want[np.isfinite(want)])
