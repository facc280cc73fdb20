"""Expr -> its differential. One rule per node type; see DIFF_RULES.

A rule gets the node and `d`, the differential of a child, and returns the
node's differential, linear in the children's. The same table serves the whole
differential (`differential(F, wrt)`: `d` recurses down to dW) and the local
step of back-propagation (`d` of a child is the placeholder d(child)).
"""
from __future__ import annotations


from matdiff.language.algebra import (
    add, apply, const, diag_mat, diag_of, elementwise, hadamard, hadamard_pow, inner, inverse, kron, mat_pow, matmul, mul,
    neg, sub, sum_, trace, transpose, unvec, vec, zero_like,
)
from matdiff.language.shapes import shape_of
from matdiff.errors import DerivativeError
from matdiff.calculus.record import Step, identity
from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity, Inverse,
    Fn, Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Softmax, Sum, Trace, Transpose, Unvec, Var,
    Vec, Zero, postorder, children,
)

LEIBNIZ = {MatMul: matmul, Mul: mul, Hadamard: hadamard, Kron: kron}


def d_zero(e, d):
    """dC = 0 for a constant."""
    return zero_like(e)


def d_leibniz(e, d):
    """d(A B C) = dA B C + A dB C + A B dC   (matrix, scalar, elementwise and Kronecker products)"""
    build = LEIBNIZ[type(e)]
    return add(*(build(*e.args[:i], d(a), *e.args[i + 1:]) for i, a in enumerate(e.args)))


def d_add(e, d):
    """d(A + B) = dA + dB"""
    return add(*(d(a) for a in e.args))


def d_transpose(e, d):
    """d(A^T) = (dA)^T"""
    return transpose(d(e.arg))


def d_inverse(e, d):
    """d(X^-1) = -X^-1 dX X^-1"""
    return neg(matmul(e, d(e.arg), e))


def d_mat_pow(e, d):
    """d(X^k) = sum_i X^i dX X^(k-1-i)"""
    X, k = e.arg, int(e.k)
    dX = d(X)
    return add(*(matmul(mat_pow(i, X), dX, mat_pow(k - 1 - i, X)) for i in range(k)))


def d_hadamard_pow(e, d):
    """d(X .^ k) = k X .^ (k-1) ∘ dX"""
    return hadamard(mul(const(e.k), hadamard_pow(e.k - 1, e.arg)), d(e.arg))


def d_pow(e, d):
    """d(A .^ B) = B ∘ A .^ (B-1) ∘ dA + A .^ B ∘ log(A) ∘ dB   (for positive A; a scalar A or B broadcasts)"""
    A, B = e.args
    return add(elementwise(e, B, hadamard_pow(-1, A), d(A)), elementwise(e, apply(Fn("log"), A), d(B)))


def d_apply(e, d):
    """d f(Z) = f'(Z) ∘ dZ"""
    return hadamard(Apply(e.fn.derivative(), e.arg), d(e.arg))


def d_trace(e, d):
    """d tr(X) = tr(dX)"""
    return trace(d(e.arg))


def d_det(e, d):
    """d det(X) = det(X) tr(X^-1 dX)"""
    return mul(e, trace(matmul(inverse(e.arg), d(e.arg))))


def d_logdet(e, d):
    """d logdet(X) = tr(X^-1 dX)"""
    return trace(matmul(inverse(e.arg), d(e.arg)))


def d_sum(e, d):
    """d sum(X) = sum(dX)"""
    return sum_(d(e.arg))


def d_norm(e, d):
    """d ||X|| = tr(X^T dX) / ||X||"""
    return mul(hadamard_pow(-1, e), inner(e.arg, d(e.arg)))


def d_softmax(e, d):
    """d softmax(x) = s ∘ dx - s s^T dx,  s = softmax(x)"""
    dx = d(e.arg)
    return add(hadamard(e, dx), neg(matmul(e, transpose(e), dx)))


def d_logsumexp(e, d):
    """d logsumexp(x) = softmax(x)^T dx"""
    return matmul(transpose(Softmax(e.arg)), d(e.arg))


def batch_sum(axis: str, P: Expr) -> Expr:
    """The sums along the axis, spread back over it: P 1 1^T (each row's sum) for rows,
    1 1^T P (each column's sum) for cols."""
    r, c = shape_of(P)
    return matmul(P, Ones((c, c))) if axis == "rows" else matmul(Ones((r, r)), P)


def d_batch_softmax(e, d):
    """d softmax(Z, rows) = S ∘ dZ - ((S ∘ dZ) 1 1^T) ∘ S and d softmax(Z, cols) = S ∘ dZ - (1 1^T (S ∘ dZ)) ∘ S, S = softmax(Z, rows) or softmax(Z, cols)

    Each row's (column's) d s = s ∘ dz - s s^T dz; (S ∘ dZ) 1 1^T spreads each row's sum over it."""
    P = hadamard(e, d(e.arg))
    return sub(P, hadamard(batch_sum(e.axis, P), e))


def d_batch_logsumexp(e, d):
    """d logsumexp(Z, rows) = (softmax(Z, rows) ∘ dZ) 1 and d logsumexp(Z, cols) = 1^T (softmax(Z, cols) ∘ dZ)"""
    P = hadamard(BatchSoftmax(e.axis, e.arg), d(e.arg))
    r, c = shape_of(e.arg)
    return matmul(P, Ones((c, 1))) if e.axis == "rows" else matmul(transpose(Ones((r, 1))), P)


def softmax_along(e: LogSoftmax) -> Expr:
    """The softmax whose log e is: of the vector, or of each row or column."""
    return Softmax(e.arg) if e.axis == "vector" else BatchSoftmax(e.axis, e.arg)


def axis_of(e: LogSoftmax) -> str:
    """A vector's entries run along its column: its axis is that of cols."""
    return "cols" if e.axis == "vector" else e.axis


def d_log_softmax(e, d):
    """d logsoftmax(Z, rows) = dZ - (S ∘ dZ) 1 1^T and d logsoftmax(z) = dz - 1 1^T (s ∘ dz), S = softmax(Z, rows), s = softmax(z)"""
    dZ = d(e.arg)
    return sub(dZ, batch_sum(axis_of(e), hadamard(softmax_along(e), dZ)))


def d_unvec(e, d):
    """d unvec(x) = unvec(dx)"""
    return unvec(e.rows, e.cols, d(e.arg))


def linear(build, name):
    def rule(e, d):
        return build(d(e.arg))
    rule.__doc__ = f"d {name}(X) = {name}(dX)   ({name} is linear)"
    rule.__name__ = f"d_{name}"
    return rule


DIFF_RULES = {
    Const:        d_zero,
    Identity:     d_zero,
    Zero:         d_zero,
    Ones:         d_zero,
    Differential: d_zero,       # d(dX) = 0: dX is a constant direction
    Add:          d_add,
    Mul:          d_leibniz,
    MatMul:       d_leibniz,
    Hadamard:     d_leibniz,
    Kron:         d_leibniz,
    Pow:          d_pow,
    Transpose:    d_transpose,
    Inverse:      d_inverse,
    MatPow:       d_mat_pow,
    HadamardPow:  d_hadamard_pow,
    Apply:        d_apply,
    Trace:        d_trace,
    Det:          d_det,
    LogDet:       d_logdet,
    Sum:          d_sum,
    Norm:         d_norm,
    Softmax:      d_softmax,
    LogSumExp:    d_logsumexp,
    BatchSoftmax: d_batch_softmax,
    BatchLogSumExp: d_batch_logsumexp,
    LogSoftmax:   d_log_softmax,
    DiagMat:      linear(diag_mat, "diag"),
    DiagOf:       linear(diag_of, "diag"),
    Vec:          linear(vec, "vec"),
    Unvec:        d_unvec,
}


def depends_on(root: Expr, wrt) -> dict:
    """node -> whether it depends on any Var in wrt (a set of Vars)."""
    dep: dict = {}
    for e in postorder(root):
        dep[e] = e in wrt if isinstance(e, Var) else any(dep[c] for c in children(e))
    return dep


def local_differential(e: Expr, dep: dict) -> Expr:
    """e's differential in terms of its children's placeholders d(child) (0 for constants)."""
    return DIFF_RULES[type(e)](e, lambda c: Differential(c) if dep[c] else zero_like(c))


def differential(root: Expr, wrt, record=None) -> Expr:
    """The whole differential dF, linear in dW for each W in wrt (a set of Vars).
    With record (a callable), each rule application is reported as a record.Step."""
    dep = depends_on(root, wrt)
    memo: dict = {}
    for e in postorder(root):
        if not dep[e]:
            memo[e] = zero_like(e)
        elif isinstance(e, Var):
            memo[e] = Differential(e)
        else:
            try:
                rule = DIFF_RULES[type(e)]
            except KeyError:
                raise DerivativeError(f"no differential rule for {type(e).__name__}") from None
            memo[e] = rule(e, memo.__getitem__)
            if record is not None:
                record(Step(rule.__name__, identity(rule), e, memo[e]))
    return memo[root]
