"""Cancellations that need a matrix's structure: the rewrite rules simplify.py adds for
square products and determinants (issue 15, items 3 and 4).

Symmetry itself lives in the smart constructors (algebra.is_symmetric: the transpose of a
symmetric matrix is the matrix), and the plain cancellations X X^-1 = I, X^T X^-T = I in
algebra.matmul; the rules here need shapes or a choice, so they belong to simplify.
"""
from __future__ import annotations

from matdiff.language.algebra import hadamard_pow, inverse, matmul, neg, transpose
from matdiff.language.expr import Det, Expr, Identity, Inverse, LogDet, MatMul, Mul, Transpose
from matdiff.language.shapes import is_scalar, shape_of


def _square(e: Expr) -> bool:
    r, c = shape_of(e)
    return r == c and not is_scalar(e)


def _inv(g: Expr) -> Expr:
    """g^-1, written X^-T for the inverse of X^T."""
    return transpose(inverse(g.arg)) if isinstance(g, Transpose) else inverse(g)


def _factor_count(e: Expr) -> int:
    body = e.args[-1] if isinstance(e, Mul) else e
    return 0 if isinstance(body, Identity) or is_scalar(body) else len(body.args) if isinstance(body, MatMul) else 1


def inverse_of_square_product(e: MatMul) -> Expr | None:
    """(A X B)^-1 = B^-1 X^-1 A^-1 for square A, X, B, where a neighbour then cancels
    (A^T (A X B)^-T B^T = X^-T, B (A X B)^-1 = X^-1 A^-1). Only when every factor is square:
    then each is invertible, as their product is; with a non-square A or B the inverse of the
    product has no such split, and stays. Where nothing cancels the product's inverse stays whole,
    shorter than its split."""
    for i, f in enumerate(e.args):
        transposed = isinstance(f, Transpose)
        inner = f.arg if transposed else f
        if not (isinstance(inner, Inverse) and isinstance(inner.arg, MatMul)
                and all(_square(g) for g in inner.arg.args)):
            continue
        fs = inner.arg.args
        split = [transpose(_inv(g)) for g in fs] if transposed else [_inv(g) for g in reversed(fs)]
        new = matmul(*e.args[:i], *split, *e.args[i + 1:])
        if _factor_count(new) < len(e.args) - 1 + len(split):       # something cancelled
            return new
    return None


def det_of_inverse(e: Det) -> Expr | None:
    """det(X^-1) = det(X)^-1;  det(X^T) = det(X)"""
    match e.arg:
        case Inverse(X):
            return hadamard_pow(-1, Det(X))
        case Transpose(X):
            return Det(X)
    return None


def logdet_of_inverse(e: LogDet) -> Expr | None:
    """logdet(X^-1) = -logdet(X);  logdet(X^T) = logdet(X)"""
    match e.arg:
        case Inverse(X):
            return neg(LogDet(X))
        case Transpose(X):
            return LogDet(X)
    return None
