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
from sympy.matrices.expressions.matexpr import MatrixExpr
from sympy.matrices.expressions.matmul import MatMul
from sympy.printing.latex import LatexPrinter as SympyLatexPrinter
from sympy.printing.str import sstr

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


def _matmul_minus_sign(self):
    """MatMul.could_extract_minus_sign without its `self == -self` test: SymPy's `-self` of a
    MatMul is MatMul(-1, self).doit(), a deep doit into every factor (DiagonalOf.doit asks
    SymPy's SAT solver), called by the printers for every product: minutes for a Hessian's
    SymPy form (||(B23 A33)^T softmax(a2 .^ 2)|| wrt a2: 142 s in sympy.latex). A product of
    matrices is never its own negative unless it is zero, so the answer is the same."""
    c = self.args[0]
    return bool(c.is_Number and c.is_extended_negative)


def _matrix_neg(self):
    """-self without MatrixExpr.__neg__'s deep doit (the printers negate every term they print
    with a minus sign, and an Add's sign test negates the Add; the doit can also fail inside
    SymPy: KroneckerProduct's rules give 'Mul' object has no attribute 'is_Identity'): the
    coefficient of a product negated, anything else multiplied by -1."""
    if isinstance(self, MatMul) and self.args and self.args[0].is_Number:
        c, rest = -self.args[0], self.args[1:]
        if c == 1:
            return rest[0] if len(rest) == 1 else MatMul(*rest)
        return MatMul(c, *rest)
    return MatMul(sp.S.NegativeOne, self)


_lock = threading.RLock()
_depth = [0]
_saved: list = []


@contextlib.contextmanager
def cheap_minus_sign():
    """While matdiff prints a SymPy result, MatMul's minus-sign test looks at the first factor
    only (the same answer, without a doit) and a matrix expression is negated without a doit;
    SymPy's own methods are back afterwards. One printer at a time (a lock); another thread that
    negates a matrix expression meanwhile gets the same value, unsimplified."""
    with _lock:
        if _depth[0] == 0:
            MatMul.could_extract_minus_sign = _matmul_minus_sign
            MatrixExpr.__neg__, saved = _matrix_neg, MatrixExpr.__neg__
            _saved.append(saved)
        _depth[0] += 1
        try:
            yield
        finally:
            _depth[0] -= 1
            if _depth[0] == 0:
                del MatMul.could_extract_minus_sign
                MatrixExpr.__neg__ = _saved.pop()


def _printing(print_it, expr) -> str:
    from matdiff.errors import MatdiffError
    try:
        with cheap_minus_sign():
            return print_it(expr)
    except (RecursionError, MemoryError, KeyboardInterrupt):
        raise
    except MatdiffError:
        raise
    except Exception as e:                  # SymPy's own failure, not the user's input
        raise MatdiffError(f"SymPy cannot print this result ({type(e).__name__}: {e}); "
                           f"matdiff's text form (Gradient.text(), matdiff grad) holds it") from None


def sympy_str(expr) -> str:
    """str(expr) as SymPy prints it, without SymPy's doit per product (see _matmul_minus_sign)."""
    return _printing(lambda e: sstr(e, order=None), expr)     # what SymPy's __str__ calls


class _Printer(SympyLatexPrinter):
    def _print_OneMatrix(self, e):
        """The ones vector bold, as matdiff's own LaTeX writes it (SymPy writes a plain 1)."""
        r, c = e.shape
        return r"\mathbf{1}" if c == 1 else r"\mathbf{1}^{\top}" if r == 1 else r"\mathbf{1}\mathbf{1}^{\top}"

    def _print_ElementwiseApplyFunction(self, e):
        found = _name_order(e.function.expr, e.function.variables[0])
        if found is None:
            return super()._print_ElementwiseApplyFunction(e)
        name, k = found
        return rf"{function_name(name)}{chr(39) * k}\left({self._print(e.expr)}\right)"


def sympy_latex(expr) -> str:
    """sympy.latex(expr), with Phi'(Z) for matdiff's elementwise functions."""
    return _printing(_Printer().doprint, expr)
