"""The public API (SPEC §3): text in, SymPy out. Each function runs the pipeline stages in order:

    text --parse--> Program --infer_shapes--> Shaped --problem--> steps over symbols, f inline
       --gradient (diff + canon, step by step)--> gradients --simplify--> text | SymPy | check
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from matdiff.calculus.diff import differential as _differential
from matdiff.errors import MatdiffError
from matdiff.language.expr import Expr
from matdiff.calculus.gradient import Gradient, gradient_of
from matdiff.limits import budgeted
from matdiff.printing.latex import aligned, latex_name, program_latex, to_latex
from matdiff.language.problem import Problem, understand
from matdiff.calculus.second_order import DerivativeMatrix, hessian_of, jacobian_of
from matdiff.calculus.simplify import simplify

if TYPE_CHECKING:                                 # NumPy is loaded only when a check is asked for
    from matdiff.checking.check import CheckReport

__all__ = ["understand", "derive_gradient", "gradient", "differential", "check", "latex", "sheet",
           "derive_jacobian", "jacobian", "derive_hessian", "hessian", "computational_graph"]


@budgeted
def derive_gradient(expr, wrt, shapes=None, functions=None, syntax: str = "auto") -> Gradient:
    """The gradients as matdiff's own expressions (the engine behind gradient() and `matdiff grad`)."""
    return gradient_of(Problem.of(expr, shapes, functions, syntax), wrt)


@budgeted
def gradient(expr, wrt, shapes=None, functions=None, syntax: str = "auto"):
    """The gradient of a scalar function as a SymPy expression (a dict for a list of names).

    Every function that takes an expression takes syntax= too: "auto" (the default) reads a
    formula between $…$, $$…$$, \\(…\\) or \\[…\\] as LaTeX, anything else as matdiff's notation;
    "latex" reads LaTeX math with or without the dollars; "matdiff" only matdiff's notation.

    With respect to a matrix declared symmetric (shapes={"S": ("n", "n", "sym")} or "spd"), the
    gradient on the symmetric matrices, (G + G^T)/2 (README, "Symmetric matrices"). SymPy's
    MatrixSymbol S carries no symmetry: the result is right at symmetric values of S only.

    >>> import matdiff
    >>> matdiff.gradient("x^T A x", wrt="x")
    (A + A.T)*x
    """
    g = derive_gradient(expr, wrt, shapes, functions, syntax).sympy()
    return g[wrt] if isinstance(wrt, str) else g


@budgeted
def differential(expr, wrt=None, shapes=None, functions=None, syntax: str = "auto"):
    """The differential as a SymPy expression; dA is the MatrixSymbol named dA.

    Without wrt, every variable varies: differential("inv(A)") is -A^-1 dA A^-1.
    """
    from matdiff.printing.to_sympy import to_sympy
    return to_sympy(derive_differential(expr, wrt, shapes, functions, syntax)[1])


@budgeted
def derive_differential(expr, wrt=None, shapes=None, functions=None, syntax: str = "auto"):
    p = Problem.of(expr, shapes, functions, syntax)
    names = list(p.vars) if wrt is None else [wrt] if isinstance(wrt, str) else list(wrt)
    return p, simplify(_differential(p.f, {p.var(w) for w in names}))


@budgeted
def check(expr, wrt, shapes=None, functions=None, claim=None, seed: int = 0, syntax: str = "auto") -> CheckReport:
    """Check matdiff's gradient (or a claimed one) against finite differences at random inputs."""
    if claim is None:
        return derive_gradient(expr, wrt, shapes, functions, syntax).check(seed)
    from matdiff.claims import check_claim               # NumPy costs ~50 ms at start-up: load it when asked
    return check_claim(expr, wrt, claim, shapes, functions, seed, syntax)


@budgeted
def derive_jacobian(expr, wrt, shapes=None, functions=None, syntax: str = "auto") -> DerivativeMatrix:
    """The Jacobian as matdiff's own expression (the engine behind jacobian() and `matdiff jacobian`)."""
    return jacobian_of(Problem.of(expr, shapes, functions, syntax), wrt)


@budgeted
def jacobian(expr, wrt, shapes=None, functions=None, syntax: str = "auto"):
    """The Jacobian J with dvec(y) = J dvec(X) as a SymPy expression (a dict for a list of names):
    m x n for y in R^m and x in R^n; with respect to a matrix, vec of both (SPEC §3).

    >>> import matdiff
    >>> matdiff.jacobian("A x", wrt="x")
    A
    """
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    p = Problem.of(expr, shapes, functions, syntax)
    out = {w: jacobian_of(p, w).sympy() for w in names}
    return out[wrt] if isinstance(wrt, str) else out


@budgeted
def derive_hessian(expr, wrt, shapes=None, functions=None, diagonal: bool = False, syntax: str = "auto") -> DerivativeMatrix:
    """The Hessian (or its Becker–LeCun diagonal) as matdiff's own expression."""
    return hessian_of(Problem.of(expr, shapes, functions, syntax), wrt, diagonal)


@budgeted
def hessian(expr, wrt, shapes=None, functions=None, diagonal: bool = False, syntax: str = "auto"):
    """The Hessian of a scalar function as a SymPy expression (a dict for a list of names):
    n x n for a vector; for a matrix X the vec form, d²f = vec(dX)^T H vec(dX). The Jacobian
    of the gradient. diagonal=True gives d²f/dX_ij² shaped like X, back-propagated as Becker
    and LeCun do (exact for one layer; `derive_hessian(...).exact` says whether it is here).

    >>> import matdiff
    >>> matdiff.hessian("x^T A x", wrt="x")
    A + A.T
    """
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    p = Problem.of(expr, shapes, functions, syntax)
    out = {w: hessian_of(p, w, diagonal).sympy() for w in names}
    return out[wrt] if isinstance(wrt, str) else out


@budgeted
def sheet(expr, wrt, shapes=None, functions=None, notation: str = "diag", check: bool = False, syntax: str = "auto") -> str:
    """A step-by-step solution sheet deriving the gradient, as a standalone LaTeX document
    (`matdiff sheet`); notation "diag" writes Jacobians as diag(Phi'(z)), "hadamard" as Phi'(z) ∘ dz."""
    from matdiff.sheets.document import solution_sheet    # it brings NumPy (its --check): load it when asked
    return solution_sheet(Problem.of(expr, shapes, functions, syntax), wrt, notation, check)


@budgeted
def computational_graph(expr, wrt=None, shapes=None, functions=None, syntax: str = "auto", seed: int = 0):
    """The computational graph: the inputs and the auxiliary variables the solution sheet defines as
    nodes, an edge from each argument labelled with its operation, wrt highlighted; each node's value
    and adjoint df/dnode at the inputs the numerical check (seed) draws first. .svg(), .tikz(),
    .to_dict(); Jupyter shows it as SVG. (The package is matdiff.graph, hence the longer name.)

    >>> import matdiff
    >>> [n.id for n in matdiff.computational_graph("x^T A x", wrt="x").nodes]
    ['x', 'A', 'y']
    """
    from matdiff.graph import graph_of               # it brings NumPy (the values): load it when asked
    return graph_of(Problem.of(expr, shapes, functions, syntax), wrt, seed)


@budgeted
def latex(result, shapes=None, functions=None, syntax: str = "auto") -> str:
    """LaTeX of any result: a SymPy expression (via sympy.latex), a matdiff Expr or Gradient,
    a dict of results (one line each), or the text of an expression (as matdiff understands it).

    >>> import matdiff
    >>> matdiff.latex(matdiff.derive_gradient("x^T A x", wrt="x").inlined["x"])
    '(A + A^{\\\\top}) \\\\, x'
    """
    if isinstance(result, (Gradient, DerivativeMatrix)):
        return aligned(result.latex_lines())
    if isinstance(result, Expr):
        return to_latex(result)
    if isinstance(result, dict):
        return aligned([(rf"\nabla_{{{latex_name(str(k))}}}", latex(v)) for k, v in result.items()])
    if isinstance(result, str):
        return program_latex(understand(result, shapes, functions, syntax))
    import sympy                              # SymPy costs half a second: load it when asked
    if isinstance(result, sympy.Basic):
        from matdiff.printing.sympy_latex import sympy_latex
        return sympy_latex(result)
    raise MatdiffError(f"latex() takes a result of matdiff (a SymPy expression, an Expr, a Gradient, "
                       f"a dict of them) or an expression's text, got {type(result).__name__}")
