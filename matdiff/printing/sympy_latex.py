"""SymPy result -> LaTeX: sympy.latex, with elementwise functions written as the sheets write them.

SymPy prints ElementwiseApplyFunction(Lambda(t, Derivative(Phi(t), t)), Z) as
`(t -> d/dt Phi(t))_∘(Z)`. A result of matdiff only ever holds the Lambda bodies that
to_sympy builds, so each is recognised and printed `\\Phi'(Z)`, `\\tanh'(Z)`; any
other body keeps SymPy's own notation.
"""
from __future__ import annotations

import contextlib
import threading

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.matmul import MatMul
from sympy.printing.latex import LatexPrinter as SympyLatexPrinter
from sympy.printing.str import sstr

from ..expr import Fn
from .latex import function_name
from .to_sympy import BUILTIN, T, function_body

# softplus' is sigmoid, so their bodies coincide: the first name (sigmoid) is the one printed
_KNOWN: dict = {}
for _name in BUILTIN:
    for _k in range(4):
        _KNOWN.setdefault(function_body(Fn(_name, _k)), (_name, _k))


def _name_order(body, t):
    """(function name, derivative order) of a Lambda body of to_sympy's, or None."""
    body = body.xreplace({t: T})
    if isinstance(body, sp.Subs) and len(body.variables) == 1:   # Subs(Derivative(Phi(u), u), u, t)
        body = body.expr.xreplace({body.variables[0]: T}) if body.point == (T,) else body
    if isinstance(body, AppliedUndef) and body.args == (T,):
        return body.func.__name__, 0
    if isinstance(body, sp.Derivative) and isinstance(body.expr, AppliedUndef) and body.expr.args == (T,) \
            and set(body.variables) == {T}:
        return body.expr.func.__name__, len(body.variables)
    return _KNOWN.get(body)


def _matmul_minus_sign(self):
    """MatMul.could_extract_minus_sign without its `self == -self` test: SymPy's `-self` of a
    MatMul is MatMul(-1, self).doit(), a deep doit into every factor (DiagonalOf.doit asks
    SymPy's SAT solver), called by the printers for every product: minutes for a Hessian's
    SymPy form (||(B23 A33)^T softmax(a2 .^ 2)|| wrt a2: 142 s in sympy.latex). A product of
    matrices is never its own negative unless it is zero, so the answer is the same."""
    c = self.args[0]
    return bool(c.is_Number and c.is_extended_negative)


_lock = threading.RLock()
_depth = [0]


@contextlib.contextmanager
def cheap_minus_sign():
    """While matdiff prints a SymPy result, MatMul's minus-sign test looks at the first factor
    only (the same answer, without a doit); SymPy's own method is back afterwards."""
    with _lock:
        if _depth[0] == 0:
            MatMul.could_extract_minus_sign = _matmul_minus_sign
        _depth[0] += 1
        try:
            yield
        finally:
            _depth[0] -= 1
            if _depth[0] == 0:
                del MatMul.could_extract_minus_sign


def sympy_str(expr) -> str:
    """str(expr) as SymPy prints it, without SymPy's doit per product (see _matmul_minus_sign)."""
    with cheap_minus_sign():
        return sstr(expr, order=None)       # what SymPy's __str__ calls


class _Printer(SympyLatexPrinter):
    def _print_ElementwiseApplyFunction(self, e):
        found = _name_order(e.function.expr, e.function.variables[0])
        if found is None:
            return super()._print_ElementwiseApplyFunction(e)
        name, k = found
        return rf"{function_name(name)}{chr(39) * k}\left({self._print(e.expr)}\right)"


def sympy_latex(expr) -> str:
    """sympy.latex(expr), with Phi'(Z) for matdiff's elementwise functions."""
    with cheap_minus_sign():
        return _Printer().doprint(expr)
