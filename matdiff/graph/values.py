"""Every node's value and adjoint ∂f/∂node at the numerical check's random inputs.

The inputs are the first the check draws (checking/sampling.Draws with the same seed: the same
sizes, the same normal draws, drawn again where f is not finite). The values run forward through
the equations; the adjoints run backward through them, exactly (not finite differences): each
equation sym = rhs passes the adjoint of sym to its arguments by matdiff's own reverse mode over
rhs (canon.backprop, seeded with a placeholder symbol for sym's adjoint), evaluated with NumPy.
A node declared or derived symmetric lives in the symmetric matrices: its adjoint is sym(G), as
matdiff's gradient with respect to a symmetric input is.
"""
from __future__ import annotations

import numpy as np

from matdiff.calculus.canon import backprop
from matdiff.checking.numeric import Env, evaluate, evaluate_many
from matdiff.checking.sampling import Draws
from matdiff.language.expr import Var, postorder
from matdiff.language.problem import Problem
from matdiff.limits import tick

SEED_NAME = "\N{GREEK CAPITAL LETTER DELTA}adjoint"     # no user name can be this: it holds the adjoint passed on


def draw_inputs(p: Problem, seed: int = 0) -> tuple:
    """(values {name: 2-D array}, dims {dimension: size}): the inputs the check draws first."""
    rng = np.random.default_rng(seed)
    draws = Draws(p.shaped, (p.f,), rng)
    values = draws.find(lambda values, dims: values, (p.f,))
    return values, dict(draws.dims)


def forward(eqs: list, values: dict, dims: dict) -> dict:
    """{name: value} for the inputs and every equation's symbol, in order."""
    env = Env(dict(values), dims)
    for sym, rhs in eqs:
        tick()
        env.values[sym.name] = evaluate(rhs, env)
    return env.values


def adjoints(eqs: list, values: dict, dims: dict) -> dict:
    """{name: ∂f/∂name} for every symbol and input, f the last equation's (scalar) symbol."""
    out_sym = eqs[-1][0]
    adj = {out_sym.name: np.ones((1, 1))}
    env = Env(dict(values), dims)
    structured = {}
    for sym, rhs in reversed(eqs):
        tick()
        A = adj.get(sym.name)
        if A is None:
            continue
        if sym.structure:
            A = adj[sym.name] = (A + A.T) / 2
        args = list(dict.fromkeys(n for n in postorder(rhs) if isinstance(n, Var)))
        for a in args:
            adj.setdefault(a.name, np.zeros_like(values[a.name], dtype=float))
            if a.structure:
                structured[a.name] = True
        if not np.any(A):
            continue
        got = backprop(rhs, args, seed=Var(SEED_NAME, sym.shape))
        env.values[SEED_NAME] = A
        for a, g in zip(got, evaluate_many(list(got.values()), env)):
            adj[a.name] = adj[a.name] + np.broadcast_to(g, adj[a.name].shape)
    for name in structured:                      # the inputs that are symmetric: sym(G)
        if name not in {s.name for s, _ in eqs}:
            adj[name] = (adj[name] + adj[name].T) / 2
    return adj


def summary(a) -> str:
    """A short text of a value: a number, a small vector or matrix rounded to 3 significant digits,
    the shape and the first entries of a big one."""
    a = np.asarray(a, dtype=float)
    if a.size == 1:
        return _num(a.flat[0])
    r, c = a.shape
    if c == 1 or r == 1:
        v = a.ravel()
        if v.size <= 6:
            return "[" + ", ".join(map(_num, v)) + "]"
        return f"{v.size}-vector [" + ", ".join(map(_num, v[:4])) + ", …]"
    if r <= 4 and c <= 4:
        return "[" + "; ".join(", ".join(map(_num, row)) for row in a) + "]"
    rows = "; ".join(", ".join(map(_num, row[:3])) + (", …" if c > 3 else "") for row in a[:2])
    return f"{r}×{c} matrix [{rows}; …]"


def _num(x: float) -> str:
    if not np.isfinite(x):
        return str(x)
    s = f"{x:.3g}"
    return "0" if s == "-0" else s


__all__ = ["draw_inputs", "forward", "adjoints", "summary"]
