"""Every node's shape: SHAPE_RULES (node, child shapes -> shape) and shape_of; ShapeError.

Every node has a 2-D shape (rows, cols): a scalar is 1x1, a vector n x 1. A
dimension is an int, a symbolic name (`"n"`), or a product `("*", a, b)` (the
rows of vec(X) and of a Kronecker product); see dims.py. The same rules check a
shaped tree here and infer an unshaped one in inference.py.
"""
from __future__ import annotations

from matdiff.language.dims import DIM_NAMES, FRESH, Dims, Strict, as2, dim_text, prod, shape_text  # noqa: F401 - re-exported
from matdiff.errors import ShapeError
from matdiff.language.expr import (
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity,
    BatchLogSumExp, BatchSoftmax, Inverse, Kron, LogDet, LogSoftmax, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Softmax, Sum, Trace,
    Transpose, Unvec, Var, Vec, Zero, Pow, children,
)

# ---- the rules: node, child shapes -> shape ---------------------------------------------------

def _need(ok: bool, message) -> None:
    if not ok:
        raise ShapeError(message() if callable(message) else message)


def _show(e: Expr, s, u: Dims) -> str:
    return f"{e} ({shape_text(u.resolve(s))})"


def shape_matmul(e, ss, u):
    rows, cols = ss[0]
    for a, b, s in zip(e.args, e.args[1:], ss[1:]):
        _need(u.unify(cols, s[0]), lambda: f"cannot multiply {_show(_left(e, a), (rows, cols), u)} "
                                           f"by {_show(b, s, u)}")
        cols = s[1]
    return rows, cols


def _left(e, a):
    """The product of the factors up to and including a (for error messages)."""
    i = e.args.index(a)
    return a if i == 0 else MatMul(e.args[:i + 1])


def shape_same(op):
    def rule(e, ss, u):
        for a, s in zip(e.args[1:], ss[1:]):
            _need(u.unify(ss[0][0], s[0]) and u.unify(ss[0][1], s[1]),
                  lambda: f"cannot {op} {_show(e.args[0], ss[0], u)} and {_show(a, s, u)}")
        return ss[0]
    return rule


def shape_mul(e, ss, u):
    """Scalar multiplication: all factors but one are 1x1."""
    main = next((i for i, s in enumerate(ss) if not u.is_one(s)), 0)
    for i, (a, s) in enumerate(zip(e.args, ss)):
        if i != main:
            _need(u.unify(s[0], 1) and u.unify(s[1], 1),
                  lambda: f"cannot multiply {_show(e.args[main], ss[main], u)} by {_show(a, s, u)}: "
                          f"one of the two must be a scalar")
    return ss[main]


def shape_hadamard_pow(e, ss, u):
    """x .^ k is shaped like x; the divisor of `a / b` (written "/") is a scalar: made 1x1 here
    if it can be, else refused at the `/` (a row, a column, a matrix)."""
    if e.written == "/" and not (u.unify(ss[0][0], 1) and u.unify(ss[0][1], 1)):
        raise division_error(e, f"{e.arg} is {shape_text(u.resolve(ss[0]))}")
    return ss[0]


def shape_transpose(e, ss, u):
    """A^T; the x of NumPy's dot(x, y), read as x^T y (written "dot"), is a vector."""
    if e.written == "dot" and not u.unify(ss[0][1], 1):
        raise dot_error(e, f"{e.arg} is {shape_text(u.resolve(ss[0]))}")
    return ss[0][::-1]


def dot_error(e, why: str) -> ShapeError:
    line, column, shown = e.at or (None, None, "")
    where = f"line {line}, column {column}: " if line else ""
    caret_block = f"\n{shown}" if shown else ""
    return ShapeError(f"{where}dot(x, y) is read as the inner product x^T y of two vectors, but {why}; "
                      f"for the matrix product write {e.arg} @ y (or {e.arg} y){caret_block}")


def division_error(e, why: str) -> ShapeError:
    """`/` by something that is not a scalar, located at the `/`, with the parentheses or the
    `./` that were probably meant (e.at: see HadamardPow)."""
    line, column, shown, num, den, rest = e.at or (None, None, "", "", str(e.arg), "")
    where = f"line {line}, column {column}: " if line else ""
    fixes = []
    if rest:
        fixes.append(f"to divide by {den} {rest} write ({num}) / ({den} {rest})")
    fixes.append(f"for the elementwise quotient write {num} ./ {den}" if num else "for the elementwise quotient write ./")
    caret_block = f"\n{shown}" if shown else ""
    return ShapeError(f"{where}`/` divides by a scalar only, but the divisor {den} is not one: {why}; "
                      f"{'; '.join(fixes)}{caret_block}")


def square(what, result):
    """The rule of an operation on a square matrix, whose result is shaped like the argument
    (result="same": the inverse, a power) or 1x1 (result="scalar": the trace, the determinant);
    `what` names the operation in the message."""
    if result not in ("same", "scalar"):
        raise ValueError(f"result is 'same' or 'scalar', not {result!r}")

    def rule(e, ss, u):
        (r, c), = ss
        _need(u.unify(r, c), lambda: f"{what} needs a square matrix, but {_show(e.arg, ss[0], u)} is not square")
        return (r, r) if result == "same" else (1, 1)
    return rule


def shape_det(e, ss, u):
    """det(X) of a square matrix. `|X|` from LaTeX (e.at marks it) is the absolute value of a
    scalar (inference rewrites it); of a vector it could mean |x| entrywise or its norm: refused,
    except as matdiff's LaTeX printer writes abs(x), `\\left|x\\right|`."""
    if e.at:
        r, c = u.resolve(ss[0])
        if u.is_one((r, c)):
            return (1, 1)
        if (r == 1 or c == 1) and e.at[3].startswith("\\left"):
            return (r, c)          # \left|x\right|: the entrywise absolute value, as matdiff's LaTeX prints abs(x)
        if r == 1 or c == 1:
            line, column, source, written = e.at[:4]
            raise ShapeError(f"line {line}, column {column}: {written} of a vector ({_show(e.arg, ss[0], u)}) "
                             f"could mean the absolute value of each entry or the vector's norm (a "
                             f"determinant needs a square matrix): write \\operatorname{{abs}}({e.arg}) for "
                             f"the first, \\|{e.arg}\\| for the second\n{source}")
    return _det_rule(e, ss, u)


_det_rule = square("the determinant", result="scalar")


def shape_vector_fn(out):
    """softmax(x), logsumexp(x): of a vector. Of a matrix, which way (each row or each column)
    is never guessed: the message shows both spellings."""
    def rule(e, ss, u):
        (r, c), = ss
        name = "logsoftmax" if isinstance(e, LogSoftmax) else type(e).__name__.lower()
        line, column, source = e.at or (None, None, "")
        _need(u.unify(c, 1), lambda: (f"line {line}, column {column}: " if line else "") +
                                     f"{name} needs a vector, but {_show(e.arg, ss[0], u)} is not one; "
                                     f"for a matrix say which way: {name}({e.arg}, rows) of each row, "
                                     f"or {name}({e.arg}, cols) of each column" + (f"\n{source}" if source else ""))
        return (r, 1) if out == "vector" else (1, 1)
    return rule


def _along_more_than_one(e, ss, u):
    """softmax(z, rows) of a column runs over rows of one entry each: every entry 1 (and
    logsumexp(z, rows) is z itself). Surely not what was meant: refused, with the spelling for
    the function of the whole vector."""
    (r, c), = ss
    other = "cols" if e.axis == "rows" else "rows"
    name = {BatchSoftmax: "softmax", BatchLogSumExp: "logsumexp", LogSoftmax: "logsoftmax"}[type(e)]
    value = {"softmax": "every entry is 1", "logsumexp": f"it is {e.arg} itself", "logsoftmax": "every entry is 0"}[name]
    line, column, source = e.at or (None, None, "")
    _need(u.find(c if e.axis == "rows" else r) != 1,
          lambda: (f"line {line}, column {column}: " if line else "") + f"{name}({e.arg}, {e.axis}): each {'row' if e.axis == 'rows' else 'column'} of {_show(e.arg, ss[0], u)} has one entry, "
                  f"so {value}; for the {name} of the {'column' if e.axis == 'rows' else 'row'} write "
                  + (f"{name}({e.arg}) or " if e.axis == "rows" else "") + f"{name}({e.arg}, {other})"
                  + (f"\n{source}" if source else ""))


def shape_batch_softmax(e, ss, u):
    _along_more_than_one(e, ss, u)
    return ss[0]


def shape_log_softmax(e, ss, u):
    if e.axis == "vector":
        return shape_vector_fn("vector")(e, ss, u)
    _along_more_than_one(e, ss, u)
    return ss[0]


def shape_batch_logsumexp(e, ss, u):
    """logsumexp(Z, rows) is a column (one entry per row), logsumexp(Z, cols) a row."""
    _along_more_than_one(e, ss, u)
    (r, c), = ss
    return (r, 1) if e.axis == "rows" else (1, c)


def shape_diag(e, ss, u):
    (r, c), = ss
    return (r, r)  # DiagMat: the vector arg was checked in resolve_diag


def shape_diag_of(e, ss, u):
    (r, c), = ss
    _need(u.unify(r, c), lambda: f"diag needs a vector or a square matrix, but {_show(e.arg, ss[0], u)} is neither")
    return (r, 1)


def shape_pow(e, ss, u):
    """base .^ exponent: the same shape, or one of the two 1x1 (broadcast); `a^b` (written "^"
    by the parser) is a power of scalars."""
    (base, exp), (s, t) = e.args, ss
    if e.written == "^":
        for x, shape in ((base, s), (exp, t)):
            _need(u.unify(shape[0], 1) and u.unify(shape[1], 1),
                  lambda: f"{e}: ^ with a variable exponent is a power of scalars, but "
                          f"{_show(x, shape, u)} is not a scalar; for the elementwise power write "
                          f"{Pow((base, exp), '.^')}")
        return 1, 1
    if u.is_one(t):
        return s
    if u.is_one(s):
        return t
    _need(u.unify(s[0], t[0]) and u.unify(s[1], t[1]),
          lambda: f"cannot raise {_show(base, s, u)} elementwise to {_show(exp, t, u)}: the exponent is "
                  f"a scalar or has the base's shape")
    return s


def shape_kron(e, ss, u):
    rows, cols = ss[0]
    for r, c in ss[1:]:
        rows, cols = prod(rows, r), prod(cols, c)
    return rows, cols


def shape_unvec(e, ss, u):
    (r, c), = ss
    rows, cols = dim_text(e.rows), dim_text(e.cols)
    _need(u.unify(c, 1) and u.unify(r, prod(e.rows, e.cols)),
          lambda: f"cannot reshape {_show(e.arg, ss[0], u)} into {rows}×{cols}: unvec(v, {rows}, {cols}) "
                  f"needs a vector of {dim_text(prod(e.rows, e.cols))} entries")
    return e.rows, e.cols


SHAPE_RULES = {
    Const:        lambda e, ss, u: (1, 1),
    Identity:     lambda e, ss, u: (e.n, e.n),
    Zero:         lambda e, ss, u: e.shape,
    Ones:         lambda e, ss, u: e.shape,
    Var:          lambda e, ss, u: as2(e.shape),
    Differential: lambda e, ss, u: shape_of(e.of),
    Add:          shape_same("add"),
    Hadamard:     shape_same("multiply elementwise"),
    MatMul:       shape_matmul,
    Mul:          shape_mul,
    Kron:         shape_kron,
    Pow:          shape_pow,
    Transpose:    shape_transpose,
    Inverse:      square("the inverse", result="same"),
    MatPow:       square("a matrix power", result="same"),
    HadamardPow:  shape_hadamard_pow,
    Apply:        lambda e, ss, u: ss[0],
    Trace:        square("the trace", result="scalar"),
    Det:          shape_det,
    LogDet:       square("the log-determinant", result="scalar"),
    Sum:          lambda e, ss, u: (1, 1),
    Norm:         lambda e, ss, u: (1, 1),
    DiagMat:      shape_diag,
    DiagOf:       shape_diag_of,
    Vec:          lambda e, ss, u: (prod(ss[0][0], ss[0][1]), 1),
    Unvec:        shape_unvec,
    Softmax:      shape_vector_fn("vector"),
    LogSumExp:    shape_vector_fn("scalar"),
    BatchSoftmax: shape_batch_softmax,
    BatchLogSumExp: shape_batch_logsumexp,
    LogSoftmax:   shape_log_softmax,
}

_STRICT = Strict()


def shape_of(e: Expr) -> tuple:
    """The (rows, cols) of a shaped expression; computed once per node and kept on it.
    The walk stops at nodes that already know their shape, so building a tree node by
    node costs linear time, not quadratic."""
    try:
        return e._shape
    except AttributeError:
        pass
    stack = [(e, False)]
    while stack:
        n, ready = stack.pop()
        if hasattr(n, "_shape"):
            continue
        kids = children(n)
        if not ready:
            stack.append((n, True))
            stack.extend((c, False) for c in kids if not hasattr(c, "_shape"))
            continue
        if isinstance(n, Var) and n.shape is None:
            raise ShapeError(f"{n.name} has no shape yet")
        s = SHAPE_RULES[type(n)](n, [c._shape for c in kids], _STRICT)
        object.__setattr__(n, "_shape", s)
    return e._shape


def is_scalar(e: Expr) -> bool:
    return shape_of(e) == (1, 1)
