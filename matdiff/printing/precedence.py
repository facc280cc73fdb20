"""How tightly each node binds, shared by the text and LaTeX printers (higher binds tighter)."""
from __future__ import annotations

from matdiff.language.algebra import is_negative
from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Hadamard, HadamardPow, Identity, Inverse, Kron,
    LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Softmax, Sum, Trace, Transpose, Unvec, Var, Vec, Zero,
)

SUM, HADAMARD, PRODUCT, POSTFIX, ATOM = 10, 20, 30, 40, 50

PRECEDENCE = {
    Add: SUM,
    Hadamard: HADAMARD, Kron: HADAMARD,
    MatMul: PRODUCT, Mul: PRODUCT,
    Transpose: POSTFIX, Inverse: POSTFIX, MatPow: POSTFIX, HadamardPow: POSTFIX, Pow: POSTFIX,
    Var: ATOM, Const: ATOM, Identity: ATOM, Zero: ATOM, Ones: ATOM, Differential: ATOM,
    Apply: ATOM, Trace: ATOM, Det: ATOM, LogDet: ATOM, Sum: ATOM, Norm: ATOM, DiagMat: ATOM,
    DiagOf: ATOM, Vec: ATOM, Unvec: ATOM, Softmax: ATOM, LogSumExp: ATOM,
    BatchSoftmax: ATOM, BatchLogSumExp: ATOM, LogSoftmax: ATOM,
}



def precedence(e) -> int:
    if is_negative(e):
        return SUM                              # a leading minus binds like a sum
    if isinstance(e, Const) and e.value.denominator != 1:
        return PRODUCT                          # 1/2 reads as a division
    if isinstance(e, Ones) and e.shape and e.shape[1] != 1:
        return PRODUCT if e.shape[0] != 1 else POSTFIX   # 1_n 1_m^T is a product, 1_n^T a transpose
    return PRECEDENCE[type(e)]
