"""matdiff's generated JAX and PyTorch code against each framework's own autodiff, on its own compiler.

    pip install jax jaxlib torch        # for this benchmark only; matdiff never needs them
    python benchmarks/frameworks.py     # n = 256 and 1024, JAX, torch eager, torch.compile
    python benchmarks/frameworks.py --n 256 --quick --no-compile
    python benchmarks/frameworks.py --threads 1     # one thread each: steadier on a loaded machine

For each network of speed.py's NETWORKS (every layer n wide, float64 everywhere, JAX with
jax_enable_x64), value and gradients with respect to the weights:
  jax        jax.jit(fn.raw) of matdiff.lambdify(..., backend="jax"), vectors given 1-D, as to JAX's
             own (the generated JAX code takes a vector 1-D or as a column; XLA copies a column input)
             against jax.jit(jax.value_and_grad(f, argnums=...)) of the same f written in jax.numpy
  torch      fn.raw of matdiff.lambdify(..., backend="torch"), eager
             against torch.func.grad_and_value(f, argnums=...) of the same f written in torch
  compile    both of the above under torch.compile (Inductor: it needs a C++ compiler)
Each pair is timed in one race: the two contenders alternate, each run a loop of ~0.02 s; the
times shown are each one's best run (on a shared machine the other runs measure the neighbours),
and each ratio is the median over rounds of the two times in the same round (adjacent runs share
the machine's load, so a burst of other work cancels out of their ratio; the ratio of two best
runs leans on a single lucky round). The last column,
`A/A`, in each column, races the framework's own (jitted, eager, compiled) against a second copy
of itself: the ratio two identical programs show on this machine in this run, the resolution of
the others. A goal is "met within noise" where the 95% confidence interval of every ratio over 1
(from the rounds' ratios, `speed.paired_interval`) reaches 1, and, for JAX, the generated program
reads and writes at most 1% more bytes than JAX's own.
`bytes` is the JAX pair's work without a clock: the bytes the generated program reads and writes
over those of JAX's own, by XLA's cost model of the compiled programs (`cost_analysis()`).

Goal (issue 17, item 1): the generated code is at most as slow as the framework's own autodiff on
every network at n = 256 and 1024 (ratio <= 1), for JAX, for torch eager and under torch.compile.
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys

if __name__ == "__main__":                   # before JAX and torch start their pools
    from threads import limit_from_argv
    limit_from_argv()

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed  # noqa: E402  (the networks, their inputs and the JAX forms of f)

import matdiff  # noqa: E402

NETWORKS = speed.NETWORKS


def torch_function(name: str):
    import torch
    return {
        "tutorial12": lambda W, V, x, b, c: c @ torch.sin((W + V) @ torch.tanh(W @ x + b)),
        "softmax-relu": lambda W, x, U, y: -y @ torch.log(torch.softmax(U @ torch.relu(W @ x), 0)),
        "mlp3-tanh": lambda W1, x, b1, W2, b2, W3, b3, t: 0.5 * torch.sum(
            (torch.tanh(W3 @ torch.tanh(W2 @ torch.tanh(W1 @ x + b1) + b2) + b3) - t) ** 2),
        "sigmoid2": lambda W1, x, b1, W2, b2, t: 0.5 * torch.sum((W2 @ torch.sigmoid(W1 @ x + b1) + b2 - t) ** 2),
    }[name]


# ---- timing -------------------------------------------------------------------------------------------

def agree(name, w, a, b) -> None:
    a, b = np.asarray(a, dtype=float).reshape(-1), np.asarray(b, dtype=float).reshape(-1)
    if not np.allclose(a, b, rtol=1e-8, atol=1e-10):
        raise SystemExit(f"{name}: {w} differs from the framework's own gradient by {np.max(np.abs(a - b)):.3g}")


# ---- the contenders -------------------------------------------------------------------------------------

def jax_pair(name: str, values: dict):
    import jax
    src, functions, wrt, _ = NETWORKS[name]
    fn = matdiff.lambdify(src, wrt, backend="jax", functions=functions)
    gen = jax.jit(fn.raw)
    jf = speed.jax_function(name)
    order = list(inspect.signature(jf).parameters)
    argnums = tuple(order.index(w) for w in wrt)
    ref = jax.jit(jax.value_and_grad(jf, argnums=argnums))
    twin = jax.jit(jax.value_and_grad(jf, argnums=argnums))     # the same program, compiled again
    on_device = {k: jax.device_put(v) for k, v in values.items()}   # one copy, for both contenders
    jargs = [on_device[k] for k in order]
    args = [on_device[k] for k in fn.inputs]       # vectors 1-D, as JAX's own takes them
    value, grads = gen(*args)
    rvalue, rgrads = ref(*jargs)
    agree(name, "the value", value, rvalue)
    for w, g in zip(wrt, rgrads):
        agree(name, w, grads[w], g)
    # the same program returning what JAX's own returns, (value, a tuple of gradients): fn.raw's
    # dict by name costs jax.jit's dispatch about 1 µs a call (building it, and flattening it to
    # wait on it), where the program runs inside a jitted step of the caller's, it costs nothing
    tupled = jax.jit(lambda *a: (lambda value, grads: (value, tuple(grads[w] for w in wrt)))(*fn.raw(*a)))
    tvalue, tgrads = tupled(*args)
    agree(name, "the value (tuple)", tvalue, rvalue)
    for w, g in zip(wrt, tgrads):
        agree(name, w, g, grads[w])
    calls = {"gen": lambda: jax.block_until_ready(gen(*args)), "ref": lambda: jax.block_until_ready(ref(*jargs)),
             "twin": lambda: jax.block_until_ready(twin(*jargs)),
             "tuple": lambda: jax.block_until_ready(tupled(*args))}
    return calls, speed.xla_work(gen, args) / speed.xla_work(ref, jargs)



def torch_pair(name: str, values: dict, compiled: bool):
    import torch
    src, functions, wrt, _ = NETWORKS[name]
    fn = matdiff.lambdify(src, wrt, backend="torch", functions=functions)
    args = [torch.as_tensor(a) for a in speed.columns(values, fn)]
    tf = torch_function(name)
    order = list(inspect.signature(tf).parameters)
    targs = [torch.as_tensor(values[k]) for k in order]
    gen = fn.raw
    argnums = tuple(order.index(w) for w in wrt)
    ref = torch.func.grad_and_value(tf, argnums=argnums)
    twin = torch.func.grad_and_value(tf, argnums=argnums)      # the same program again: the A/A
    if compiled:
        gen, ref, twin = torch.compile(gen), torch.compile(ref), torch.compile(twin)
    value, grads = gen(*args)
    rgrads, rvalue = ref(*targs)
    twin(*targs)
    agree(name, "the value", value, rvalue)
    for w, g in zip(wrt, rgrads):
        agree(name, w, grads[w], g)
    return {"gen": lambda: gen(*args), "ref": lambda: ref(*targs), "twin": lambda: twin(*targs)}


def can_compile() -> str | None:
    """None if torch.compile works on this machine, else why not (the first line of its error)."""
    import torch
    try:
        f = torch.compile(lambda a: torch.sin(a) * 2)
        f(torch.ones(3, dtype=torch.float64))
        return None
    except Exception as e:                            # noqa: BLE001  (reported, not hidden)
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]


# ---- the report -----------------------------------------------------------------------------------------

def fmt(t: float) -> str:
    return speed.fmt(t).strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append", help="layer width (repeatable; default 256 and 1024)")
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--quick", action="store_true", help="10 rounds per race")
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    ap.add_argument("--network", action="append", choices=list(NETWORKS), help="only these (repeatable)")
    ap.add_argument("--threads", type=int, help="threads for XLA and torch (default: theirs, one per core)")
    a = ap.parse_args()
    import jax
    import torch
    jax.config.update("jax_enable_x64", True)
    torch.set_default_dtype(torch.float64)
    if a.threads:
        torch.set_num_threads(a.threads)
    sizes = a.n or [256, 1024]
    repeat = 10 if a.quick else a.repeat
    names = a.network or list(NETWORKS)
    rng = np.random.default_rng(0)
    print(speed.machine(torch=True))
    print(f"torch threads {torch.get_num_threads()}; float64 everywhere; best of {repeat} alternating rounds")
    why_not = "left out (--no-compile)" if a.no_compile else can_compile()
    if why_not:
        print(f"torch.compile: not measured: {why_not}")
    print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    head = (f"{'network':<13} {'n':>5} | {'JAX gen':>9} {'jax v&g':>9} {'ratio':>6} {'tuple':>6} {'A/A':>5} {'bytes':>6} | "
            f"{'torch gen':>9} {'func g&v':>9} {'ratio':>6} {'A/A':>5} | {'compiled':>9} {'func g&v':>9} {'ratio':>6} "
            f"{'A/A':>5}")
    print("value and gradients, best time per call; ratio = generated / the framework's own autodiff and A/A =")
    print("the framework's own against a second copy of itself, each the median over rounds of the two times in")
    print("the same round; tuple = the ratio of the generated program returning (value, a tuple of gradients)")
    print("as JAX's own does, not fn.raw's dict by name; bytes = the JAX pair's bytes read and written, by XLA's")
    print("cost model")
    print(f"{'':<19} | {'jax.jit':^46} | {'torch eager':^32} | {'torch.compile':^32}")
    print(head)
    # per network and size: (ratio, bytes or None, its 95% interval, the row's name)
    rows = {"jax": [], "tuple": [], "torch": [], "compile": []}
    for n in sizes:
        for name in names:
            values = speed.inputs(name, n, rng)
            calls, work = jax_pair(name, values)
            races = {"jax": speed.race(calls, repeat)[1], "torch": speed.race(torch_pair(name, values, False), repeat)[1]}
            if not why_not:
                races["compile"] = speed.race(torch_pair(name, values, True), repeat)[1]
            cells = []
            for key in ("jax", "torch", "compile"):
                r = races.get(key)
                if r is None:
                    cells.append(f"{'-':>9} {'-':>9} {'-':>6} {'-':>5}")
                    continue
                ratio, aa = speed.paired(r, "gen", "ref"), speed.paired(r, "twin", "ref")
                rows[key].append((ratio, work if key == "jax" else None, speed.paired_interval(r, "gen", "ref"),
                                  f"{name} {n}"))
                if key == "jax":
                    tupled = speed.paired(r, "tuple", "ref")
                    rows["tuple"].append((tupled, work, speed.paired_interval(r, "tuple", "ref"), f"{name} {n}"))
                    cells.append(f"{fmt(min(r['gen'])):>9} {fmt(min(r['ref'])):>9} {ratio:6.2f} {tupled:6.2f} "
                                 f"{aa:5.2f} {work:6.3f}")
                else:
                    cells.append(f"{fmt(min(r['gen'])):>9} {fmt(min(r['ref'])):>9} {ratio:6.2f} {aa:5.2f}")
            print(f"{name:<13} {n:>5} | " + " | ".join(cells), flush=True)
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    at = " and ".join(map(str, sizes))
    full = sorted(sizes) == [256, 1024] and len(names) == len(NETWORKS)
    scope = "" if full else " (not the full set: run without --n/--network for the goal)"

    def verdict(key):
        """met: every ratio <= 1; met within noise: the 95% interval of each ratio over 1 reaches 1
        (this run cannot tell it from 1), and for JAX the program reads at most 1% more bytes; else
        MISSED. The rows over 1 are listed with their intervals."""
        if not rows[key]:
            return f"not measured ({why_not})"
        worst = max(r for r, *_ in rows[key])
        over = [(r, lo, hi, b, row) for r, b, (lo, hi), row in rows[key] if r > 1]
        noise = all(lo <= 1 and (b is None or b <= 1.01) for r, lo, hi, b, _ in over)
        word = "met" if worst <= 1 else "met within noise" if noise else "MISSED"
        detail = "; ".join(f"{row} {r:.2f} [{lo:.2f}, {hi:.2f}]" for r, lo, hi, _, row in over)
        return f"{word} (worst ratio {worst:.2f}){': over 1, with 95% intervals: ' + detail if over else ''}{scope}"
    print(f"goal generated JAX <= jax.jit(value_and_grad) on every network at n={at}: {verdict('jax')}")
    print(f"     the generated program returning a tuple, as JAX's own: {verdict('tuple')}")
    print(f"goal generated torch <= torch.func.grad_and_value (eager) on every network at n={at}: {verdict('torch')}")
    print(f"goal torch.compile(generated torch) <= torch.compile(torch.func.grad_and_value) on every network at "
          f"n={at}: {verdict('compile')}")


if __name__ == "__main__":
    main()
