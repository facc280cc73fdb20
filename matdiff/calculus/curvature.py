"""Scalar f -> the diagonal of its Hessian, Becker–LeCun style: second derivatives back-propagated.

Exercise series 4, Solution 2 (Becker & LeCun 1988; Bishop, PRML §5.4.1): for a weight
w_ji feeding unit a_j = Σ_i w_ji z_i,  ∂²L/∂w_ji² = ∂²L/∂a_j² z_i²  (exact), and
∂²L/∂a_j² is passed back from the units k that a_j feeds, neglecting the off-diagonal
∂²L/∂a_k∂a_k' (eq. 10):

    ∂²L/∂a_j² ≈ h'(a_j)² Σ_k w_kj² ∂²L/∂a_k² + h''(a_j) Σ_k w_kj ∂L/∂a_k.

Here the same recursion runs over any expression DAG. Every node e carries its
cotangent G_e = ∂f/∂e (canon.backprop) and C_e, the (approximate) diagonal of
∂²f/∂e², shaped like e. A rule of DIAG_RULES passes C to a child:

    C_child = (J^∘2)^T vec(C_e)  +  diag ∇²_child <G_e, e>

(J the Jacobian of e with respect to the child, ^∘2 its entries squared): for W in
W z that is C_a (z^∘2)^T, for h(a) it is h'(a)^∘2 ∘ C + h''(a) ∘ G, as in (5) and (10).
The cost is that of one more backward pass: O(W).

When is it exact? The first term equals the exact diag(J^T H_e J) when each entry of
the child moves at most one entry of e (elementwise functions, W in W z, sums) or when
the Hessian with respect to e is diagonal. Each node carries three facts about the
exact Hessian with respect to it: zero, diagonal, and whether C_e is exact (`Flags`),
so the result says whether it is exact: for one layer it is, for hidden layers
(W2 h(W1 x), with respect to W1) it is not, and neither where a variable is used
twice (cross terms between the uses are neglected too).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from matdiff.language.algebra import (
    add, apply, const, diag_mat, diag_of, elementwise, hadamard, hadamard_pow, inverse, kron, matmul, mul, neg, sub,
    sum_, transpose, unvec, vec, zero,
)
from matdiff.calculus.canon import backprop, pullback
from matdiff.calculus.diff import axis_of, batch_sum, depends_on, softmax_along
from matdiff.errors import LimitError
from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    Add, Apply, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity, Inverse, Kron,
    Fn, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Softmax, Sum, Trace, Transpose, Unvec, Var, Vec,
    postorder, transform, with_children,
)
from matdiff.language.shapes import is_scalar, shape_of
from matdiff.calculus.simplify import simplify

# How an entry of the child moves the entries of e (the shape of J):
PERMUTE = "permute"      # linear, at most one entry each way (transpose, +, diag, vec, P ∘ E)
SELECT = "select"        # linear, each child entry moves one entry of e (W in W z, sum, tr)
LINEAR = "linear"        # linear, any J (A E with a matrix A)
ENTRYWISE = "entrywise"  # nonlinear, elementwise: J and the curvature diagonal (h(a), a .^ k)
GENERAL = "general"      # nonlinear, any J (softmax, norm, logdet, inverse)
BROKEN = "broken"        # one of several factors that depend on the variable: cross terms lost


@dataclass(frozen=True)
class Flags:
    """Facts about the exact Hessian of f with respect to a node: zero, diagonal, and C exact."""
    zero: bool
    diagonal: bool
    exact: bool


def along(F: Flags, kind: str, child_scalar: bool) -> Flags:
    """The child's flags from its parent's, through one edge of the given kind."""
    match kind:
        case "permute":
            return Flags(F.zero, F.diagonal or child_scalar, F.exact)
        case "select":
            return Flags(F.zero, F.zero or child_scalar, F.exact)
        case "linear":
            return Flags(F.zero, F.zero or child_scalar, F.exact and F.diagonal)
        case "entrywise":
            return Flags(False, F.diagonal or child_scalar, F.exact)
        case "general":
            return Flags(False, child_scalar, F.exact and F.diagonal)
    return Flags(False, child_scalar, False)


def combine(flags: list, scalar: bool) -> Flags:
    """Several uses of one node: exact only if f is affine along all of them."""
    if len(flags) == 1:
        F = flags[0]
        return Flags(F.zero, F.diagonal or scalar, F.exact)
    if all(F.zero for F in flags):
        return Flags(True, True, True)
    return Flags(False, scalar, False)


def sq(A: Expr) -> Expr:
    """A^∘2, the entries squared."""
    return hadamard_pow(2, A)


def ones_like(e: Expr) -> Expr:
    return const(1) if is_scalar(e) else Ones(shape_of(e))


# ---- the rules: node, C_e, G_e -> [(child, its share of C, kind of edge)] --------------------------

def _dependent(e, dep):
    return [i for i, a in enumerate(e.args) if dep[a]]


def dg_add(e, C, G, dep):        # C_A = C_e for each term
    return [(a, C, PERMUTE) for a in e.args if dep[a]]


def dg_matmul(e, C, G, dep):     # A E B:  C_E = (A^∘2)^T C (B^∘2)^T
    idx = _dependent(e, dep)
    out = []
    for i in idx:
        A, B = e.args[:i], e.args[i + 1:]
        c = C
        if A:
            c = matmul(transpose(sq(matmul(*A))), c)
        if B:
            c = matmul(c, transpose(sq(matmul(*B))))
        selects = (not A or shape_of(matmul(*A))[0] == 1) and (not B or shape_of(matmul(*B))[1] == 1)
        out.append((e.args[i], c, BROKEN if len(idx) > 1 else SELECT if selects else LINEAR))
    return out


def dg_mul(e, C, G, dep):        # s E: C_E = s² C;  s P (s the child): C_s = sum(P^∘2 ∘ C)
    idx = _dependent(e, dep)
    out = []
    for i in idx:
        E, rest = e.args[i], mul(*(e.args[:i] + e.args[i + 1:]))
        if is_scalar(E) and not is_scalar(e):
            out.append((E, sum_(hadamard(sq(rest), C)), BROKEN if len(idx) > 1 else LINEAR))
        else:
            out.append((E, mul(sq(rest), C), BROKEN if len(idx) > 1 else PERMUTE))
    return out


def dg_hadamard(e, C, G, dep):   # P ∘ E: C_E = P^∘2 ∘ C
    idx = _dependent(e, dep)
    return [(e.args[i], hadamard(sq(hadamard(*(e.args[:i] + e.args[i + 1:]))), C),
             BROKEN if len(idx) > 1 else PERMUTE) for i in idx]


def dg_transpose(e, C, G, dep):  # C_E = C^T
    return [(e.arg, transpose(C), PERMUTE)]


def dg_trace(e, C, G, dep):      # tr(E): C_E = c I
    return [(e.arg, mul(C, Identity(shape_of(e.arg)[0])), SELECT)]


def dg_sum(e, C, G, dep):        # sum(E): C_E = c 1 1^T
    return [(e.arg, mul(C, ones_like(e.arg)), SELECT)]


def dg_diag_mat(e, C, G, dep):   # diag(v): C_v = diag(C)
    return [(e.arg, diag_of(C), PERMUTE)]


def dg_diag_of(e, C, G, dep):    # diag(E): C_E = diag(c)
    return [(e.arg, diag_mat(C), PERMUTE)]


def dg_kron(e, C, G, dep):
    """A ⊗ E: C_E = Σ_ij A_ij² C_ij (C_ij the blocks of C), the pull-back of C through A^∘2 ⊗ E
    (each entry E_kl moves the entries A_ij E_kl, by A_ij: the J of A E with Kronecker structure)"""
    idx = _dependent(e, dep)
    out = []
    for i in idx:
        factors = [Differential(a) if j == i else sq(a) for j, a in enumerate(e.args)]
        parts = pullback(C, kron(*factors))          # [] when a factor is 0
        c = add(*(g for _, g in parts)) if parts else zero(shape_of(e.args[i]))
        rest = [a for j, a in enumerate(e.args) if j != i]
        scaled = all(is_scalar(a) for a in rest)
        out.append((e.args[i], c, BROKEN if len(idx) > 1 else PERMUTE if scaled else LINEAR))
    return out


def dg_vec(e, C, G, dep):        # vec(E): C_E = unvec(c)
    r, c = shape_of(e.arg)
    return [(e.arg, unvec(r, c, C), PERMUTE)]


def dg_unvec(e, C, G, dep):      # unvec(e): C_e = vec(C)
    return [(e.arg, vec(C), PERMUTE)]


def _elementwise(Z, d1, d2, C, G):
    """h(Z): C_Z = h'(Z)^∘2 ∘ C + h''(Z) ∘ G     (eq. 10, one unit at a time)"""
    return [(Z, add(hadamard(sq(d1), C), hadamard(d2, G)), ENTRYWISE)]


def dg_apply(e, C, G, dep):
    f1 = e.fn.derivative()
    return _elementwise(e.arg, Apply(f1, e.arg), Apply(f1.derivative(), e.arg), C, G)


def dg_hadamard_pow(e, C, G, dep):   # h(t) = t^k: h' = k t^(k-1), h'' = k (k-1) t^(k-2)
    k, Z = e.k, e.arg
    return _elementwise(Z, mul(const(k), hadamard_pow(k - 1, Z)),
                        mul(const(k * (k - 1)), hadamard_pow(k - 2, Z)), C, G)


def dg_pow(e, C, G, dep):    # P = A .^ B:  ∂P/∂A = P ∘ B ∘ A^-1, ∂²P/∂A² = P ∘ B ∘ (B - 1) ∘ A^-2;
    A, B = e.args                # ∂P/∂B = P ∘ log(A), ∂²P/∂B² = P ∘ log(A)^∘2; a 1x1 side broadcast
    log_A = apply(Fn("log"), A)
    B_less_1 = add(B, const(-1) if is_scalar(B) else mul(const(-1), Ones(shape_of(B))))
    derivatives = ((A, elementwise(e, B, hadamard_pow(-1, A)), elementwise(e, B, B_less_1, hadamard_pow(-2, A))),
                   (B, elementwise(e, log_A), elementwise(e, sq(log_A))))
    out = []
    both = dep[A] and dep[B]
    for child, d1, d2 in derivatives:
        if not dep[child]:
            continue
        if is_scalar(child) and not is_scalar(e):     # one entry moves every entry: C_s = sum(d1^∘2 ∘ C + d2 ∘ G)
            out.append((child, sum_(add(hadamard(sq(d1), C), hadamard(d2, G))), BROKEN if both else GENERAL))
        else:
            [(z, c, kind)] = _elementwise(child, d1, d2, C, G)
            out.append((z, c, BROKEN if both else kind))
    return out


def dg_norm(e, C, G, dep):       # ||E||, u = E/||E||: C_E = c u^∘2 + g (1 - u^∘2) / ||E||
    u2 = sq(mul(hadamard_pow(-1, e), e.arg))
    return [(e.arg, add(mul(C, u2), mul(G, hadamard_pow(-1, e), sub(ones_like(e.arg), u2))), GENERAL)]


def dg_softmax(e, C, G, dep):
    """s = softmax(x), J = diag(s) - s s^T:
    C_x = (s^∘2 - 2 s^∘3) ∘ C + (s^∘2)^T C s^∘2 + s ∘ (1 - 2 s) ∘ (G - (s^T G) 1)"""
    s, one = e, ones_like(e)
    first = add(hadamard(sub(sq(s), mul(const(2), hadamard_pow(3, s))), C),
                mul(matmul(transpose(sq(s)), C), sq(s)))
    second = hadamard(s, sub(one, mul(const(2), s)), sub(G, mul(matmul(transpose(s), G), one)))
    return [(e.arg, add(first, second), GENERAL)]


def dg_logsumexp(e, C, G, dep):  # s = softmax(x): C_x = c s^∘2 + g s ∘ (1 - s)
    s = Softmax(e.arg)
    return [(e.arg, add(mul(C, sq(s)), mul(G, hadamard(s, sub(ones_like(s), s)))), GENERAL)]


def dg_batch_softmax(e, C, G, dep):
    """dg_softmax for each row (or column) s of S = softmax(Z, rows), with (s^∘2)^T c and s^T g
    the sums along the axis (batch_sum): each row's Jacobian touches only that row.
    C_Z = (S^∘2 - 2 S^∘3) ∘ C + (S^∘2 ∘ C) 1 1^T ∘ S^∘2 + S ∘ (1 - 2 S) ∘ (G - (S ∘ G) 1 1^T)"""
    S, one, axis = e, ones_like(e), e.axis
    first = add(hadamard(sub(sq(S), mul(const(2), hadamard_pow(3, S))), C),
                hadamard(batch_sum(axis, hadamard(sq(S), C)), sq(S)))
    second = hadamard(S, sub(one, mul(const(2), S)), sub(G, batch_sum(axis, hadamard(S, G))))
    return [(e.arg, add(first, second), GENERAL)]


def dg_batch_logsumexp(e, C, G, dep):
    """dg_logsumexp for each row (or column), S = softmax(Z, rows) and c, g spread along it:
    C_Z = (c 1^T) ∘ S^∘2 + (g 1^T) ∘ S ∘ (1 - S)"""
    S = BatchSoftmax(e.axis, e.arg)
    r, c = shape_of(e.arg)
    spread = (lambda v: matmul(v, transpose(Ones((c, 1))))) if e.axis == "rows" else \
        (lambda v: matmul(Ones((r, 1)), v))
    return [(e.arg, add(hadamard(spread(C), sq(S)), hadamard(spread(G), S, sub(ones_like(S), S))), GENERAL)]


def dg_log_softmax(e, C, G, dep):
    """L = Z - logsumexp(Z, rows) 1^T, each row's J = I - 1 s^T, d²L_i = -d² logsumexp:
    C_Z = C ∘ (1 - 2 S) + S^∘2 ∘ (C 1 1^T) - (G 1 1^T) ∘ S ∘ (1 - S)   (sums along the axis)"""
    S, one, axis = softmax_along(e), ones_like(e), axis_of(e)
    return [(e.arg, add(hadamard(C, sub(one, mul(const(2), S))), hadamard(sq(S), batch_sum(axis, C)),
                        neg(hadamard(batch_sum(axis, G), S, sub(one, S)))), GENERAL)]


def dg_logdet(e, C, G, dep):     # ∂² logdet / ∂X_ij² = -(X^-T)_ij²: C_X = (c - g) (X^-T)^∘2
    return [(e.arg, mul(sub(C, G), sq(transpose(inverse(e.arg)))), GENERAL)]


def dg_det(e, C, G, dep):        # det is affine in each entry: C_X = c det(X)² (X^-T)^∘2
    return [(e.arg, mul(C, sq(e), sq(transpose(inverse(e.arg)))), GENERAL)]


def dg_inverse(e, C, G, dep):
    """Y = E^-1, dY = -Y dE Y, d²Y = 2 Y dE Y dE Y:
    C_E = (Y^∘2)^T C (Y^∘2)^T + 2 Y^T ∘ (Y^T G Y^T)"""
    Y, YT = e, transpose(e)
    return [(e.arg, add(matmul(transpose(sq(Y)), C, transpose(sq(Y))),
                        mul(const(2), hadamard(YT, matmul(YT, G, YT)))), GENERAL)]


DIAG_RULES = {
    Add:         dg_add,
    MatMul:      dg_matmul,
    Mul:         dg_mul,
    Hadamard:    dg_hadamard,
    Transpose:   dg_transpose,
    Trace:       dg_trace,
    Sum:         dg_sum,
    DiagMat:     dg_diag_mat,
    DiagOf:      dg_diag_of,
    Kron:        dg_kron,
    Vec:         dg_vec,
    Unvec:       dg_unvec,
    Apply:       dg_apply,
    HadamardPow: dg_hadamard_pow,
    Pow:         dg_pow,
    Norm:        dg_norm,
    Softmax:     dg_softmax,
    LogSumExp:   dg_logsumexp,
    BatchSoftmax: dg_batch_softmax,
    BatchLogSumExp: dg_batch_logsumexp,
    LogSoftmax:  dg_log_softmax,
    LogDet:      dg_logdet,
    Det:         dg_det,
    Inverse:     dg_inverse,
}


# ---- value-preserving rewrites that make the usual losses elementwise ----------------------------

def elementwise_squares(f: Expr) -> Expr:
    """||E||^2 = sum(E .^ 2);  a^T a = sum(a .^ 2);  A^k = A A ... A.
    A squared norm written through the norm would pass through ||.||'s full Hessian and lose
    exactness that the sum of squares keeps (its Hessian is 2 I)."""
    def fn(e, kids):
        e = with_children(e, kids)
        match e:
            case HadamardPow(k, Norm(E)) if k == 2:
                return Sum(HadamardPow(Fraction(2), E))
            case MatMul((Transpose(a), b)) if a == b and shape_of(a)[1] == 1:
                return Sum(HadamardPow(Fraction(2), a))
            case MatPow(k, A) if k.denominator == 1 and k > 1:
                return MatMul((A,) * int(k))
        return e
    return transform(f, fn)


def diagonal_hessian(f: Expr, X: Var) -> tuple:
    """(D, exact): D shaped like X, D_ij ≈ ∂²f/∂X_ij², and whether D is the exact diagonal."""
    f = elementwise_squares(f)
    dep = depends_on(f, {X})
    if not dep[f]:
        return zero(shape_of(X)), True
    nodes = [e for e in postorder(f) if dep[e] and not isinstance(e, Var)]
    cot = backprop(f, [X], keep=nodes)
    shares: dict = {f: [(zero((1, 1)), Flags(True, True, True))]}
    for e in reversed(postorder(f)):                     # parents before children
        if not dep[e] or e not in shares or isinstance(e, Var):
            continue
        C = add(*(c for c, _ in shares[e]))
        F = combine([fl for _, fl in shares[e]], is_scalar(e))
        G = cot.get(e, zero(shape_of(e)))
        try:
            rule = DIAG_RULES[type(e)]
        except KeyError:
            raise LimitError(f"the diagonal Hessian approximation has no rule for {type(e).__name__} "
                             f"({e}); use the full Hessian") from None
        for child, c, kind in rule(e, C, G, dep):
            shares.setdefault(child, []).append((c, along(F, kind, is_scalar(child))))
    if X not in shares:
        return zero(shape_of(X)), True
    D = simplify(add(*(c for c, _ in shares[X])))
    return D, combine([fl for _, fl in shares[X]], is_scalar(X)).exact
