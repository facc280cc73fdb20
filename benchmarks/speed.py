"""Generated NumPy code against jitted JAX and a plain NumPy forward pass, on the same inputs.

    pip install jax jaxlib threadpoolctl     # for this benchmark only; matdiff never needs them
    python benchmarks/speed.py               # n = 256 and 1024, gradients (Hessians: benchmarks/hessians.py)
    python benchmarks/speed.py --n 256 --quick

For each seed network (every layer n wide, float64 everywhere, JAX with jax_enable_x64):
  forward     a hand-written NumPy evaluation of f (1-D vectors)
  fresh       matdiff.lambdify(..., reuse_buffers=False).raw: every result a new array
  generated   matdiff.lambdify(...).raw: the generated NumPy code, value and gradients, matrix
              results written into arrays kept between calls (reuse_buffers, NumPy's default)
  + wrapper   the same through fn(**values) (input and output reshaping included)
  floor       np.copyto of the gradients' bytes into arrays kept between calls: what writing
              the results once costs on this machine (a memory-bandwidth bound)
  jax         jax.jit(jax.value_and_grad(f, argnums=...)) on the same values (device arrays)
(Hessians and Hessian-vector products: benchmarks/hessians.py.)

Goals (issues 6, 17): gradient <= 3x forward; generated NumPy (fn.raw and fn(...)) at most 1.5x
jitted JAX at n = 1024 on every network. Each time is the best of
--repeat runs of a loop long enough to take ~0.1 s.
"""
from __future__ import annotations

import argparse
import inspect
import math
import os
import platform
import statistics
import subprocess
import time

if __name__ == "__main__":                   # before NumPy and JAX start their pools
    from threads import limit_from_argv
    limit_from_argv()

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


def timed_side_by_side(calls: list, repeat: int, budget: float = 0.01) -> list:
    """Seconds per call of each: the best single call (after one in the same round warmed the
    caches) over 5 * `repeat` rounds; each round runs every call in turn, a few times (~`budget`
    seconds), so that the ratios compare calls made under the same load. Single calls of a
    millisecond, not loops: on a shared machine a clean window is more likely to hold one call."""
    calls_per_round = []
    for call in calls:
        call()
        t0 = time.perf_counter()
        call()
        calls_per_round.append(max(3, int(budget / max(time.perf_counter() - t0, 1e-7))))
    best = [float("inf")] * len(calls)
    clock = time.perf_counter
    for _ in range(5 * repeat):
        for i, (call, k) in enumerate(zip(calls, calls_per_round)):
            for _ in range(k):
                t0 = clock()
                call()
                best[i] = min(best[i], clock() - t0)
    return best


def race(calls: dict, repeat: int, budget: float = 0.02) -> tuple:
    """Seconds per call of each contender, and each one's rounds: they alternate, `repeat` rounds
    of a loop of about `budget` seconds each, the order turned by one each round (so that no
    contender always runs right after the same other one, in the caches it leaves).
    Returns ({key: best round}, {key: [every round]})."""
    loops = {}
    for key, call in calls.items():
        call()
        t0 = time.perf_counter()
        call()
        loops[key] = max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))
    rounds: dict = {key: [] for key in calls}
    keys = list(calls)
    for r in range(repeat):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            call = calls[key]
            t0 = time.perf_counter()
            for _ in range(loops[key]):
                call()
            rounds[key].append((time.perf_counter() - t0) / loops[key])
    return {key: min(r) for key, r in rounds.items()}, rounds


def paired(rounds: dict, a: str, b: str) -> float:
    """The median over rounds of a's time over b's in the same round: two runs next to each other
    in time share the machine's load, so a burst of other work cancels out of their ratio."""
    return statistics.median(x / y for x, y in zip(rounds[a], rounds[b]))


def paired_interval(rounds: dict, a: str, b: str) -> tuple:
    """(low, high): a 95% confidence interval of `paired`'s median, from the order statistics of
    the per-round ratios (the binomial interval of a median: no assumption on their spread). A
    ratio over 1 whose interval reaches 1 is not told apart from 1 by this run."""
    ratios = sorted(x / y for x, y in zip(rounds[a], rounds[b]))
    m = len(ratios)
    half = 1.96 * math.sqrt(m) / 2
    return ratios[max(0, math.floor(m / 2 - half))], ratios[min(m - 1, math.ceil(m / 2 + half) - 1)]


def fmt(t: float) -> str:
    return f"{t * 1e6:8.0f} µs" if t < 1e-2 else f"{t * 1e3:8.1f} ms"


def xla_work(jitted, args) -> float:
    """The bytes the compiled program reads and writes, by XLA's own cost model (no timing: the
    same in every run), for comparing two programs' work where their times differ by noise."""
    cost = jitted.lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["bytes accessed"])


def columns(values: dict, fn) -> list:
    """The raw generated function's arguments: vectors as columns, in its parameter order."""
    return [values[name].reshape(-1, 1) if np.ndim(values[name]) == 1 else values[name] for name in fn.inputs]


def gradient_rows(n: int, repeat: int, rng) -> list:
    import jax
    rows = []
    for name, (src, functions, wrt, _) in NETWORKS.items():
        values = inputs(name, n, rng)
        fn = matdiff.lambdify(src, wrt, functions=functions)          # NumPy: reuse_buffers, the default
        fresh = matdiff.lambdify(src, wrt, functions=functions, reuse_buffers=False)
        args = columns(values, fn)
        forward = numpy_forward(name)
        jf = jax_function(name)
        order = list(inspect.signature(jf).parameters)
        fargs = [values[k] for k in order]
        argnums = tuple(order.index(w) for w in wrt)
        jitted = jax.jit(jax.value_and_grad(jf, argnums=argnums))
        jargs = [jax.device_put(a) for a in fargs]

        # the same numbers four ways
        value, grads = fn(**values)
        jvalue, jgrads = jitted(*jargs)
        assert np.isclose(value, forward(*fargs)) and np.isclose(value, float(jvalue))
        for w, g in zip(wrt, jgrads):
            assert np.allclose(grads[w], np.asarray(g), rtol=1e-8, atol=1e-10), (name, w)
            assert np.allclose(fresh(**values)[1][w], np.asarray(g), rtol=1e-8, atol=1e-10), (name, w)

        # the floor: writing the gradients' bytes once (np.copyto into arrays kept between calls)
        sources = [np.asarray(grads[w]) for w in wrt]
        targets = [np.empty_like(a) for a in sources]
        del value, grads

        def write_once():
            for t, a in zip(targets, sources):
                np.copyto(t, a)

        t_fwd, t_fresh, t_gen, t_wrap, t_jax, t_floor = timed_side_by_side(
            [lambda: forward(*fargs), lambda: fresh.raw(*args), lambda: fn.raw(*args), lambda: fn(**values),
             lambda: jax.block_until_ready(jitted(*jargs)), write_once], repeat)
        rows.append((name, n, t_fwd, t_fresh, t_gen, t_wrap, t_jax, t_floor,
                     page_faults(lambda: fn.raw(*args)), page_faults(lambda: fresh.raw(*args))))
    return rows


def page_faults(call, calls: int = 20) -> float:
    """Minor page faults per call (getrusage; 0 where the platform has no resource module)."""
    try:
        import resource
    except ImportError:
        return 0.0
    call()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        call()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def keep_freed_memory() -> bool:
    """glibc: keep freed blocks for reuse (no fresh mmap per large array, no trimming), so that a
    new n x n result does not page-fault. For this benchmark only: matdiff never changes it."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        global FREED_KEPT
        FREED_KEPT = bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 25)) and bool(libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1))
        return FREED_KEPT
    except (OSError, AttributeError):
        return False


FREED_KEPT = False      # set once keep_freed_memory has told glibc to keep freed memory


def machine(torch: bool = False) -> str:
    """The CPU, its cores, and the versions of everything timed (with torch: torch and the C++
    compiler torch.compile uses), for the first line of every benchmark's output."""
    import jax
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = "?"
    try:
        from threadpoolctl import threadpool_info
        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        blas = ", ".join(f"{i['internal_api']} {i['version']} ({i.get('architecture')}, {i['num_threads']} threads)"
                         for i in info)
    except ImportError:
        pass
    versions = [f"Python {platform.python_version()}", f"NumPy {np.__version__} ({blas})",
                f"JAX {jax.__version__} (CPU, x64)"]
    if torch:
        try:
            import torch as t
            versions.append(f"torch {t.__version__}")
        except ImportError:
            versions.append("torch not installed")
        try:
            versions.append(subprocess.run(["gcc", "--version"], capture_output=True, text=True,
                                           timeout=10).stdout.splitlines()[0])
        except (OSError, IndexError, subprocess.SubprocessError):
            versions.append("no gcc")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return f"{cpu}, {os.cpu_count()} cores; {', '.join(versions)}" + (f"; {env}" if env else "")


def arguments(doc: str, size: str, repeat: int) -> argparse.ArgumentParser:
    """The options speed.py and hessians.py share: --n, --repeat, --quick, --threads."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append", help=f"{size} (repeatable; default 256 and 1024)")
    ap.add_argument("--repeat", type=int, default=repeat)
    ap.add_argument("--quick", action="store_true", help="3 repeats")
    ap.add_argument("--threads", type=int, help="threads for BLAS and XLA (default: theirs, one per core)")
    return ap


def begin(a) -> tuple:
    """JAX in float64, the machine and the load average printed; (sizes, repeat, rng) from the options."""
    import jax
    jax.config.update("jax_enable_x64", True)
    print(machine())
    print(f"load average before the run: {os.getloadavg()[0]:.2f}" + (f"; {a.threads} thread(s)" if a.threads else ""))
    print()
    return a.n or [256, 1024], 3 if a.quick else a.repeat, np.random.default_rng(0)


def main() -> None:
    sizes, repeat, rng = begin(arguments(__doc__, "layer width", 9).parse_args())
    gradient_table("Gradients (value and gradient with respect to the weights), best time per call",
                   sizes, repeat, rng)
    if keep_freed_memory():
        print()
        gradient_table("Gradients again, glibc keeping freed memory (mallopt: no page faults for new n x n results)",
                       sizes, repeat, rng)
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")


def gradient_table(title: str, sizes: list, repeat: int, rng) -> None:
    """generated: fn.raw with reuse_buffers (the NumPy default); fresh: reuse_buffers=False;
    + wrapper: fn(**values); floor: np.copyto of the gradients' bytes once (memory bound);
    faults: minor page faults per call of generated / fresh."""
    print(title)
    print("generated = fn.raw (reuse_buffers, the default), fresh = reuse_buffers=False, floor = np.copyto "
          "of the gradients' bytes")
    print(f"{'network':<13} {'n':>5} {'forward':>11} {'fresh':>11} {'generated':>11} {'+ wrapper':>11} "
          f"{'jax.jit':>11} {'floor':>11} {'gen/fwd':>8} {'gen/jax':>8} {'wrap/jax':>8} {'fresh/jax':>9} "
          f"{'jax/fwd':>8} {'faults':>11}")
    grad_ok = True
    worst = {}
    for n in sizes:
        for name, n_, t_fwd, t_fresh, t_gen, t_wrap, t_jax, t_floor, f_gen, f_fresh in gradient_rows(n, repeat, rng):
            grad_ok &= t_gen / t_fwd <= 3
            worst[n_] = max(worst.get(n_, 0.0), t_gen / t_jax, t_wrap / t_jax)
            print(f"{name:<13} {n_:>5} {fmt(t_fwd):>11} {fmt(t_fresh):>11} {fmt(t_gen):>11} {fmt(t_wrap):>11} "
                  f"{fmt(t_jax):>11} {fmt(t_floor):>11} {t_gen / t_fwd:8.2f} {t_gen / t_jax:8.2f} "
                  f"{t_wrap / t_jax:8.2f} {t_fresh / t_jax:9.2f} {t_jax / t_fwd:8.2f} {f_gen:5.0f}/{f_fresh:<5.0f}")
    print(f"goal gradient <= 3x forward: {'met' if grad_ok else 'MISSED'}")
    for n_ in sorted(worst):
        print(f"n = {n_}: generated NumPy (fn.raw and fn(...)) at most {worst[n_]:.2f}x jax.jit")
    verdict = "not measured (no n = 1024)" if 1024 not in worst else "met" if worst[1024] <= 1.5 else "MISSED"
    print(f"goal generated NumPy <= 1.5x jax.jit at n = 1024 on every network: {verdict}"
          + (" (glibc keeping freed memory)" if FREED_KEPT else ""))


if __name__ == "__main__":
    main()
