"""Expr -> matrixcalculus.org's syntax: `*` for every product, `'` for the transpose, `.*`, `./`,
`.^`, inv(X), det(X), logdet(X), tr(X), sum(X), norm2(x), vector(1), matrix(1). matdiff reads
that syntax too, so parse(to_matrixcalculus(e)) == e for what the syntax can say.

What it cannot say is refused (ValueError): the Kronecker product, the identity I, vec,
diag, softmax and the other words matrixcalculus.org lacks, derivatives Phi'(z) of functions,
and norms written with bars (`||x||`, `||x||_2`: their meaning depends on the shape; norm2 is
the Frobenius norm of any shape). An elementwise product of a product is written with
parentheses, `A.*(B*C)`: in matrixcalculus.org's (MATLAB's) grammar `*` and `.*` bind alike.
"""
from __future__ import annotations

from matdiff.language.algebra import is_negative
from matdiff.language.expr import (
    Add, Apply, Const, Det, Expr, Hadamard, HadamardPow, Inverse, LogDet, MatMul, MatPow, Mul, Norm, Ones, Pow, Sum,
    Trace, Transpose,
)
from matdiff.printing.precedence import HADAMARD, POSTFIX, PRODUCT, SUM, precedence
from matdiff.printing.text import TEXT, TextPrinter, is_division, negate, split_division

# The node types printed as matdiff's own text prints them (numbers, names, sums, a^b).
_SHARED = {"Var", "Const", "Pow"}


def _decimal(k) -> str:
    """An exponent as matrixcalculus.org writes it: 2, -1, 0.5 (never matdiff's {1/2})."""
    if k.denominator == 1:
        return str(k.numerator)
    d = k.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d != 1:
        raise ValueError(f"the exponent {k} has no decimal form for matrixcalculus.org")
    return str(float(k))


def _add(e, p):
    """As the text printer's, without reading a number times the ones vector as the number."""
    out = p.wrap(e.args[0], SUM)
    for a in e.args[1:]:
        if is_negative(a):
            out += " - " + p.wrap(negate(a), SUM, strict=True)
        else:
            out += " + " + p.wrap(a, SUM, strict=True)
    return out


def _mul(e, p):
    if is_negative(e):
        return "-" + p.wrap(negate(e), HADAMARD)
    num, den = split_division(e)
    if not (den and num):
        num, den = e.args, ()
    top = "*".join(p.wrap(a, PRODUCT, strict=i > 0 or isinstance(a, MatMul) or (len(num) > 1 and is_division(a)))
                   for i, a in enumerate(num))
    return top + "".join("/" + p.wrap(d, POSTFIX) for d in den)


def _hadamard(e, p):
    """Each operand that is a product is parenthesised: `*` and `.*` bind alike there."""
    out = p.wrap(e.args[0], PRODUCT, strict=True)
    for a in e.args[1:]:
        if isinstance(a, HadamardPow) and a.k == -1:
            out += "./" + p.wrap(a.arg, PRODUCT, strict=True)
        else:
            out += ".*" + p.wrap(a, PRODUCT, strict=True)
    return out


def _postfix_base(arg, p) -> str:
    return p.wrap(arg, POSTFIX, strict=isinstance(arg, (Transpose, MatPow, HadamardPow, Inverse, Pow)) or
                  precedence(arg) < POSTFIX)


def _apply(e, p):
    if e.fn.order:
        raise ValueError(f"{e.fn.name}' has no spelling in matrixcalculus.org's syntax")
    return f"{e.fn.name}({p(e.arg, top=False)})"


def _norm(e, p):
    if e.written:
        raise ValueError("a norm written with bars depends on the shape; norm2(x) is matrixcalculus.org's")
    return f"norm2({p(e.arg, top=False)})"


def _ones(e, p):
    if e.shape == (None, 1):
        return "vector(1)"
    if e.shape == (None, None):
        return "matrix(1)"
    raise ValueError("a ones vector of a named size has no spelling in matrixcalculus.org's syntax; vector(1)")


def _matpow(e, p):
    if e.k.denominator != 1 or e.k < 1:
        raise ValueError(f"the matrix power {e.k}: matrixcalculus.org's syntax has A^k for k = 1, 2, ...")
    return f"{_postfix_base(e.arg, p)}^{e.k.numerator}"


MATRIXCALCULUS = {
    Add:         _add,
    MatMul:      lambda e, p: "*".join(p.wrap(a, PRODUCT, strict=i > 0 or is_division(a)) for i, a in enumerate(e.args)),
    Mul:         _mul,
    Hadamard:    _hadamard,
    Transpose:   lambda e, p: f"{_postfix_base(e.arg, p)}'",
    Inverse:     lambda e, p: f"inv({p(e.arg, top=False)})",
    MatPow:      _matpow,
    HadamardPow: lambda e, p: f"{_postfix_base(e.arg, p)}.^{_decimal(e.k)}",
    Apply:       _apply,
    Trace:       lambda e, p: f"tr({p(e.arg, top=False)})",
    Det:         lambda e, p: f"det({p(e.arg, top=False)})",
    LogDet:      lambda e, p: f"logdet({p(e.arg, top=False)})",
    Sum:         lambda e, p: f"sum({p(e.arg, top=False)})",
    Norm:        _norm,
    Ones:        _ones,
}


class MatrixCalculusPrinter(TextPrinter):
    """The text printer's structure (precedence, parentheses) with matrixcalculus.org's rows."""

    def __call__(self, e: Expr, top: bool = True) -> str:
        row = MATRIXCALCULUS.get(type(e))
        if row is None:
            if type(e).__name__ not in _SHARED:
                raise ValueError(f"{type(e).__name__} has no spelling in matrixcalculus.org's syntax")
            row = TEXT[type(e)]
        return row(e, self)


def to_matrixcalculus(e: Expr) -> str:
    """'0.5*x'*A*x' for parse('1/2 x^T A x'): e in matrixcalculus.org's syntax (ValueError for what
    it cannot say)."""
    return MatrixCalculusPrinter()(e)
