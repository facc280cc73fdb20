"""Expr -> SymPy, the API's return type (SPEC §3). SymPy classes appear only here.

A vector is an n x 1 MatrixSymbol, a scalar a Symbol. Where a 1 x 1 matrix
expression stands as a scalar (a coefficient, the argument of a scalar function)
it is wrapped in Trace: SymPy's MatMul would otherwise multiply a 1 x 1 by an
n x n and report a wrong shape.

Every node is built with its class's constructor, never with `*`, `/` or doit():
SymPy's operators call doit() on the whole product, which composes nested
ElementwiseApplyFunctions into ever larger Lambdas (minutes for a small program).
Each node of matdiff's DAG converts once, so the work is linear in its size.

A trap in SymPy (applyfunc.py): ElementwiseApplyFunction.doit() never evaluates
its Lambda body. So a concrete function's derivative is built already evaluated
(1 - tanh(t)**2), and an abstract one keeps Derivative(Phi(t), t) in the body,
which a user makes concrete by substituting Phi and evaluating the body.

The elementwise functions' bodies (their records in functions.ELEMENTWISE), softmax and
logsumexp evaluate to finite numbers where the function is finite (as the generated code
does): an exp that overflows only ever makes a denominator inf and its term 0, the right
limit (the logistic function and its derivatives, softmax); logsumexp's exponents stay
below log n. The Lambda bodies stay small: SymPy's printer calls doit(), which composes
nested ElementwiseApplyFunctions, and composing Max-bodies costs SymPy seconds.
"""
from __future__ import annotations

import functools

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix as SympyDiagMatrix, DiagonalOf

from matdiff import limits
from matdiff.errors import MatdiffError
from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity, Inverse,
    Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Softmax, Sum, Trace, Transpose, Unvec, Var,
    Vec, Zero, children, postorder,
)
from matdiff.language.functions import ELEMENTWISE
from matdiff.language.shapes import shape_of
from matdiff.printing.text import to_text

T = sp.Symbol("t")
U = sp.Symbol("u")


def _real_trace():
    class Trace(sp.Trace):
        """tr(M): SymPy's Trace, known to be real, as matdiff's matrices are. SymPy's own Trace is
        not known real, so every function of it (tanh(w^T x)) asks whether its argument is real,
        through as_real_imag and a Mod of the imaginary part (polynomial gcds), at every level
        of a chain: the SymPy gradient of tanh(...(w^T x)) eight deep took 7 s to build, ten
        deep over 100 s to print; now 0.04 s. doit() keeps the class (SymPy's returns its own)."""

        def _eval_is_real(self):
            return True

        def doit(self, **hints):
            out = super().doit(**hints)
            return Trace(out.arg) if type(out) is sp.Trace else out
    return Trace


# the class is called Trace, as SymPy's, so that it prints and reads back as one; RealTrace here,
# where Trace is matdiff's own node
RealTrace = _real_trace()


class DiagMatrix(SympyDiagMatrix):
    """diag(v): SymPy's DiagMatrix (named as it is, so that it prints and reads back as one), but
    its doit() does not ask SymPy's assumptions whether v is diagonal. The printers call doit()
    on every product (to see if it can lose a minus sign), and SymPy's DiagMatrix.doit() asks
    Q.diagonal(v): a satisfiability problem over all of v's facts. For the Hessian of
    sum(tanh(...(W x))) eight deep, str() took 6.5 s; sixteen deep, it ran out of memory; now
    0.03 s and 0.12 s. matdiff's v is a column, diagonal only when it is 1 x 1, so that is all
    this doit() looks at; the rest is SymPy 1.14's DiagMatrix.doit() as it is."""

    def doit(self, **hints):
        v = self._vector
        if v.shape == (1, 1):
            return v
        if isinstance(v, sp.MatMul):
            matrices = [a for a in v.args if a.is_Matrix]
            scalars = [a for a in v.args if not a.is_Matrix]
            if scalars:
                return sp.Mul.fromiter(scalars) * DiagMatrix(sp.MatMul.fromiter(matrices).doit()).doit()
        if isinstance(v, sp.Transpose):
            v = v.arg
        return DiagMatrix(v)

# the built-in elementwise functions, in the order of their records: where two bodies coincide
# (one function's derivative is another function), printing/sympy_latex.py names the first
BUILTIN = tuple(ELEMENTWISE)


@functools.lru_cache(maxsize=None)
def function_body(fn, scalar_level: bool = False) -> sp.Expr:
    """The scalar function of t: tanh'' -> its evaluated formula, Phi' -> Derivative(Phi(t), t).
    A built-in's body is its record's (functions.ELEMENTWISE: `sympy`, `sympy_scalar`,
    `sympy_derivative`); without a `sympy_derivative`, f^(k) is SymPy's diff of the body.
    scalar_level: the body is for a scalar argument, not a Lambda (see the record's `sympy_scalar`)."""
    with sp.evaluate(True):                     # cached: never the unevaluated form of a caller's context
        record = ELEMENTWISE.get(fn.name)
        if record is not None:
            if fn.order == 0:
                build = record.sympy_scalar if scalar_level and record.sympy_scalar else record.sympy
                return build(sp, T)
            if record.sympy_derivative is not None:          # the stable forms; relu' = Heaviside
                return record.sympy_derivative(sp, T, fn.order, scalar_level)
            return sp.diff(record.sympy(sp, T), T, fn.order)   # as SymPy writes it: 1 - tanh(t)**2
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
    return RealTrace(v) if is_matrix(v) else v


def _apply(e, v):
    body = function_body(e.fn)
    arg = v[0]
    if shape_of(e) == (1, 1):
        if not body.has(sp.Derivative) or isinstance(arg, sp.Symbol):
            # a function of a scalar: tanh(w1*x1 + w2*x2)
            return function_body(e.fn, scalar_level=True).subs(T, scalar(arg))
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


def _product(factors):
    """The matrix product of factors (scalars among them), nested products flattened and the
    scalar coefficients in front; built by MatMul's constructor, which never calls doit()."""
    coeffs, mats = [], []
    for f in factors:
        for a in (f.args if isinstance(f, sp.MatMul) else (f,)):
            (mats if is_matrix(a) else coeffs).append(a)
    coeff = sp.Mul(*coeffs)
    if coeff == 1 and len(mats) == 1:
        return mats[0]
    return sp.MatMul(*([] if coeff == 1 else [coeff]), *mats)


def _mul(e, v):
    scalars = [scalar(a) for a, x in zip(v, e.args) if shape_of(x) == (1, 1)]
    wide = [a for a, x in zip(v, e.args) if shape_of(x) != (1, 1)]
    return _product([sp.Mul(*scalars), wide[0]]) if wide else sp.Mul(*scalars)


def _matmul(e, v):
    return _product(v)


def _sum(e, v):
    """sum(X) = Tr(1^T X 1); a ones factor of size 1 is left out (1^T y for a column y, not 1^T y 1)."""
    r, c = shape_of(e.arg)
    ones = [sp.OneMatrix(1, dim(r))] if r != 1 else []
    return RealTrace(_product([*ones, v[0], *([sp.OneMatrix(dim(c), 1)] if c != 1 else [])]))


def _transpose(e, v):
    """A^T; the transpose of a transpose is the matrix itself (no A.T.T)."""
    return v[0].arg if isinstance(v[0], sp.Transpose) else sp.Transpose(v[0])


def _exp(x):
    return ElementwiseApplyFunction(sp.Lambda(T, sp.exp(T)), x)


def _softmax_parts(x, n):
    """D^T and softmax(x), where D = 1 x^T + (-x) 1^T (D_ij = x_j - x_i) and softmax(x) =
    1 ./ (exp(D) 1), that is softmax(x)_i = 1 / sum_j exp(x_j - x_i). The largest entry's sum lies
    in [1, n]; where an exponent overflows, the entry is 1 / inf = 0, its true value to machine
    precision (exp(x) / 1^T exp(x) would be inf / inf).
    -x is the elementwise t -> -t: no term of the MatAdd then has a leading -1 or a nested MatMul.
    SymPy's signsimp (run by Abs, by Pow, and by the printer, on anything a Trace holds) pulls a
    leading -1 out of a MatAdd into a scalar Mul, and fails."""
    ones, row = sp.OneMatrix(n, 1), sp.OneMatrix(1, n)
    neg = ElementwiseApplyFunction(sp.Lambda(T, -T), x)
    D = sp.MatAdd(sp.MatMul(ones, sp.Transpose(x)), sp.MatMul(neg, row))
    Dt = sp.MatAdd(sp.MatMul(x, row), sp.MatMul(ones, sp.Transpose(neg)))     # D^T, built as such
    return Dt, sp.HadamardPower(sp.MatMul(_exp(D), ones), -1)


def _softmax(e, v):
    return _softmax_parts(v[0], dim(shape_of(e)[0]))[1]


def _logsumexp(e, v):
    """logsumexp(x) = c + log(1^T exp(x - c 1)) for any c; c = p^T x with p = softmax(x) lies
    within log n below max(x) (logsumexp - c is the entropy of p), so each exp(x_i - c) <= n and
    the sum >= 1: neither overflow nor log(0). x - c 1 = D^T p, with D and p of _softmax_parts."""
    x, n = v[0], dim(shape_of(e.arg)[0])
    Dt, p = _softmax_parts(x, n)
    c = RealTrace(sp.MatMul(sp.Transpose(p), x))
    return c + sp.log(RealTrace(sp.MatMul(sp.OneMatrix(1, n), _exp(sp.MatMul(Dt, p)))))


def _softmax_rows(Z, m, n):
    """softmax(Z, rows) in the stable form of the vector softmax (_softmax_parts), every row at
    once, from classes SymPy has. With E = Z ⊗ 1_n (mn x n, E_{(i,j),k} = Z_ik) and
    w = (E ∘ (1_m ⊗ I_n)) 1_n (w_{(i,j)} = Z_ij), D = E + (-w) 1_n^T holds Z_ik - Z_ij and
    r = 1 ./ (exp(D) 1_n) holds S_ij = 1 / sum_k exp(Z_ik - Z_ij): an overflowing exponent makes
    that entry 1 / inf = 0, its value to machine precision. Only then is r, finite, reshaped to
    m x n, S = (I_m ⊗ 1_n^T) ((r 1_n^T) ∘ (1_m ⊗ I_n)): a reshape multiplies by zeros, never an inf."""
    row, col = sp.OneMatrix(1, n), sp.OneMatrix(n, 1)
    spread = sp.KroneckerProduct(sp.OneMatrix(m, 1), sp.Identity(n))
    E = sp.KroneckerProduct(Z, col)
    w = sp.MatMul(sp.HadamardProduct(E, spread), col)
    D = sp.MatAdd(E, sp.MatMul(ElementwiseApplyFunction(sp.Lambda(T, -T), w), row))
    r = sp.HadamardPower(sp.MatMul(_exp(D), col), -1)
    # diag(r) (1_m ⊗ I_n) written (r 1_n^T) ∘ (1_m ⊗ I_n): SymPy's DiagMatrix.doit() asks its
    # assumptions system, which the printers call through doit(), seconds per print
    return sp.MatMul(sp.KroneckerProduct(sp.Identity(m), row), sp.HadamardProduct(sp.MatMul(r, row), spread))


def _logsumexp_rows(Z, m, n):
    """logsumexp(Z, rows) = c + log(exp(Z - c 1^T) 1), c = (S ∘ Z) 1 with S = softmax(Z, rows):
    as for the vector (_logsumexp), each row's c lies within log n below its max."""
    row, col = sp.OneMatrix(1, n), sp.OneMatrix(n, 1)
    c = sp.MatMul(sp.HadamardProduct(_softmax_rows(Z, m, n), Z), col)
    shifted = sp.MatAdd(Z, sp.MatMul(ElementwiseApplyFunction(sp.Lambda(T, -T), c), row))
    return sp.MatAdd(c, ElementwiseApplyFunction(sp.Lambda(T, sp.log(T)), sp.MatMul(_exp(shifted), col)))


def _log_softmax_rows(Z, m, n):
    """logsoftmax(Z, rows) = Z - logsumexp(Z, rows) 1^T, the logsumexp in its stable form."""
    lse = _logsumexp_rows(Z, m, n)
    return sp.MatAdd(Z, sp.MatMul(ElementwiseApplyFunction(sp.Lambda(T, -T), lse), sp.OneMatrix(1, n)))


def _batch(rows_form):
    """The rows form; along cols (and a vector's, along its column), that of Z^T, transposed back."""
    def rule(e, v):
        r, c = shape_of(e.arg)
        if e.axis == "rows":
            return rows_form(v[0], dim(r), dim(c))
        return sp.Transpose(rows_form(sp.Transpose(v[0]), dim(c), dim(r)))
    return rule


def _var(e, v):
    if e.shape == ():
        return sp.Symbol(e.name)
    r, c = shape_of(e)
    return sp.MatrixSymbol(e.name, dim(r), dim(c))


def _vec(e, v):
    """vec(G) = (((1_c ⊗ I_r) G) ∘ (I_c ⊗ 1_r)) 1_c for an r x c G (SymPy has no vec): row i of
    block k of (1_c ⊗ I_r) G is row i of G, and I_c ⊗ 1_r keeps its entry in column k."""
    (r, c), G = shape_of(e.arg), v[0]
    if c == 1:
        return G
    if r == 1:
        return sp.Transpose(G)
    R, C = dim(r), dim(c)
    stacked = _product([sp.KroneckerProduct(sp.OneMatrix(C, 1), sp.Identity(R)), G])
    return sp.MatMul(sp.HadamardProduct(stacked, sp.KroneckerProduct(sp.Identity(C), sp.OneMatrix(R, 1))),
                     sp.OneMatrix(C, 1))


def _unvec(e, v):
    """unvec(x) = (1_c^T ⊗ I_r) diag(x) (I_c ⊗ 1_r), the r x c matrix whose vec is x (SymPy has no
    unvec): column k of diag(x) (I_c ⊗ 1_r) holds block k of x, and 1_c^T ⊗ I_r adds the blocks."""
    x = v[0]
    if e.cols == 1:
        return x
    if e.rows == 1:
        return sp.Transpose(x)
    R, C = dim(e.rows), dim(e.cols)
    return sp.MatMul(sp.KroneckerProduct(sp.OneMatrix(1, C), sp.Identity(R)), DiagMatrix(x),
                     sp.KroneckerProduct(sp.Identity(C), sp.OneMatrix(R, 1)))


def _hadamard_pow(e, v):
    if shape_of(e) == (1, 1):
        # unevaluated: SymPy's Pow(Add, k) asks every term's assumptions (is_infinite, is_zero ...)
        # recursively, minutes on a big scalar, outside any clock
        return sp.Pow(scalar(v[0]), sp.Rational(e.k.numerator, e.k.denominator), evaluate=False)
    return sp.HadamardPower(v[0], sp.Rational(e.k.numerator, e.k.denominator))


def _pow(e, v):
    """a^b is SymPy's Pow; elementwise, HadamardPower, which takes a matrix exponent and a
    scalar on either side (its entries are base_ij ** exponent_ij)."""
    (base, exponent), (A, B) = v, e.args
    if shape_of(e) == (1, 1):
        return sp.Pow(scalar(base), scalar(exponent))
    return sp.HadamardPower(*(scalar(a) if shape_of(x) == (1, 1) else a for a, x in ((base, A), (exponent, B))))


def _kron(e, v):
    """A 1x1 factor is a scalar: kron(A, alpha) = alpha A (SymPy's KroneckerProduct refuses a
    scalar). Scalar coefficients of the factors go in front: SymPy's KroneckerProduct.doit()
    breaks on a factor such as (1/s) E E^T (extract_commutative makes a Mul of matrices, then fails)."""
    coeffs, args = [], []
    for a, x in zip(v, e.args):
        if shape_of(x) == (1, 1):
            coeffs.append(scalar(a))
            continue
        if isinstance(a, sp.MatMul):
            c, ms = a.as_coeff_matrices()
            coeffs.append(c)
            a = sp.MatMul(*ms) if len(ms) > 1 else ms[0]
        args.append(a)
    return _product([*coeffs, sp.KroneckerProduct(*args) if len(args) > 1 else args[0]])


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
    Pow:          _pow,
    Transpose:    _transpose,
    Inverse:      lambda e, v: sp.Inverse(v[0]),
    MatPow:       lambda e, v: sp.MatPow(v[0], int(e.k)),
    HadamardPow:  _hadamard_pow,
    Apply:        _apply,
    Trace:        lambda e, v: RealTrace(v[0]),
    Det:          lambda e, v: sp.Determinant(v[0]),
    LogDet:       lambda e, v: sp.log(sp.Determinant(v[0])),
    Sum:          _sum,
    Norm:         lambda e, v: sp.sqrt(RealTrace(sp.MatMul(sp.Transpose(v[0]), v[0]))),
    DiagMat:      lambda e, v: DiagMatrix(v[0]),
    DiagOf:       lambda e, v: DiagonalOf(v[0]),
    Vec:          _vec,
    Unvec:        _unvec,
    Softmax:      _softmax,
    LogSumExp:    _logsumexp,
    BatchSoftmax: _batch(_softmax_rows),
    BatchLogSumExp: _batch(_logsumexp_rows),
    LogSoftmax:   _batch(_log_softmax_rows),
}


# A node whose value and arguments are all 1x1 is scalar algebra: SymPy's matrix classes
# (DiagonalOf, Inverse, KroneckerProduct, ...) refuse a scalar, so these say it as scalars.
SCALAR = {
    Transpose:   lambda e, v: v[0],
    Inverse:     lambda e, v: sp.Pow(v[0], -1, evaluate=False),       # unevaluated: see _hadamard_pow
    MatPow:      lambda e, v: sp.Pow(v[0], int(e.k), evaluate=False),
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


def to_sympy(e: Expr):
    """The SymPy expression of e; a 1x1 result is a SymPy scalar. Each distinct node converts
    once (the Expr is a DAG), under the call's time budget."""
    memo: dict = {}
    for n in postorder(e):
        limits.tick()
        kids = [memo[c] for c in children(n)]
        try:
            if type(n) in SCALAR and shape_of(n) == (1, 1) and all(shape_of(c) == (1, 1) for c in children(n)):
                memo[n] = SCALAR[type(n)](n, [scalar(k) for k in kids])
            else:
                memo[n] = SYMPY[type(n)](n, kids)
        except (NotImplementedError, TypeError, ValueError) as err:
            # SymPy's own scalar algebra (Pow of a Pow, Abs) runs signsimp into the matrices inside
            # a Trace and breaks on a MatAdd such as y - x: sqrt(sigmoid(a^T (y - x)))
            raise MatdiffError(f"SymPy cannot build the result at {to_text(n)} ({err}); "
                               "the text result (matdiff grad, Gradient.text()) holds it") from None
    out = memo[e]
    return scalar(out) if shape_of(e) == (1, 1) else out
