"""Smart constructors: build nodes and apply only what is always true and cheap.

Flatten nested n-ary nodes, drop 0 and I, fold numbers, pull scalars to the front
of products, collect `A + A` into `2 A`, `(A^T)^T` into A. Every choice that
could go either way (distributing, factoring, where a transpose goes) belongs in
simplify.py. These work on shaped trees (after shapes.infer_shapes).
"""
from __future__ import annotations

from fractions import Fraction

from matdiff.errors import DerivativeError
from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity, Inverse,
    Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Softmax, Sum, Trace, Transpose, Unvec, Var, Vec, Zero,
    transform,
)
from matdiff.limits import check_number, check_power_size
from matdiff.language.shapes import is_scalar, shape_of

ONE = Const(Fraction(1))


def const(k) -> Const:
    return Const(Fraction(k))


def zero(shape) -> Zero:
    return Zero(tuple(shape))


def zero_like(e: Expr) -> Zero:
    return Zero(shape_of(e))


def _flat(cls, xs):
    for x in xs:
        if isinstance(x, cls):
            yield from x.args
        else:
            yield x


def coefficient(e: Expr) -> tuple:
    """2 A -> (2, A); A -> (1, A); 3 -> (3, None)."""
    if isinstance(e, Const):
        return e.value, None
    if isinstance(e, Mul) and isinstance(e.args[0], Const):
        rest = e.args[1:]
        return e.args[0].value, rest[0] if len(rest) == 1 else Mul(rest)
    return Fraction(1), e


def add(*xs: Expr) -> Expr:
    """Flattened sum; zeros dropped; like terms collected (A + 2 A -> 3 A, A - A -> 0)."""
    shape = shape_of(xs[0])
    terms: dict = {}
    for x in _flat(Add, xs):
        if isinstance(x, Zero):
            continue
        k, rest = coefficient(x)
        terms[rest] = terms.get(rest, 0) + k
    out = [scale(k, rest) for rest, k in terms.items() if k != 0]
    if not out:
        return zero(shape)
    return out[0] if len(out) == 1 else Add(tuple(out))


def scale(k, e: Expr | None) -> Expr:
    """k e for a number k (e None means the number alone)."""
    if e is None:
        return const(k)
    return mul(const(k), e) if k != 1 else e


def neg(x: Expr) -> Expr:
    return mul(const(-1), x)


def sub(a: Expr, b: Expr) -> Expr:
    return add(a, neg(b))


def mul(*xs: Expr) -> Expr:
    """Scalar multiplication. Numbers fold into one leading Const, equal scalar bases add their
    exponents (||x|| ||x||^-1 -> 1), the one non-scalar factor (if any) goes last."""
    k = Fraction(1)
    powers: dict = {}
    wide = []
    shape = (1, 1)
    for x in _flat(Mul, xs):
        if isinstance(x, Zero):
            k = Fraction(0)
        if isinstance(x, Const):
            k *= x.value
        elif not is_scalar(x):
            shape = shape_of(x)
            wide.append(x)
        elif not isinstance(x, Zero):
            base, p = (x.arg, x.k) if isinstance(x, HadamardPow) else (x, Fraction(1))
            powers[base] = powers.get(base, 0) + p
    if len(wide) > 1:
        raise ValueError(f"mul: more than one non-scalar factor: {wide}")
    if k == 0:
        return zero(shape)
    factors = [hadamard_pow(p, b) for b, p in powers.items() if p != 0]
    factors = [f for f in factors if f != ONE]
    out = ([const(k)] if k != 1 or not (factors or wide) else []) + factors + wide
    return out[0] if len(out) == 1 else Mul(tuple(out))


def matmul(*xs: Expr) -> Expr:
    """Flattened matrix product; I vanishes, 0 absorbs, 1x1 factors are pulled out as scalars."""
    shape = (shape_of(xs[0])[0], shape_of(xs[-1])[1])
    scalars, chain = [], []
    for x in _flat(MatMul, xs):
        if isinstance(x, Zero):
            return zero(shape)
        if isinstance(x, Mul):                      # matmul(A, s B) -> s matmul(A, B)
            *s, last = x.args
            if not is_scalar(last):
                scalars.extend(s)
                x = last
        if isinstance(x, Identity):
            continue
        if is_scalar(x):
            scalars.append(x)
        elif isinstance(x, MatMul):
            chain.extend(x.args)
        else:
            chain.append(x)
    chain = _merge_ones(_merge_powers(chain))
    if not chain:
        body = Identity(shape[0]) if shape != (1, 1) else None
    else:
        body = chain[0] if len(chain) == 1 else MatMul(tuple(chain))
    parts = scalars + ([body] if body is not None else [])
    return mul(*parts) if parts else ONE


def _merge_ones(chain: list) -> list:
    """A column of ones times a row of ones is the all-ones matrix: 1 1^T = Ones, which the
    elementwise product then drops (S ∘ 1 1^T = S)."""
    out: list = []
    for x in chain:
        if out and isinstance(x, Ones) and isinstance(out[-1], Ones) and shape_of(x)[0] == 1:
            out[-1] = Ones((shape_of(out[-1])[0], shape_of(x)[1]))
        else:
            out.append(x)
    return out


def _power_of(x: Expr) -> tuple:
    """A -> (A, 1); A^k -> (A, k); A^-1 -> (A, -1); (A^-1)^k -> (A, -k); and through a transpose,
    A^-T -> (A^T, -1), so that X^T X^-T and X^-T X^T cancel as X X^-1 does."""
    k = 1
    if isinstance(x, MatPow):
        x, k = x.arg, int(x.k)
    if isinstance(x, Transpose) and isinstance(x.arg, Inverse):
        x = Transpose(x.arg.arg)
        k = -k
    elif isinstance(x, Inverse):
        x, k = x.arg, -k
    return x, k


def _merge_powers(chain: list) -> list:
    """Neighbours with the same base multiply: A A = A^2, A^2 A^-1 = A, X X^-1 = I (dropped),
    X^T X^-T = I."""
    out: list = []
    for x in chain:
        if out:
            (a, j), (b, k) = _power_of(out[-1]), _power_of(x)
            if a == b:
                out.pop()
                k += j
                if k:
                    if isinstance(a, Transpose):        # built by _power_of: through transpose() again
                        out.append(mat_pow(k, transpose(a.arg)) if k > 0 else mat_pow(-k, transpose(inverse(a.arg))))
                    else:
                        out.append(mat_pow(k, a) if k > 0 else mat_pow(-k, inverse(a)))
                continue
        out.append(x)
    return out


def hadamard(*xs: Expr) -> Expr:
    """Flattened elementwise product; 1 (all ones) vanishes, 0 absorbs; scalars multiply."""
    shape = shape_of(xs[0])
    if shape == (1, 1):
        return mul(*xs)
    out, scalars = [], []
    for x in _flat(Hadamard, xs):
        if isinstance(x, Zero):
            return zero(shape)
        if isinstance(x, Mul):                      # A ∘ (s B) = s (A ∘ B)
            *s, x = x.args
            scalars.extend(s)
        if isinstance(x, Ones):
            continue
        out.append(x)
    body = Ones(shape) if not out else out[0] if len(out) == 1 else Hadamard(tuple(out))
    return mul(*scalars, body) if scalars else body


def hadamard_pow(k, x: Expr) -> Expr:
    k = Fraction(k)
    check_number(k, "an exponent")          # products and sums of exponents grow like numbers
    if k == 1:
        return x
    if k == 0:
        return ONE if is_scalar(x) else Ones(shape_of(x))
    if isinstance(x, Const):
        if x.value == 0 and k < 0:
            raise DerivativeError("division by zero (a power -1 of 0)")
        check_power_size(x.value, k)          # before computing it: 10^60^60^60 is huge
        v = x.value ** k
        if isinstance(v, Fraction):
            return Const(v)
    if isinstance(x, HadamardPow) and x.k.denominator == 1 and k.denominator == 1:
        return hadamard_pow(x.k * k, x.arg)
    if isinstance(x, Ones):
        return x
    return HadamardPow(k, x)


def is_symmetric(x: Expr) -> bool:
    """x^T = x: by declaration (`S=n,n,sym`) or by construction (X^T X, A + A^T, S^-1, exp(S), ...);
    see _symmetric. False means not known to be symmetric, never known not to be."""
    return _symmetric(x)


def _declared_symmetric(x: Expr) -> bool:
    """A matrix declared symmetric (`S=n,n,sym`), its inverse or its power: S^T = S, S^-T = S^-1."""
    while isinstance(x, (Inverse, MatPow)):
        x = x.arg
    return isinstance(x, Var) and bool(x.structure)


def power(base: Expr, exponent: Expr) -> Expr:
    """base .^ exponent (a^b for scalars), a scalar of the two broadcast. A number exponent is
    hadamard_pow's; an exponent 0 gives ones; a base of ones stays ones."""
    shape = shape_of(base) if not is_scalar(base) else shape_of(exponent)
    if isinstance(exponent, Const):
        p = hadamard_pow(exponent.value, base)
        return p if shape_of(p) == shape else mul(p, Ones(shape))
    if isinstance(exponent, Zero) or isinstance(base, Ones) or base == ONE:
        return ONE if shape == (1, 1) else Ones(shape)
    return Pow((base, exponent))


def elementwise(*xs: Expr) -> Expr:
    """The elementwise product of factors of one shape and 1x1 factors (broadcast)."""
    scalars = [x for x in xs if is_scalar(x)]
    wide = [x for x in xs if not is_scalar(x)]
    return mul(*scalars, hadamard(*wide)) if wide else mul(*scalars)


def transpose(x: Expr) -> Expr:
    if isinstance(x, Transpose):
        return x.arg
    if isinstance(x, (Zero, Ones)):
        return type(x)(shape_of(x)[::-1])
    if isinstance(x, (Identity, DiagMat)) or is_scalar(x) or _symmetric(x):
        return x
    return Transpose(x)


def _symmetric(x: Expr, depth: int = 6) -> bool:
    """Symmetric by declaration or by construction, looked at a few levels deep: I, diag(v),
    1 1^T, a product that reads the same transposed (u u^T, X^T X, A^T B A with B so), a sum
    closed under transposition (A + A^T, A B + B^T A^T, S1 + S2), multiples, inverses and powers
    of those, and what acts entrywise on them (S1 ∘ S2, S .^ k, exp(S), S1 ⊗ S2); so the centering
    matrix I - 1/3 1 1^T and (X^T X)^-1 are their own transposes."""
    if depth == 0:
        return False
    if _declared_symmetric(x) or isinstance(x, (Identity, DiagMat)) or is_scalar(x):
        return True
    if isinstance(x, Ones):
        return x.shape is not None and x.shape[0] == x.shape[1]
    if isinstance(x, (Inverse, MatPow, HadamardPow, Apply)):
        return _symmetric(x.arg, depth - 1)
    if isinstance(x, (Hadamard, Kron, Pow)):
        return all(_symmetric(a, depth - 1) for a in x.args)
    if isinstance(x, Add):
        return _closed_under_transposition(x.args, depth - 1)
    if isinstance(x, Mul):
        wide = [a for a in x.args if not is_scalar(a)]
        return len(wide) == 1 and _symmetric(wide[0], depth - 1)
    if isinstance(x, MatMul):
        args, n = x.args, len(x.args)
        return all(args[n - 1 - i] == _flipped(args[i]) or args[n - 1 - i] == args[i] and _symmetric(args[i], depth - 1)
                   for i in range(n // 2)) and \
            (n % 2 == 0 or _symmetric(args[n // 2], depth - 1))
    return False


def _closed_under_transposition(terms, depth: int) -> bool:
    """A sum equals its transpose: each term symmetric, or its transpose another term with the
    same coefficient (A + A^T, 2 A B + 2 B^T A^T; not 2 A + 3 A^T)."""
    split = [coefficient(t) for t in terms]
    pending: dict = {}
    for k, rest in split:
        if rest is None or _symmetric(rest, depth):
            continue
        pending[(k, rest)] = pending.get((k, rest), 0) + 1
    for (k, rest), n in pending.items():
        if pending.get((k, _flipped(rest)), 0) != n:
            return False
    return True


def _flipped(x: Expr) -> Expr:
    """x^T written as transpose_inside would write it (the transposes inside products and powers,
    X^-T for the transpose of an inverse), for comparing factors and terms; built, not simplified."""
    if isinstance(x, Transpose):
        return x.arg
    if isinstance(x, MatMul):
        return MatMul(tuple(_flipped(a) for a in reversed(x.args)))
    if isinstance(x, Mul):
        return Mul(tuple(a if is_scalar(a) else _flipped(a) for a in x.args))
    if isinstance(x, MatPow):
        return MatPow(x.k, _flipped(x.arg))
    if isinstance(x, Ones):
        return Ones(x.shape[::-1])
    if isinstance(x, (Identity, DiagMat)) or _declared_symmetric(x) or is_scalar(x):
        return x
    return Transpose(x)


def transpose_view(x: Expr) -> Expr:
    """x^T without simplifying beyond the obvious (for comparing factors)."""
    if isinstance(x, Transpose):
        return x.arg
    if isinstance(x, Ones):
        return Ones(x.shape[::-1])
    return Transpose(x)


def inverse(x: Expr) -> Expr:
    """x^-1;  (X^-1)^-1 = X;  (X^T)^-1 = X^-T, the inverse inside the transpose, as it prints."""
    if isinstance(x, Inverse):
        return x.arg
    if isinstance(x, Transpose) and not is_scalar(x):
        return transpose(inverse(x.arg))
    if isinstance(x, Identity):
        return x
    if is_scalar(x):
        return hadamard_pow(-1, x)
    return Inverse(x)


def mat_pow(k, x: Expr) -> Expr:
    k = Fraction(k)
    if is_scalar(x):
        return hadamard_pow(k, x)
    if k == 0:
        return Identity(shape_of(x)[0])
    if k == 1:
        return x
    return MatPow(k, x)


def to_scalar(cls):
    """A node that reduces a matrix to a scalar (tr, sum): of a 1x1 it is the scalar itself,
    of 0 it is 0."""
    def build(x: Expr) -> Expr:
        if is_scalar(x):
            return x
        if isinstance(x, Zero):
            return zero((1, 1))
        return cls(x)
    build.__name__ = cls.__name__.lower()
    return build


trace = to_scalar(Trace)


def inner(a: Expr, b: Expr) -> Expr:
    """<A, B> = tr(A^T B): a^T b for vectors, the product for scalars."""
    if is_scalar(a) or is_scalar(b):
        if is_scalar(a) and is_scalar(b):
            return mul(a, b)
        return mul(a, sum_(b)) if is_scalar(a) else mul(b, sum_(a))
    if isinstance(a, Ones):
        return sum_(b)
    if isinstance(b, Ones):
        return sum_(a)
    if shape_of(a)[1] == 1:
        return matmul(transpose(a), b)
    return trace(matmul(transpose(a), b))


sum_ = to_scalar(Sum)


def kron(*xs: Expr) -> Expr:
    xs = list(_flat(Kron, xs))
    if any(isinstance(x, Zero) for x in xs):
        r, c = shape_of(Kron(tuple(xs)))
        return zero((r, c))
    xs = [x for x in xs if x != ONE]
    return xs[0] if len(xs) == 1 else Kron(tuple(xs))


def unary(cls):
    """A linear unary node (diag, vec): f(0) = 0 and f(s X) = s f(X) for a scalar s."""
    def build(x: Expr) -> Expr:
        if isinstance(x, Mul) and not is_scalar(x):
            *s, last = x.args
            return mul(*s, build(last))
        new = cls(x)
        return zero(shape_of(new)) if isinstance(x, Zero) else new
    return build


diag_mat, diag_of, _vec = unary(DiagMat), unary(DiagOf), unary(Vec)


def vec(x: Expr) -> Expr:
    """vec(unvec(x)) = x;  vec(1) = 1"""
    if isinstance(x, Unvec):
        return x.arg
    if isinstance(x, Ones):
        return Ones(shape_of(Vec(x)))
    return _vec(x)


def unvec(rows, cols, x: Expr) -> Expr:
    """unvec(vec(X)) = X;  unvec(s x) = s unvec(x);  unvec(0) = 0;  unvec(1) = 1"""
    if isinstance(x, Zero):
        return zero((rows, cols))
    if isinstance(x, Ones):
        return Ones((rows, cols))
    if isinstance(x, Vec) and shape_of(x.arg) == (rows, cols):
        return x.arg
    if isinstance(x, Mul) and not is_scalar(x):
        *s, last = x.args
        return mul(*s, unvec(rows, cols, last))
    return Unvec(rows, cols, x)


def apply(fn, x: Expr) -> Expr:
    return Apply(fn, x)


# node type -> how to rebuild it from new children with the smart constructors
REBUILD = {
    Add:          lambda e, k: add(*k),
    Mul:          lambda e, k: mul(*k),
    MatMul:       lambda e, k: matmul(*k),
    Hadamard:     lambda e, k: hadamard(*k),
    Kron:         lambda e, k: kron(*k),
    Pow:          lambda e, k: power(*k),
    Transpose:    lambda e, k: transpose(k[0]),
    Inverse:      lambda e, k: inverse(k[0]),
    MatPow:       lambda e, k: mat_pow(e.k, k[0]),
    HadamardPow:  lambda e, k: hadamard_pow(e.k, k[0]),
    Trace:        lambda e, k: trace(k[0]),
    Sum:          lambda e, k: sum_(k[0]),
    DiagMat:      lambda e, k: diag_mat(k[0]),
    DiagOf:       lambda e, k: diag_of(k[0]),
    Vec:          lambda e, k: vec(k[0]),
    Unvec:        lambda e, k: unvec(e.rows, e.cols, k[0]),
    Apply:        lambda e, k: apply(e.fn, k[0]),
    Det:          lambda e, k: Det(k[0]),
    LogDet:       lambda e, k: LogDet(k[0]),
    Norm:         lambda e, k: Norm(k[0]),
    Softmax:      lambda e, k: Softmax(k[0]),
    LogSumExp:    lambda e, k: LogSumExp(k[0]),
    BatchSoftmax: lambda e, k: BatchSoftmax(e.axis, k[0]),
    BatchLogSumExp: lambda e, k: BatchLogSumExp(e.axis, k[0]),
    LogSoftmax:   lambda e, k: LogSoftmax(e.axis, k[0]),
    # leaves have no children: a leaf is itself
    Var:          lambda e, k: e,
    Const:        lambda e, k: e,
    Identity:     lambda e, k: e,
    Zero:         lambda e, k: e,
    Ones:         lambda e, k: e,
    Differential: lambda e, k: e,
}


def rebuild(e: Expr, kids: list) -> Expr:
    """The node with new children, through its smart constructor. A node type without a row is
    an error, not the old node returned: that would silently stop every rewrite above it."""
    try:
        build = REBUILD[type(e)]
    except KeyError:
        raise TypeError(f"algebra.REBUILD has no row for {type(e).__name__}: add one") from None
    return build(e, kids)


def normalize(e: Expr, memo: dict | None = None) -> Expr:
    """Rebuild a whole tree through the smart constructors."""
    return transform(e, rebuild, memo)

def is_negative(e) -> bool:
    """-A, -2 A, -3: printed with a leading minus."""
    if isinstance(e, Const):
        return e.value < 0
    return isinstance(e, Mul) and isinstance(e.args[0], Const) and e.args[0].value < 0
