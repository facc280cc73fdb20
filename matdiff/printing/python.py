"""Expr -> one Python expression for NumPy, JAX or PyTorch. PY is the table, one row per node.

codegen.py decides what is computed once and named; this printer writes one statement's
right-hand side, printing a named sub-expression by its name. Vectors are columns (n, 1),
so that every node keeps the 2-D shape matdiff gives it; a 1x1 result of `@` stays (1, 1),
and the reductions (tr, sum, det, ...) give 0-d scalars, which broadcast alike.

What is never formed (the point of generated code over a literal transcription):
  diag(v) M -> v * M   and   M diag(v) -> M * v.T   (v a column), diag(v) x -> v * x
  (A ⊗ B) vec(X) -> vec(B X A^T),  v^T (A ⊗ B) -> vec(B^T unvec(v) A)^T
  X^-1 B -> solve(X, B);  tr(A B) -> sum(A * B^T);  diag(A B) -> row sums of A * B^T
A product of several factors is evaluated in the cheapest order (matrix-chain DP, symbolic
dimensions taken as large), so `A B x` is `A @ (B @ x)`. A diagonal matrix, a Kronecker
product or an inverse is formed only where the result itself is one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import MatdiffError
from ..expr import (
    Add,
    Apply,
    Const,
    Det,
    DiagMat,
    DiagOf,
    Differential,
    Expr,
    Hadamard,
    HadamardPow,
    Identity,
    Inverse,
    Kron,
    LogDet,
    LogSumExp,
    MatMul,
    MatPow,
    Mul,
    Norm,
    Ones,
    Softmax,
    Sum,
    Trace,
    Transpose,
    Unvec,
    Var,
    Vec,
    Zero,
)
from ..kronecker import is_commutation
from ..shapes import is_scalar, shape_of

# how tightly a piece of Python binds (higher binds tighter)
ADD, MUL, UNARY, POWER, POSTFIX, ATOM = 50, 60, 70, 80, 90, 100
DOT = POSTFIX - 1     # the level of `x` in `x.T`, `x.reshape(...)`: a postfix needs no parentheses


@dataclass(frozen=True)
class Backend:
    """The spellings that differ between NumPy, JAX and PyTorch ({m} is the module alias)."""
    name: str
    m: str
    imports: tuple
    ops: dict
    helpers: dict = field(default_factory=dict)   # helper name -> its source, added where used


_COMMON = {
    "exp": "{m}.exp({x})", "log": "{m}.log({x})", "sin": "{m}.sin({x})", "cos": "{m}.cos({x})",
    "tanh": "{m}.tanh({x})", "sqrt": "{m}.sqrt({x})", "sum": "{m}.sum({x})", "trace": "{m}.trace({x})",
    "inv": "{m}.linalg.inv({x})", "solve": "{m}.linalg.solve({x}, {y})", "det": "{m}.linalg.det({x})",
    "logdet": "{m}.linalg.slogdet({x})[1]", "norm": "{m}.linalg.norm({x})", "kron": "{m}.kron({x}, {y})",
    "matrix_power": "{m}.linalg.matrix_power({x}, {k})", "diagflat": "{m}.diagflat({x})",
    "diagonal": "{m}.diagonal({x})[:, None]",
    "eye": "{m}.eye({n})", "zeros": "{m}.zeros(({r}, {c}))",
    "ones": "{m}.ones(({r}, {c}))", "rowsum": "{m}.sum({x}, axis=1, keepdims=True)",
    "swap01": "transpose(1, 0, 2)", "hstack": "{m}.hstack(({x}))",
}

NUMPY = Backend("numpy", "np", ("import numpy as np",), {
    **_COMMON, "sigmoid": "_sigmoid({x})", "relu": "np.maximum({x}, 0.0)", "softplus": "np.logaddexp(0.0, {x})",
    "softmax": "_softmax({x})", "logsumexp": "_logsumexp({x})",
}, {
    "_sigmoid": "def _sigmoid(t):\n    \"\"\"1 / (1 + e^-t), accurate in both tails.\"\"\"\n"
                "    return np.exp(-np.logaddexp(0.0, -t))\n",
    "_softmax": "def _softmax(x):\n    e = np.exp(x - np.max(x))\n    return e / np.sum(e)\n",
    "_logsumexp": "def _logsumexp(x):\n    m = np.max(x)\n    return m + np.log(np.sum(np.exp(x - m)))\n",
})

JAX = Backend("jax", "jnp", ("import jax", "import jax.numpy as jnp"), {
    **_COMMON, "sigmoid": "jax.nn.sigmoid({x})", "relu": "jnp.maximum({x}, 0.0)", "softplus": "jax.nn.softplus({x})",
    "softmax": "jax.nn.softmax({x}, axis=0)", "logsumexp": "jax.nn.logsumexp({x})",
})

TORCH = Backend("torch", "torch", ("import torch",), {
    **_COMMON, "sigmoid": "torch.sigmoid({x})", "relu": "torch.relu({x})",
    "softplus": "torch.nn.functional.softplus({x})", "softmax": "torch.softmax({x}, dim=0)",
    "logsumexp": "torch.logsumexp({x}.reshape(-1), 0)", "eye": "torch.eye({n}, dtype=dtype)",
    "zeros": "torch.zeros(({r}, {c}), dtype=dtype)", "ones": "torch.ones(({r}, {c}), dtype=dtype)",
    "rowsum": "torch.sum({x}, dim=1, keepdim=True)", "swap01": "permute(1, 0, 2)",
    "kron": "torch.kron({x}.contiguous(), {y}.contiguous())",   # torch 2.13: kron of a transposed view fails
})

BACKENDS = {b.name: b for b in (NUMPY, JAX, TORCH)}

# The k-th derivative of each built-in elementwise function, over {x}; "op:NAME" is a backend op.
ELEMENTWISE = {
    "exp":      ["op:exp"] * 4,
    "log":      ["op:log", "1 / {x}", "-1 / {x} ** 2", "2 / {x} ** 3"],
    "sin":      ["op:sin", "op:cos", "-op:sin", "-op:cos"],
    "cos":      ["op:cos", "-op:sin", "-op:cos", "op:sin"],
    "tanh":     ["op:tanh"],
    "sigmoid":  ["op:sigmoid"],
    "relu":     ["op:relu"],
    "softplus": ["op:softplus"],
    "sqrt":     ["op:sqrt", "0.5 / op:sqrt", "-0.25 * {x} ** -1.5", "0.375 * {x} ** -2.5"],
}

# Derivatives written with the function's value y = f(x), which the forward pass has computed
# already: tanh' = 1 - y^2, sigmoid' = y (1 - y), relu' = sign(y), as back-propagation code
# writes them. codegen.lower turns tanh^(k)(x) into Apply(Fn("tanh@y", k), tanh(x)).
Y_FORMS = {
    "relu":    [None, "{m}.sign({y})", "0 * {y}", "0 * {y}"],
    "tanh":    [None, "1 - {y} ** 2", "-2 * {y} * (1 - {y} ** 2)", "(6 * {y} ** 2 - 2) * (1 - {y} ** 2)"],
    "sigmoid": [None, "{y} * (1 - {y})", "{y} * (1 - {y}) * (1 - 2 * {y})",
                "{y} * (1 - {y}) * (1 - 6 * {y} * (1 - {y}))"],
}
Y_SUFFIX = "@y"

_SIMPLE = re.compile(r"[\w.]+(\((?:[^()]|\([^()]*\))*\))?")
_CALL = re.compile(r"[\w.]+\((?:[^()]|\([^()]*\))*\)(\[[^\]]*\])?")

N_LARGE = 1000   # the size a symbolic dimension is taken to have when ordering a product


def number(k: Fraction) -> str:
    return str(k.numerator) if k.denominator == 1 else repr(k.numerator / k.denominator)


def derivative_name(name: str, order: int) -> str:
    """The parameter that carries an abstract function's derivative: Phi_prime, Phi_prime2, ..."""
    return name if order == 0 else f"{name}_prime" if order == 1 else f"{name}_prime{order}"


class PythonPrinter:
    """Expr -> (text, precedence, operator). `names` maps computed nodes to their local names;
    `dim` turns a dimension into text; `fn_param` names an abstract function's parameter."""

    def __init__(self, backend: Backend, names: dict, dim, fn_param):
        self.b = backend
        self.names = names
        self.dim = dim
        self.fn_param = fn_param
        self.helpers: set = set()
        self.uses_dtype = False

    # -- entry points
    def __call__(self, e: Expr) -> str:
        """The right-hand side of e's own statement (e itself is not replaced by its name)."""
        return PY[type(e)](e, self)[0]

    def term(self, e: Expr) -> tuple:
        if e in self.names:
            return self.names[e], ATOM, None
        return PY[type(e)](e, self)

    def op(self, name: str, **kw) -> str:
        template = self.b.ops[name]
        for key, value in kw.items():                   # `{x}.contiguous()`: x must be one piece
            if "{" + key + "}." in template and not _SIMPLE.fullmatch(value):
                kw[key] = f"({value})"
        if name in ("sigmoid", "softmax", "logsumexp") and self.b.helpers:
            self.helpers.add("_" + name)
        if "dtype" in template:
            self.uses_dtype = True
        return template.format(m=self.b.m, **kw)

    # -- wrapping
    def arg(self, e: Expr) -> str:
        """e as a function argument: never in parentheses."""
        return self.term(e)[0]

    def at(self, e: Expr, level: int, op: str | None = None, left: bool = True) -> str:
        return wrap(self.term(e), level, op, left)

    def dims(self, e: Expr) -> tuple:
        r, c = shape_of(e)
        return self.dim(r), self.dim(c)


def wrap(t: tuple, level: int, op: str | None = None, left: bool = True) -> str:
    """Parenthesize a piece that binds looser than `level`. At the product level, `*` and `@`
    bind alike in Python, so a piece of the other operator, or on the right of `@`, is wrapped."""
    text, prec, own = t
    if prec > level:
        return text
    if prec == level and level == MUL and op is not None and own == op and (left or op == "*"):
        return text
    return f"({text})"


def template_prec(text: str) -> int:
    return ATOM if _CALL.fullmatch(text) else ADD


# ---- leaves --------------------------------------------------------------------------------------

def py_const(e: Const, p) -> tuple:
    s = number(e.value)
    return s, (UNARY if e.value < 0 else ATOM), None


def py_var(e: Var, p) -> tuple:
    raise MatdiffError(f"internal: no local name for {e.name}")     # Vars are always in names


def py_identity(e: Identity, p) -> tuple:
    return p.op("eye", n=p.dim(shape_of(e)[0])), ATOM, None


def py_zero(e: Zero, p) -> tuple:
    r, c = p.dims(e)
    return p.op("zeros", r=r, c=c), ATOM, None


def py_ones(e: Ones, p) -> tuple:
    r, c = p.dims(e)
    return p.op("ones", r=r, c=c), ATOM, None


# ---- sums and products -----------------------------------------------------------------------------

def _negated(e: Expr):
    """-A -> A, -2 A -> 2 A, -3 -> 3; None if e prints without a leading minus."""
    if isinstance(e, Const) and e.value < 0:
        return Const(-e.value)
    if isinstance(e, Mul) and isinstance(e.args[0], Const) and e.args[0].value < 0:
        k = -e.args[0].value
        rest = e.args[1:]
        if k == 1:
            return rest[0] if len(rest) == 1 else Mul(rest)
        return Mul((Const(k), *rest))
    return None


def _broadcast(e: Expr):
    """k * Ones(...) or Ones: the scalar part alone (it broadcasts in a sum), else None."""
    if isinstance(e, Ones):
        return Const(Fraction(1))
    if isinstance(e, Mul) and isinstance(e.args[-1], Ones):
        rest = e.args[:-1]
        return rest[0] if len(rest) == 1 else Mul(rest)
    return None


def py_add(e: Add, p) -> tuple:
    """a + b - c; a constant matrix k 1 1^T in a sum is the number k (it broadcasts); two or
    more outer products u v^T in a sum are one product [u1 u2 ...] [v1 v2 ...]^T (one BLAS call
    writes the result once, instead of a pass per term and per addition)."""
    outer = [a for a in e.args if _outer(a, p) is not None]
    fused = _fused_outer(outer, p) if len(outer) >= 2 else None
    terms = [a for a in e.args if fused is None or a not in outer]
    full = fused is not None or any(a in p.names or _broadcast(a) is None for a in terms)
    parts = [fused] if fused is not None else []
    for a in terms:
        if full and a not in p.names and _broadcast(a) is not None:
            a = _broadcast(a)
        neg = None if a in p.names else _negated(a)
        if not parts:
            parts.append(p.at(a, ADD - 1) if neg is None else "-" + p.at(neg, MUL, "*"))
        elif neg is not None:
            parts.append(" - " + p.at(neg, ADD))
        else:
            parts.append(" + " + p.at(a, ADD - 1))
    return "".join(parts), ADD, None


def _outer(e: Expr, p):
    """u v^T (or s u v^T) with u a column and v^T a row: (s or None, u, v^T); else None."""
    if e in p.names:
        return None
    s = None
    if isinstance(e, Mul) and isinstance(e.args[-1], MatMul):
        rest = e.args[:-1]
        s, e = (rest[0] if len(rest) == 1 else Mul(rest)), e.args[-1]
    if isinstance(e, MatMul) and len(e.args) == 2 and e not in p.names:
        (r, k), (_, c) = shape_of(e.args[0]), shape_of(e.args[1])
        if k == 1 and r != 1 and c != 1 and piece(e.args[0], p).kind == "dense" and \
                piece(e.args[1], p).kind == "dense":
            return s, e.args[0], e.args[1]
    return None


def _fused_outer(terms: list, p) -> str:
    us, vs = [], []
    for t in terms:
        s, u, vT = _outer(t, p)
        us.append(p.arg(u) if s is None else f"{p.at(s, MUL, '*')} * {p.at(u, MUL, '*')}")
        vs.append(transposed_text(vT, p, ADD))
    return f"{p.op('hstack', x=', '.join(us))} @ {p.op('hstack', x=', '.join(vs))}.T"


def py_mul(e: Mul, p) -> tuple:
    """Scalars times at most one matrix: `0.5 * x`, `-(a @ b)`, `s * M`; s * diag(v) stays diagonal."""
    if not is_scalar(e) and _diag_vector(e.args[-1], p) is not None:
        return p.op("diagflat", x=_diag_vector(e, p)[0]), ATOM, None
    k = e.args[0].value if isinstance(e.args[0], Const) else None
    rest = e.args[1:] if k is not None else e.args
    body = " * ".join(p.at(a, MUL, "*") for a in rest)
    if k is None or k == 1:
        return body, MUL, "*"
    if k == -1:
        return "-" + (p.at(rest[0], UNARY) if len(rest) == 1 else f"({body})"), UNARY, None
    return f"{number(k)} * {body}", (ADD if k < 0 else MUL), "*"


def py_hadamard(e: Hadamard, p) -> tuple:
    return " * ".join(p.at(a, MUL, "*") for a in e.args), MUL, "*"


def py_matmul(e: MatMul, p) -> tuple:
    scalars = [a for a in e.args if is_scalar(a)]          # a 1x1 factor multiplies
    chain = [a for a in e.args if not is_scalar(a)]
    t = chain_product(chain, p) if chain else ("1", ATOM, None)
    if not scalars:
        return t
    return " * ".join([p.at(s, MUL, "*") for s in scalars] + [wrap(t, MUL, "*")]), MUL, "*"


# ---- a product in the cheapest order, with diagonal, Kronecker and inverse factors applied ---------

@dataclass
class Piece:
    """A computed part of a product: 'dense' text, or a factor not to be formed: 'diag' (its
    vector's text), 'kron' (a sum of scaled Kronecker products: (coefficient or None, A, B)),
    'inv' (X of X^-1), 'perm' (the commutation matrix K_{m,n}: (m, n)), 'vec' (vec(X): X)."""
    kind: str
    shape: tuple
    text: tuple = None          # (text, prec, op) for dense and vec; the vector for diag
    parts: tuple = ()
    node: Expr = None           # the factor itself, to form it when nothing better is possible


def _size(d) -> int:
    if isinstance(d, int):
        return d
    if isinstance(d, tuple):
        return _size(d[1]) * _size(d[2])
    return N_LARGE


def _diag_vector(e: Expr, p):
    """diag(v) -> v's text; s diag(v) -> s * v; diag(v)^-1 -> 1 / v; diag(v)^k -> v ** k. None otherwise."""
    if e in p.names:
        return None
    if isinstance(e, DiagMat):
        return p.term(e.arg)
    if isinstance(e, Inverse) and isinstance(e.arg, DiagMat) and e.arg not in p.names:
        return f"1 / {p.at(e.arg.arg, MUL, '/')}", MUL, "/"
    if isinstance(e, MatPow) and isinstance(e.arg, DiagMat) and e.arg not in p.names:
        return f"{p.at(e.arg.arg, POWER)} ** {number(e.k)}", POWER, None
    if isinstance(e, Mul) and not isinstance(e.args[-1], Ones):
        v = _diag_vector(e.args[-1], p)
        if v is not None:
            return " * ".join([p.at(a, MUL, "*") for a in e.args[:-1]] + [wrap(v, MUL, "*")]), MUL, "*"
    return None


def _kron_terms(e: Expr, p):
    """A ⊗ B, s (A ⊗ B) and sums of them -> [(s or None, A, B)]; None for anything else."""
    if e in p.names:
        return None
    if isinstance(e, Kron):
        return [(None, e.args[0], e.args[1] if len(e.args) == 2 else Kron(e.args[1:]))]
    if isinstance(e, Mul) and isinstance(e.args[-1], Kron) and e.args[-1] not in p.names:
        (_, A, B), = _kron_terms(e.args[-1], p)
        rest = e.args[:-1]
        return [(rest[0] if len(rest) == 1 else Mul(rest), A, B)]
    if isinstance(e, Add):
        terms = [_kron_terms(a, p) for a in e.args]
        return None if any(t is None for t in terms) else [t for ts in terms for t in ts]
    return None


def piece(e: Expr, p) -> Piece:
    shape = shape_of(e)
    v = _diag_vector(e, p)
    if v is not None:
        return Piece("diag", shape, v, node=e)
    if e not in p.names:
        terms = _kron_terms(e, p)
        if terms is not None:
            return Piece("kron", shape, parts=tuple(terms), node=e)
        mn = is_commutation(e)
        if mn is not None:
            return Piece("perm", shape, parts=mn, node=e)
        if isinstance(e, Inverse):
            return Piece("inv", shape, parts=(e.arg,), node=e)
        if isinstance(e, Vec):
            return Piece("vec", shape, p.term(e), parts=(e.arg,), node=e)
        if isinstance(e, Transpose) and isinstance(e.arg, Vec) and e.arg not in p.names:
            return Piece("vecT", shape, p.term(e), parts=(e.arg.arg,), node=e)
    return Piece("dense", shape, p.term(e), node=e)


def dense(x: Piece, p) -> tuple:
    """Form a piece: the only place a diagonal matrix, a Kronecker product or an inverse is built."""
    if x.kind in ("dense", "vec", "vecT"):
        return x.text
    if x.kind == "diag":
        return p.op("diagflat", x=x.text[0]), ATOM, None
    if x.kind == "kron":
        terms = [_scaled(s, p.op("kron", x=p.arg(A), y=_kron_text(B, p)), p) for s, A, B in x.parts]
        return " + ".join(terms), (ATOM if len(terms) == 1 and x.parts[0][0] is None else ADD), None
    if x.kind == "inv":
        return p.op("inv", x=p.arg(x.parts[0])), ATOM, None
    return PY[type(x.node)](x.node, p)                  # the commutation matrix, as matdiff builds it


def _scaled(s, text: str, p) -> str:
    return text if s is None else f"{p.at(s, MUL, '*')} * {text}"


def _kron_text(B: Expr, p) -> str:
    return p.arg(B) if not isinstance(B, Kron) or B in p.names else dense(piece(B, p), p)[0]


def _unvec(v: Piece, rows, cols, p) -> str:
    """The rows x cols matrix whose columns stacked are the vector v (column-major)."""
    if v.kind == "vec" and shape_of(v.parts[0]) == (rows, cols):
        return p.at(v.parts[0], DOT)
    return f"{wrap(dense(v, p), DOT)}.reshape({p.dim(cols)}, {p.dim(rows)}).T"


def transposed_text(e: Expr, p, level: int = MUL) -> str:
    """e^T as text: A^T of an unnamed transpose A^T is A itself."""
    if isinstance(e, Transpose) and e not in p.names:
        return p.at(e.arg, level, "@" if level == MUL else None)
    return f"{p.at(e, DOT)}.T"


def _sandwich(B: str | None, V: str, At: str | None) -> str:
    """B @ V @ A^T, leaving out an identity factor (None)."""
    return " @ ".join(t for t in (B, V, At) if t is not None)


def _factor(e: Expr, p, transposed: bool, side: str) -> str | None:
    if isinstance(e, Identity):
        return None
    if transposed:
        return transposed_text(e, p)
    return p.at(e, MUL, "@", left=(side == "left"))


def kron_apply(terms: tuple, M: Piece, p, transposed: bool = False) -> tuple:
    """(sum s_i A_i ⊗ B_i) M, each term as vec(B unvec(m) A^T) per column of M; with transposed,
    (sum s_i A_i^T ⊗ B_i^T) M. Returns (text tuple, cost)."""
    rows, c = M.shape
    out, cost = [], 0
    for s, A, B in terms:
        (pa, qa), (pb, qb) = shape_of(A), shape_of(B)
        if transposed:
            (pa, qa), (pb, qb) = (qa, pa), (qb, pb)
        Bt, At = _factor(B, p, transposed, "left"), _factor(A, p, not transposed, "right")
        if c == 1:
            body = _sandwich(Bt, _unvec(M, qb, qa, p), At)
            text = f"({body}).T.reshape(-1, 1)" if (Bt or At) else dense(M, p)[0]
        else:                                            # every column at once: a stack of qb x qa matrices
            V = f"{wrap(dense(M, p), DOT)}.T.reshape(-1, {p.dim(qa)}, {p.dim(qb)}).swapaxes(-1, -2)"
            text = f"({_sandwich(Bt, V, At)}).swapaxes(-1, -2).reshape(-1, {p.dim(pa)} * {p.dim(pb)}).T"
        out.append(_scaled(s, text, p))
        cost += _size(c) * (_size(pb) * _size(qb) * _size(qa) * (Bt is not None) +
                            _size(pb) * _size(qa) * _size(pa) * (At is not None) + _size(rows))
    return (" + ".join(out), POSTFIX if len(out) == 1 and terms[0][0] is None else ADD, None), cost


def permute_rows(mn: tuple, M: str, p) -> str:
    """K_{m,n} M: the rows of M permuted (K vec(A) = vec(A^T) for an m x n A)."""
    m, n = (p.dim(d) for d in mn)
    return f"{M}.reshape({n}, {m}, -1).{p.op('swap01')}.reshape({m} * {n}, -1)"


def combine(L: Piece, R: Piece, p) -> tuple:
    """L R as a Piece and its cost (entries touched, symbolic sizes taken as large)."""
    (r, k), (_, c) = L.shape, R.shape
    shape = (r, c)
    if L.kind == "diag" and R.kind == "diag":
        return Piece("diag", shape, (f"{wrap(L.text, MUL, '*')} * {wrap(R.text, MUL, '*')}", MUL, "*")), _size(r)
    if L.kind == "diag":                               # diag(v) M = v * M (v a column: scales the rows)
        return Piece("dense", shape, (f"{wrap(L.text, MUL, '*')} * {wrap(dense(R, p), MUL, '*')}", MUL, "*")), \
            _size(r) * _size(c)
    if R.kind == "diag":                               # M diag(v) = M * v^T (scales the columns)
        return Piece("dense", shape, (f"{wrap(dense(L, p), MUL, '*')} * {wrap(R.text, DOT)}.T", MUL, "*")), \
            _size(r) * _size(c)
    if L.kind == "kron" and R.kind not in ("kron", "perm"):    # (A ⊗ B) vec(X) = vec(B X A^T)
        text, cost = kron_apply(L.parts, R, p)
        return Piece("dense", shape, text), cost
    if R.kind == "kron" and L.kind not in ("kron", "perm"):    # M (A ⊗ B) = ((A^T ⊗ B^T) M^T)^T
        Lt = Piece("vec", L.shape[::-1], p.term(L.node.arg), parts=L.parts) if L.kind == "vecT" else \
            Piece("dense", L.shape[::-1], (f"{wrap(dense(L, p), DOT)}.T", POSTFIX, None))
        text, cost = kron_apply(R.parts, Lt, p, transposed=True)
        return Piece("dense", shape, (f"{wrap(text, DOT)}.T", POSTFIX, None)), cost
    if L.kind == "perm" and R.kind != "perm":          # K_{m,n} M permutes the rows of M
        return Piece("dense", shape, (permute_rows(L.parts, wrap(dense(R, p), DOT), p), POSTFIX, None)), \
            _size(k) * _size(c) * 2
    if R.kind == "perm" and L.kind != "perm":          # M K_{m,n} = (K_{n,m} M^T)^T
        m, n = R.parts
        text = permute_rows((n, m), f"{wrap(dense(L, p), DOT)}.T", p)
        return Piece("dense", shape, (f"{text}.T", POSTFIX, None)), _size(r) * _size(k) * 2
    if k == 1 and r != 1 and c != 1 and L.kind == R.kind == "dense":   # u v^T: u * v^T broadcasts
        text = f"{wrap(L.text, MUL, '*')} * {wrap(R.text, MUL, '*')}"
        return Piece("dense", shape, (text, MUL, "*")), _size(r) * _size(c)
    if L.kind == "inv":                                # X^-1 B = solve(X, B)
        text = p.op("solve", x=p.arg(L.parts[0]), y=dense(R, p)[0])
        return Piece("dense", shape, (text, ATOM, None)), _size(r) ** 3 + _size(r) * _size(r) * _size(c)
    cost = _size(r) * _size(k) * _size(c)
    if L.kind in ("kron", "perm") or R.kind in ("kron", "perm"):
        cost *= N_LARGE                               # forming a Kronecker product: last resort
    text = f"{wrap(dense(L, p), MUL, '@')} @ {wrap(dense(R, p), MUL, '@', left=False)}"
    return Piece("dense", shape, (text, MUL, "@")), cost


def chain_product(factors: list, p) -> tuple:
    """The product of the factors in the cheapest order (interval DP over combine's costs;
    on a tie the split furthest right wins, so `A @ B @ C` reads left to right)."""
    n = len(factors)
    best = {(i, i): (0, piece(f, p)) for i, f in enumerate(factors)}
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            options = []
            for s in range(j - 1, i - 1, -1):
                (cl, L), (cr, R) = best[i, s], best[s + 1, j]
                P, cost = combine(L, R, p)
                options.append((cl + cr + cost, P))
            best[i, j] = min(options, key=lambda o: o[0])
    return dense(best[0, n - 1][1], p)


# ---- unary nodes --------------------------------------------------------------------------------------

def py_transpose(e: Transpose, p) -> tuple:
    if is_scalar(e.arg):
        return p.term(e.arg)
    return f"{p.at(e.arg, DOT)}.T", POSTFIX, None


def py_inverse(e: Inverse, p) -> tuple:
    return dense(piece(e, p), p) if isinstance(e.arg, DiagMat) else (p.op("inv", x=p.arg(e.arg)), ATOM, None)


def py_mat_pow(e: MatPow, p) -> tuple:
    return p.op("matrix_power", x=p.arg(e.arg), k=number(e.k)), ATOM, None


def py_hadamard_pow(e: HadamardPow, p) -> tuple:
    k = e.k
    if k == Fraction(1, 2):
        return p.op("sqrt", x=p.arg(e.arg)), ATOM, None
    if k == Fraction(-1, 2):
        return f"1 / {p.op('sqrt', x=p.arg(e.arg))}", MUL, "/"
    if k == -1:
        return f"1 / {p.at(e.arg, MUL, '/')}", MUL, "/"
    if k < 0 and k.denominator == 1:
        return f"1 / {p.at(e.arg, POWER)} ** {number(-k)}", MUL, "/"
    exponent = number(k) if k > 0 else f"({number(k)})"
    return f"{p.at(e.arg, POWER)} ** {exponent}", POWER, None


def py_apply(e: Apply, p) -> tuple:
    fn = e.fn
    if fn.name.endswith(Y_SUFFIX):                    # a derivative from the function's value
        y = p.at(e.arg, ATOM - 1)
        template = Y_FORMS[fn.name[:-len(Y_SUFFIX)]][fn.order]
        return template.format(y=y, m=p.b.m), template_prec(template.format(y=y, m=p.b.m)), None
    table = ELEMENTWISE.get(fn.name)
    if table is None:                                  # abstract: a function the caller passes in
        return f"{p.fn_param(fn.name, fn.order)}({p.arg(e.arg)})", ATOM, None
    if fn.order >= len(table):
        raise MatdiffError(f"no code for the derivative of order {fn.order} of {fn.name}")
    template = table[fn.order]
    if template.startswith(("op:", "-op:", "0.5 / op:")):
        head, _, op = template.partition("op:")
        text = head + p.op(op, x=p.arg(e.arg))
        if not head:
            return text, ATOM, None
        return (text, UNARY, None) if head == "-" else (text, MUL, "/")
    return template.format(x=p.at(e.arg, POWER)), template_prec(template), None


def py_trace(e: Trace, p) -> tuple:
    """tr(A B) = sum(A ∘ B^T): the diagonal alone, not the whole product;  tr(A + B) = tr A + tr B."""
    if isinstance(e.arg, Add) and e.arg not in p.names:
        return py_add(Add(tuple(Trace(a) for a in e.arg.args)), p)
    if isinstance(e.arg, MatMul) and e.arg not in p.names and all(piece(a, p).kind == "dense" for a in e.arg.args):
        *A, B = e.arg.args
        left = chain_product(A, p)
        return p.op("sum", x=f"{wrap(left, MUL, '*')} * {transposed_text(B, p, MUL)}"), ATOM, None
    return p.op("trace", x=p.arg(e.arg)), ATOM, None


def py_diag_of(e: DiagOf, p) -> tuple:
    """diag(A B) = the row sums of A ∘ B^T;  diag(A + B) = diag(A) + diag(B)."""
    if isinstance(e.arg, Add) and e.arg not in p.names:
        return py_add(Add(tuple(DiagOf(a) for a in e.arg.args)), p)
    if isinstance(e.arg, MatMul) and e.arg not in p.names and all(piece(a, p).kind == "dense" for a in e.arg.args):
        *A, B = e.arg.args
        left = chain_product(A, p)
        return p.op("rowsum", x=f"{wrap(left, MUL, '*')} * {transposed_text(B, p, MUL)}"), ATOM, None
    return p.op("diagonal", x=p.arg(e.arg)), ATOM, None


def py_vec(e: Vec, p) -> tuple:
    return f"{p.at(e.arg, DOT)}.T.reshape(-1, 1)", POSTFIX, None


def py_unvec(e: Unvec, p) -> tuple:
    return f"{p.at(e.arg, DOT)}.reshape({p.dim(e.cols)}, {p.dim(e.rows)}).T", POSTFIX, None


def py_kron(e: Kron, p) -> tuple:
    return dense(piece(e, p), p)


def py_diag_mat(e: DiagMat, p) -> tuple:
    return p.op("diagflat", x=p.arg(e.arg)), ATOM, None


def call(op):
    return lambda e, p: (p.op(op, x=p.arg(e.arg)), ATOM, None)


def py_differential(e, p):
    raise MatdiffError(f"internal: a differential d{e.of} in generated code")


PY = {
    Var: py_var, Const: py_const, Identity: py_identity, Zero: py_zero, Ones: py_ones,
    Differential: py_differential,
    Add: py_add, Mul: py_mul, Hadamard: py_hadamard, MatMul: py_matmul, Kron: py_kron,
    Transpose: py_transpose, Inverse: py_inverse, MatPow: py_mat_pow, HadamardPow: py_hadamard_pow,
    Apply: py_apply, Trace: py_trace, Det: call("det"), LogDet: call("logdet"), Sum: call("sum"),
    Norm: call("norm"), DiagMat: py_diag_mat, DiagOf: py_diag_of, Vec: py_vec, Unvec: py_unvec,
    Softmax: call("softmax"), LogSumExp: call("logsumexp"),
}


def repeats(e: Expr) -> int:
    """How often the printed text of e spells out its (one) child: twice for y (1 - y)."""
    if isinstance(e, Apply) and e.fn.name.endswith(Y_SUFFIX):
        return Y_FORMS[e.fn.name[:-len(Y_SUFFIX)]][e.fn.order].count("{y}")
    return 1


# Nodes never named on their own: a transpose is a view, and a diagonal matrix, a Kronecker
# product or vec(X) is applied where it is used, not formed; their children are named instead.
TRANSPARENT = (Transpose, DiagMat, Kron, Vec, Identity, Zero, Ones, Const, Var)
