"""Closed-form Hessians and Hessian-vector products (generated code) against JAX's autodiff.

    pip install jax jaxlib threadpoolctl     # for this benchmark only; matdiff never needs them
    python benchmarks/hessians.py            # n = 256 and 1024 (logdet: n = 64 and 80)
    python benchmarks/hessians.py --quick --n 256

Cases (float64 everywhere, JAX with jax_enable_x64):
  the four networks of speed.py (NETWORKS), Hessian with respect to the input x;
  quad      x^T A x wrt x                     H = A + A^T: no product at all
  lstsq     ||A x - b||^2 wrt x (A n x n)     H = 2 A^T A: one product
  logdet    logdet(X) wrt X                   H = -K (X^-T ⊗ X^-1), n² x n²: one inverse, then a layout
            (at n = 64 and 80: the n² x n² Hessian is 134 MB and 328 MB; at n = 256 it would be 34 GB)
  logistic  -y^T log(sigmoid(X w)) - (1-y)^T log(1 - sigmoid(X w)) wrt w, X of m = 4n rows:
            H = X^T diag(s) X, a scaled product
Columns:
  generated    matdiff.lambdify(..., hessian=True).raw: the generated NumPy (value, gradient, Hessian)
  jax.hessian  jax.jit(jax.hessian(f)) (the Hessian alone)
  HVP numpy    matdiff.lambdify(..., hvp=True).raw: generated NumPy (value, gradient and H v)
  HVP jax      jax.jit of the generated JAX code (backend="jax", hvp=True), same outputs
  jvp(grad)    jax.jit(lambda v: jax.jvp(jax.grad(f), (x,), (v,))): what it returns, the gradient and H v
  Hv jax       jax.jit(lambda ...: fn.raw(...)[2]): the generated JAX code asked for H v alone (XLA
               leaves out what is not returned)
  jvp[1]       jax.jit(lambda v: jax.jvp(jax.grad(f), (x,), (v,))[1]): H v alone
  bytes        without a clock: the bytes the jitted generated JAX reads and writes over those of
               jvp(grad), by XLA's cost model of the compiled programs (with the gradient / H v alone)
Every run first checks that the generated and JAX's numbers agree. The contenders race: the two
Hessians alternate, --repeat rounds of a loop of ~0.2 s each, and so do the five HVPs (~0.05 s);
a time shown is the best round, a ratio the median over rounds of the two times in the same round
(speed.race, speed.paired). A goal is "met within noise" where a ratio on the wrong side of 1 has a
95% confidence interval (speed.paired_interval) that reaches 1.

Goals (issue 17, item 3): the closed-form Hessian never slower than jax.hessian on the networks,
>= 10x faster on the lower-complexity cases; the generated HVP faster than jax.jvp(jax.grad(f)) on
every case: generated (NumPy or jitted JAX: value, gradient, H v) against what jvp(grad) returns
(gradient, H v). Shown beside it, not a goal: the generated JAX asked for H v alone against
jvp(grad)'s H v alone (both compiled by XLA, which leaves out what is not returned).
"""
from __future__ import annotations

import inspect
import os

if __name__ == "__main__":                   # before NumPy and JAX start their pools
    from threads import limit_from_argv
    limit_from_argv()

import numpy as np  # noqa: E402

import matdiff  # noqa: E402
from speed import (NETWORKS, arguments, begin, columns, fmt, inputs, jax_function, paired,  # noqa: E402
                   paired_interval, race, xla_work)

LOWER = {
    # name: (matdiff source, shapes, wrt, sizes)
    "quad": ("x^T A x", None, "x", None),
    "lstsq": ("||A x - b||^2", None, "x", None),
    "logdet": ("logdet(X)", None, "X", [64, 80]),
    "logistic": ("-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))",
                 dict(X=("m", "n"), y=("m",), w=("n",)), "w", None),
}


# The two cases whose closed form is NOT of a lower complexity class than jax.hessian's
# forward-over-reverse: their Hessian is itself a product of the data (2 A^T A, X^T diag(s) X),
# which the generated code forms as a Gram product (BLAS syrk: n(n+1)/2 dot products of length m,
# m n (n + 1) flops); 10x needs jax.hessian to do 10 times those flops, and XLA counts about 4.
SAME_CLASS = {"lstsq": lambda n: n * n * (n + 1), "logistic": lambda n: 4 * n * n * (n + 1)}


def lower_inputs(name: str, n: int, rng) -> dict:
    if name == "quad":
        return dict(x=rng.normal(size=n), A=rng.normal(size=(n, n)) / np.sqrt(n))
    if name == "lstsq":
        return dict(A=rng.normal(size=(n, n)) / np.sqrt(n), x=rng.normal(size=n), b=rng.normal(size=n))
    if name == "logdet":
        return dict(X=rng.normal(size=(n, n)) / np.sqrt(n) + 2 * np.eye(n))
    m = 4 * n
    return dict(X=rng.normal(size=(m, n)) / np.sqrt(n), y=(rng.random(m) < 0.5).astype(float), w=rng.normal(size=n))


def lower_jax(name: str):
    import jax
    import jax.numpy as jnp
    return {
        "quad": lambda x, A: x @ A @ x,
        "lstsq": lambda A, x, b: jnp.sum((A @ x - b) ** 2),
        "logdet": lambda X: jnp.linalg.slogdet(X)[1],
        "logistic": lambda X, y, w: -(y @ jnp.log(jax.nn.sigmoid(X @ w))) - (1 - y) @ jnp.log(1 - jax.nn.sigmoid(X @ w)),
    }[name]


def cases(sizes: list, rng):
    """(kind, name, n, source, shapes, functions, wrt, values, JAX function)"""
    for name, (src, functions, _, wrt) in NETWORKS.items():
        for n in sizes:
            yield "network", name, n, src, None, functions, wrt, inputs(name, n, rng), jax_function(name)
    for name, (src, shapes, wrt, own) in LOWER.items():
        for n in (own or sizes):
            yield "lower", name, n, src, shapes, None, wrt, lower_inputs(name, n, rng), lower_jax(name)


def measure(src, shapes, functions, wrt, values, jf, repeat: int) -> dict:
    import jax
    order = list(inspect.signature(jf).parameters)
    i = order.index(wrt)
    jargs = [jax.device_put(values[k]) for k in order]
    jh = jax.jit(jax.hessian(jf, argnums=i))
    grad = jax.grad(jf, argnums=i)
    jvp_full = jax.jit(lambda v, *a: jax.jvp(lambda t: grad(*a[:i], t, *a[i + 1:]), (a[i],), (v,)))
    jvp = jax.jit(lambda v, *a: jax.jvp(lambda t: grad(*a[:i], t, *a[i + 1:]), (a[i],), (v,))[1])

    fh = matdiff.lambdify(src, wrt, shapes=shapes, functions=functions, hessian=True)
    fv = matdiff.lambdify(src, wrt, shapes=shapes, functions=functions, hvp=True)
    fj = matdiff.lambdify(src, wrt, shapes=shapes, functions=functions, hvp=True, backend="jax")
    rng = np.random.default_rng(1)
    V = rng.normal(size=np.shape(values[wrt]))
    direction = fv.hvp[wrt]
    hargs = columns(values, fh)
    vargs = columns({**values, direction: V}, fv)
    jitted = jax.jit(fj.raw)
    hv_only = jax.jit(lambda *a: fj.raw(*a)[2])
    jgargs = [jax.device_put(values[k] if k != direction else V) for k in fj.inputs]   # vectors 1-D, as jax's own
    jV = jax.device_put(V)

    # the same numbers: the generated Hessian against jax.hessian (vec convention: column-major),
    # the generated HVPs against jvp(grad) and against H vec(V)
    _, _, H = fh(**values)
    HJ = np.asarray(jh(*jargs))
    if HJ.ndim == 4:                                    # d²f/dX_ij dX_kl -> H[(i + j n), (k + l n)]
        k = HJ.shape[0] * HJ.shape[1]
        HJ = HJ.transpose(1, 0, 3, 2).reshape(k, k)
    scale = np.max(np.abs(HJ))
    assert np.allclose(H[wrt], HJ, rtol=1e-7, atol=1e-9 * scale), "Hessian"
    _, _, hv = fv(**values, **{direction: V})
    want = np.asarray(jvp(jV, *jargs))
    assert np.allclose(hv[wrt], want, rtol=1e-7, atol=1e-9 * np.max(np.abs(want))), "HVP"
    assert np.allclose(np.asarray(jitted(*jgargs)[2][wrt]).reshape(np.shape(V)), want,
                       rtol=1e-7, atol=1e-9 * np.max(np.abs(want))), "HVP (jax)"
    assert np.allclose(np.asarray(hv_only(*jgargs)[wrt]).reshape(np.shape(V)), want,
                       rtol=1e-7, atol=1e-9 * np.max(np.abs(want))), "H v alone (jax)"
    assert np.allclose(np.asarray(jvp_full(jV, *jargs)[1]), want), "jvp(grad)"
    assert np.allclose(H[wrt] @ V.reshape(-1, order="F"), np.ravel(want, order="F"),
                       rtol=1e-6, atol=1e-8 * np.max(np.abs(want))), "H V"

    big = H[wrt].size > 4e6
    hess, hess_rounds = race(dict(gen=lambda: fh.raw(*hargs), jax=lambda: jax.block_until_ready(jh(*jargs))),
                             repeat, budget=0.5 if big else 0.2)
    hvp, hvp_rounds = race(dict(
        hvp_np=lambda: fv.raw(*vargs),
        hvp_jax=lambda: jax.block_until_ready(jitted(*jgargs)),
        jvp_full=lambda: jax.block_until_ready(jvp_full(jV, *jargs)),
        hv_only=lambda: jax.block_until_ready(hv_only(*jgargs)),
        jvp=lambda: jax.block_until_ready(jvp(jV, *jargs))), repeat, budget=0.05)
    flops = jh.lower(*jargs).compile().cost_analysis()
    flops = (flops[0] if isinstance(flops, list) else flops).get("flops", float("nan"))
    faster = min(("hvp_np", "hvp_jax"), key=lambda k: paired(hvp_rounds, k, "jvp_full"))
    return dict(
        **hess, **hvp, jax_flops=flops,
        up=paired(hess_rounds, "jax", "gen"), up_interval=paired_interval(hess_rounds, "jax", "gen"),
        best=paired(hvp_rounds, faster, "jvp_full"), best_interval=paired_interval(hvp_rounds, faster, "jvp_full"),
        alone=paired(hvp_rounds, "hv_only", "jvp"),
        bytes_full=xla_work(jitted, jgargs) / xla_work(jvp_full, [jV, *jargs]),
        bytes_alone=xla_work(hv_only, jgargs) / xla_work(jvp, [jV, *jargs]),
    )


def main() -> None:
    ap = arguments(__doc__, "size", 15)
    ap.add_argument("--only", action="append", help="a case's name (repeatable)")
    a = ap.parse_args()
    sizes, repeat, rng = begin(a)
    print("Hessians (generated: value, gradient and Hessian; jax.hessian: the Hessian) and Hessian-vector")
    print("products (HVP: value, gradient and H v; jvp(grad): gradient and H v; Hv jax and jvp[1]: H v alone),")
    print("best time per call; best/jvp = the faster HVP / jvp(grad)")
    print(f"{'case':<13} {'n':>5} {'generated':>11} {'jax.hessian':>12} {'speed-up':>9} | {'HVP numpy':>11} "
          f"{'HVP jax':>11} {'jvp(grad)':>11} {'best/jvp':>8} | {'Hv jax':>11} {'jvp[1]':>11} {'ratio':>6} | "
          f"{'bytes':>11}")
    net_missed, lower_missed, hvp_missed, alone_over, same_class = [], [], [], [], []
    net_noise, hvp_noise = [], []             # on the wrong side of 1, but their 95% interval reaches it
    for kind, name, n, src, shapes, functions, wrt, values, jf in cases(sizes, rng):
        if a.only and name not in a.only:
            continue
        t = measure(src, shapes, functions, wrt, values, jf, repeat)
        up, best, alone = t["up"], t["best"], t["alone"]
        if kind == "network":
            if up < 1:
                (net_noise if t["up_interval"][1] >= 1 else net_missed).append(
                    f"{name} {n} ({up:.2f}x, 95% interval [{t['up_interval'][0]:.2f}, {t['up_interval'][1]:.2f}])")
        else:
            if name in SAME_CLASS:
                ceiling = t["jax_flops"] / SAME_CLASS[name](n)
                same_class.append(f"{name} {n}: {up:.1f}x of a {ceiling:.1f}x ceiling")
            else:
                lower_missed += [f"{name} {n} ({up:.1f}x)"] if up < 10 else []
        if best > 1:
            (hvp_noise if t["best_interval"][0] <= 1 else hvp_missed).append(
                f"{name} {n} ({best:.2f}, 95% interval [{t['best_interval'][0]:.2f}, {t['best_interval'][1]:.2f}])")
        alone_over += [f"{name} {n} ({alone:.2f}, bytes {t['bytes_alone']:.2f})"] if alone > 1 else []
        print(f"{name:<13} {n:>5} {fmt(t['gen']):>11} {fmt(t['jax']):>12} {up:8.1f}x | {fmt(t['hvp_np']):>11} "
              f"{fmt(t['hvp_jax']):>11} {fmt(t['jvp_full']):>11} {best:8.2f} | {fmt(t['hv_only']):>11} "
              f"{fmt(t['jvp']):>11} {alone:6.2f} | {t['bytes_full']:5.2f} {t['bytes_alone']:5.2f}", flush=True)
    def verdict(missed, noise=()):
        """met; met within noise (a ratio on the wrong side of 1 whose 95% interval reaches 1); MISSED."""
        if missed:
            return "MISSED: " + ", ".join(missed)
        return "met within noise: " + ", ".join(noise) if noise else "met"
    print(f"goal closed-form Hessian never slower than jax.hessian on the networks: {verdict(net_missed, net_noise)}")
    print(f"goal >= 10x where the closed form is of a lower complexity class (quad, logdet): {verdict(lower_missed)}")
    if same_class:
        print("  cannot be met: lstsq and logistic, a product of the same class as jax.hessian's (ceiling = XLA's count")
        print("  of jax.hessian's flops over the closed form's syrk, m n (n + 1)): " + "; ".join(same_class))
    print(f"goal HVP beats jvp(grad) on every case, with the same outputs: {verdict(hvp_missed, hvp_noise)}")
    print(f"(not a goal) H v alone in JAX over jvp(grad)[1] above 1: {', '.join(alone_over) or 'none'}")
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
