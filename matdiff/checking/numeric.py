"""Evaluate an Expr with NumPy; the finite-difference check behind `matdiff.check` and `--check`.

Every value is a 2-D float array (a vector is n x 1, a scalar 1 x 1). Abstract
functions get concrete stand-ins, a different one for each name, so that Phi and
Psi can never be confused: the k-th derivative of sin(a t + b) is
a^k sin(a t + b + k pi/2), known for every k.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from matdiff.language import functions as F
from matdiff.errors import DerivativeError, MatdiffError
from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity, Inverse,
    Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Softmax, Sum, Trace, Transpose, Unvec, Var,
    Vec, Zero, children, postorder,
)


# name -> (f, f', f'', f''') as NumPy functions of an array, from the records
ELEMENTWISE = {name: r.numpy(np) for name, r in F.ELEMENTWISE.items()}


def stand_in(name: str):
    """The concrete function that replaces an abstract one in numerical checks: sin(a t + b)."""
    h = zlib.crc32(name.encode())
    a = 0.6 + (h % 1000) / 1000          # in [0.6, 1.6)
    b = ((h // 1000) % 1000) / 1000 * 3  # in [0, 3)
    return a, b


def elementwise(fn, x):
    if fn.name in ELEMENTWISE:
        table = ELEMENTWISE[fn.name]
        if fn.order >= len(table):
            raise DerivativeError(f"{fn.name} has no derivative of order {fn.order} here")
        return table[fn.order](x)
    a, b = stand_in(fn.name)
    return a**fn.order * np.sin(a * x + b + fn.order * np.pi / 2)


def dim(d, dims: dict) -> int:
    if isinstance(d, int):
        return d
    if isinstance(d, tuple):
        return dim(d[1], dims) * dim(d[2], dims)
    return dims[d]


def _mul(vals):
    out = 1.0
    wide = None
    for v in vals:
        if v.shape == (1, 1):
            out = out * v[0, 0]
        else:
            wide = v
    return out * wide if wide is not None else np.array([[out]])


def _logdet(X):
    sign, ld = np.linalg.slogdet(X)
    return np.array([[ld if sign > 0 else np.nan]])


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _batch_softmax(Z, axis):
    e = np.exp(Z - Z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _batch_logsumexp(Z, axis):
    return np.logaddexp.reduce(Z, axis=axis, keepdims=True)


AXIS = {"rows": 1, "cols": 0, "vector": 0}   # softmax(Z, rows) runs along each row: NumPy's axis 1


def _chain(vals):
    out = vals[0]
    for v in vals[1:]:
        out = out @ v
    return out


EVAL = {
    Const:       lambda e, v, env: np.array([[float(e.value)]]),
    Identity:    lambda e, v, env: np.eye(dim(e.n, env.dims)),
    Zero:        lambda e, v, env: np.zeros([dim(d, env.dims) for d in e.shape]),
    Ones:        lambda e, v, env: np.ones([dim(d, env.dims) for d in e.shape]),
    Var:         lambda e, v, env: env.value(e.name),
    Differential: lambda e, v, env: _differential(e, env),
    Add:         lambda e, v, env: sum(v[1:], v[0]),
    Mul:         lambda e, v, env: _mul(v),
    MatMul:      lambda e, v, env: _chain(v),
    Hadamard:    lambda e, v, env: np.prod(np.stack(v), axis=0),
    Kron:        lambda e, v, env: _kron(v),
    Transpose:   lambda e, v, env: v[0].T,
    Inverse:     lambda e, v, env: _inv(v[0]),
    MatPow:      lambda e, v, env: np.linalg.matrix_power(v[0] if e.k > 0 else _inv(v[0]), abs(int(e.k))),
    HadamardPow: lambda e, v, env: _power(v[0], e.k),
    Pow:         lambda e, v, env: _variable_power(v[0], v[1]),
    Apply:       lambda e, v, env: elementwise(e.fn, v[0]),
    Trace:       lambda e, v, env: np.array([[np.trace(v[0])]]),
    Det:         lambda e, v, env: np.array([[np.linalg.det(v[0])]]),
    LogDet:      lambda e, v, env: _logdet(v[0]),
    Sum:         lambda e, v, env: np.array([[v[0].sum()]]),
    Norm:        lambda e, v, env: np.array([[np.linalg.norm(v[0])]]),
    DiagMat:     lambda e, v, env: np.diag(v[0][:, 0]),
    DiagOf:      lambda e, v, env: np.diag(v[0]).reshape(-1, 1).copy(),
    Vec:         lambda e, v, env: v[0].reshape(-1, 1, order="F"),
    Unvec:       lambda e, v, env: v[0].reshape(dim(e.rows, env.dims), dim(e.cols, env.dims), order="F"),
    Softmax:     lambda e, v, env: _softmax(v[0]),
    LogSumExp:   lambda e, v, env: np.array([[np.logaddexp.reduce(v[0][:, 0])]]),
    BatchSoftmax: lambda e, v, env: _batch_softmax(v[0], AXIS[e.axis]),
    BatchLogSumExp: lambda e, v, env: _batch_logsumexp(v[0], AXIS[e.axis]),
    LogSoftmax:  lambda e, v, env: v[0] - _batch_logsumexp(v[0], AXIS[e.axis]),
}


def _variable_power(a, b):
    """a .^ b, a 1x1 side broadcast; NaN where the base is not positive (outside the domain)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.where(a > 0, np.abs(a) ** b, np.nan)


def _differential(e, env):
    """dW is evaluated as the direction bound to the name 'dW'."""
    if not isinstance(e.of, Var):
        raise MatdiffError(f"cannot evaluate d({e.of})")
    return env.value("d" + e.of.name)


def _inv(X):
    """X^-1, or NaN where X is singular: like every other undefined value here, not an exception."""
    try:
        return np.linalg.inv(X)
    except np.linalg.LinAlgError:
        return np.full_like(X, np.nan, dtype=float)


def _kron(vals):
    out = vals[0]
    for v in vals[1:]:
        out = np.kron(out, v)
    return out


def _power(x, k):
    k = float(k) if k.denominator != 1 else int(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.power(x, k) if not isinstance(k, int) or k >= 0 else 1.0 / np.power(x, -k)


@dataclass
class Env:
    """Values by name (2-D arrays) and the size of every symbolic dimension."""
    values: dict
    dims: dict = field(default_factory=dict)

    def value(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise MatdiffError(f"no value given for {name}") from None


def evaluate(e: Expr, env: Env) -> np.ndarray:
    """The value of e (each shared node computed once)."""
    memo: dict = {}
    with np.errstate(all="ignore"):
        for n in postorder(e):
            memo[n] = EVAL[type(n)](n, [memo[c] for c in children(n)], env)
    return memo[e]


def evaluate_many(roots: list, env: Env, jitter=None) -> list:
    """The values of several expressions, shared nodes computed once. jitter=(rng, r): every value
    computed, inputs and numbers included, is multiplied entrywise by 1 + r N(0, 1), as rounding
    might have perturbed it (checking.rounding_noise)."""
    memo: dict = {}
    with np.errstate(all="ignore"):
        for r in roots:
            for n in postorder(r):
                if n not in memo:
                    v = EVAL[type(n)](n, [memo[c] for c in children(n)], env)
                    if jitter is not None:
                        v = v * (1 + jitter[1] * jitter[0].standard_normal(np.shape(v)))
                    memo[n] = v
    return [memo[r] for r in roots]
