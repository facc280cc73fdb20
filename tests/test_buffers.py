"""Generated NumPy code that writes matrix results into kept arrays (codegen/buffers.py).

The values are those of the same code without buffers (reuse_buffers=False) and of finite
differences, at each of several calls with different inputs and shapes; an array the caller
holds (or a view of it) is never written over; an array nobody holds is reused. No timing here.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import matdiff
from matdiff.codegen.buffers import into_call
from matdiff.codegen.generate import emit, lambdify
from helpers_calculus import fd_gradient

SOFTMAX_RELU = "z = W x\nh = relu(z)\ntheta = U h\nyhat = softmax(theta)\nJ = -y^T log(yhat)"
SIGMOID2 = "z = W1 x + b1\nh = sigmoid(z)\ny = W2 h + b2\nL = 1/2 ||y - t||^2"
TUTORIAL12 = "c^T Psi((W + V) Phi(W x + b))"
T12_FUNCTIONS = {"Phi": "tanh", "Psi": "sin"}

CASES = [
    (SOFTMAX_RELU, ["W", "U"], None),
    (SIGMOID2, ["W1", "b1", "W2", "b2"], None),
    (TUTORIAL12, ["W"], T12_FUNCTIONS),
    ("1/2 ||A X B - C||_F^2 + tr(X^T X)", ["X"], None),
]


def keep_all(fn):
    """Keep results of every size (by default only those of SMALL bytes or more, which would
    page-fault; the small inputs here would all be below it)."""
    fn.raw.__globals__["_into"].SMALL = 0
    return fn


def lambdify_kept(*args, **kw):
    return keep_all(lambdify(*args, **kw))


def draw(fn, n: int, rng) -> dict:
    """Every input n (x n), entries N(0, 1/n); y on the simplex."""
    out = {}
    for name, (_, shape) in fn.inputs.items():
        out[name] = rng.normal(size=(n,) * len(shape)) / np.sqrt(n)
    if "y" in out:
        out["y"] = np.exp(out["y"]) / np.exp(out["y"]).sum()
    return out


def same(a, b) -> bool:
    return np.asarray(a).shape == np.asarray(b).shape and np.allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("src, wrt, functions", CASES, ids=["softmax-relu", "sigmoid2", "tutorial12", "AXB"])
def test_buffers_give_the_values_of_fresh_arrays_call_after_call(src, wrt, functions):
    fn = lambdify_kept(src, wrt, functions=functions)
    plain = lambdify(src, wrt, functions=functions, reuse_buffers=False)
    assert fn.reuse_buffers and not plain.reuse_buffers
    assert "_into(" in fn.source and "_into" not in plain.source
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(5):
        values = draw(fn, 6, rng)
        value, grads = fn(**values)
        value0, grads0 = plain(**values)
        assert value == pytest.approx(value0, rel=1e-12)
        for w in wrt:
            assert same(grads[w], grads0[w]), w
        seen.add(tuple(grads[w].__array_interface__["data"][0] for w in wrt if grads[w].ndim == 2))
        del value, grads                              # dropped: the next call may reuse the arrays
    assert len(seen) == 1                             # ... and it did: the same arrays each time


@pytest.mark.parametrize("src, wrt, functions", CASES, ids=["softmax-relu", "sigmoid2", "tutorial12", "AXB"])
def test_buffered_gradients_equal_finite_differences(src, wrt, functions):
    fn = lambdify_kept(src, wrt, functions=functions)
    rng = np.random.default_rng(2)
    for n in (3, 4):
        values = draw(fn, n, rng)
        fn(**draw(fn, n, rng))                        # a first call with other inputs fills the buffers
        _, grads = fn(**values)
        for w in wrt:
            fd = fd_gradient(lambda **v: fn(**v)[0], values, w)
            assert np.allclose(grads[w], fd, rtol=1e-6, atol=1e-8), (n, w)


def test_a_gradient_the_caller_holds_is_never_written_over():
    fn = lambdify_kept(SOFTMAX_RELU, ["W", "U"])
    rng = np.random.default_rng(3)
    inputs = [draw(fn, 5, rng) for _ in range(6)]
    expected = [lambdify(SOFTMAX_RELU, ["W", "U"], reuse_buffers=False)(**v)[1] for v in inputs]
    held = [fn(**v)[1] for v in inputs[:4]]          # four results held at once: four arrays each
    for g, e in zip(held, expected):
        assert same(g["W"], e["W"]) and same(g["U"], e["U"])
    assert len({id(g["W"]) for g in held}) == 4
    row = held[0]["W"][0]                             # only a view of a result kept
    first_row = row.copy()
    del held
    for v, e in zip(inputs[4:], expected[4:]):
        _, g = fn(**v)
        assert same(g["W"], e["W"]) and not np.shares_memory(g["W"], row)
        del g
    assert np.array_equal(row, first_row)


def test_the_loop_that_keeps_last_calls_result_while_calling_again():
    """`_, g = fn(...)` in a loop holds the previous result during the call: two arrays take turns."""
    fn = lambdify_kept(SIGMOID2, ["W1", "W2"])
    plain = lambdify(SIGMOID2, ["W1", "W2"], reuse_buffers=False)
    rng = np.random.default_rng(4)
    previous, addresses = None, set()
    for _ in range(6):
        values = draw(fn, 4, rng)
        _, g = fn(**values)
        assert same(g["W1"], plain(**values)[1]["W1"])
        if previous is not None:
            assert not np.shares_memory(g["W1"], previous["W1"])
            assert same(previous["W1"], previous_copy)
        previous, previous_copy = g, g["W1"].copy()
        addresses.add(g["W1"].__array_interface__["data"][0])
        del g
    assert len(addresses) == 2


def test_the_raw_function_reuses_and_protects_alike():
    fn = lambdify_kept(SOFTMAX_RELU, ["W", "U"])
    rng = np.random.default_rng(5)
    values = draw(fn, 4, rng)
    args = [values[k].reshape(-1, 1) if values[k].ndim == 1 else values[k] for k in fn.inputs]
    _, g1 = fn.raw(*args)
    kept = g1["W"].copy()
    other = [2 * a for a in args]
    _, g2 = fn.raw(*other)
    assert np.array_equal(g1["W"], kept) and not np.shares_memory(g1["W"], g2["W"])
    address = g2["W"].__array_interface__["data"][0]
    del g2
    _, g3 = fn.raw(*other)
    assert g3["W"].__array_interface__["data"][0] == address


def test_a_change_of_shapes_or_dtypes_between_calls():
    fn = lambdify_kept(SOFTMAX_RELU, ["W", "U"])
    plain = lambdify(SOFTMAX_RELU, ["W", "U"], reuse_buffers=False)
    rng = np.random.default_rng(6)
    for n in (3, 5, 3, 7, 5, 3):
        values = draw(fn, n, rng)
        _, g = fn(**values)
        _, g0 = plain(**values)
        assert g["W"].shape == (n, n) and same(g["W"], g0["W"]) and same(g["U"], g0["U"])
        del g
    values = draw(fn, 4, rng)
    args32 = [(values[k].reshape(-1, 1) if values[k].ndim == 1 else values[k]).astype(np.float32) for k in fn.inputs]
    args64 = [a.astype(np.float64) for a in args32]
    for args in (args64, args32, args64, args32):
        _, g = fn.raw(*args)
        _, g0 = plain.raw(*args)
        assert g["W"].dtype == g0["W"].dtype and np.array_equal(g["W"], g0["W"])
        del g


def test_hessians_through_buffers():
    fn = lambdify_kept(TUTORIAL12, "x", functions=T12_FUNCTIONS, hessian=True)
    plain = lambdify(TUTORIAL12, "x", functions=T12_FUNCTIONS, hessian=True, reuse_buffers=False)
    assert "_into(" in fn.source
    rng = np.random.default_rng(7)
    held = []
    for _ in range(4):
        values = draw(fn, 5, rng)
        _, _, H = fn(**values)
        _, _, H0 = plain(**values)
        assert same(H["x"], H0["x"])
        held.append((H, H0))
    assert all(same(H["x"], H0["x"]) for H, H0 in held)


def test_threads_calling_one_function_at_once():
    fn = lambdify_kept(SIGMOID2, ["W1", "W2"])
    plain = lambdify(SIGMOID2, ["W1", "W2"], reuse_buffers=False)
    rng = np.random.default_rng(8)
    inputs = [draw(fn, 8, rng) for _ in range(4)]
    expected = [plain(**v)[1] for v in inputs]
    bad = []

    def work(i):
        for _ in range(200):
            _, g = fn(**inputs[i])
            if not (same(g["W1"], expected[i]["W1"]) and same(g["W2"], expected[i]["W2"])):
                bad.append(i)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_the_option_and_the_other_backends():
    with pytest.raises(matdiff.MatdiffError, match="reuse_buffers"):
        lambdify("x^T A x", "A", reuse_buffers="yes")
    with pytest.raises(matdiff.MatdiffError, match="backend='numpy'"):
        lambdify("x^T A x", "A", backend="jax", reuse_buffers=True)
    if _has("jax"):
        assert not lambdify("x^T A x", "A", backend="jax").reuse_buffers
    assert "_into" not in emit(SOFTMAX_RELU, ["W", "U"], "numpy")    # --emit: the plain code
    fn = lambdify_kept("x^T A x", "A")
    assert fn.reuse_buffers and "_into(" in fn.source


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("text, call", [
    ('np.einsum("ik,jk->ij", a, b)', 'np.einsum, "ik,jk->ij", a, b'),
    ("a @ b", "np.matmul, a, b"),
    ("W.T @ (D + E) @ W", "np.matmul, W.T @ (D + E), W"),
    ("(1 - t ** 2) * M", "np.multiply, (1 - t ** 2), M"),
    ("W + V", "np.add, W, V"),
    ("np.sin(A @ B)", "np.sin, A @ B"),
    ("-(a @ b)", None),                              # no function takes out= here
    ("a @ b + c", "np.add, a @ b, c"),
    ("a - b * c + 2 * d @ e", "np.add, a - b * c, 2 * d @ e"),
    ("a - (b + c)", "np.subtract, a, (b + c)"),
    ("-a - b", "np.subtract, -a, b"),
    ("a * b * c", None),
    ("2 * a @ b", None),
    ("1 / a", None),
    ("a ** 2", None),
    ("A.T", None),                                   # a view: never a buffer
    ("np.linalg.inv(A)", None),
    ("np.sum(A)[0]", None),
    ("np.sin(a)(b)", None),
    ('np.einsum("i j", a)', 'np.einsum, "i j", a'),
    ("f(a", None),
    ("a if c else b + d", None),
    ("(a > 0) + b", "np.add, (a > 0), b"),
])
def test_which_statements_are_written_into_buffers(text, call):
    assert into_call(text) == call


def test_small_results_are_computed_afresh_large_ones_kept():
    fn = lambdify(SOFTMAX_RELU, ["W", "U"])
    pool = fn.raw.__globals__["_into"].pool
    rng = np.random.default_rng(9)
    _, g = fn(**draw(fn, 8, rng))                     # 8 x 8: 512 bytes, not kept
    assert pool and all(kept is None for _, kept in pool.values())
    del g
    plain = lambdify(SOFTMAX_RELU, ["W", "U"], reuse_buffers=False)
    held = []
    for _ in range(3):
        values = draw(fn, 200, rng)                   # 200 x 200: 320 kB, kept
        _, g = fn(**values)
        assert same(g["W"], plain(**values)[1]["W"])
        held.append(g)
    assert all(len(kept) == 2 for _, kept in pool.values())
    assert len({id(g["W"]) for g in held}) == 3
