"""How the cost of a derivation grows with depth: derive_gradient + text() for L = 2 ... 128.

    python benchmarks/derivation.py            # the table, then t(64)/t(8) per family
    python benchmarks/derivation.py --max 64   # stop at 64 layers

Families (each a program; steps stay named, so the result is back-propagation):
  mlp-W0   L-layer tanh MLP, gradient with respect to the first weight matrix only
           (the cotangent runs through every layer without a second user)
  mlp-all  the same MLP, gradients with respect to every W_i
  res      residual chain h_{i+1} = tanh(W h_i) + h_i with one shared W (each h_i used twice)

Goals (issue 6): time and printed size linear in L (t(64)/t(8) <= 12); 64 layers < 1 s.
Goals (issue 17): the 1,000-layer MLP (mlp-W0 and mlp-all) in under a second; `matdiff grad` on
the seed problem under 0.2 s from a cold process (a new interpreter each time, timed from outside,
against `python -c pass` measured in the same run).
Each time is the best of --repeat runs, with the first (import, caches) discarded.

    python benchmarks/derivation.py --max 64 --deep 1000 --cold 20
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

from matdiff.api import derive_gradient


def mlp(L: int) -> str:
    lines = ["h1 = tanh(W0 x + b0)"]
    lines += [f"h{i + 1} = tanh(W{i} h{i} + b{i})" for i in range(1, L)]
    lines.append(f"J = 1/2 ||h{L} - t||^2")
    return "\n".join(lines)


def residual(L: int) -> str:
    lines = ["h1 = tanh(W x) + x"]
    lines += [f"h{i + 1} = tanh(W h{i}) + h{i}" for i in range(1, L)]
    lines.append(f"J = c^T h{L}")
    return "\n".join(lines)


FAMILIES = {
    "mlp-W0": (mlp, lambda L: "W0"),
    "mlp-all": (mlp, lambda L: [f"W{i}" for i in range(L)]),
    "res": (residual, lambda L: "W"),
}


def timed(src: str, wrt, repeat: int) -> tuple:
    best = float("inf")
    size = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        g = derive_gradient(src, wrt)
        text = g.text()
        best = min(best, time.perf_counter() - t0)
        size = len(text)
    return best, size


SEED = ["grad", "c^T Psi((W + V) Phi(W x + b))", "--wrt", "W"]


def cold(runs: int) -> tuple:
    """Best wall time of `matdiff grad` on the seed problem and of `python -c pass`, each in a new
    process, alternating (so that both see the same machine). The installed console script when
    it is beside this interpreter, else `python -m matdiff`."""
    script = os.path.join(os.path.dirname(sys.executable), "matdiff")
    command = [script, *SEED] if os.path.exists(script) else [sys.executable, "-m", "matdiff", *SEED]
    best = {"matdiff": float("inf"), "python": float("inf")}
    for _ in range(runs):
        for name, cmd in (("matdiff", command), ("python", [sys.executable, "-c", "pass"])):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best["matdiff"], best["python"], " ".join(command[:1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--deep", type=int, default=1000, help="the deep MLP's layers (0: skip)")
    ap.add_argument("--cold", type=int, default=20, help="cold-start runs (0: skip)")
    a = ap.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python "
          f"{platform.python_version()}; load average {os.getloadavg()[0]:.2f}")
    Ls = [L for L in (2, 4, 8, 16, 32, 64, 128) if L <= a.max]
    derive_gradient(mlp(2), "W0")                               # warm up imports
    results: dict = {}
    print(f"{'family':<8} {'L':>4} {'time (ms)':>10} {'chars':>7} {'ms/layer':>9} {'chars/layer':>11}")
    for name, (make, wrt) in FAMILIES.items():
        for L in Ls:
            t, size = timed(make(L), wrt(L), a.repeat)
            results[name, L] = (t, size)
            print(f"{name:<8} {L:>4} {1000 * t:>10.1f} {size:>7} {1000 * t / L:>9.2f} {size / L:>11.1f}")
        print()
    print("goals: t(64)/t(8) <= 12 and t(64) < 1 s")
    for name in FAMILIES:
        if (name, 64) in results and (name, 8) in results:
            (t8, s8), (t64, s64) = results[name, 8], results[name, 64]
            ok = t64 / t8 <= 12 and t64 < 1
            print(f"  {name:<8} t(64)/t(8) = {t64 / t8:5.2f}   size(64)/size(8) = {s64 / s8:5.2f}   "
                  f"t(64) = {1000 * t64:6.1f} ms   {'met' if ok else 'MISSED'}")
    if a.deep:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
        print(f"\ngoal: the {a.deep}-layer MLP in under a second (derive_gradient + text)")
        for name in ("mlp-W0", "mlp-all"):
            make, wrt = FAMILIES[name]
            t, size = timed(make(a.deep), wrt(a.deep), a.repeat)
            print(f"  {name:<8} L = {a.deep}: {1000 * t:7.1f} ms, {size} characters   {'met' if t < 1 else 'MISSED'}")
    if a.cold:
        t, base, how = cold(a.cold)
        print(f"\ngoal: `matdiff grad` on the seed problem under 0.2 s from a cold process (best of {a.cold}, {how})")
        print(f"  matdiff grad {1000 * t:6.1f} ms   python -c pass {1000 * base:6.1f} ms   "
              f"matdiff's own {1000 * (t - base):6.1f} ms   {'met' if t < 0.2 else 'MISSED'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
