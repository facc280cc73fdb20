"""Expr -> SymPy, the API's return type (SPEC §3). SymPy classes appear only here.

A vector is an n x 1 MatrixSymbol, a scalar a Symbol. Where a 1 x 1 matrix
expression stands as a scalar (a coefficient, the argument of a scalar function)
it is wrapped in Trace: SymPy's MatMul would otherwise multiply a 1 x 1 by an
n x n and report a wrong shape.

A trap in SymPy (applyfunc.py): ElementwiseApplyFunction.doit() never evaluates
its Lambda body. So a concrete function's derivative is built already evaluated
(1 - tanh(t)**2), and an abstract one keeps Derivative(Phi(t), t) in the body,
which a user makes concrete by substituting Phi and evaluating the body.
"""
from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

from ..errors import MatdiffError
from ..expr import (
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity, Inverse,
    Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Softmax, Sum, Trace, Transpose, Unvec, Var,
    Vec, Zero, children, postorder,
)
from ..shapes import shape_of

T = sp.Symbol("t")
U = sp.Symbol("u")

CONCRETE = {
    "exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh, "sqrt": sp.sqrt,
    "sigmoid": lambda t: 1 / (1 + sp.exp(-t)),
    "relu": lambda t: sp.Max(t, 0),
    "softplus": lambda t: sp.log(1 + sp.exp(t)),
}


def function_body(fn) -> sp.Expr:
    """The scalar function of t: tanh'' -> its evaluated formula, Phi' -> Derivative(Phi(t), t)."""
    if fn.name in CONCRETE:
        body = CONCRETE[fn.name](T)
        if fn.name == "relu" and fn.order >= 1:
            return sp.Heaviside(T) if fn.order == 1 else sp.Integer(0)
        return sp.diff(body, T, fn.order) if fn.order else body   # as SymPy writes it: 1 - tanh(t)**2
    f = sp.Function(fn.name)(T)
    return sp.Derivative(f, (T, fn.order)) if fn.order else f


def dim(d):
    if isinstance(d, tuple):
        return dim(d[1]) * dim(d[2])
    return sp.Integer(d) if isinstance(d, int) else sp.Symbol(d)


def is_matrix(v) -> bool:
    return isinstance(v, sp.MatrixExpr)


def scalar(v):
    """A 1x1 matrix expression as a scalar."""
    return sp.Trace(v) if is_matrix(v) else v


def _apply(e, v):
    body = function_body(e.fn)
    arg = v[0]
    if shape_of(e) == (1, 1):
        if not body.has(sp.Derivative) or isinstance(arg, sp.Symbol):
            return body.subs(T, scalar(arg))    # a function of a scalar: tanh(w1*x1 + w2*x2)
        if not is_matrix(arg):
            arg = sp.MatMul(arg, sp.Identity(1))   # Phi'(alpha beta): as a 1x1 matrix, not Subs
    # elementwise, and also for a 1x1 matrix (a^T x): there the body keeps Derivative(Phi(t), t)
    # evaluable after Phi is replaced, where a substitution would leave SymPy's Subs
    if body.has(sp.Derivative) and (shape_of(e) == (1, 1) or isinstance(arg, ElementwiseApplyFunction)):
        # for a 1x1 argument SymPy's constructor (and every .replace) calls the Lambda at
        # a.T*x, and Derivative(Phi(t), t) at a matrix raises; and Phi'(Phi(x)) is composed into
        # Derivative(Phi(Phi(d)), Phi(d)), which no longer accepts a concrete Phi.
        # Subs(Derivative(Phi(u), u), u, t) is the same function, composes and substitutes
        # safely, and doit() still gives the concrete derivative
        body = sp.Subs(body.subs(T, U), U, T)
    return ElementwiseApplyFunction(sp.Lambda(T, body), arg)


def _mul(e, v):
    scalars = [scalar(a) for a, x in zip(v, e.args) if shape_of(x) == (1, 1)]
    wide = [a for a, x in zip(v, e.args) if shape_of(x) != (1, 1)]
    return sp.Mul(*scalars) * wide[0] if wide else sp.Mul(*scalars)


def _matmul(e, v):
    return sp.MatMul(*v).doit(deep=False) if shape_of(e) != (1, 1) else sp.MatMul(*v)


def _sum(e, v):
    r, c = shape_of(e.arg)
    return sp.Trace(sp.MatMul(sp.OneMatrix(1, dim(r)), v[0], sp.OneMatrix(dim(c), 1)))


def _exp_sum(x, n):
    E = ElementwiseApplyFunction(sp.Lambda(T, sp.exp(T)), x)
    return E, sp.Trace(sp.MatMul(sp.OneMatrix(1, n), E))


def _softmax(e, v):
    E, s = _exp_sum(v[0], dim(shape_of(e)[0]))
    return E / s


def _logsumexp(e, v):
    return sp.log(_exp_sum(v[0], dim(shape_of(e.arg)[0]))[1])


def _var(e, v):
    if e.shape == ():
        return sp.Symbol(e.name)
    r, c = shape_of(e)
    return sp.MatrixSymbol(e.name, dim(r), dim(c))


def _no_sympy(what):
    def rule(e, v):
        raise MatdiffError(f"{what} has no SymPy matrix-expression class; use the text result instead")
    return rule


def _hadamard_pow(e, v):
    if shape_of(e) == (1, 1):
        return scalar(v[0]) ** sp.Rational(e.k.numerator, e.k.denominator)
    return sp.HadamardPower(v[0], sp.Rational(e.k.numerator, e.k.denominator))


def _kron(e, v):
    """Scalar coefficients of the factors go in front: SymPy's KroneckerProduct.doit() breaks on a
    factor such as (1/s) E E^T (extract_commutative makes a Mul of matrices, then fails)."""
    coeff, args = sp.Integer(1), []
    for a in v:
        if isinstance(a, sp.MatMul):
            c, ms = a.as_coeff_matrices()
            coeff, a = coeff * c, sp.MatMul(*ms) if len(ms) > 1 else ms[0]
        args.append(a)
    k = sp.KroneckerProduct(*args)
    return k if coeff == 1 else sp.MatMul(coeff, k)


SYMPY = {
    Var:          _var,
    Const:        lambda e, v: sp.Rational(e.value.numerator, e.value.denominator),
    Identity:     lambda e, v: sp.Identity(dim(e.n)),
    Zero:         lambda e, v: sp.Integer(0) if e.shape == (1, 1) else sp.ZeroMatrix(*map(dim, e.shape)),
    Ones:         lambda e, v: sp.OneMatrix(*map(dim, e.shape)),
    Differential: lambda e, v: sp.MatrixSymbol("d" + e.of.name, *map(dim, shape_of(e.of)))
                  if e.of.shape != () else sp.Symbol("d" + e.of.name),
    Add:          lambda e, v: sp.Add(*v) if shape_of(e) == (1, 1) and not any(map(is_matrix, v))
                  else sp.MatAdd(*v) if all(map(is_matrix, v)) else sp.Add(*map(scalar, v)),
    Mul:          _mul,
    MatMul:       _matmul,
    Hadamard:     lambda e, v: sp.HadamardProduct(*v),
    Kron:         _kron,
    Transpose:    lambda e, v: sp.Transpose(v[0]),
    Inverse:      lambda e, v: sp.Inverse(v[0]),
    MatPow:       lambda e, v: sp.MatPow(v[0], int(e.k)),
    HadamardPow:  _hadamard_pow,
    Apply:        _apply,
    Trace:        lambda e, v: sp.Trace(v[0]),
    Det:          lambda e, v: sp.Determinant(v[0]),
    LogDet:       lambda e, v: sp.log(sp.Determinant(v[0])),
    Sum:          _sum,
    Norm:         lambda e, v: sp.sqrt(sp.Trace(sp.MatMul(sp.Transpose(v[0]), v[0]))),
    DiagMat:      lambda e, v: DiagMatrix(v[0]),
    DiagOf:       lambda e, v: DiagonalOf(v[0]),
    Vec:          _no_sympy("vec"),
    Unvec:        _no_sympy("unvec"),
    Softmax:      _softmax,
    LogSumExp:    _logsumexp,
}


def _mul_shallow(e, v):
    """s A without SymPy's deep doit(): KroneckerProduct.doit() breaks on a factor with a scalar
    coefficient and several matrices (s E E^T inside a softmax's Hessian)."""
    scalars = [scalar(a) for a, x in zip(v, e.args) if shape_of(x) == (1, 1)]
    wide = [a for a, x in zip(v, e.args) if shape_of(x) != (1, 1)]
    return sp.MatMul(sp.Mul(*scalars), wide[0]).doit(deep=False) if wide else sp.Mul(*scalars)


# A node whose value and arguments are all 1x1 is scalar algebra: SymPy's matrix classes
# (DiagonalOf, Inverse, KroneckerProduct, ...) refuse a scalar, so these say it as scalars.
SCALAR = {
    Transpose:   lambda e, v: v[0],
    Inverse:     lambda e, v: 1 / v[0],
    MatPow:      lambda e, v: v[0] ** int(e.k),
    Hadamard:    lambda e, v: sp.Mul(*v),
    Kron:        lambda e, v: sp.Mul(*v),
    MatMul:      lambda e, v: sp.Mul(*v),
    Trace:       lambda e, v: v[0],
    Det:         lambda e, v: v[0],
    LogDet:      lambda e, v: sp.log(v[0]),
    Sum:         lambda e, v: v[0],
    Norm:        lambda e, v: sp.Abs(v[0]),
    DiagMat:     lambda e, v: v[0],
    DiagOf:      lambda e, v: v[0],
    Vec:         lambda e, v: v[0],
    Unvec:       lambda e, v: v[0],
    Softmax:     lambda e, v: sp.Integer(1),
    LogSumExp:   lambda e, v: v[0],
}


def to_sympy(e: Expr, shallow: bool = False):
    """The SymPy expression of e; a 1x1 result is a SymPy scalar. shallow=True never runs doit()
    below a scalar multiple (Jacobians and Hessians, whose Kronecker products need it)."""
    table = {**SYMPY, Mul: _mul_shallow} if shallow else SYMPY
    memo: dict = {}
    for n in postorder(e):
        kids = [memo[c] for c in children(n)]
        if type(n) in SCALAR and shape_of(n) == (1, 1) and all(shape_of(c) == (1, 1) for c in children(n)):
            memo[n] = SCALAR[type(n)](n, [scalar(k) for k in kids])
        else:
            memo[n] = table[type(n)](n, kids)
    out = memo[e]
    return scalar(out) if shape_of(e) == (1, 1) else out
