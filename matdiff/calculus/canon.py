"""Differential -> trace form Tr(g^T dW); back-propagation over the DAG. PULLBACK_RULES.

Write <M, E> for Tr(M^T E). A pull-back rule moves one layer of the linear
expression E onto the cotangent M with one trace identity; when E is a
placeholder dX, M is X's share of the gradient: df = Tr(M^T dX). These are
JAX's transpose rules written as trace algebra; the first line of each rule's
docstring is its identity, which the solution sheets quote (record.identity).
Inverse, Apply, ... have no rule on purpose: inside a differential they are
constant coefficients.
"""
from __future__ import annotations

from matdiff.language.algebra import (
    ONE, add, diag_mat, diag_of, hadamard, inner, kron, matmul, mul, sum_, trace, transpose, unvec, vec,
)
from matdiff.calculus.diff import depends_on, local_differential
from matdiff.errors import DerivativeError
from matdiff.calculus.record import Step, identity
from matdiff.language.expr import (
    Add, Differential, DiagMat, DiagOf, Expr, Hadamard, Identity, Kron, MatMul, Mul, Ones, Sum, Trace,
    Transpose, Unvec, Var, Vec, Zero, postorder,
)
from matdiff.language.shapes import is_scalar, shape_of


def has_differential(e: Expr) -> bool:
    return any(isinstance(n, Differential) for n in postorder(e))


def linear_factor(e: Expr) -> int:
    """The index of the one factor of a product that holds the differential."""
    idx = [i for i, a in enumerate(e.args) if has_differential(a)]
    if len(idx) != 1:
        raise DerivativeError(f"internal: {e} is not linear in one factor")
    return idx[0]


def pb_add(M, e, pb):
    """<M, A + B> = <M, A> + <M, B>   (linearity of the trace)"""
    for a in e.args:
        pb(M, a)


def pb_matmul(M, e, pb):
    """<M, A E B> = <A^T M B^T, E>   (cyclic: Tr(M^T A E B) = Tr(B M^T A E))"""
    i = linear_factor(e)
    A, B = e.args[:i], e.args[i + 1:]
    pb(matmul(*(transpose(a) for a in reversed(A)), M, *(transpose(b) for b in reversed(B))), e.args[i])


def pb_mul(M, e, pb):
    """<M, s E> = <s M, E>;  <M, ds P> = ds <M, P>   (scalars move freely)"""
    i = linear_factor(e)
    rest = e.args[:i] + e.args[i + 1:]
    if is_scalar(e.args[i]) and not is_scalar(e):
        pb(inner(M, mul(*rest)), e.args[i])
    else:
        pb(mul(*rest, M), e.args[i])


def pb_hadamard(M, e, pb):
    """<M, P ∘ E> = <P ∘ M, E>   (Frobenius/Hadamard swap)"""
    i = linear_factor(e)
    pb(hadamard(*e.args[:i], *e.args[i + 1:], M), e.args[i])


def pb_transpose(M, e, pb):
    """<M, E^T> = <M^T, E>   (Tr X = Tr X^T)"""
    pb(transpose(M), e.arg)


def pb_trace(M, e, pb):
    """<m, tr(E)> = <m I, E>   (m is 1x1)"""
    pb(mul(M, Identity(shape_of(e.arg)[0])), e.arg)


def pb_sum(M, e, pb):
    """<m, sum(E)> = <m 1 1^T, E>"""
    pb(mul(M, Ones(shape_of(e.arg))), e.arg)


def pb_diag_mat(M, e, pb):
    """<M, diag(e)> = <diag(M), e>"""
    pb(diag_of(M), e.arg)


def pb_diag_of(M, e, pb):
    """<m, diag(E)> = <diag(m), E>"""
    pb(diag_mat(M), e.arg)


def pb_vec(M, e, pb):
    """<m, vec(E)> = <unvec(m), E>"""
    r, c = shape_of(e.arg)
    pb(unvec(r, c, M), e.arg)


def pb_unvec(M, e, pb):
    """<M, unvec(e)> = <vec(M), e>"""
    pb(vec(M), e.arg)


def _kron1(a, b):
    """a ⊗ b without a 1x1 factor (1 ⊗ B = B): the block-sum selectors below for p = 1 or m = 1."""
    return b if shape_of(a) == (1, 1) else a if shape_of(b) == (1, 1) else kron(a, b)


def _scaled(M: Expr) -> tuple:
    """s A -> ((s,), A)"""
    if isinstance(M, Mul) and not is_scalar(M):
        return M.args[:-1], M.args[-1]
    return (), M


def pb_kron(M, e, pb):
    """<M, A ⊗ E> = <(1^T ⊗ I) ((A ⊗ 1 1^T) ∘ M) (1 ⊗ I), E>;  <M, E ⊗ B> = <(I ⊗ 1^T) (M ∘ (1 1^T ⊗ B)) (I ⊗ 1), E>   (block sums)

    For A p x q and E m x n, M_ij is the m x n block (i, j) of M: (A ⊗ 1 1^T) ∘ M scales
    block (i, j) by A_ij, and 1_p^T ⊗ I_m, 1_q ⊗ I_n add up the blocks. With E on the left
    (E p x q, B m x n), (I_p ⊗ 1_m^T) (M ∘ (1 1^T ⊗ B)) (I_q ⊗ 1_n) sums each block of M ∘ B.
    Special forms: <s I, A ⊗ E> = <s tr(A) I, E> (A, E square); <s 1 1^T, A ⊗ E> =
    <s sum(A) 1 1^T, E>; for columns, a ⊗ e = vec(e a^T) and e ⊗ b = vec(b e^T), so the
    gradient is unvec(M) a, resp. unvec(M)^T b. A 1x1 factor is a scalar: <M, s ⊗ E> = <s M, E>."""
    i = linear_factor(e)
    if i > 0:                                    # A ⊗ E, E = the factors from the differential on
        A, E, left = kron(*e.args[:i]), kron(*e.args[i:]), True
    else:                                        # E ⊗ B
        E, A, left = e.args[0], kron(*e.args[1:]), False
    (p, q), (m, n) = shape_of(A), shape_of(E)    # A is the constant factor, either side
    if (p, q) == (1, 1):
        return pb(mul(A, M), E)
    if (m, n) == (1, 1):
        return pb(inner(M, A), E)
    s, body = _scaled(M)
    if isinstance(body, Identity) and p == q and m == n:
        return pb(mul(*s, trace(A), Identity(m)), E)
    if isinstance(body, Ones):
        return pb(mul(*s, sum_(A), Ones((m, n))), E)
    if q == 1 and n == 1:
        U = unvec(m, p, M) if left else unvec(p, m, M)
        return pb(matmul(U, A) if left else matmul(transpose(U), A), E)
    if left:
        weighted = hadamard(kron(A, Ones((m, n))), M)
        pb(matmul(_kron1(Ones((1, p)), Identity(m)), weighted, _kron1(Ones((q, 1)), Identity(n))), E)
    else:
        weighted = hadamard(M, kron(Ones((m, n)), A))
        pb(matmul(_kron1(Identity(m), Ones((1, p))), weighted, _kron1(Identity(n), Ones((q, 1)))), E)


def pb_zero(M, e, pb):
    """<M, 0> = 0"""


PULLBACK_RULES = {
    Add:       pb_add,
    MatMul:    pb_matmul,
    Mul:       pb_mul,
    Hadamard:  pb_hadamard,
    Transpose: pb_transpose,
    Trace:     pb_trace,
    Sum:       pb_sum,
    DiagMat:   pb_diag_mat,
    DiagOf:    pb_diag_of,
    Vec:       pb_vec,
    Unvec:     pb_unvec,
    Kron:      pb_kron,
    Zero:      pb_zero,
}


def pullback(M: Expr, E: Expr, record=None) -> list:
    """<M, E> = sum_X <g_X, dX>: the list of (X, g_X) for each placeholder dX in E.
    With record (a callable), each rule application is reported as a record.Step whose
    before is (M, E) and after the pairs it passed on, in depth-first pre-order."""
    out: list = []

    def pb(M, e):
        if isinstance(e, Differential):
            out.append((e.of, M))
            return
        try:
            rule = PULLBACK_RULES[type(e)]
        except KeyError:
            raise DerivativeError(f"cannot take the gradient through {type(e).__name__} ({e})") from None
        if record is None:
            rule(M, e, pb)
            return
        after: list = []                     # what the rule passes on, reported before it recurses
        rule(M, e, lambda M2, e2: after.append((M2, e2)))
        record(Step(rule.__name__, identity(rule), (M, e), tuple(after)))
        for M2, e2 in after:
            pb(M2, e2)

    pb(M, E)
    return out


def backprop(f: Expr, wrt: list, keep=(), seed: Expr = ONE) -> dict:
    """Reverse mode over the DAG of f: every node's cotangent, a shared node's summed once
    before it flows on. Returns {node: cotangent} for each Var in wrt and each node in keep
    (a program's named steps: their cotangents are the deltas of back-propagation)."""
    targets = set(wrt)
    dep = depends_on(f, targets)
    cot: dict = {f: [seed]}
    done: dict = {}
    for e in reversed(postorder(f)):           # parents before children
        if not dep[e] or e not in cot or isinstance(e, Var):
            continue
        M = done[e] = add(*cot[e])
        if isinstance(M, Zero):
            continue
        for child, g in pullback(M, local_differential(e, dep)):
            cot.setdefault(child, []).append(g)
    # contributions arrive from the output inwards; listed the other way round they read
    # as a person writes them, the first use of the variable first: (A + A^T) x
    out = {v: add(*reversed(cot[v])) if v in cot else Zero(shape_of(v)) for v in wrt}
    out.update({e: done[e] for e in keep if e in done})
    return out
