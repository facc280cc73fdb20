"""Differential -> Jacobian in the vec convention; Hessian = Jacobian of the gradient. JACOBIAN_RULES.

A rule gets a node E of a differential (E is linear in dX) and returns the matrix
J_E with vec(E) = J_E vec(dX), from the Jacobian of E's one child that holds dX:
vec(A E B) = (B^T ⊗ A) vec(E), vec(P ∘ E) = diag(vec P) vec(E), vec(E^T) = K vec(E).
These are the forward-mode twins of canon.PULLBACK_RULES (which read off g in
Tr(g^T dX)); scalar sub-expressions such as tr(A dX) go through the pull-back.

The Hessian of a scalar f is not a second calculus: it is the Jacobian of f's
gradient G, dvec(G) = H vec(dX), so that d²f = vec(dX)^T H vec(dX) (SPEC §3).
The commutation matrix K, vec and the Kronecker identities are in calculus/kronecker.py.
"""
from __future__ import annotations

from matdiff.language.algebra import ONE, add, diag_mat, hadamard, kron, matmul, mul, transpose, zero
from matdiff.calculus.canon import backprop, pullback
from matdiff.calculus.diff import differential
from matdiff.errors import DerivativeError
from matdiff.language.expr import (
    Add, Differential, DiagMat, DiagOf, Expr, Hadamard, Identity, Kron, MatMul, Mul, Ones, Sum, Trace,
    Transpose, Unvec, Var, Vec, Zero, children, postorder,
)
from matdiff.calculus.kronecker import commutation, diag_selector, kron2, simplify_jacobian, size, vec_of
from matdiff.limits import tick
from matdiff.language.shapes import is_scalar, prod, shape_of
from matdiff.calculus.simplify import simplify


# ---- the rules: node of the differential -> its Jacobian -----------------------------------------

class Context:
    """What a rule needs: the Jacobian of a child (ctx.J) and which children hold dX."""

    def __init__(self, X: Var, memo: dict, has: dict):
        self.X, self.memo, self.has = X, memo, has
        self.N = size(X)

    def J(self, e: Expr) -> Expr:
        return self.memo[e] if e in self.memo else jacobian_of_linear(e, self.X)

    def linear_factor(self, e: Expr) -> int:
        idx = [i for i, a in enumerate(e.args) if self.has.get(a, True)]
        if len(idx) != 1:
            raise DerivativeError(f"internal: {e} is not linear in one factor")
        return idx[0]


def j_differential(e, ctx):  # vec(dX) = I vec(dX)
    if e.of != ctx.X:
        raise DerivativeError(f"internal: d{e.of} in a Jacobian with respect to {ctx.X.name}")
    return Identity(ctx.N)


def j_add(e, ctx):           # vec(A + B) = vec A + vec B
    return add(*(ctx.J(a) for a in e.args if ctx.has.get(a, True)))


def j_matmul(e, ctx):        # vec(A E B) = (B^T ⊗ A) vec(E)
    i = ctx.linear_factor(e)
    E = e.args[i]
    r, c = shape_of(E)
    A = matmul(*e.args[:i]) if i > 0 else Identity(r)
    B = matmul(*e.args[i + 1:]) if i + 1 < len(e.args) else Identity(c)
    return matmul(kron2(transpose(B), A), ctx.J(E))


def j_mul(e, ctx):           # vec(s E) = s vec(E);  vec(P e) = vec(P) e for a scalar e
    i = ctx.linear_factor(e)
    E, rest = e.args[i], e.args[:i] + e.args[i + 1:]
    if is_scalar(E) and not is_scalar(e):
        return matmul(vec_of(mul(*rest)), ctx.J(E))
    return mul(*rest, ctx.J(E))


def j_hadamard(e, ctx):      # vec(P ∘ E) = diag(vec P) vec(E)
    i = ctx.linear_factor(e)
    P = hadamard(*(e.args[:i] + e.args[i + 1:]))
    JE = ctx.J(e.args[i])
    return JE if isinstance(P, Ones) else matmul(diag_mat(vec_of(P)), JE)


def j_transpose(e, ctx):     # vec(E^T) = K_{r,c} vec(E)
    r, c = shape_of(e.arg)
    return matmul(commutation(r, c), ctx.J(e.arg))


def j_scalar(e, ctx):        # <1, s> = <g, dX>  =>  ds = vec(g)^T vec(dX)   (tr, sum: via the pull-back)
    try:
        parts = pullback(ONE, e)
    except DerivativeError:
        r, c = shape_of(e.arg)
        row = transpose(vec_of(Identity(r))) if isinstance(e, Trace) else Ones((1, prod(r, c)))
        return matmul(row, ctx.J(e.arg))       # tr(E) = vec(I)^T vec(E);  sum(E) = 1^T vec(E)
    g = add(*(g for v, g in parts if v == ctx.X))
    return transpose(vec_of(g))


def j_diag_mat(e, ctx):      # vec(diag(v)) = D_n v
    return matmul(diag_selector(shape_of(e)[0]), ctx.J(e.arg))


def j_diag_of(e, ctx):       # diag(E) = D_n^T vec(E)
    return matmul(transpose(diag_selector(shape_of(e)[0])), ctx.J(e.arg))


def j_reshape(e, ctx):       # vec(vec(E)) = vec(E);  vec(unvec(e)) = e
    return ctx.J(e.arg)


def j_kron(e, ctx):
    """vec(A ⊗ B) = (I_q ⊗ K_{s,p} ⊗ I_r)(vec A ⊗ vec B) for A p x q, B r x s (Magnus & Neudecker),
    and vec A ⊗ vec E = (vec A ⊗ I) vec E,  vec E ⊗ vec B = (I ⊗ vec B) vec E."""
    i = ctx.linear_factor(e)
    if i > 0:
        A, B = kron(*e.args[:i]), kron(*e.args[i:])
    else:
        A, B = e.args[0], kron(*e.args[1:])
    (p, q), (r, s) = shape_of(A), shape_of(B)
    perm = kron2(kron2(Identity(q), commutation(s, p)), Identity(r))
    if i > 0:
        inner = kron2(vec_of(A), Identity(size(B)))
        return matmul(perm, inner, ctx.J(B))
    return matmul(perm, kron2(Identity(size(A)), vec_of(B)), ctx.J(A))


def j_zero(e, ctx):          # vec(0) = 0 vec(dX)
    return zero((size(e), ctx.N))


JACOBIAN_RULES = {
    Differential: j_differential,
    Zero:         j_zero,
    Add:          j_add,
    MatMul:       j_matmul,
    Mul:          j_mul,
    Hadamard:     j_hadamard,
    Kron:         j_kron,
    Transpose:    j_transpose,
    Trace:        j_scalar,
    Sum:          j_scalar,
    DiagMat:      j_diag_mat,
    DiagOf:       j_diag_of,
    Vec:          j_reshape,
    Unvec:        j_reshape,
}


def jacobian_of_linear(dY: Expr, X: Var) -> Expr:
    """J with vec(dY) = J vec(dX), for dY linear in dX (a differential). Runs once over the DAG."""
    has: dict = {}
    for e in postorder(dY):
        has[e] = isinstance(e, Differential) or any(has[c] for c in children(e))
    memo: dict = {}
    ctx = Context(X, memo, has)
    for e in postorder(dY):
        if not has[e]:
            continue
        tick()                   # a Hessian's J can grow quadratically in the depth: keep to the limit
        try:
            rule = JACOBIAN_RULES[type(e)]
        except KeyError:
            raise DerivativeError(f"no Jacobian rule for {type(e).__name__} ({e})") from None
        memo[e] = rule(e, ctx)
    if not has[dY]:
        return zero((size(dY), size(X)))
    return memo[dY]


# ---- the whole: J of an expression (a Hessian is the J of a gradient: second_order.py) -------

def jacobian_expr(y: Expr, X: Var, gradient: Expr | None = None) -> Expr:
    """J = dvec(y)/dvec(X), size(y) x size(X). For a scalar y, J = vec(∇y)^T (pass the gradient
    if it is known: the one matdiff prints reads best)."""
    if is_scalar(y):
        if gradient is None:
            gradient = backprop(y, [X])[X]
        return simplify_jacobian(transpose(vec_of(simplify(gradient))))
    return simplify_jacobian(jacobian_of_linear(differential(y, {X}), X))
