"""Problem -> Jacobian or Hessian (vec convention, SPEC §3), as text, SymPy and checked.

jacobian_of: J with dvec(y) = J dvec(X) (jacobian.jacobian_expr over the function inline).
hessian_of:  H = the Jacobian of the gradient that gradient_of finds, so that
             d²f = vec(dX)^T H vec(dX); with diagonal=True the Becker–LeCun diagonal
             (curvature.diagonal_hessian), shaped like X.
(api.derive_jacobian and api.derive_hessian are the same from the text of a function.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from matdiff.calculus.curvature import diagonal_hessian
from matdiff.errors import DerivativeError, MatdiffError
from matdiff.language.expr import Const, Expr, Identity
from matdiff.calculus.gradient import _used_names, auto_names, gradient_of, sympy_form
from matdiff.calculus.jacobian import jacobian_expr
from matdiff.limits import budgeted
from matdiff.calculus.kronecker import (
    commutation, commutation_names, is_commutation, simplify_jacobian,
)
from matdiff.language.algebra import add, matmul, mul
from matdiff.printing.text import to_text
from matdiff.language.problem import Problem
from matdiff.language.shapes import prod, shape_of

if TYPE_CHECKING:                                 # NumPy is loaded only when a check is asked for
    from matdiff.checking.check import CheckReport


@dataclass
class DerivativeMatrix:
    """A Jacobian, a Hessian or a Hessian's diagonal of one function with respect to one variable."""
    problem: Problem
    wrt: str
    kind: str                       # "jacobian" | "hessian" | "diagonal"
    matrix: Expr                    # J, H, or the diagonal D (shaped like the variable)
    gradient: Expr | None = None    # the gradient a Hessian differentiates
    exact: bool = True              # diagonal: is the approximation the exact diagonal here
    names: dict = field(default_factory=dict)

    @property
    def symbol(self) -> str:
        return {"jacobian": "J", "hessian": "H", "diagonal": "diag H"}[self.kind]

    @budgeted
    def text(self) -> str:
        """Auxiliary names used, then `J = ...`; commutation matrices print as K_{m,n}."""
        names = {**self.names, **commutation_names(self.matrix)}
        lines = [f"{n} = {to_text(e, names)}" for e, n in self.names.items() if _uses(self.matrix, e)]
        lines.append(f"{self.symbol} = {self.formula()}")
        lines += [f"{k}: the commutation matrix, {k} vec(A) = vec(A^T)" for k in
                  commutation_names(self.matrix).values()]
        if getattr(self.problem.var(self.wrt), "structure", ""):
            w = self.wrt
            what = f"d²f = vec(d{w})^T H vec(d{w})" if self.kind == "hessian" else f"dvec(y) = J vec(d{w})"
            lines.append(f"({w} is declared symmetric: {self.symbol} is taken on the symmetric matrices, "
                         f"{what} for every symmetric d{w}, and {self.symbol} vec(A) = 0 for an antisymmetric A)")
        if self.kind == "diagonal":
            w = self.wrt
            lines.append(f"(∂²f/∂{w}_ij² for every entry of {w}, back-propagated as Becker and LeCun do: "
                         + ("exact here)" if self.exact else
                            "an approximation here: off-diagonal second derivatives are neglected)"))
        return "\n".join(lines)

    @budgeted
    def formula(self) -> str:
        """The right-hand side as text: `diag(tanh'(W x)) W`, `-K_{n,n} (X^-T ⊗ X^-1)`."""
        names = {**self.names, **commutation_names(self.matrix)}
        return names[self.matrix] if self.matrix in names else to_text(self.matrix, names)

    @budgeted
    def latex_lines(self) -> list:
        """The lines of text() as LaTeX (left side, right side) pairs."""
        from matdiff.printing.latex import latex_dim, latex_name, to_latex
        ks = {k: "K" if len(commutation_names(self.matrix)) == 1 else f"K{i + 1}"
              for i, k in enumerate(commutation_names(self.matrix))}
        names = {**self.names, **ks}
        lines = [(latex_name(n), to_latex(e, names)) for e, n in self.names.items() if _uses(self.matrix, e)]
        lhs = {"jacobian": "J", "hessian": "H",
               "diagonal": rf"\operatorname{{diag}} H_{{{latex_name(self.wrt)}}}"}[self.kind]
        body = latex_name(names[self.matrix]) if self.matrix in names else to_latex(self.matrix, names)
        lines.append((lhs, body))
        for k, n in ks.items():
            m, q = is_commutation(k)
            lines.append((latex_name(n), rf"K_{{{latex_dim(m)},{latex_dim(q)}}}\text{{, the commutation matrix: }}"
                          rf"{latex_name(n)} \operatorname{{vec}}(A) = \operatorname{{vec}}(A^{{\top}})"))
        return lines

    def _repr_latex_(self) -> str:
        from matdiff.printing.latex import aligned
        return "$$" + aligned(self.latex_lines()) + "$$"

    @budgeted
    def sympy(self):
        from matdiff.printing.to_sympy import to_sympy   # SymPy costs half a second: load it when asked
        return to_sympy(sympy_form(self.matrix))        # vec and unvec included: to_sympy writes them out

    @budgeted
    def check(self, seed: int = 0) -> CheckReport:
        from matdiff.checking.check import check_hessian, check_hessian_diagonal, check_jacobian   # NumPy: when asked
        p = self.problem
        X = p.var(self.wrt)           # an input that cancels (A^0) is still an input
        if self.kind == "jacobian":
            return check_jacobian(p.f, self.matrix, X, p.shaped, seed)
        if self.kind == "hessian":
            return check_hessian(p.f, self.gradient, self.matrix, X, p.shaped, seed)
        return check_hessian_diagonal(p.f, self.matrix, X, p.shaped, self.exact, seed)


def _uses(root: Expr, e: Expr) -> bool:
    from matdiff.language.expr import postorder
    return e in postorder(root)


def _one_name(wrt) -> str:
    if not isinstance(wrt, str):
        raise MatdiffError(f"wrt= names one variable here, got {wrt!r}")
    return wrt


def jacobian_of(p: Problem, wrt: str) -> DerivativeMatrix:
    """J with dvec(y) = J dvec(X): m x n for y in R^m and x in R^n; a scalar y gives 1 x n."""
    X = p.var(_one_name(wrt))
    grad = gradient_of(p, wrt).inlined[wrt] if shape_of(p.f) == (1, 1) else None
    J = jacobian_expr(p.f, X, grad)
    if grad is None:                # a scalar's J is vec(grad)^T, its gradient already symmetric
        J = on_symmetric(J, X)
    return DerivativeMatrix(p, wrt, "jacobian", J, names=_names(p, J))


def hessian_of(p: Problem, wrt: str, diagonal: bool = False) -> DerivativeMatrix:
    """H = dvec(G)/dvec(X) for the gradient G of a scalar f: d²f = vec(dX)^T H vec(dX).
    With diagonal=True, the entries ∂²f/∂X_ij² shaped like X (Becker–LeCun, see curvature.py)."""
    p.require_scalar("Hessian")
    X = p.var(_one_name(wrt))
    if diagonal and X.structure:
        raise DerivativeError(f"the Hessian's diagonal with respect to {wrt}, declared symmetric, is not "
                              f"defined (S_ij and S_ji are one entry); ask for the whole Hessian (it is "
                              f"taken on the symmetric matrices), or declare {wrt} without sym/spd")
    if diagonal:
        D, exact = diagonal_hessian(p.f, X)
        return DerivativeMatrix(p, wrt, "diagonal", D, exact=exact, names=_names(p, D))
    G = gradient_of(p, wrt).inlined[wrt]
    try:
        H = on_symmetric(jacobian_expr(G, X), X)
    except DerivativeError as e:
        raise DerivativeError(f"the Hessian: {e}") from None
    return DerivativeMatrix(p, wrt, "hessian", H, gradient=G, names=_names(p, H))


def on_symmetric(J: Expr, X) -> Expr:
    """With respect to a matrix declared symmetric (or spd), J P with P = (I + K_{n,n})/2, the
    projection of vec(dX) onto the symmetric matrices: the same J vec(dX) for every symmetric dX,
    zero on the antisymmetric ones. For a Hessian, H = P H P (the gradient is already sym(G), so
    its Jacobian has P on the left), symmetric, and d²f = vec(dX)^T H vec(dX) for symmetric dX:
    the Hessian on the space of symmetric matrices, as the gradient is sym(G) (README)."""
    if not getattr(X, "structure", ""):
        return J
    n = shape_of(X)[0]
    P = mul(Const(Fraction(1, 2)), add(Identity(prod(n, n)), commutation(n, n)))
    return simplify_jacobian(matmul(J, P))


def _names(p: Problem, M: Expr) -> dict:
    """Names for parts of the result, innermost first: a program's own steps (h = tanh(z)),
    else the sheets' auxiliary names (z0, z1, ...) for what the result repeats; never a K."""
    names = {p.inline[sym]: sym.name for sym, _ in p.steps} if p.steps else auto_names(p.f, [M])
    return dict(_used_names([M], {e: n for e, n in names.items() if not is_commutation(e)}))
