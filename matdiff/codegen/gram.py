"""Hessians as generated code: symmetric sandwiches L^T diag(a) L as Gram products (issue 17, item 3).

A Hessian back-propagated through layers is nested sandwiches,

    H = W1^T (diag(a1) + D1 W2^T (diag(a2) + D2 W3^T diag(a3) W3 D2) W2 D1) W1,

which, evaluated as written, costs two general products per layer. Distributed (`gram_form`), it
is a sum of Gram products over the running Jacobian L_k = W_k D_{k-1} L_{k-1}:

    H = L1^T diag(a1) L1 + L2^T diag(a2) L2 + L3^T diag(a3) L3,

one product per layer to extend L (shared: codegen's sub-chain sharing computes L2 once for L3) and
one Gram product each. A Gram product G^T G is BLAS's syrk, half a general product's work (NumPy
calls it for `G.T @ G` on one buffer); with weights, L^T diag(a) L = P^T P - N^T N where P and N
are the rows of L with a > 0 and a < 0 scaled by sqrt|a| (`_gram`, the NumPy helper; JAX and
PyTorch write L^T (a * L)). A sum is distributed over only where every term is itself a diagonal,
a scaled diagonal or a product (a low-rank term such as yhat yhat^T becomes an outer product of
two matrix-vector products); a dense term in the middle stays where it is.

Also: a number times a Kronecker product goes into its first factor, k (A ⊗ B) = (k A) ⊗ B, so that
-K (X^-T ⊗ X^-1) is laid out in one pass (products.combine: a commutation times a Kronecker product
is a broadcast product written once, never kron then permute).
"""
from __future__ import annotations

from matdiff.codegen.backends import ATOM, DOT, MUL, wrap
from matdiff.language.algebra import add, kron, matmul, mul, transpose
from matdiff.language.expr import Add, DiagMat, Expr, Kron, MatMul, Mul, Transpose
from matdiff.language.shapes import is_scalar, shape_of
from matdiff.limits import tick



def gram_form(H: Expr) -> Expr:
    """H with its symmetric sandwiches distributed into Gram products (the module docstring)."""
    memo: dict = {}
    return _form(H, memo)


def _form(e: Expr, memo: dict) -> Expr:
    tick()
    if e in memo:
        return memo[e]
    out = e
    if isinstance(e, Add):
        out = add(*(_form(a, memo) for a in e.args))
    elif isinstance(e, Mul) and not is_scalar(e):
        *s, body = e.args
        inner = _form(body, memo)
        if _has_kron(inner) and all(is_scalar(k) for k in s):
            out = _into_kron(mul(*s), inner)
        else:
            out = mul(*s, inner) if inner is not body else e
    elif isinstance(e, MatMul):
        out = _sandwich(e.args, memo) or e
    memo[e] = out
    return out


def _palindrome(args: tuple):
    """(c, r): the chain reads the same transposed around its centre c (odd length), or (None, r)
    for an even-length A^T A-like chain; None where it does not."""
    n = len(args)
    if n < 2:
        return None
    if n % 2 == 1:
        c = n // 2
        if all(transpose(args[c + i]) == args[c - i] for i in range(1, c + 1)):
            return c, c
        return None
    if all(transpose(args[n - 1 - i]) == args[i] for i in range(n // 2)):
        return None, n // 2
    return None


def _diagonal(e: Expr) -> bool:
    return isinstance(e, DiagMat) or (isinstance(e, Mul) and isinstance(e.args[-1], DiagMat)
                                      and all(is_scalar(a) for a in e.args[:-1]))


def _sandwich(args: tuple, memo: dict) -> Expr | None:
    """L^T M L with M a diagonal -> MatMul(L^T, M, L) with L one node; with M a sum of diagonals
    and products, the sum of those; an even chain L^T L -> MatMul(L^T, L). None: leave it."""
    found = _palindrome(args)
    if found is None:
        return None
    c, r = found
    if c is None:
        L = matmul(*args[r:])
        if shape_of(L)[0] == 1 or shape_of(L)[1] == 1 or len(args) == 2:
            return None                                # an outer product or a number: the chain does it
        return MatMul((Transpose(L), L))
    center, left, right = args[c], args[:c], args[c + 1:]
    L = matmul(*right)
    if shape_of(L)[1] == 1:                            # a number v^T M v: the chain's matrix-vector order
        return None
    if _diagonal(center):
        return MatMul((Transpose(L), center, L)) if shape_of(L)[0] != 1 else None
    terms = center.args if isinstance(center, Add) else (center,)
    if not all(_diagonal(t) or isinstance(_body(t), MatMul) for t in terms):
        return None
    if isinstance(center, MatMul) and not isinstance(center, Add):
        inner = matmul(*left, center, *right)
        return _sandwich(inner.args, memo) if isinstance(inner, MatMul) else None
    out = []
    for t in terms:
        scalars, body = _scalars(t)
        whole = matmul(*left, body, *right)
        if isinstance(whole, Mul):                     # matmul pulled 1x1 factors out
            scalars, whole = (*scalars, *whole.args[:-1]), whole.args[-1]
        formed = (_sandwich(whole.args, memo) or whole) if isinstance(whole, MatMul) else whole
        out.append(mul(*scalars, formed) if scalars else formed)
    return add(*out)


def _scalars(t: Expr) -> tuple:
    if isinstance(t, Mul) and not is_scalar(t) and not _diagonal(t):
        return tuple(t.args[:-1]), t.args[-1]
    return (), t


def _body(t: Expr) -> Expr:
    return _scalars(t)[1]


def _has_kron(e: Expr) -> bool:
    return isinstance(e, Kron) or (isinstance(e, MatMul) and any(isinstance(a, Kron) for a in e.args))


def _into_kron(k: Expr, e: Expr) -> Expr:
    """k (A ⊗ B) = (k A) ⊗ B, also inside a product: the number scales an n x n factor, not n² x n²."""
    if isinstance(e, Kron):
        return kron(mul(k, e.args[0]), *e.args[1:])
    args = list(e.args)
    i = next(i for i, a in enumerate(args) if isinstance(a, Kron))
    args[i] = _into_kron(k, args[i])
    return MatMul(tuple(args))


# ---- printing -------------------------------------------------------------------------------------------

def gram_text(chain: list, p) -> tuple | None:
    """L^T diag(a) L or L^T L (L a matrix, the same node twice) as a Gram product, or None."""
    from matdiff.codegen.products import _diag_vector
    if len(chain) not in (2, 3) or not isinstance(chain[0], Transpose) or chain[0].arg != chain[-1] \
            or chain[0] in p.names:
        return None
    L = chain[-1]
    if 1 in shape_of(L):
        return None
    Lt = p.at(L, MUL, "*")
    if len(chain) == 2:
        return f"{p.at(L, DOT)}.T @ {p.at(L, MUL, '@', left=False)}", MUL, "@"
    a = _diag_vector(chain[1], p)
    if a is None:
        return None
    if p.b.name == "numpy":
        p.helpers.add("_gram")
        return f"_gram({p.arg(L)}, {a[0]})", ATOM, None
    return f"{p.at(L, DOT)}.T @ ({wrap(a, MUL, '*')} * {Lt})", MUL, "@"
