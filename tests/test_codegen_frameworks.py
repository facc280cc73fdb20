"""Generated JAX and PyTorch code against each framework's own autodiff (issue 17, item 1).

The four benchmark networks (benchmarks/speed.py's NETWORKS, here with non-square layers so that
a transposition error cannot hide): the gradients of `fn.raw` under jax.jit equal
jax.value_and_grad of the same function written in jax.numpy; under jax.vmap over a batch of x
they are the per-example gradients; the torch code, eager and under torch.compile, equals
torch.func.grad_and_value. Each test skips where its framework is not installed (CI has neither).
No timing here: benchmarks/frameworks.py races them.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from matdiff.codegen.generate import emit, lambdify
from seed_cases import MLP003, MLP003_SHAPES, NET002, NET002_SHAPES, NET004, NET004_SHAPES, SEED000, TUTORIAL12

SIZES = dict(n=4, M=5, D=3, C=4, n0=3, n1=5, n2=4, n3=2, m=5, k=3)

# name: (source, functions, wrt, shapes, f written with xp (jax.numpy or torch) on 1-D vectors)
NETWORKS = {
    "tutorial12": (TUTORIAL12, {"Phi": "tanh", "Psi": "sin"}, ["W"], SEED000,
                   lambda xp: lambda W, V, x, b, c: c @ xp.sin((W + V) @ xp.tanh(W @ x + b))),
    "softmax-relu": (NET002, None, ["W", "U"], NET002_SHAPES,
                     lambda xp: lambda W, x, U, y: -y @ xp.log(_softmax(xp, U @ xp.maximum(W @ x, 0 * x[0])))),
    "mlp3-tanh": (MLP003, None, ["W1", "b1", "W2", "b2", "W3", "b3"], MLP003_SHAPES,
                  lambda xp: lambda W1, x, b1, W2, b2, W3, b3, t: 0.5 * xp.sum(
                      (xp.tanh(W3 @ xp.tanh(W2 @ xp.tanh(W1 @ x + b1) + b2) + b3) - t) ** 2)),
    "sigmoid2": (NET004, None, ["W1", "b1", "W2", "b2"], NET004_SHAPES,
                 lambda xp: lambda W1, x, b1, W2, b2, t: 0.5 * xp.sum(
                     (W2 @ (1 / (1 + xp.exp(-(W1 @ x + b1)))) + b2 - t) ** 2)),
}


def _softmax(xp, t):
    e = xp.exp(t - xp.max(t))
    return e / xp.sum(e)


def values(name: str, seed: int = 0) -> dict:
    """Random inputs in the network's shapes (vectors 1-D); y on the simplex."""
    rng = np.random.default_rng(seed)
    out = {}
    for v, shape in NETWORKS[name][3].items():
        out[v] = rng.normal(size=tuple(SIZES[d] for d in shape)) / 2
    if name == "softmax-relu":
        out["y"] = np.exp(out["y"]) / np.exp(out["y"]).sum()
    return out


def columns(fn, vals: dict) -> list:
    """fn.raw's arguments: vectors as columns, in its parameter order."""
    return [vals[k].reshape(-1, 1) if vals[k].ndim == 1 else vals[k] for k in fn.inputs]


def order_of(f) -> list:
    return list(inspect.signature(f).parameters)


@pytest.fixture(scope="module")
def jax(x64):
    """JAX in float64 (conftest's x64), under the name the tests here call it by."""
    return x64


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def close(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.size == b.size and np.allclose(a.reshape(-1), b.reshape(-1), rtol=1e-9, atol=1e-11)


# ---- JAX ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NETWORKS)
def test_jax_jit_equals_value_and_grad(jax, name):
    import jax.numpy as jnp
    src, functions, wrt, _, f = NETWORKS[name]
    fn = lambdify(src, wrt, backend="jax", functions=functions)
    vals = values(name)
    value, grads = jax.jit(fn.raw)(*columns(fn, vals))
    jf = f(jnp)
    order = order_of(jf)
    rvalue, rgrads = jax.value_and_grad(jf, argnums=tuple(order.index(w) for w in wrt))(*[vals[k] for k in order])
    assert close(value, rvalue)
    for w, g in zip(wrt, rgrads):
        assert grads[w].shape == (vals[w].shape if vals[w].ndim == 2 else (vals[w].size, 1))
        assert close(grads[w], g), w


@pytest.mark.parametrize("name", NETWORKS)
def test_jax_vmap_gives_per_example_gradients(jax, name):
    """vmap over a leading batch axis of x: each example's gradients, as jax.grad gives them one by one."""
    import jax.numpy as jnp
    src, functions, wrt, _, f = NETWORKS[name]
    fn = lambdify(src, wrt, backend="jax", functions=functions)
    vals = values(name, seed=1)
    batch = np.random.default_rng(2).normal(size=(6, *vals["x"].shape))
    args = columns(fn, vals)
    i = list(fn.inputs).index("x")
    in_axes = tuple(0 if k == i else None for k in range(len(args)))
    args[i] = batch[..., None]                           # (6, n, 1): a batch of columns
    bvalues, bgrads = jax.jit(jax.vmap(fn.raw, in_axes=in_axes))(*args)
    jf = f(jnp)
    order = order_of(jf)
    argnums = tuple(order.index(w) for w in wrt)
    for e in range(len(batch)):
        one = dict(vals, x=batch[e])
        rvalue, rgrads = jax.value_and_grad(jf, argnums=argnums)(*[one[k] for k in order])
        assert close(bvalues[e], rvalue)
        for w, g in zip(wrt, rgrads):
            assert close(bgrads[w][e], g), (w, e)


@pytest.mark.parametrize("name", NETWORKS)
def test_jax_raw_takes_1d_vectors(jax, name):
    """fn.raw in JAX takes a vector as a 1-D array as well as a column, jitted and vmapped (a batch
    (6, n) of 1-D x), with the same results as for columns; a gradient comes back in the shape its
    vector came in."""
    src, functions, wrt, _, _ = NETWORKS[name]
    fn = lambdify(src, wrt, backend="jax", functions=functions)
    vals = values(name, seed=3)
    flat = [vals[k] for k in fn.inputs]
    value, grads = jax.jit(fn.raw)(*flat)
    cvalue, cgrads = jax.jit(fn.raw)(*columns(fn, vals))
    assert close(value, cvalue)
    for w in wrt:
        assert grads[w].shape == vals[w].shape and cgrads[w].shape == columns(fn, vals)[list(fn.inputs).index(w)].shape
        assert close(grads[w], cgrads[w]), w
    i = list(fn.inputs).index("x")
    batch = np.random.default_rng(4).normal(size=(6, *vals["x"].shape))
    flat[i] = batch
    bvalues, bgrads = jax.jit(jax.vmap(fn.raw, in_axes=tuple(0 if k == i else None for k in range(len(flat)))))(*flat)
    for e in range(len(batch)):
        one = columns(fn, dict(vals, x=batch[e]))
        evalue, egrads = fn.raw(*one)
        assert close(bvalues[e], evalue)
        assert all(close(bgrads[w][e], egrads[w]) for w in wrt)


def test_jax_hvp_takes_1d_vectors(jax):
    """The Hessian-vector product of x^T A x in JAX, x and its direction 1-D: the gradient
    (A + A^T) x and H v = (A + A^T) v, both 1-D."""
    fn = lambdify("x^T A x", "x", backend="jax", hvp=True)
    rng = np.random.default_rng(5)
    A, x, v = rng.normal(size=(4, 4)), rng.normal(size=4), rng.normal(size=4)
    value, grads, hv = jax.jit(fn.raw)(**{"x": x, "A": A, fn.hvp["x"]: v})
    assert grads["x"].shape == hv["x"].shape == (4,)
    assert close(value, x @ A @ x) and close(grads["x"], (A + A.T) @ x) and close(hv["x"], (A + A.T) @ v)


def _kernels(jitted, args) -> int:
    """The operations XLA's compiled program runs (its entry computation, less the free ones)."""
    text = jitted.lower(*args).compile().as_text()
    entry = text[text.index("\nENTRY"):].split("\n}")[0].splitlines()[1:]
    free = ("parameter(", "bitcast(", "tuple(", "get-tuple-element(", "constant(")
    return sum(1 for line in entry if "=" in line and not any(op in line.split("=", 1)[1] for op in free))


@pytest.mark.parametrize("name", NETWORKS)
def test_jax_compiles_to_no_more_kernels_than_jax_own(jax, name):
    """With 1-D vectors, jitted fn.raw compiles to at most as many kernels as
    jax.jit(jax.value_and_grad(f)): no copy of a column input (XLA's CPU compiler copies an (n, 1)
    parameter before its first product), the same products. This, not a clock, is what the
    benchmark's ratio near 1 at n = 256 rests on."""
    import jax.numpy as jnp
    src, functions, wrt, _, f = NETWORKS[name]
    fn = lambdify(src, wrt, backend="jax", functions=functions)
    vals = values(name)
    jf = f(jnp)
    order = order_of(jf)
    own = jax.jit(jax.value_and_grad(jf, argnums=tuple(order.index(w) for w in wrt)))
    assert _kernels(jax.jit(fn.raw), [vals[k] for k in fn.inputs]) <= _kernels(own, [vals[k] for k in order])


def test_jax_code_is_what_xla_likes():
    """A^T v as (v^T A)^T (XLA on the CPU runs A^T v as a copy of A^T and a naive loop), ||v||^2
    as a sum of squares, and outer products left for XLA to fuse (no hstack); torch's A v on 1-D
    views (torch.mv, which Inductor fuses); NumPy's code keeps its own forms."""
    jax_code = emit(NET004, ["W1", "W2"], backend="jax")
    assert "(delta_y.T @ W2).T" in jax_code and "W2.T @" not in jax_code
    assert "jnp.sum(jnp.square(delta_y))" in jax_code and "norm" not in jax_code
    assert "hstack" not in emit(TUTORIAL12, "W", backend="jax", functions={"Phi": "tanh", "Psi": "sin"})
    numpy_code = emit(NET004, ["W1", "W2"])
    assert "W2.T @ delta_y" in numpy_code and "np.linalg.norm(delta_y) ** 2" in numpy_code
    torch_code = emit(NET004, ["W1", "W2"], backend="torch")
    assert "torch.sum(torch.square(delta_y))" in torch_code and "torch.mv(W2.T, delta_y[:, 0])[:, None]" in torch_code


@pytest.mark.parametrize("backend, written", [("numpy", "W @ t1 + V @ t1"), ("jax", "_sum_matvec(t1, W, V)"),
                                              ("torch", "W + V")])
def test_a_sum_of_matrices_times_vectors(backend, written):
    """Tutorial 12's (W + V) t: NumPy writes W t + V t (each matrix read once), torch forms W + V
    once for both products (Inductor fuses the sum), JAX decides by size when traced
    (backends._SUM_MATVEC; its two branches: test_jax_sum_matvec_both_ways). Values: the seeds'
    tests in every backend."""
    code = emit(TUTORIAL12, "W", backend=backend, functions={"Phi": "tanh", "Psi": "sin"}).split('"""')[-1]
    assert written in code and ("hstack" in code) == (backend == "numpy")


def test_a_sum_with_a_transpose_is_distributed_in_jax():
    """A + A^T times a vector stays A v + (v^T A)^T in JAX: XLA forms A + A^T slowly and runs
    A^T v as a copy of A^T (products.sum_matvec_sum); values: test_hvp's x^T A x in every backend."""
    code = emit("x^T A x", "x", backend="jax", hvp=True).split('"""')[-1]
    assert "_sum_matvec" not in code and "A.T" not in code and "(dx.T @ A).T" in code


@pytest.mark.parametrize("n", [5, 400])                  # the sum formed (n^2 <= 2^17), distributed
def test_jax_sum_matvec_both_ways(jax, n):
    """Both branches of _sum_matvec under jax.jit and jax.vmap give jax.value_and_grad's numbers."""
    import jax.numpy as jnp
    f = lambda W, V, x, b, c: c @ jnp.sin((W - 2 * V) @ jnp.tanh(W @ x + b))   # noqa: E731
    fn = lambdify("c^T sin((W - 2 V) tanh(W x + b))", ["W", "V"], backend="jax")
    assert "_sum_matvec(" in fn.source
    rng = np.random.default_rng(n)
    W, V = rng.normal(size=(2, n, n)) / np.sqrt(n)
    x, b, c = rng.normal(size=(3, n))
    order = list(inspect.signature(fn.raw).parameters)
    columns = dict(W=W, V=V, x=x[:, None], b=b[:, None], c=c[:, None])
    value, grads = jax.jit(fn.raw)(*[columns[k] for k in order])
    want, (gW, gV) = jax.value_and_grad(f, argnums=(0, 1))(W, V, x, b, c)
    assert close(value, np.asarray(want)) and close(grads["W"], np.asarray(gW)) and close(grads["V"], np.asarray(gV))
    xs = rng.normal(size=(3, n, 1))                       # a batch of inputs x
    batched = jax.vmap(fn.raw, in_axes=tuple(0 if k == "x" else None for k in order))(
        *[xs if k == "x" else columns[k] for k in order])
    for i in range(3):
        _, (gWi, _) = jax.value_and_grad(f, argnums=(0, 1))(W, V, xs[i, :, 0], b, c)
        assert close(batched[1]["W"][i], np.asarray(gWi))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_matrix_vector_products_keep_their_meaning(request, backend):
    """(v^T A)^T (JAX) and torch.mv (torch) where A or A^T is one factor of a longer chain, a sum,
    or a matrix of another width."""
    mod = request.getfixturevalue(backend)
    run = (lambda fn, a: mod.jit(fn.raw)(*a)) if backend == "jax" else (lambda fn, a: fn.raw(*map(mod.as_tensor, a)))
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    u, v = rng.normal(size=(3, 1)), rng.normal(size=(5, 1))
    for src, wrt in (("u^T A B v", "v"), ("u^T A B v", "B"), ("||A^T u||^2 + u^T A B v", "u")):
        fn = lambdify(src, wrt, backend=backend, shapes=dict(A=(3, 4), B=(4, 5), u=(3,), v=(5,)))
        _, grads = run(fn, [dict(A=A, B=B, u=u, v=v)[k] for k in fn.inputs])
        ref = {"v": B.T @ A.T @ u, "B": A.T @ u @ v.T, "u": 2 * A @ A.T @ u + A @ B @ v}[wrt]
        assert close(grads[wrt], ref), src


# ---- PyTorch ------------------------------------------------------------------------------------------

def _torch_check(torch, name, compiled: bool) -> None:
    src, functions, wrt, _, f = NETWORKS[name]
    fn = lambdify(src, wrt, backend="torch", functions=functions)
    vals = values(name)
    raw = torch.compile(fn.raw) if compiled else fn.raw
    value, grads = raw(*[torch.as_tensor(a, dtype=torch.float64) for a in columns(fn, vals)])
    tf = f(torch)
    order = order_of(tf)
    rgrads, rvalue = torch.func.grad_and_value(tf, argnums=tuple(order.index(w) for w in wrt))(
        *[torch.as_tensor(vals[k], dtype=torch.float64) for k in order])
    assert close(value, rvalue)
    for w, g in zip(wrt, rgrads):
        assert close(grads[w], g), w


@pytest.mark.parametrize("name", NETWORKS)
def test_torch_equals_torch_func(torch, name):
    _torch_check(torch, name, compiled=False)


@pytest.mark.parametrize("name", ["tutorial12", "softmax-relu"])
def test_torch_compile(torch, name):
    """torch.compile (Inductor, with the C++ compiler of this machine) of fn.raw: the same numbers."""
    try:
        torch.compile(lambda a: torch.sin(a) * 2)(torch.ones(2, dtype=torch.float64))
    except Exception as e:                       # noqa: BLE001  (no C++ compiler: nothing to test)
        pytest.skip(f"torch.compile does not work here: {type(e).__name__}")
    _torch_check(torch, name, compiled=True)


def test_torch_function_of_a_number(torch):
    """log(2) in the gradient of 2 .^ (W x): torch.log takes a tensor, not a Python int."""
    fn = lambdify("sum(2 .^ (W x))", "W", backend="torch")
    assert "torch.log(2)" not in fn.source
    rng = np.random.default_rng(4)
    W, x = torch.as_tensor(rng.normal(size=(3, 2))), torch.as_tensor(rng.normal(size=(2, 1)))
    _, grads = fn.raw(W, x)
    ref = torch.func.grad(lambda W: torch.sum(2 ** (W @ x)))(W)
    assert close(grads["W"], ref)


# ---- precision ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NETWORKS)
def test_float32_stays_float32(jax, torch, name):
    """The generated code computes in the inputs' precision (no float64 constant promotes it)."""
    src, functions, wrt, _, _ = NETWORKS[name]
    vals = values(name)
    for backend, convert in (("jax", lambda a: jax.numpy.asarray(a, dtype=jax.numpy.float32)),
                             ("torch", lambda a: torch.as_tensor(a, dtype=torch.float32))):
        fn = lambdify(src, wrt, backend=backend, functions=functions)
        value, grads = fn.raw(*[convert(a) for a in columns(fn, vals)])
        for out in (value, *grads.values()):
            assert str(out.dtype).endswith("float32"), (backend, out.dtype)
