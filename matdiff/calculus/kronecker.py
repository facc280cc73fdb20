"""Kronecker, vec and commutation-matrix algebra: constructors and simplification rules.

The commutation matrix K_{m,n} (K vec(A) = vec(A^T) for an m x n A) has no SymPy
class. It is written with classes SymPy has, valid for symbolic m and n:

    K_{m,n} = (1_n^T ⊗ I_m ⊗ 1_n) ∘ (1_m ⊗ I_n ⊗ 1_m^T)

(1_k a column of ones, 1_k^T a row). The first factor is 1 where the row's i equals
the column's i, the second where the j's agree, rows indexed (i, j) and columns (j, i).
It is an expression of matdiff's own nodes, so evaluation, SymPy and LaTeX need no new
node type; the text printer shows it by name, K_{m,n} (commutation_names). vec and
unvec, which SymPy lacks too, are written out the same way (vec_explicit, unvec_explicit:
the identities, as expressions); printing/to_sympy.py writes those forms for any result.
"""
from __future__ import annotations

from matdiff.language.algebra import ONE, add, const, diag_mat, hadamard, kron, matmul, mul, neg, normalize, transpose, zero
from matdiff.language.expr import (
    Add, Const, DiagMat, DiagOf, Expr, Hadamard, Identity, Kron, MatMul, Mul, Ones, Transpose, Vec, Zero, postorder,
)
from matdiff.language.algebra import is_negative
from matdiff.language.shapes import dim_text, is_scalar, prod, shape_of
from matdiff.calculus.simplify import RULES, simplify
from matdiff.calculus.terms import factor_scalar_groups


def size(e: Expr):
    """The number of entries of e: the length of vec(e)."""
    r, c = shape_of(e)
    return prod(r, c)


def kron2(A: Expr, B: Expr) -> Expr:
    """A ⊗ B, where a 1x1 factor is a scalar (1 ⊗ B = B, s ⊗ B = s B) and I ⊗ I = I."""
    for a, b in ((A, B), (B, A)):
        if is_scalar(a):
            return b if a == ONE or isinstance(a, Identity) else mul(a, b)
    if isinstance(A, Identity) and isinstance(B, Identity):
        return Identity(prod(A.n, B.n))
    return kron(A, B)


def commutation(m, n) -> Expr:
    """K_{m,n}: K vec(A) = vec(A^T) for an m x n A (see the module docstring for the form)."""
    if m == 1 or n == 1:
        return Identity(prod(m, n))
    return Hadamard((Kron((Ones((1, n)), Identity(m), Ones((n, 1)))),
                     Kron((Ones((m, 1)), Identity(n), Ones((1, m))))))


def is_commutation(e: Expr):
    """(m, n) if e is K_{m,n} as commutation() builds it, else None."""
    match e:
        case Hadamard((Kron((Ones((1, n)), Identity(m), Ones((n2, 1)))),
                       Kron((Ones((m2, 1)), Identity(n3), Ones((1, m3)))))) \
                if n == n2 == n3 and m == m2 == m3:
            return m, n
    return None


def diag_selector(n) -> Expr:
    """D_n with vec(diag(v)) = D_n v for an n-vector v: (I_n ⊗ 1_n) ∘ (1_n ⊗ I_n), n² x n."""
    return Hadamard((Kron((Identity(n), Ones((n, 1)))), Kron((Ones((n, 1)), Identity(n)))))


def vec_of(G: Expr) -> Expr:
    """vec(G), written without vec where an identity allows:
    vec(a) = a;  vec(a^T) = a;  vec(a b^T) = b ⊗ a;  vec(s A) = s vec(A);  vec(A + B) = vec A + vec B."""
    r, c = shape_of(G)
    if c == 1:
        return G
    if r == 1:
        return transpose(G)
    match G:
        case Zero():
            return zero((prod(r, c), 1))
        case Ones():
            return Ones((prod(r, c), 1))
        case Add(args):
            return add(*(vec_of(a) for a in args))
        case Mul(args) if not is_scalar(args[-1]):
            return mul(*args[:-1], vec_of(args[-1]))
        case MatMul(args) if shape_of(args[-1])[0] == 1:
            return kron2(transpose(args[-1]), matmul(*args[:-1]))
    return Vec(G)


def vec_explicit(G: Expr) -> Expr:
    """vec(G) for an r x c G without a vec node (SymPy has none):
    vec(G) = (((1_c ⊗ I_r) G) ∘ (I_c ⊗ 1_r)) 1_c."""
    r, c = shape_of(G)
    if c == 1:
        return G
    return MatMul((Hadamard((MatMul((Kron((Ones((c, 1)), Identity(r))), G)),
                             Kron((Identity(c), Ones((r, 1)))))), Ones((c, 1))))


def unvec_explicit(v: Expr, r, c) -> Expr:
    """unvec(v) = (1_c^T ⊗ I_r) diag(v) (I_c ⊗ 1_r), the r x c matrix whose vec is v."""
    if c == 1:
        return v
    return MatMul((Kron((Ones((1, c)), Identity(r))), DiagMat(v), Kron((Identity(c), Ones((r, 1))))))


def commutation_names(e: Expr) -> dict:
    """{K node: 'K_{m,n}'} for every commutation matrix in e (printers show it by name)."""
    return {n: f"K_{{{dim_text(mn[0])},{dim_text(mn[1])}}}" for n in postorder(e)
            if (mn := is_commutation(n))}


# ---- simplification: the Kronecker and diag identities -----------------------------------------

def mixed_product(e: MatMul) -> Expr | None:
    """(A ⊗ B)(C ⊗ D) = (A C) ⊗ (B D)  when the factors conform"""
    for i, (L, R) in enumerate(zip(e.args, e.args[1:])):
        if isinstance(L, Kron) and isinstance(R, Kron) and len(L.args) == len(R.args) and \
                all(shape_of(a)[1] == shape_of(b)[0] for a, b in zip(L.args, R.args)):
            merged = Kron(tuple(matmul(a, b) for a, b in zip(L.args, R.args)))
            return matmul(*e.args[:i], normalize(merged), *e.args[i + 2:])
    return None


def diag_products(e: MatMul) -> Expr | None:
    """diag(a) diag(b) = diag(a ∘ b)"""
    for i, (L, R) in enumerate(zip(e.args, e.args[1:])):
        if isinstance(L, DiagMat) and isinstance(R, DiagMat):
            return matmul(*e.args[:i], diag_mat(hadamard(L.arg, R.arg)), *e.args[i + 2:])
    return None


def absorb_into_kron(e: MatMul) -> Expr | None:
    """M (r ⊗ B) = r ⊗ (M B) for a row r;  (c ⊗ B) M = c ⊗ (B M) for a column c
    (the mixed product with M = 1 ⊗ M; M not itself a Kronecker product)"""
    for i, (L, R) in enumerate(zip(e.args, e.args[1:])):
        if isinstance(R, Kron) and len(R.args) == 2 and not isinstance(L, Kron) and shape_of(R.args[0])[0] == 1:
            return matmul(*e.args[:i], kron2(R.args[0], matmul(L, R.args[1])), *e.args[i + 2:])
        if isinstance(L, Kron) and len(L.args) == 2 and not isinstance(R, Kron) and shape_of(L.args[0])[1] == 1:
            return matmul(*e.args[:i], kron2(L.args[0], matmul(L.args[1], R)), *e.args[i + 2:])
    return None


def _scaled(t: Expr) -> tuple:
    """s A -> ((s,), A)"""
    if isinstance(t, Mul) and not is_scalar(t):
        return t.args[:-1], t.args[-1]
    return (), t


def kron_times_vec(e: MatMul) -> Expr | None:
    """(B^T ⊗ A) vec(X) = vec(A X B), also over a sum of (scaled) vec's"""
    for i, (L, R) in enumerate(zip(e.args, e.args[1:])):
        if not (isinstance(L, Kron) and len(L.args) == 2):
            continue
        terms = R.args if isinstance(R, Add) else (R,)
        parts = [_scaled(t) for t in terms]
        if all(isinstance(v, Vec) for _, v in parts):
            Bt, A = L.args
            new = add(*(mul(*s, vec_of(matmul(A, v.arg, transpose(Bt)))) for s, v in parts))
            return matmul(*e.args[:i], new, *e.args[i + 2:])
    return None


def is_diag_selector(e: Expr):
    """n if e is D_n as diag_selector builds it, else None."""
    match e:
        case Hadamard((Kron((Identity(n), Ones((n2, 1)))), Kron((Ones((n3, 1)), Identity(n4))))) \
                if n == n2 == n3 == n4:
            return n
    return None


def row_kron_selector(e: MatMul) -> Expr | None:
    """(b^T ⊗ I) D_n = diag(b)    (vec(diag(x) b) = diag(b) x)"""
    for i, (L, R) in enumerate(zip(e.args, e.args[1:])):
        if isinstance(L, Kron) and len(L.args) == 2 and isinstance(L.args[1], Identity) and \
                shape_of(L.args[0])[0] == 1 and is_diag_selector(R) is not None:
            return matmul(*e.args[:i], diag_mat(transpose(L.args[0])), *e.args[i + 2:])
    return None


def flatten_scaled_sums(e: Add) -> Expr | None:
    """k (A + B) + C = k A + k B + C for a number k, so that like terms meet: 2 S + S = 3 S"""
    for i, t in enumerate(e.args):
        if isinstance(t, Mul) and len(t.args) == 2 and isinstance(t.args[0], Const) and isinstance(t.args[1], Add):
            k, inner = t.args
            return add(*e.args[:i], *(mul(k, a) for a in inner.args), *e.args[i + 1:])
    return None


def negated_sum(e: Mul) -> Expr | None:
    """-(-A - B) C = (A + B) C: a sum whose every term is negative gives its minus to the coefficient"""
    if len(e.args) != 2 or not isinstance(e.args[0], Const):
        return None
    k, body = e.args
    first, rest = (body.args[0], body.args[1:]) if isinstance(body, MatMul) else (body, ())
    if isinstance(first, Add) and all(is_negative(a) for a in first.args):
        return mul(const(-k.value), matmul(add(*(neg(a) for a in first.args)), *rest))
    return None


def kron_identities(e: Kron) -> Expr | None:
    """I ⊗ I = I;  a 1x1 factor is a scalar: s ⊗ A = s A"""
    out = e.args[0]
    for a in e.args[1:]:
        out = kron2(out, a)
    return out if out != e else None


def kron_common_factor(e: Add) -> Expr | None:
    """P ⊗ A + P ⊗ B = P ⊗ (A + B);  A ⊗ P + B ⊗ P = (A + B) ⊗ P   (scalar coefficients kept)"""
    terms = []
    for t in e.args:
        s, body = ((t.args[:-1], t.args[-1]) if isinstance(t, Mul) and not is_scalar(t) else ((), t))
        terms.append((s, body))
    for side in (0, -1):
        groups: dict = {}
        for i, (s, body) in enumerate(terms):
            if isinstance(body, Kron) and len(body.args) == 2:
                groups.setdefault(body.args[side], []).append(i)
        for P, idx in groups.items():
            if len(idx) < 2:
                continue
            rest = add(*(mul(*terms[i][0], terms[i][1].args[1 + side]) for i in idx))
            common = kron(P, rest) if side == 0 else kron(rest, P)
            return add(common, *(t for i, t in enumerate(e.args) if i not in idx))
    return None


def diag_of_diag(e: DiagOf) -> Expr | None:
    """diag(diag(v)) = v"""
    return e.arg.arg if isinstance(e.arg, DiagMat) else None


def transpose_of_commutation(e: Transpose) -> Expr | None:
    """K_{m,n}^T = K_{n,m}"""
    mn = is_commutation(e.arg)
    return commutation(mn[1], mn[0]) if mn else None


def merge_rules(*tables) -> dict:
    out: dict = {}
    for t in tables:
        for k, v in t.items():
            out[k] = out.get(k, ()) + tuple(v)
    return out


KRONECKER_RULES = {
    MatMul:    (mixed_product, absorb_into_kron, kron_times_vec, row_kron_selector, diag_products),
    Mul:       (negated_sum,),
    Kron:      (kron_identities,),
    Add:       (kron_common_factor, flatten_scaled_sums),
    DiagOf:    (diag_of_diag,),
    Transpose: (transpose_of_commutation,),
}
# flatten_scaled_sums multiplies out 2 (A + B) + C so that like terms meet; grouping the terms with
# a number back into one (terms.factor_scalar_groups) would undo it, so that rule stays out here
JACOBIAN_SIMPLIFY = merge_rules({t: tuple(r for r in rs if r is not factor_scalar_groups) for t, rs in RULES.items()},
                                KRONECKER_RULES)


def simplify_jacobian(e: Expr) -> Expr:
    return simplify(e, JACOBIAN_SIMPLIFY)
