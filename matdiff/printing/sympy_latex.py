"""SymPy result -> LaTeX: sympy.latex, with elementwise functions written as the sheets write them.

SymPy prints ElementwiseApplyFunction(Lambda(t, Derivative(Phi(t), t)), Z) as
`(t -> d/dt Phi(t))_∘(Z)`. A result of matdiff only ever holds the Lambda bodies that
to_sympy builds, so each is recognised and printed `\\Phi'(Z)`, `\\tanh'(Z)`; any
other body keeps SymPy's own notation.
"""
from __future__ import annotations

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter as SympyLatexPrinter

from matdiff.language.expr import Fn
from matdiff.printing.latex import function_name
from matdiff.printing.to_sympy import BUILTIN, T, function_body

# where one function's derivative is another function their bodies coincide: the function itself
# is printed (cosh, not sinh'; sign, not abs'), else the first name in the records' order
_KNOWN: dict = {}
for _k in range(4):
    for _name in BUILTIN:
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


class _Printer(SympyLatexPrinter):
    def _print_ElementwiseApplyFunction(self, e):
        found = _name_order(e.function.expr, e.function.variables[0])
        if found is None:
            return super()._print_ElementwiseApplyFunction(e)
        name, k = found
        return rf"{function_name(name)}{chr(39) * k}\left({self._print(e.expr)}\right)"


def sympy_latex(expr) -> str:
    """sympy.latex(expr), with Phi'(Z) for matdiff's elementwise functions."""
    return _Printer().doprint(expr)
