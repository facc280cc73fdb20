"""Generated NumPy code against jitted JAX and a plain NumPy forward pass, on the same inputs.

    pip install jax jaxlib threadpoolctl     # for this benchmark only; matdiff never needs them
    python benchmarks/speed.py               # n = 256 and 1024, gradients (Hessians: benchmarks/hessians.py)
    python benchmarks/speed.py --n 256 --quick

For each seed network (every layer n wide, float64 everywhere, JAX with jax_enable_x64):
  forward     a hand-written NumPy evaluation of f (1-D vectors)
  generated   matdiff.lambdify(...).raw: the generated NumPy code, value and gradients
  + wrapper   the same through fn(**values) (input and output reshaping included)
  jax         jax.jit(jax.value_and_grad(f, argnums=...)) on the same values (device arrays)
(Hessians and Hessian-vector products: benchmarks/hessians.py.)

Goals (issue 6): gradient <= 3x forward; generated NumPy within 1.5x of jitted JAX on CPU. Each time is the best of
--repeat runs of a loop long enough to take ~0.1 s.
"""
from __future__ import annotations

import argparse
import inspect
import os
import platform
import sys
import time

if __name__ == "__main__" and "--threads" in sys.argv:       # before NumPy and JAX start their pools
    _n = sys.argv[sys.argv.index("--threads") + 1]
    os.environ.update(OPENBLAS_NUM_THREADS=_n, OMP_NUM_THREADS=_n, MKL_NUM_THREADS=_n,
                      XLA_FLAGS=f"--xla_cpu_multi_thread_eigen={'false' if _n == '1' else 'true'} "
                                f"intra_op_parallelism_threads={_n}")

import numpy as np  # noqa: E402

import matdiff  # noqa: E402

NETWORKS = {
    # name: (matdiff source, functions, gradient wrt, Hessian wrt)
    "tutorial12": ("c^T Psi((W + V) Phi(W x + b))", {"Phi": "tanh", "Psi": "sin"}, ["W"], "x"),
    "softmax-relu": ("z = W x\nh = relu(z)\ntheta = U h\nyhat = softmax(theta)\nJ = -y^T log(yhat)", None,
                     ["W", "U"], "x"),
    "mlp3-tanh": ("z1 = tanh(W1 x + b1)\nz2 = tanh(W2 z1 + b2)\nz3 = tanh(W3 z2 + b3)\nR = 1/2 ||z3 - t||^2",
                  None, ["W1", "b1", "W2", "b2", "W3", "b3"], "x"),
    "sigmoid2": ("z = W1 x + b1\nh = sigmoid(z)\ny = W2 h + b2\nL = 1/2 ||y - t||^2", None,
                 ["W1", "b1", "W2", "b2"], "x"),
}


def inputs(name: str, n: int, rng) -> dict:
    """Every matrix n x n with entries N(0, 1/n), every vector of length n; y on the simplex."""
    src = NETWORKS[name][0]
    p = matdiff.understand(src)
    out = {}
    for v, shape in p.inputs.items():
        out[v] = rng.normal(size=(n, n)) / np.sqrt(n) if len(shape) == 2 else rng.normal(size=n)
    if "y" in out and name == "softmax-relu":
        e = np.exp(out["y"])
        out["y"] = e / e.sum()
    return out


# ---- the same functions by hand: NumPy forward, JAX ------------------------------------------------

def numpy_forward(name: str):
    sig = lambda t: np.exp(-np.logaddexp(0.0, -t))       # noqa: E731
    return {
        "tutorial12": lambda W, V, x, b, c: c @ np.sin((W + V) @ np.tanh(W @ x + b)),
        "softmax-relu": lambda W, x, U, y: -y @ _log_softmax_np(U @ np.maximum(W @ x, 0.0)),
        "mlp3-tanh": lambda W1, x, b1, W2, b2, W3, b3, t: 0.5 * np.sum(
            (np.tanh(W3 @ np.tanh(W2 @ np.tanh(W1 @ x + b1) + b2) + b3) - t) ** 2),
        "sigmoid2": lambda W1, x, b1, W2, b2, t: 0.5 * np.sum((W2 @ sig(W1 @ x + b1) + b2 - t) ** 2),
    }[name]


def _log_softmax_np(z):
    e = np.exp(z - z.max())
    return np.log(e / e.sum())


def jax_function(name: str):
    import jax
    import jax.numpy as jnp
    return {
        "tutorial12": lambda W, V, x, b, c: c @ jnp.sin((W + V) @ jnp.tanh(W @ x + b)),
        "softmax-relu": lambda W, x, U, y: -y @ jnp.log(jax.nn.softmax(U @ jnp.maximum(W @ x, 0.0))),
        "mlp3-tanh": lambda W1, x, b1, W2, b2, W3, b3, t: 0.5 * jnp.sum(
            (jnp.tanh(W3 @ jnp.tanh(W2 @ jnp.tanh(W1 @ x + b1) + b2) + b3) - t) ** 2),
        "sigmoid2": lambda W1, x, b1, W2, b2, t: 0.5 * jnp.sum((W2 @ jax.nn.sigmoid(W1 @ x + b1) + b2 - t) ** 2),
    }[name]


# ---- timing -------------------------------------------------------------------------------------------

def timed(call, repeat: int, budget: float = 0.1) -> float:
    """Seconds per call: the best of `repeat` runs of a loop that takes about `budget` seconds. The
    best, not the median: on a shared machine the other runs measure the neighbours (timeit's rule)."""
    call()
    t0 = time.perf_counter()
    call()
    once = max(time.perf_counter() - t0, 1e-7)
    loops = max(1, int(budget / once))
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(loops):
            call()
        runs.append((time.perf_counter() - t0) / loops)
    return min(runs)


def fmt(t: float) -> str:
    return f"{t * 1e6:8.0f} µs" if t < 1e-2 else f"{t * 1e3:8.1f} ms"


def columns(values: dict, fn) -> list:
    """The raw generated function's arguments: vectors as columns, in its parameter order."""
    return [values[name].reshape(-1, 1) if np.ndim(values[name]) == 1 else values[name] for name in fn.inputs]


def gradient_rows(n: int, repeat: int, rng) -> list:
    import jax
    rows = []
    for name, (src, functions, wrt, _) in NETWORKS.items():
        values = inputs(name, n, rng)
        fn = matdiff.lambdify(src, wrt, functions=functions)
        args = columns(values, fn)
        forward = numpy_forward(name)
        jf = jax_function(name)
        order = list(inspect.signature(jf).parameters)
        fargs = [values[k] for k in order]
        argnums = tuple(order.index(w) for w in wrt)
        jitted = jax.jit(jax.value_and_grad(jf, argnums=argnums))
        jargs = [jax.device_put(a) for a in fargs]

        # the same numbers three ways
        value, grads = fn(**values)
        jvalue, jgrads = jitted(*jargs)
        assert np.isclose(value, forward(*fargs)) and np.isclose(value, float(jvalue))
        for w, g in zip(wrt, jgrads):
            assert np.allclose(grads[w], np.asarray(g), rtol=1e-8, atol=1e-10), (name, w)

        t_fwd = timed(lambda: forward(*fargs), repeat)
        t_gen = timed(lambda: fn.raw(*args), repeat)
        t_wrap = timed(lambda: fn(**values), repeat)
        t_jax = timed(lambda: jax.block_until_ready(jitted(*jargs)), repeat)
        rows.append((name, n, t_fwd, t_gen, t_wrap, t_jax))
    return rows


def keep_freed_memory() -> bool:
    """glibc: keep freed blocks for reuse (no fresh mmap per large array, no trimming), so that a
    new n x n result does not page-fault. For this benchmark only: matdiff never changes it."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 25)) and bool(libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1))
    except (OSError, AttributeError):
        return False


def machine() -> str:
    import jax
    blas = "?"
    try:
        from threadpoolctl import threadpool_info
        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        blas = ", ".join(f"{i['internal_api']} {i['version']} ({i.get('architecture')}, {i['num_threads']} threads)"
                         for i in info)
    except ImportError:
        pass
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"NumPy {np.__version__} ({blas}), JAX {jax.__version__} (CPU, x64)"
            + (f"; {env}" if env else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append", help="layer width (repeatable; default 256 and 1024)")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="3 repeats")
    ap.add_argument("--threads", type=int, help="threads for BLAS and XLA (default: theirs, one per core)")
    a = ap.parse_args()
    import jax
    jax.config.update("jax_enable_x64", True)
    sizes = a.n or [256, 1024]
    repeat = 3 if a.quick else a.repeat
    rng = np.random.default_rng(0)
    print(machine())
    print(f"load average before the run: {os.getloadavg()[0]:.2f}" + (f"; {a.threads} thread(s)" if a.threads else ""))
    print()
    gradient_table("Gradients (value and gradient with respect to the weights), best time per call",
                   sizes, repeat, rng)
    if keep_freed_memory():
        print()
        gradient_table("Gradients again, glibc keeping freed memory (mallopt: no page faults for new n x n results)",
                       sizes, repeat, rng)
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")


def gradient_table(title: str, sizes: list, repeat: int, rng) -> None:
    print(title)
    print(f"{'network':<13} {'n':>5} {'forward':>11} {'generated':>11} {'+ wrapper':>11} {'jax.jit':>11} "
          f"{'gen/fwd':>8} {'gen/jax':>8} {'jax/fwd':>8}")
    grad_ok = jax_ok = True
    for n in sizes:
        for name, n_, t_fwd, t_gen, t_wrap, t_jax in gradient_rows(n, repeat, rng):
            grad_ok &= t_gen / t_fwd <= 3
            jax_ok &= t_gen / t_jax <= 1.5
            print(f"{name:<13} {n_:>5} {fmt(t_fwd):>11} {fmt(t_gen):>11} {fmt(t_wrap):>11} {fmt(t_jax):>11} "
                  f"{t_gen / t_fwd:8.2f} {t_gen / t_jax:8.2f} {t_jax / t_fwd:8.2f}")
    print(f"goal gradient <= 3x forward: {'met' if grad_ok else 'MISSED'}; "
          f"generated within 1.5x of jax.jit: {'met' if jax_ok else 'MISSED'}")


if __name__ == "__main__":
    main()
