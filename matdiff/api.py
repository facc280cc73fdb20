"""The public API (SPEC §3): text in, SymPy out. Each function runs the pipeline stages in order:

    text --parse--> Program --infer_shapes--> Shaped --problem--> steps over symbols, f inline
       --gradient (diff + canon, step by step)--> gradients --simplify--> text | SymPy | check
"""
from __future__ import annotations

from .checking import CheckReport
from .claims import check_claim
from .diff import differential as _differential
from .gradient import Gradient
from .gradient import derive_gradient as _derive_gradient
from .problem import Problem, understand
from .simplify import simplify

__all__ = ["understand", "derive_gradient", "gradient", "differential", "check"]


def derive_gradient(expr, wrt, shapes=None, functions=None) -> Gradient:
    """The gradients as matdiff's own expressions (the engine behind gradient() and `matdiff grad`)."""
    return _derive_gradient(Problem.of(expr, shapes, functions), wrt)


def gradient(expr, wrt, shapes=None, functions=None):
    """The gradient of a scalar function as a SymPy expression (a dict for a list of names).

    >>> import matdiff
    >>> matdiff.gradient("x^T A x", wrt="x")
    (A + A.T)*x
    """
    g = derive_gradient(expr, wrt, shapes, functions).sympy()
    return g[wrt] if isinstance(wrt, str) else g


def differential(expr, wrt=None, shapes=None, functions=None):
    """The differential as a SymPy expression; dA is the MatrixSymbol named dA.

    Without wrt, every variable varies: differential("inv(A)") is -A^-1 dA A^-1.
    """
    from .printing.to_sympy import to_sympy
    return to_sympy(derive_differential(expr, wrt, shapes, functions)[1])


def derive_differential(expr, wrt=None, shapes=None, functions=None):
    p = Problem.of(expr, shapes, functions)
    names = list(p.vars) if wrt is None else [wrt] if isinstance(wrt, str) else list(wrt)
    return p, simplify(_differential(p.f, {p.var(w) for w in names}))


def check(expr, wrt, shapes=None, functions=None, claim=None, seed: int = 0) -> CheckReport:
    """Check matdiff's gradient (or a claimed one) against finite differences at random inputs."""
    if claim is None:
        return derive_gradient(expr, wrt, shapes, functions).check(seed)
    return check_claim(expr, wrt, claim, shapes, functions, seed)
